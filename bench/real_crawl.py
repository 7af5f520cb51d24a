"""The real crawl (../shared/real): import time and counts, the weekly panel, and the rolling backtest of
the default forecast against last value, moving average and ETS inside the crawl's span, with the verdict.

Usage: python bench/real_crawl.py [--real ../shared/real] [--db PATH] [--horizons 4,12] [--epochs 60]

1. Import `xhs_image_rows.csv` (one row per image) exactly as the CLI does:
   `ingest --posts xhs_image_rows.csv --map image_style=style_label`, timed, with its counts.
2. Styles from the imported labels (`run --source labels`), the weekly share of images per style, and
   the same panel computed independently with pandas (MM-DD dates are 2024) as a check.
3. For each horizon: settings derived from the panel (forecast.defaults, as `forecast` with no other
   flag), the rolling-origin backtest of the default network (LSTM on share + engagement) beside the
   baselines on the same test windows (MAE, MASE), the ensemble, and the verdict (forecast.verdict).
Every score lies inside the crawl's span (2023-06-01 .. 2024-03-18): the test spans are its last
weeks; nothing after the data is looked at. Prints tables and a final JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from trend_core import pipeline  # noqa: E402
from trend_core.config import ForecastConfig  # noqa: E402
from trend_core.forecast.verdict import choose_model  # noqa: E402
from trend_core.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHOWN = ["lstm", "ensemble", "last_value", "moving_average", "ets", "seasonal_naive", "drift"]


def pandas_panel(path: Path) -> pd.DataFrame:
    """Weekly share of images per image_style, straight from the file (MM-DD = 2024)."""
    rows = pd.read_csv(path, dtype={"post_date": str})
    text = rows["post_date"].str.strip()
    dates = pd.to_datetime(np.where(text.str.len() == 5, "2024-" + text, text), errors="coerce")
    week = dates.normalize() - pd.to_timedelta(dates.day_of_week, unit="D")
    counts = pd.crosstab(week, rows["image_style"].astype(str))
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="W-MON")
    counts = counts.reindex(full, fill_value=0)
    return counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real")
    parser.add_argument("--db", type=Path, help="database to import into (default: a fresh temporary one)")
    parser.add_argument("--horizons", default="4,12", help="forecast horizons in weeks (default 4 and 12)")
    parser.add_argument("--epochs", type=int, default=ForecastConfig().epochs)
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    rows_file = args.real / "xhs_image_rows.csv"
    db = args.db or Path(tempfile.mkdtemp()) / "xhs_crawl.duckdb"
    store = Store(db)
    out: dict = {"db": str(db)}

    # 1. import
    from trend_core.ingest import ingest_file

    started = time.perf_counter()
    summary = ingest_file(store, rows_file, mapping={"image_style": "style_label"})
    out["import"] = {"seconds": round(time.perf_counter() - started, 2),
                     **{k: summary.get(k) for k in ("rows_read", "accepted", "rejected", "added", "already_present")},
                     "posts_in_db": store.count_posts(), "reasons": summary.get("reasons")}
    print(f"import: {out['import']}")

    # 2. styles from the labels and the weekly panel
    started = time.perf_counter()
    pipeline.save_choice(store, "style_source", "labels")
    config = replace(pipeline.config_from_settings(store), style_source="labels")
    view = pipeline.run_pipeline(store, config).view
    styles_s = time.perf_counter() - started
    shares = pipeline.panel_shares(store, view, "week")
    panel = shares.pivot_table(index="period", columns="style", values="share", aggfunc="sum").sort_index()
    per_week = shares.groupby("period")["n" if "n" in shares else "total"].first()
    check = pandas_panel(rows_file)
    names = dict(zip(view.styles["style"].astype(str), view.styles["name"].astype(str)))
    mine = panel.rename(columns=lambda s: names.get(str(s), str(s)))
    common = [c for c in check.columns if c in mine.columns]
    diff = float(np.abs(mine.reindex(index=check.index)[common].to_numpy() - check[common].to_numpy()).max()) \
        if common and len(mine) == len(check) else float("nan")
    out["panel"] = {"styles_seconds": round(styles_s, 2), "weeks": int(len(panel)), "styles": int(panel.shape[1]),
                    "first_week": str(panel.index.min().date()), "last_week": str(panel.index.max().date()),
                    "images_per_week_min_median_max": [float(per_week.min()), float(per_week.median()),
                                                       float(per_week.max())],
                    "mean_share": round(float(panel.to_numpy().mean()), 4),
                    "largest_share": round(float(panel.to_numpy().max()), 4),
                    "max_abs_diff_vs_pandas": diff}
    print(f"panel: {out['panel']}")

    # 3. the default forecast's backtest beside the baselines, per horizon
    out["backtests"] = []
    for horizon in [int(h) for h in args.horizons.split(",") if h.strip()]:
        base = ForecastConfig(period="week", epochs=args.epochs)
        fcfg = pipeline.derived_forecast_config(store, view, base, horizon=horizon)
        started = time.perf_counter()
        result = pipeline.run_forecast(store, view, fcfg)
        seconds = time.perf_counter() - started
        metrics = result.metrics.set_index("model")
        verdict = choose_model(result.metrics)
        folds = result.info.get("folds", [])
        print(f"\nH={horizon}: W={fcfg.window} G={fcfg.gap} test span {fcfg.test_periods} x {fcfg.folds} fold(s), "
              f"test {folds[0]['test_start'] if folds else '?'} .. {result.split.get('test_end')}, "
              f"{int(metrics['n_windows'].iloc[0])} test windows, {seconds:.1f} s")
        print(metrics.loc[[m for m in SHOWN if m in metrics.index], ["mae", "mase", "wape", "trend_accuracy",
                                                                      "coverage"]].round(4).to_string())
        print("verdict:", verdict.text.replace("**", ""))
        out["backtests"].append({
            "horizon": horizon, "settings": {"window": fcfg.window, "gap": fcfg.gap, "test_periods": fcfg.test_periods,
                                             "folds": fcfg.folds},
            "test_start": folds[0]["test_start"] if folds else None, "test_end": result.split.get("test_end"),
            "n_windows": int(metrics["n_windows"].iloc[0]), "seconds": round(seconds, 1),
            "scores": {m: {"mae": round(float(metrics.loc[m, "mae"]), 5), "mase": round(float(metrics.loc[m, "mase"]), 4)}
                       for m in SHOWN if m in metrics.index},
            "verdict": verdict.model, "improvement": round(float(verdict.improvement), 4),
            "forward_train_end": result.split.get("forward_train_end")})
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
