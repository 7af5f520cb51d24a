"""Forecast external series (a wide table read by series_io) from one origin, as the CLI's
`forecast --series FILE --train-end DATE --horizon H` does, and score the forecast where the file
holds the truth.

The history is every row up to and including `train_end`; models (forecast.origin.ORIGIN_MODELS) are
fitted on it alone and forecast the H periods after it. The report compares, on the rows after
`train_end` that the file holds (at most H):
- MASE: per series mean |y - yhat| over those rows divided by the mean |y_t - y_(t-m)| over the
  history (m = the season, default from the date step: 52 for weekly data), averaged over series
  whose scale is above zero;
- trend class: the mean of the forecast rows against the mean of the last m history rows, rising
  above +threshold, falling below -threshold, else flat (as HERMES); accuracy against the same
  class computed on the truth.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trend_core.forecast.series_io import SeriesTable, season_for
from trend_core.forecast.windows import prepare_panel
from trend_core.trends import TREND_NAMES, trend_class

Progress = Callable[[float, str], None]
REPORT_BASELINES = ("last_value", "moving_average", "seasonal_naive", "drift", "ets")
DEFAULT_MODEL = "ensemble"  # the CLI's model when --model is not given: best on the F1 validation year


@dataclass
class ExternalForecast:
    """Point forecasts per model (H x series wide frames), the history used and the report."""

    model: str
    forecasts: dict[str, pd.DataFrame]
    history: pd.DataFrame
    truth: pd.DataFrame                 # rows after train_end the file holds (at most H; may be empty)
    season: int
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def point(self) -> pd.DataFrame:
        return self.forecasts[self.model]


def split_history(table: SeriesTable, train_end: str | pd.Timestamp, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(history up to train_end, the truth rows after it (at most horizon), notes)."""
    end = pd.Timestamp(train_end)
    frame = table.frame
    if frame.index.min() > end:
        raise ValueError(f"--train-end {end.date()} is before the first date {frame.index.min().date()}")
    history = frame[frame.index <= end]
    if len(history) < 3:
        raise ValueError(f"only {len(history)} periods on or before {end.date()}: need at least 3 to forecast")
    truth = frame[frame.index > end].iloc[:horizon]
    return history, truth, list(table.notes)


def _covariate_history(covariates: dict[str, SeriesTable], history: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for name, cov in covariates.items():
        aligned = cov.frame.reindex(index=history.index, columns=history.columns)
        out[name] = aligned.ffill().fillna(0.0).to_numpy(dtype=float)
    return out


def forecast_external(table: SeriesTable, train_end: str | pd.Timestamp, horizon: int, model: str,
                      covariates: dict[str, SeriesTable] | None = None, season: int | None = None,
                      seed: int = 0, device: str | None = None, compare: tuple[str, ...] = (),
                      progress: Progress | None = None) -> ExternalForecast:
    """Fit `model` (and each model in `compare`) on the history up to train_end and forecast the H
    periods after it."""
    from trend_core.forecast.origin import ORIGIN_MODELS

    names = [model] + [m for m in compare if m != model]
    unknown = [m for m in names if m not in ORIGIN_MODELS]
    if unknown:
        raise ValueError(f"unknown model {', '.join(unknown)}; choose from {', '.join(ORIGIN_MODELS)}")
    if horizon < 1:
        raise ValueError("--horizon must be at least 1")
    history, truth, notes = split_history(table, train_end, horizon)
    panel = prepare_panel(history)  # checks the dates are regular; fills gaps forward and says so
    notes += panel.notes
    filled = pd.DataFrame(panel.values, index=panel.index, columns=panel.columns)
    season = season or season_for(panel.index)
    dates = truth.index if len(truth) == horizon else panel.future_periods(horizon)
    covs = _covariate_history(covariates or {}, filled)
    report = progress or (lambda fraction, message: None)
    forecasts, seconds = {}, {}
    for i, name in enumerate(names):
        def sub(fraction: float, message: str, i: int = i, name: str = name) -> None:
            report((i + fraction) / len(names), f"{name}: {message}")

        started = time.perf_counter()
        fitted = ORIGIN_MODELS[name](seed=seed, device=device, horizon=horizon)  # networks train for H
        fitted.fit(filled.to_numpy(dtype=float), season, covs or None, sub)
        point = np.asarray(fitted.predict(horizon), dtype=float)
        if point.shape != (horizon, filled.shape[1]) or not np.isfinite(point).all():
            raise RuntimeError(f"model {name} returned {point.shape} / non-finite forecasts")
        forecasts[name] = pd.DataFrame(point, index=pd.DatetimeIndex(dates), columns=filled.columns)
        seconds[name] = round(time.perf_counter() - started, 3)
    report(1.0, "done")
    return ExternalForecast(model, forecasts, filled, truth, int(season), notes, seconds)


def score(result: ExternalForecast, threshold: float = 0.05) -> dict[str, Any]:
    """MASE and trend-class accuracy of every forecast in result against the truth rows (module doc);
    an empty dict of models when the file holds no truth after train_end."""
    truth = result.truth
    out: dict[str, Any] = {"season": result.season, "truth_periods": int(len(truth)), "models": {}}
    if truth.empty:
        out["note"] = "the file holds no values after --train-end: nothing to score"
        return out
    hist = result.history.to_numpy(dtype=float)
    m = result.season if len(hist) - result.season >= 2 else 1
    scale = np.abs(hist[m:] - hist[:-m]).mean(axis=0)
    y = truth.to_numpy(dtype=float)
    known = np.isfinite(y)
    usable = (scale > 0) & known.any(axis=0)
    base = hist[-m:].mean(axis=0) if len(hist) >= m else hist.mean(axis=0)
    true_class = trend_class(base, np.nanmean(np.where(known, y, np.nan), axis=0), threshold)
    for name, frame in result.forecasts.items():
        pred = frame.to_numpy(dtype=float)[:len(truth)]
        err = np.where(known, np.abs(y - pred), np.nan)
        per_series = np.nanmean(err, axis=0)[usable] / scale[usable]
        pred_class = trend_class(base, pred.mean(axis=0), threshold)
        ok = known.any(axis=0)
        out["models"][name] = {
            "mase": round(float(np.mean(per_series)), 4) if per_series.size else None,
            "trend_accuracy": round(float(np.mean(pred_class[ok] == true_class[ok])), 4),
            "seconds": result.seconds.get(name)}
    out["series_scored"] = int(usable.sum())
    out["series_skipped_zero_scale"] = int((~usable & known.any(axis=0)).sum())
    out["trend_classes_in_truth"] = {TREND_NAMES[int(c)]: int((true_class == c).sum()) for c in (-1, 0, 1)}
    out["mase_season"] = int(m)
    return out
