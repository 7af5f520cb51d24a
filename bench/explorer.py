"""Explorer speed at scale: demo build, the K sweep, sampled vs full silhouette, and cached page renders.

Usage: python bench/explorer.py [--posts 100000] [--db PATH] [--k-max 50] [--pages all] [--seed 0]
                                [--subsample 10000] [--compare-ks 5,10,20,50] [--train-forecast] [--build-only]

On a database built by the demo generator (default settings) it reports
1. build: drawing + storing the demo posts, then each pipeline stage's time from the pipeline's reports.
   With --db pointing at a database that already holds exactly --posts posts the build is reused
   (the stages then report as cached); a database holding fewer posts of the same demo resumes the
   build (the demo is drawn and stored in chunks, and stored chunks are not drawn again); any other
   database is refused. --build-only stops after the build (then run again on the same --db).
2. sweep: `styles.sweep_k` over K = 2..--k-max on the stored reduced vectors with the pipeline's sample
   size and repeats; total seconds and seconds per K (goal: <= 60 s for K = 2..50 at 100,000 posts on
   2 cores).
3. silhouette: for a few K (--compare-ks), scikit-learn's full silhouette_score on a --subsample of the
   points (all when fewer) against the sweep's sampled scoring for the same K labels (its `repeats`
   samples of `silhouette_sample` points, distances precomputed once per sample and shared by every K
   as the sweep does; that shared cost is printed apart), the time ratio and |sampled - full|.
4. pages: every page of app.py's PAGES opened with streamlit's AppTest against the database and run
   twice; the second run (st.cache_data / st.cache_resource warm: AppTest runs in-process, so caches
   persist between runs) is the cached render time (goal: <= 2 s per page), with the process CPU
   time of that run beside it (all threads; on a machine shared with other work it varies less than
   the wall time). --train-forecast trains
   the default forecast first so the forecast page shows a stored result instead of its empty form.
Prints readable tables; the last line is JSON.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from trend_core import pipeline
from trend_core import styles as style_ops
from trend_core.plugins import effective_config
from trend_core.store import Store

APP = ROOT / "app.py"
SWEEP_GOAL_S = 60.0   # K = 2..50 at 100,000 posts on 2 cores
PAGE_GOAL_S = 2.0     # one cached page render


def app_pages() -> list[str]:
    """The page scripts listed in app.py's PAGES (read from its source, so the app is not run)."""
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            return [call.args[0].value for call in node.value.elts
                    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant)]
    raise RuntimeError("no PAGES list in app.py")


def _config(store: Store):
    return effective_config(pipeline.config_from_settings(store))[0]


