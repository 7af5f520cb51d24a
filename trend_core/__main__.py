"""The CLI: python -m trend_core <command>. Each command runs the same stages as the app."""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from trend_core.config import DB_ENV_VAR, ForecastConfig, PipelineConfig, default_db_path
from trend_core.errors import reason
from trend_core.store import Store, StoreError


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def _stderr_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:5.0%}] {message}", file=sys.stderr, flush=True)


def _pipeline_config(args: argparse.Namespace, store: Store) -> PipelineConfig:
    from trend_core.pipeline import config_from_settings

    config = config_from_settings(store)
    if getattr(args, "k", None) is not None:
        config = replace(config, styles=config.styles.replace(k=args.k or None))
    sweep = {name: getattr(args, name, None) for name in ("k_min", "k_max", "silhouette_repeats")}
    if any(v is not None for v in sweep.values()):
        config = replace(config, styles=config.styles.replace(**{n: v for n, v in sweep.items() if v is not None}))
    if getattr(args, "modalities", None):
        config = replace(config, fusion=config.fusion.replace(modalities=tuple(args.modalities.split(","))))
    if getattr(args, "source", None):
        config = replace(config, style_source=args.source)
    if getattr(args, "segmenter", None) or getattr(args, "min_clothing", None) is not None:
        config = replace(config, segment=config.segment.replace(
            method=args.segmenter or config.segment.method,
            min_clothing_ratio=config.segment.min_clothing_ratio if args.min_clothing is None else args.min_clothing))
    if getattr(args, "encoder", None):
        config = replace(config, image=config.image.replace(encoder=args.encoder))
    if getattr(args, "text_method", None):
        config = replace(config, text=config.text.replace(method=args.text_method))
    if getattr(args, "share_unit", None):
        config = replace(config, share_unit=args.share_unit)
    if getattr(args, "no_text_assign", False):
        config = replace(config, text_assign=False)
    return config


def cmd_demo(args: argparse.Namespace) -> int:
    from trend_core.pipeline import build_demo

    store = Store(args.db)
    result = build_demo(store, n_posts=args.posts, seed=args.seed, config=_pipeline_config(args, store),
                        progress=None if args.quiet else _stderr_progress, fallback=args.fallback)
    _print_json(result.summary() | {"k": result.view.k if result.view else None, "posts": store.count_posts()})
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from trend_core.ingest import ingest_file

    mapping = dict(pair.split("=", 1) for pair in args.map) if args.map else None
    if args.images and str(args.images).lower().endswith(".zip") and Path(args.images).is_file():
        from trend_core.archive import extracted_images  # a zip of images: unpacked under limits, then removed

        with extracted_images(args.images) as folder:
            summary = ingest_file(Store(args.db), args.posts, images_dir=folder, mapping=mapping,
                                  reference_date=args.crawl_date, dayfirst=args.dayfirst)
    else:
        summary = ingest_file(Store(args.db), args.posts, images_dir=args.images, mapping=mapping,
                              reference_date=args.crawl_date, dayfirst=args.dayfirst)
    _print_json(summary)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from trend_core.pipeline import run_pipeline

    store = Store(args.db)
    result = run_pipeline(store, _pipeline_config(args, store), None if args.quiet else _stderr_progress,
                          fallback=args.fallback)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    _print_json(result.summary() | {"k": result.view.k if result.view else None})
    return 0


def _require_view(store: Store, args: argparse.Namespace):
    from trend_core.pipeline import load_view
    from trend_core.plugins import effective_config

    config = effective_config(_pipeline_config(args, store), fallback=args.fallback)[0]
    view = load_view(store, config)
    if view is None and config.style_source == "labels":  # the imported labels are the styles: compute now
        from trend_core.pipeline import run_pipeline

        view = run_pipeline(store, config, None if args.quiet else _stderr_progress, fallback=args.fallback).view
    if view is None:
        sys.exit("no styles computed for these settings yet: run `python -m trend_core run` first")
    return view


