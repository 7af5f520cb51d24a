"""Forecast the demo's styles: every model beside the baselines on the same rolling-origin split, and
the modality ablation (the original notes' table: which inputs help the neural model).

Usage: python bench/forecast_demo.py [--posts 3000] [--db PATH] [--period week] [--window 8] [--gap 0]
                                     [--horizon 4] [--test-periods 16] [--folds 2] [--epochs 60]
                                     [--models lstm,attention] [--ablation share,engagement,mask,text]
A database at --db that already holds the demo (same --posts) is reused. The demo plants the
styles' popularity curves and lets engagement lead a style's share by about 5 weeks, so a model that
uses engagement should beat the share-only baselines; weekly shares of a small demo are noisy (a
style has a handful of posts per week), which the baselines show too. Prints tables and a final JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from trend_core import pipeline  # noqa: E402
from trend_core.config import ForecastConfig, PipelineConfig  # noqa: E402
from trend_core.store import Store  # noqa: E402

COLUMNS = ["model", "mase", "wape", "hot_auc", "hot_balanced_accuracy", "trend_accuracy", "tercile_accuracy",
           "n_windows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--period", default="week", choices=["day", "week", "month"])
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--gap", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--test-periods", type=int, default=16)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--models", default="lstm,attention")
    parser.add_argument("--inputs", default="share,engagement,mask,text", help="inputs of the model runs")
    parser.add_argument("--ablation", default="share,engagement,mask,text", help="inputs to ablate ('' skips)")
    args = parser.parse_args()
    pd.set_option("display.width", 200)

    db = args.db or Path(tempfile.mkdtemp()) / "forecast_demo.duckdb"
    store = Store(db)
    started = time.perf_counter()
    if store.count_posts() != args.posts:
        if store.count_posts():
            raise SystemExit(f"{db} holds {store.count_posts()} posts, not {args.posts}")
        view = pipeline.build_demo(store, n_posts=args.posts, seed=args.seed).view
    else:
        view = pipeline.run_pipeline(store, PipelineConfig()).view
    print(f"demo: {args.posts} posts, {len(view.styles)} styles, {time.perf_counter() - started:.1f} s")
    base = ForecastConfig(period=args.period, window=args.window, gap=args.gap, horizon=args.horizon,
                          test_periods=args.test_periods, folds=args.folds, epochs=args.epochs, seed=args.seed,
                          modalities=tuple(args.inputs.split(",")))
    out: dict = {"posts": args.posts, "config": {k: v for k, v in base.__dict__.items()}, "runs": {}}
    for model in args.models.split(","):
        t = time.perf_counter()
        result = pipeline.run_forecast(store, view, base.replace(model=model))
        seconds = time.perf_counter() - t
        print(f"\n{model} on {','.join(base.modalities)} ({seconds:.1f} s; split {result.split})")
        print(result.metrics[COLUMNS].round(3).to_string(index=False))
        out["runs"][model] = {"seconds": round(seconds, 1), "split": result.split,
                              "metrics": result.metrics[COLUMNS].round(4).to_dict(orient="records")}
    if args.ablation:
        t = time.perf_counter()
        table = pipeline.run_ablation(store, view, base.replace(modalities=tuple(args.ablation.split(","))))
        print(f"\nablation of {args.ablation} ({time.perf_counter() - t:.1f} s)")
        print(table[["inputs"] + COLUMNS].round(3).to_string(index=False))
        out["ablation"] = table[["inputs"] + COLUMNS].round(4).to_dict(orient="records")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
