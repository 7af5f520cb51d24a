"""Build the demo into a fresh database and score the styles found against the planted ones.

Usage: python bench/demo_styles.py [--posts 1200] [--seed 0] [--segmenter border] [--encoder handcrafted]
                                   [--text-method tfidf] [--modalities mask,text,engagement]
Prints each stage's time, the K picked on the silhouette curve and the adjusted Rand index, so
segmenters, encoders, text methods and feature sets can be compared on the same planted styles.
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

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from trend_core import pipeline  # noqa: E402
from trend_core.config import PipelineConfig  # noqa: E402
from trend_core.store import Store  # noqa: E402


def _config(args: argparse.Namespace) -> PipelineConfig:
    config = PipelineConfig()
    return replace(config, segment=config.segment.replace(method=args.segmenter),
                   image=config.image.replace(encoder=args.encoder),
                   text=config.text.replace(method=args.text_method),
                   fusion=config.fusion.replace(modalities=tuple(args.modalities.split(","))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    defaults = PipelineConfig()
    parser.add_argument("--segmenter", default=defaults.segment.method)
    parser.add_argument("--encoder", default=defaults.image.encoder)
    parser.add_argument("--text-method", default=defaults.text.method)
    parser.add_argument("--modalities", default=",".join(defaults.fusion.modalities))
    args = parser.parse_args()
    config = _config(args)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        start = time.perf_counter()
        result = pipeline.build_demo(store, n_posts=args.posts, seed=args.seed, config=config)
        seconds = time.perf_counter() - start
        kept = result.view.kept_posts()
        print(json.dumps({
            "posts": args.posts, "seed": args.seed, "segmenter": args.segmenter, "encoder": args.encoder,
            "text_method": args.text_method, "modalities": args.modalities, "seconds_total": round(seconds, 1),
            "stages": {r.stage: round(r.seconds, 2) for r in result.reports},
            "k_auto": result.view.auto_k, "planted_styles": int(kept["true_style"].nunique()),
            "kept_posts": len(kept),
            "adjusted_rand_index": round(adjusted_rand_score(kept["true_style"], kept["style"]), 3),
        }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