def cmd_styles(args: argparse.Namespace) -> int:
    store = Store(args.db)
    view = _require_view(store, args)
    table = view.styles.drop(columns=["exemplars"])
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    """Shares with their n (images behind the period's shares) and `small` (n under the minimum); with
    --top, small periods are left out of the ranking and named on stderr."""
    from trend_core.trends import small_periods

    store = Store(args.db)
    view = _require_view(store, args)
    min_n = view.config.trends.min_period_images if args.min_images is None else max(0, args.min_images)
    shares = view.shares(args.period)
    small = small_periods(shares, min_n)
    if args.top:
        table = view.top_styles(args.period, args.top, min_n=min_n)
        left_out = small_periods(shares, min_n, with_rows_only=True)
        if len(left_out):
            listed = ", ".join(f"{p:%Y-%m-%d} (n = {n})" for p, n in zip(left_out["period"], left_out["n"]))
            print(f"note: left out of the top {args.top}, fewer than {min_n} images: {listed}", file=sys.stderr)
    else:
        table = shares.assign(small=shares["period"].isin(set(small["period"])))
    if args.out:
        table.to_csv(args.out, index=False)
    else:
        print(table.to_string(index=False))
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from trend_core import quality

    store = Store(args.db)
    summary = quality.report(store.load_posts(), quality.import_summaries(store.load_imports()),
                             busiest_day_limit=args.busiest_day_limit)
    _print_json(summary)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    if args.series:
        return _forecast_series(args)
    from trend_core.pipeline import (derived_forecast_config, forecast_csv, forecast_file_name, forecast_verdict,
                                      run_forecast)

    store = Store(args.db)
    view = _require_view(store, args)  # --source labels: computed now when missing
    base = ForecastConfig(period=args.period, modalities=tuple(args.forecast_modalities.split(",")),
                          epochs=args.epochs, seed=args.seed, model=args.model or ForecastConfig().model)
    # W, G, H, test span and folds the user leaves out are derived from the panel's length
    fcfg = derived_forecast_config(store, view, base, window=args.window, gap=args.gap, horizon=args.horizon,
                                   test_periods=args.test_periods, folds=args.folds)
    result = run_forecast(store, view, fcfg, None if args.quiet else _stderr_progress, device=args.device)
    verdict = forecast_verdict(result)
    model = args.export_model or verdict.model
    out = Path(args.out)
    if out.is_dir():
        out = out / forecast_file_name(store, result, model)
    out.write_text(forecast_csv(result, view, model), encoding="utf-8")
    _print_json({"out": str(out), "model": model, "verdict": verdict.text.replace("**", ""),
                 "settings": {k: getattr(fcfg, k) for k in ("period", "window", "gap", "horizon", "test_periods",
                                                            "folds")},
                 "cached": result.cached, "split": result.split,
                 "metrics": result.metrics.round(4).to_dict(orient="records")})
    return 0


