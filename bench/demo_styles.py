"""Build the demo into a fresh database and score the styles found against the planted ones.

Usage: python bench/demo_styles.py [--posts 1200] [--seed 0]
Prints each stage's time, the K picked on the silhouette curve and the adjusted Rand index.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from trend_core import pipeline  # noqa: E402
from trend_core.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        start = time.perf_counter()
        result = pipeline.build_demo(store, n_posts=args.posts, seed=args.seed)
        seconds = time.perf_counter() - start
        kept = result.view.kept_posts()
        print(json.dumps({
            "posts": args.posts, "seed": args.seed, "seconds_total": round(seconds, 1),
            "stages": {r.stage: round(r.seconds, 2) for r in result.reports},
            "k_auto": result.view.auto_k, "planted_styles": int(kept["true_style"].nunique()),
            "kept_posts": len(kept),
            "adjusted_rand_index": round(adjusted_rand_score(kept["true_style"], kept["style"]), 3),
        }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
