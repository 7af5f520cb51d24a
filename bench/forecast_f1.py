"""F1 benchmark (HERMES protocol) for the single-origin forecasters of trend_core.forecast.origin.

Data: ../shared/benchmarks/f1 relative to the repository (f1_main_100.csv, f1_fashion_forward_100.csv;
see its README). Never copied into the repository.

Protocol (README): train on all weeks but the last 52, forecast the last 52 weeks at once; MASE with
seasonal period 52 (test MAE / mean |y_t - y_{t-52}| over the training weeks), averaged over the 100
series; trend class of the forecast (mean of the 52 forecast weeks vs the mean of the last 52 training
weeks, +-5 %: rising / flat / falling) against the same class of the truth.

How settings were chosen (never on the test weeks): the last 52 TRAINING weeks are a validation span.
`--select` (on by default) fits every candidate on the training weeks minus that span, scores it there,
and keeps the best; the chosen settings are then refitted on all training weeks and scored once on the
test weeks. Selected that way (validation MASE printed by --select):
- profile: years and smoothing width of the seasonal profile (grid below);
- profile_ets: with or without a (damped) trend, with the profile settings chosen above;
- ensemble (members ets, profile, profile_ets, seasonal_naive): its weights are chosen by the model itself inside fit() on the same validation span
  (the last 52 weeks of the history it is given), on a 0.1 grid, then every member is refitted.
The neural models (mlp, lstm, hybrid) use fixed settings (window 52, early stopping on the last 52
weeks of the history they are given; hybrid: hidden 64, dropout 0.3, which beat hidden 128 / dropout
0.1 on the validation span). During development they were compared on the validation span only
(validation MASE: mlp 0.895 without / 0.934 with the signal, hybrid 0.798 with it, against profile
0.691 and ETS 0.770), never tuned on the test weeks.

Usage: python bench/forecast_f1.py [--data-dir DIR] [--models a,b] [--seed 0] [--threads 2] [--no-select]
Prints a table, then one JSON line per model ({"model", "covariate", "mase", "trend_accuracy",
"fit_seconds", ...}) and a final JSON line with every row.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trend_core.forecast.neural import mase_scales
from trend_core.forecast.origin import ORIGIN_MODELS

SEASON = 52
HORIZON = 52
COVARIATE = "fashion_forward"
COVARIATE_MODELS = {"mlp", "lstm", "hybrid", "ensemble_nn"}   # models that read covariates
DEFAULT_MODELS = ["last_value", "moving_average", "drift", "seasonal_naive", "ets", "profile", "profile_ets",
                  "ensemble", "mlp", "lstm", "hybrid"]
PROFILE_GRID = [{"years": y, "smooth": s} for y in (1, 2, 3) for s in (1, 3, 5, 7, 9)]


def load(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    main = pd.read_csv(data_dir / "f1_main_100.csv", index_col=0, parse_dates=True)
    ff = pd.read_csv(data_dir / "f1_fashion_forward_100.csv", index_col=0, parse_dates=True)
    ff = ff.reindex(index=main.index, columns=main.columns)
    return main, ff


def trend_classes(forecast_mean: np.ndarray, base: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    ratio = forecast_mean / np.maximum(base, 1e-12) - 1.0
    return np.where(ratio > threshold, 1, np.where(ratio < -threshold, -1, 0))


def score(history: np.ndarray, truth: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    scale = mase_scales(history, SEASON)
    mase = float((np.abs(truth - forecast).mean(axis=0) / scale).mean())
    base = history[-SEASON:].mean(axis=0)
    acc = float((trend_classes(forecast.mean(axis=0), base) == trend_classes(truth.mean(axis=0), base)).mean())
    return {"mase": mase, "trend_accuracy": acc}


def ensemble_members() -> dict:
    """The ensemble's members, with the profile settings selected on the validation span."""
    return {"ets": {"model": "ets"}, "profile": {"model": "profile", **PROFILE_BEST},
            "profile_ets": {"model": "profile_ets", **PROFILE_BEST, **PROFILE_ETS_BEST},
            "seasonal_naive": {"model": "seasonal_naive"}}