def _forecast_series(args: argparse.Namespace) -> int:
    """External series: fit on the rows up to --train-end, write the H forecast rows in the input's
    layout (wide: one row per date), and with --report print MASE and trend accuracy beside every baseline as JSON."""
    from trend_core.forecast.external import DEFAULT_MODEL, REPORT_BASELINES, forecast_external, score
    from trend_core.forecast.series_io import read_covariate, read_series, write_like

    if not args.train_end:
        raise ValueError("--series needs --train-end DATE (the last period the models may see)")
    table = read_series(args.series)
    covariates = {}
    for spec in args.covariate or []:
        name, _, path = spec.rpartition("=") if "=" in spec else (Path(spec).stem, "", spec)
        covariates[name] = read_covariate(path, table)
    model = args.model or DEFAULT_MODEL
    compare = REPORT_BASELINES if args.report else ()
    horizon = args.horizon if args.horizon is not None else ForecastConfig().horizon
    result = forecast_external(table, args.train_end, horizon, model, covariates, args.season or None,
                               args.seed, args.device, compare, None if args.quiet else _stderr_progress)
    write_like(result.point, args.out, table)
    summary = {"out": args.out, "model": model, "rows": len(result.point), "series": result.point.shape[1],
               "first_date": result.point.index[0].date().isoformat(), "layout": table.layout,
               "covariates": sorted(covariates), "notes": result.notes + [n for c in covariates.values() for n in c.notes]}
    if args.report:
        summary["report"] = score(result)
    _print_json(summary)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from trend_core.device import device_label
    from trend_core.plugins import encoder_choices, segmenter_choices, text_choices

    _print_json({"device": device_label(), **{
        kind: [{"name": c.name, "available": c.available, "description": c.description, "problem": c.problem}
               for c in choices()]
        for kind, choices in (("segmenters", segmenter_choices), ("image_encoders", encoder_choices),
                              ("text_methods", text_choices))}})
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from trend_core import weights_fetch

    if args.action == "list":
        _print_json([weights_fetch.weights_status(name) for name in weights_fetch.names()])
        return 0
    return weights_fetch.get_command(args.name, quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trend_core", description=__doc__)
    parser.add_argument("--debug", action="store_true",
                        help="on a failure, print the traceback as well as the one-line reason (also after the command)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=default_db_path(),
                        help=f"DuckDB file (default: ${DB_ENV_VAR} or data/trend.duckdb)")
    common.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    styles = argparse.ArgumentParser(add_help=False)
    styles.add_argument("--k", type=int, help="number of styles (0 = pick by silhouette)")
    styles.add_argument("--k-min", type=int, help="smallest K of the silhouette sweep (default 2)")
    styles.add_argument("--k-max", type=int, help="largest K of the silhouette sweep (default 16, up to 200)")
    styles.add_argument("--silhouette-repeats", type=int, help="random samples scored per K (default 3)")
    styles.add_argument("--modalities", help="fused blocks from image,mask,text,engagement (default mask,text,engagement)")
    styles.add_argument("--source", choices=["clusters", "labels"], help="styles from clustering or the style column")
    styles.add_argument("--segmenter", help="clothing segmenter: none, border, grabcut, deeplabv3_mobilenet, deeplabv3_resnet50 (`plugins` lists them)")
    styles.add_argument("--min-clothing", type=float, help="leave out images with less clothing than this share (0.05)")
    styles.add_argument("--encoder", help="image encoder: handcrafted, resnet50, clip (`plugins` lists them)")
    styles.add_argument("--text-method", choices=["tfidf", "word2vec", "sentence"], help="text features")
    styles.add_argument("--share-unit", choices=["images", "posts"],
                        help="shares count images (default, one look per image) or posts (each post split evenly "
                             "over its images' styles)")
    styles.add_argument("--no-text-assign", action="store_true",
                        help="leave posts without a usable image out of the styles instead of giving them the "
                             "nearest style by text + engagement")
    styles.add_argument("--fallback", action="store_true",
                        help="use the weights-free part when a chosen one cannot run here (else stop with how to fix it)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", parents=[common, styles], help="write the demo dataset and run the pipeline")
    p.add_argument("--posts", type=int, default=1200)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", parents=[common], help="import posts (CSV, JSON, JSONL, Parquet)")
    p.add_argument("--posts", required=True, help="posts file")
    p.add_argument("--images", help="folder (or .zip of images) that image paths are relative to")
    p.add_argument("--map", nargs="*", metavar="THEIRS=OURS",
                   help="column mapping, e.g. 发布时间=post_date or image_style=style_label")
    p.add_argument("--crawl-date", "--reference-date", dest="crawl_date", metavar="YYYY-MM-DD",
                   help="the crawl's date: an MM-DD date gets the latest year on or before it, a relative date "
                        "(昨天, 3天前, 5小时前) is counted back from it (default: the latest full date in the file, "
                        "else today; the summary's dates.reference_date says which)")
    p.add_argument("--dayfirst", action="store_true",
                   help="read DD/MM/YYYY and DD.MM.YYYY dates as day, month, year (without it they are bad_date)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("plugins", parents=[common], help="segmenters, encoders, text methods and whether each can run here")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("weights", help="pretrained weights: `weights list` says which are here; `weights get NAME` "
                                       "downloads one on a connected machine into the cache the parts search")
    p.add_argument("action", choices=["list", "get"])
    p.add_argument("name", nargs="?", help="with get: resnet50, clip, deeplabv3_mobilenet, deeplabv3_resnet50, sentence")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("run", parents=[common, styles], help="run every stage that is not cached")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("styles", parents=[common, styles], help="print the styles table")
    p.add_argument("--out", help="also write it as CSV")
    p.set_defaults(func=cmd_styles)

    p = sub.add_parser("trends", parents=[common, styles], help="style shares per period")
    p.add_argument("--period", choices=["day", "week", "month"], default="month")
    p.add_argument("--top", type=int, default=0, help="only the top N styles of each period")
    p.add_argument("--min-images", type=int, help="periods with fewer images are flagged (`small`) and left out "
                                                  "of --top (default: the saved setting, 30)")
    p.add_argument("--out", help="write CSV here instead of printing")
    p.set_defaults(func=cmd_trends)

    p = sub.add_parser("quality", parents=[common], help="data quality as JSON: date range, MM-DD years, busiest "
                                                         "day, posts without images, blank counts, shared images")
    p.add_argument("--busiest-day-limit", type=float, default=0.10,
                   help="warn when one day holds more than this share of posts (default 0.10)")
    p.set_defaults(func=cmd_quality)

    defaults = ForecastConfig()
    p = sub.add_parser("forecast", parents=[common, styles],
                       help="style panel: train the neural model and baselines, export CSV; "
                            "--series FILE: forecast external series from --train-end")
    p.add_argument("--out", required=True, help="forecast CSV (style panel: one row per style and horizon step, "
                                                "or a folder: forecast_<db>_<model>_<last date>.csv inside it; "
                                                "--series: the input's wide layout, one row per forecast date)")
    p.add_argument("--series", help="external series CSV, wide (date + one column per series) or long (series,date,value)")
    p.add_argument("--train-end", help="with --series: the last date the models may see")
    p.add_argument("--covariate", action="append", metavar="[NAME=]FILE",
                   help="with --series: a covariate table of the same shape (repeatable)")
    p.add_argument("--report", action="store_true",
                   help="with --series: print MASE and trend-class accuracy of the model and every baseline "
                        "where the file holds the truth")
    p.add_argument("--season", type=int, default=0,
                   help="with --series: season length for seasonal models and MASE (default from the dates: 52 weekly)")
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    p.add_argument("--model", help="style panel: lstm or attention; --series: a model of forecast.origin "
                                   "(e.g. ets, lstm, seasonal_naive; default the best on the F1 benchmark)")
    p.add_argument("--export-model", help="style panel: the model whose forecast is written (default: the "
                                          "backtest's verdict, the best model or the best baseline)")
    auto = " (default: derived from the panel's length)"
    p.add_argument("--folds", type=int, help="style panel: rolling-origin folds" + auto)
    p.add_argument("--period", choices=["day", "week", "month"], default=defaults.period)
    p.add_argument("--window", type=int, help="input periods W" + auto)
    p.add_argument("--gap", type=int, help="periods between the last input and the first target" + auto)
    p.add_argument("--horizon", type=int, help="periods forecast H" + auto + f"; --series: {defaults.horizon}")
    p.add_argument("--test-periods", type=int, help="each fold's test span" + auto)
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--forecast-modalities", default=",".join(defaults.modalities),
                   help="neural inputs: share,count,engagement,image,mask,text")
    p.set_defaults(func=cmd_forecast)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Any failure is one line on stderr (`error: <reason>`) and exit status 2 (130 for
    Ctrl-C): a bad file, a busy database, a full disk, out of memory, data nested too deeply, a bug.
    --debug (anywhere on the command line) also prints the traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # StoreError (busy, disk full), OSError, MemoryError, RecursionError, anything else
        if debug:
            traceback.print_exc(file=sys.stderr)
        line = reason(err)
        if debug or isinstance(err, (ValueError, OSError, StoreError, MemoryError, RecursionError)):
            print(f"error: {line}", file=sys.stderr)
        else:
            print(f"error: {line} (run again with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
