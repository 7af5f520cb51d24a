"""Modality ablation: the neural model trained on every subset of the chosen inputs (share always in),
each on the same rolling-origin folds and split, beside the baselines scored once on that split; the
original notes' ablation table, honestly evaluated."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from trend_core.config import ForecastConfig, TrendConfig
from trend_core.forecast.baselines import season_length
from trend_core.forecast.evaluate import ENSEMBLE, Progress, baseline_names, run_folds, pooled_metrics
from trend_core.forecast.metrics import METRIC_COLUMNS
from trend_core.forecast.train import pick_device
from trend_core.forecast.windows import SHARE, is_embedding_channel, prepare_panel


def modality_groups(modalities: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """User-facing inputs -> channel names: embedding components ('text_1', 'text_2') form one group
    ('text'); share is always an input and is not a group."""
    groups: dict[str, list[str]] = {}
    for name in modalities:
        if name == SHARE:
            continue
        group = name.rsplit("_", 1)[0] if is_embedding_channel(name) else name
        groups.setdefault(group, []).append(name)
    return groups


ABLATION_COLUMNS = ["inputs", "n_inputs"] + METRIC_COLUMNS


def run_ablation(panel: pd.DataFrame, covariates: dict[str, pd.DataFrame] | None = None,
                 cfg: ForecastConfig | None = None, progress: Progress | None = None, *,
                 trend: TrendConfig | None = None, season: int | None = None, val_periods: int | None = None,
                 interval_level: float = 0.8, device: str | None = None, threads: int | None = None,
                 baselines: list[str] | None = None, max_groups: int = 5) -> pd.DataFrame:
    """The neural model trained on every subset of cfg.modalities' groups (share always in), each on
    the same folds and split, plus the baselines once on that split (inputs '(baseline)'). One row per
    subset: ABLATION_COLUMNS, sorted by the number of inputs."""
    cfg = cfg or ForecastConfig()
    trend = trend or TrendConfig()
    report = progress or (lambda fraction, message: None)
    data = prepare_panel(panel, covariates)
    groups = {g: [c for c in cols if c in data.covariates] for g, cols in modality_groups(cfg.modalities).items()}
    groups = {g: cols for g, cols in groups.items() if cols}
    if len(groups) > max_groups:
        raise ValueError(f"{len(groups)} input groups give {2 ** len(groups)} trainings; pick at most {max_groups}")
    season = season if season is not None else season_length(cfg.period)
    dev = pick_device(device)
    subsets = [combo for r in range(len(groups) + 1) for combo in itertools.combinations(sorted(groups), r)]
    frames = []
    for i, combo in enumerate(subsets):
        label = "+".join((SHARE, *combo))
        sub_cfg = cfg.replace(modalities=(SHARE, *[c for g in combo for c in groups[g]]))

        def sub(fraction: float, message: str, i: int = i, label: str = label) -> None:
            report((i + fraction) / len(subsets), f"{label} ({i + 1}/{len(subsets)}): {message}")

        names = baseline_names(baselines) if i == 0 else []
        folds = run_folds(data, sub_cfg, trend, season, val_periods, names, dev, threads, sub, None, (0.0, 1.0))
        metrics = pooled_metrics(folds, trend, interval_level, majority=i == 0)
        metrics = metrics[metrics["model"] != ENSEMBLE]  # it mixes in the share-only network: not a baseline
        metrics.insert(0, "n_inputs", np.where(metrics["model"] == cfg.model, len(combo) + 1, 0))
        metrics.insert(0, "inputs", np.where(metrics["model"] == cfg.model, label, "(baseline)"))
        frames.append(metrics)
    report(1.0, "done")
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["n_inputs", "inputs"], kind="stable").reset_index(drop=True)[ABLATION_COLUMNS]