# -- 1. build -------------------------------------------------------------------------------------
def build(store: Store, n_posts: int, seed: int) -> dict:
    from trend_core.demo import write_demo

    held = store.count_posts()
    if held not in (0, n_posts):
        source = f"demo:seed={seed}"
        demo_held = int(store.query_df("SELECT count(*) AS n FROM posts WHERE source = ?", [source])["n"].iloc[0])
        if held > n_posts or demo_held != held:
            raise SystemExit(f"{store.path} holds {held} posts ({demo_held} from {source}), "
                             f"not {n_posts}: pass another --db or --posts {held}")
        print(f"resuming an interrupted build: {held} of {n_posts} demo posts stored")
    out: dict = {"reused": held == n_posts}
    start = time.perf_counter()
    if held < n_posts:  # what pipeline.build_demo does, timed in two parts; chunks already stored are skipped
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            if fraction >= 1.0 or time.perf_counter() - last[0] > 60:
                last[0] = time.perf_counter()
                print(f"  {time.perf_counter() - start:8.1f} s  {message}")
        write_demo(store, n_posts=n_posts, seed=seed, progress=progress)
    out["write_demo_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    last_report = [0.0, ""]

    def stage_progress(fraction: float, message: str) -> None:  # a line a minute, and each new stage
        stage = message.split(":")[0]
        if stage != last_report[1] or time.perf_counter() - last_report[0] > 60:
            last_report[0], last_report[1] = time.perf_counter(), stage
            print(f"  {time.perf_counter() - start:8.1f} s  {fraction:6.1%}  {message}")
    result = pipeline.run_pipeline(store, _config(store), stage_progress)
    out["pipeline_s"] = round(time.perf_counter() - start, 2)
    out["stages"] = [{"stage": r.stage, "cached": r.cached, "seconds": round(r.seconds, 2), "detail": r.detail}
                     for r in result.reports]
    out["auto_k"] = result.view.auto_k if result.view is not None else None
    print(f"\n== 1. build ({n_posts} posts, {'reused' if out['reused'] else 'built'}) ==")
    print(f"{'draw + store demo':<22} {out['write_demo_s']:>9.2f} s")
    for r in out["stages"]:
        rate = ""
        if not r["cached"] and r["stage"] in ("segment", "image embedding", "mask embedding") and r["seconds"] > 0:
            rate = f"  ({n_posts / r['seconds']:.0f} img/s)"
        print(f"{r['stage']:<22} {r['seconds']:>9.2f} s  {'cached' if r['cached'] else 'computed':<8} {r['detail']}{rate}")
    print(f"{'pipeline total':<22} {out['pipeline_s']:>9.2f} s   auto K = {out['auto_k']}")
    return out


# -- 2. sweep -------------------------------------------------------------------------------------
def reduced(store: Store) -> tuple[np.ndarray, object]:
    config = _config(store)
    keys = pipeline.stage_keys(store.dataset_key(), config)
    art = store.get_artifact(keys.reduce)
    if art is None:
        raise SystemExit("no reduced vectors stored for the current settings: run the pipeline first")
    return np.asarray(art[0]["Z"], dtype=np.float64), config


def sweep(Z: np.ndarray, cfg, k_max: int) -> tuple[dict, object]:
    ks = [k for k in range(2, k_max + 1) if k < len(Z)]
    start, start_cpu = time.perf_counter(), time.process_time()
    frame = style_ops.sweep_k(Z, ks, cfg.silhouette_sample, cfg.seed, repeats=cfg.silhouette_repeats)
    total = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    out = {"points": len(Z), "dims": int(Z.shape[1]), "ks": f"{ks[0]}..{ks[-1]}", "n_k": len(ks),
           "sample": cfg.silhouette_sample, "repeats": cfg.silhouette_repeats,
           "kmeans": (f"KMeans fitted on {style_ops.SWEEP_FIT_SAMPLE:,} sampled points"
                      if len(Z) > style_ops.SWEEP_FIT_SAMPLE else "KMeans"),
           "total_s": round(total, 2), "cpu_s": round(cpu, 2), "per_k_s": round(total / len(ks), 3),
           "slowest_k": int(frame.loc[frame["seconds"].idxmax(), "k"]),
           "slowest_k_s": round(float(frame["seconds"].max()), 2), "best_k": int(style_ops.choose_k(frame))}
    print(f"\n== 2. K sweep (K = {out['ks']}, {out['points']} points x {out['dims']} dims, {out['kmeans']}, "
          f"silhouette on {out['repeats']} x {out['sample']}) ==")
    print(f"total {out['total_s']:.2f} s (process CPU {out['cpu_s']:.2f} s), {out['per_k_s']:.3f} s per K, slowest K={out['slowest_k']} "
          f"{out['slowest_k_s']:.2f} s, best K {out['best_k']}")
    show = frame[frame["k"].isin([2, 5, 10, 20, 30, 40, 50] + [ks[-1]])]
    print(show[["k", "silhouette", "silhouette_std", "seconds"]].to_string(index=False, float_format="%.3f"))
    return out, frame


# -- 3. sampled vs full silhouette ----------------------------------------------------------------
def silhouette_check(Z: np.ndarray, cfg, frame, compare_ks: list[int], subsample: int) -> dict:
    from sklearn.metrics import pairwise_distances, silhouette_score

    n = len(Z)
    # the sweep's samples: the same generator, seed and draws as style_ops.sweep_k
    rng = np.random.default_rng(cfg.seed)
    size = int(min(cfg.silhouette_sample, n))
    n_samples = 1 if size >= n else max(1, int(cfg.silhouette_repeats))
    samples = [np.arange(n) if size >= n else np.sort(rng.choice(n, size=size, replace=False))
               for _ in range(n_samples)]
    start = time.perf_counter()
    dists = [pairwise_distances(Z[idx]) if size <= style_ops._PRECOMPUTE_BELOW else None for idx in samples]
    shared_s = time.perf_counter() - start
    sub = np.arange(n) if subsample >= n else np.sort(np.random.default_rng(cfg.seed + 1).choice(n, subsample, replace=False))
    rows = []
    for k in [k for k in compare_ks if 2 <= k < n]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = style_ops._kmeans(Z, k, cfg.seed, n_init=3).fit_predict(Z)  # the sweep's labels for K
        start = time.perf_counter()
        sampled = [silhouette_score(D, labels[idx], metric="precomputed") if D is not None
                   else silhouette_score(Z[idx], labels[idx]) for idx, D in zip(samples, dists)]
        sampled_s = time.perf_counter() - start
        start = time.perf_counter()
        full = float(silhouette_score(Z[sub], labels[sub]))
        full_s = time.perf_counter() - start
        sweep_sil = frame.loc[frame["k"] == k, "silhouette"]
        rows.append({"k": k, "full_n": len(sub), "full_s": round(full_s, 3), "sampled_s": round(sampled_s, 3),
                     "ratio_full_over_sampled": round(full_s / max(sampled_s, 1e-9), 1),
                     "full_sil": round(full, 4), "sampled_sil": round(float(np.mean(sampled)), 4),
                     "sweep_sil": round(float(sweep_sil.iloc[0]), 4) if len(sweep_sil) else None,
                     "abs_diff": round(abs(float(np.mean(sampled)) - full), 4)})
    print(f"\n== 3. silhouette: full on {len(sub)} points vs the sweep's {n_samples} x {size} samples "
          f"(shared distance matrices, once for all K: {shared_s:.2f} s) ==")
    print(f"{'K':>4} {'full s':>8} {'sampled s':>10} {'ratio':>7} {'full sil':>9} {'sampled':>8} {'|diff|':>7}")
    for r in rows:
        print(f"{r['k']:>4} {r['full_s']:>8.3f} {r['sampled_s']:>10.3f} {r['ratio_full_over_sampled']:>7.1f} "
              f"{r['full_sil']:>9.4f} {r['sampled_sil']:>8.4f} {r['abs_diff']:>7.4f}")
    return {"shared_distances_s": round(shared_s, 3), "rows": rows}


# -- 4. cached page renders -----------------------------------------------------------------------
def train_forecast(store: Store) -> float:
    from trend_core.config import ForecastConfig

    view = pipeline.load_view(store, _config(store))
    fcfg = ForecastConfig()
    start = time.perf_counter()
    pipeline.run_forecast(store, view, fcfg)
    pipeline.save_choice(store, "forecast", {"modalities": list(fcfg.modalities), "period": fcfg.period,
                                             "window": fcfg.window, "gap": fcfg.gap, "horizon": fcfg.horizon,
                                             "epochs": fcfg.epochs, "test_periods": fcfg.test_periods,
                                             "seed": fcfg.seed})
    return time.perf_counter() - start


def page_times(db: Path, pages: list[str], timeout: float) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    os.environ["TREND_DB"] = str(db)
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    start = time.perf_counter()
    at.run()  # the default page, with the sidebar's store and post count
    app_first = time.perf_counter() - start
    rows = []
    for page in pages:
        times, cpu = [], []
        for i in range(2):
            start, start_cpu = time.perf_counter(), time.process_time()
            (at.switch_page(page) if i == 0 else at).run()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        errors = [str(e.value)[:120] for e in at.exception]
        rows.append({"page": Path(page).stem, "first_s": round(times[0], 2), "cached_s": round(times[1], 2),
                     "cached_cpu_s": round(cpu[1], 2), "ok": times[1] <= PAGE_GOAL_S, "errors": errors})
    print(f"\n== 4. page renders (AppTest, second run = cached; app's first run {app_first:.2f} s) ==")
    print(f"{'page':<14} {'first s':>8} {'cached s':>9} {'cached cpu s':>13}  goal <= {PAGE_GOAL_S:.0f} s")
    for r in rows:
        flag = "ok" if r["ok"] else "SLOW"
        print(f"{r['page']:<14} {r['first_s']:>8.2f} {r['cached_s']:>9.2f} {r['cached_cpu_s']:>13.2f}  {flag}"
              + (f"  exception: {r['errors']}" if r["errors"] else ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database to build into or reuse (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k-max", type=int, default=50)
    parser.add_argument("--compare-ks", default="5,10,20,50", help="K values for the full-silhouette comparison")
    parser.add_argument("--subsample", type=int, default=10_000, help="points for the full silhouette")
    parser.add_argument("--pages", default="all", help="'all', 'none' or comma-separated page names (data,styles,...)")
    parser.add_argument("--page-timeout", type=float, default=600)
    parser.add_argument("--train-forecast", action="store_true",
                        help="train the default forecast first so its page opens on a stored result")
    parser.add_argument("--build-only", action="store_true",
                        help="only build (or resume) the database and run the pipeline; same as --skip sweep,pages")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: sweep,silhouette,pages")
    args = parser.parse_args()
    if not 2 <= args.k_max <= style_ops.MAX_K:
        parser.error(f"--k-max must be in 2..{style_ops.MAX_K}")
    sys.stdout.reconfigure(line_buffering=True)  # each table as soon as it is done, also into a file
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.build_only:
        skip |= {"sweep", "silhouette", "pages"}
    every = app_pages()
    if args.pages == "all":
        pages = every
    elif args.pages == "none":
        pages = []
    else:
        wanted = {p.strip() for p in args.pages.split(",")}
        pages = [p for p in every if Path(p).stem in wanted]
    import torch

    print(f"explorer bench: {args.posts} posts, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    report: dict = {"posts": args.posts, "seed": args.seed, "k_max": args.k_max, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "explorer.duckdb"
        store = Store(db)
        report["build"] = build(store, args.posts, args.seed)
        Z, cfg = reduced(store)
        if "sweep" not in skip:
            report["sweep"], frame = sweep(Z, cfg.styles, args.k_max)
            report["sweep"]["goal_s"] = SWEEP_GOAL_S
            if "silhouette" not in skip:
                compare = [int(k) for k in args.compare_ks.split(",") if k.strip() and int(k) <= args.k_max]
                report["silhouette"] = silhouette_check(Z, cfg.styles, frame, compare, args.subsample)
        if args.train_forecast and not args.build_only:
            try:
                report["forecast_train_s"] = round(train_forecast(store), 2)
                print(f"\nforecast trained (default settings) in {report['forecast_train_s']:.2f} s")
            except Exception as exc:  # noqa: BLE001 - the pages are still worth measuring without it
                report["forecast_error"] = f"{type(exc).__name__}: {exc}"
                print(f"\nforecast training failed, pages measured without it: {report['forecast_error']}")
        if pages and "pages" not in skip:
            report["pages"] = page_times(db, pages, args.page_timeout)
    print(json.dumps(report, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