def run_model(name: str, history: np.ndarray, truth: np.ndarray, cov: np.ndarray | None, seed: int,
              device: str | None, **settings) -> dict:
    factory = ORIGIN_MODELS["ensemble" if name == "ensemble_nn" else name]
    if name == "ensemble_nn":
        settings.setdefault("members", {**ensemble_members(), "hybrid": {"model": "hybrid", **PROFILE_BEST}})
    model = factory(seed=seed, device=device, horizon=HORIZON, **settings)
    started = time.perf_counter()
    model.fit(history, SEASON, {COVARIATE: cov} if cov is not None else None)
    forecast = model.predict(HORIZON)
    seconds = time.perf_counter() - started
    assert forecast.shape == truth.shape and np.all(np.isfinite(forecast))
    row = {"model": name, "covariate": cov is not None, **score(history, truth, forecast),
           "fit_seconds": round(seconds, 2)}
    if hasattr(model, "weights_"):
        row["weights"] = {k: round(v, 2) for k, v in model.weights_.items()}
        row["val_mase"] = {k: round(v, 4) for k, v in model.val_scores_.items()}
    return row


PROFILE_BEST: dict = {"years": 2, "smooth": 5}
PROFILE_ETS_BEST: dict = {"trend": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "f1")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help=f"comma list from {sorted([*ORIGIN_MODELS, 'ensemble_nn'])}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device for the neural models (default cpu)")
    parser.add_argument("--no-select", action="store_true", help="skip the validation grid for the profile")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(max(1, args.threads))
    main_df, ff_df = load(args.data_dir)
    y, ff = main_df.to_numpy(float), ff_df.to_numpy(float)
    train, test = y[:-HORIZON], y[-HORIZON:]
    ff_train = ff[:-HORIZON]
    print(f"F1: {y.shape[1]} series, {len(y)} weeks; train {len(train)} weeks, test {len(test)} weeks")

    if not args.no_select:
        inner, val = train[:-HORIZON], train[-HORIZON:]
        print(f"\nvalidation (train on weeks 1..{len(inner)}, score on the last 52 training weeks):")
        best = None
        for params in PROFILE_GRID:
            fc = ORIGIN_MODELS["profile"](**params).fit(inner, SEASON).predict(HORIZON)
            s = score(inner, val, fc)
            print(f"  profile years={params['years']} smooth={params['smooth']}: MASE {s['mase']:.4f}")
            if best is None or s["mase"] < best[0]:
                best = (s["mase"], params)
        PROFILE_BEST.update(best[1])
        print(f"  chosen profile settings: {PROFILE_BEST} (validation MASE {best[0]:.4f})")
        best = None
        for trend in (True, False):
            fc = ORIGIN_MODELS["profile_ets"](trend=trend, **PROFILE_BEST).fit(inner, SEASON).predict(HORIZON)
            s = score(inner, val, fc)
            print(f"  profile_ets trend={trend}: MASE {s['mase']:.4f}")
            if best is None or s["mase"] < best[0]:
                best = (s["mase"], trend)
        PROFILE_ETS_BEST["trend"] = best[1]
        print(f"  chosen profile_ets settings: {PROFILE_ETS_BEST} (validation MASE {best[0]:.4f})")

    rows = []
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:
        settings = dict(PROFILE_BEST) if name in ("profile", "profile_ets", "hybrid") else {}
        if name == "profile_ets":
            settings.update(PROFILE_ETS_BEST)
        if name == "ensemble":
            settings["members"] = ensemble_members()
        variants = [None, ff_train] if name in COVARIATE_MODELS else [None]
        for cov in variants:
            row = run_model(name, train, test, cov, args.seed, args.device, threads=args.threads, **settings)
            rows.append(row)
            print(json.dumps(row), flush=True)

    print("\n| model | fashion-forward | MASE | trend acc. | fit s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {'yes' if r['covariate'] else 'no'} | {r['mase']:.3f} | "
              f"{r['trend_accuracy']:.2f} | {r['fit_seconds']:.1f} |")
    print(json.dumps({"rows": [{k: r[k] for k in ("model", "covariate", "mase", "trend_accuracy", "fit_seconds")}
                               for r in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
