"""run_forecast: windows -> leak-free split -> scaler (training windows) -> LSTM -> metrics beside
baselines on the SAME test windows -> forward forecast with intervals and P(hot).

Metrics (test windows only, every model):
- mae, wape (sum |err| / sum |actual|), mase (per series: test MAE / mean |y_t - y_{t-m}| over the
  training span, m = season length when the training span is long enough else 1; averaged over series);
- hot_accuracy / hot_balanced_accuracy: per test origin and step, the k series with the highest
  predicted share are called hot (k = the number of hot series per period) against the actual hot
  labels of that period;
- trend_accuracy / trend_macro_f1: rising / flat / falling of the predicted target-span mean against
  the input-window mean (+-trend_threshold), against the same class on the actual values;
- coverage: share of test actuals inside the model's interval (nominal `interval`).
A `majority` row predicts the most frequent training-window class (hot and trend), so skill is read
against it. Intervals: quantiles of validation residuals (relative to each window's share level) per
step. P(hot) of a forward forecast: Monte Carlo over those residuals, the frequency with which the
series lands among the top k of all series at that step.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from trend_core.config import ForecastConfig, TrendConfig
from trend_core.forecast.baselines import BASELINES, predict_baselines, season_length
from trend_core.forecast.train import pick_device, predict, save_state, train_lstm
from trend_core.forecast.windows import (Panel, WindowScaler, WindowSet, build_windows, prepare_panel,
                                         temporal_split)
from trend_core.trends import TREND_NAMES, n_hot, trend_class

Progress = Callable[[float, str], None]
FORECAST_COLUMNS = ["series", "step", "period", "point", "lower", "upper", "p_hot", "trend_class", "model"]
TEST_COLUMNS = ["series", "origin", "step", "period", "actual", "model", "predicted"]
METRIC_COLUMNS = ["model", "mae", "wape", "mase", "hot_accuracy", "hot_balanced_accuracy", "trend_accuracy",
                  "trend_macro_f1", "coverage", "n_windows"]
LSTM = "lstm"
MAJORITY = "majority"


@dataclass
class ForecastResult:
    """Everything a forecasting run produced; see the module doc for the metric definitions."""

    metrics: pd.DataFrame           # one row per model (lstm, baselines, majority)
    forecasts: pd.DataFrame         # LSTM forward forecast: FORECAST_COLUMNS, one row per series x step
    test_predictions: pd.DataFrame  # TEST_COLUMNS, every model on every test window and step
    split: dict[str, str]           # ISO dates of the spans
    history: pd.DataFrame           # epoch, train_loss, val_loss, seconds, best
    state: bytes                    # train.save_state bytes (model config, weights, scaler)
    config: ForecastConfig
    baseline_forecasts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FORECAST_COLUMNS))
    info: dict[str, Any] = field(default_factory=dict)  # counts, device, seconds, season, notes ...


# -- metrics ---------------------------------------------------------------------------------------
def mase_scale(values: np.ndarray, end: int, season: int) -> tuple[np.ndarray, int]:
    """Per series mean |y_t - y_{t-m}| over periods [0, end); m falls back to 1 when the span holds
    fewer than 2 seasonal differences. Returns (scales (N,), m)."""
    m = season if season >= 1 and end - season >= 2 else 1
    span = values[:end]
    if len(span) <= m:
        return np.full(values.shape[1], np.nan), m
    return np.abs(span[m:] - span[:-m]).mean(axis=0), m


def top_k_hot(pred: np.ndarray, origin: np.ndarray, k: int) -> np.ndarray:
    """(n, H) 1 where a window's prediction is among the k largest of its origin's windows at that step."""
    out = np.zeros_like(pred, dtype=np.int64)
    for o in np.unique(origin):
        rows = np.flatnonzero(origin == o)
        order = np.argsort(-pred[rows], axis=0, kind="stable")[:k]  # (k, H) row offsets
        for h in range(pred.shape[1]):
            out[rows[order[:, h]], h] = 1
    return out


def point_metrics(actual: np.ndarray, pred: np.ndarray, series: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    err = np.abs(actual - pred)
    denom = np.abs(actual).sum()
    per_series = []
    for s in np.unique(series):
        if np.isfinite(scale[s]) and scale[s] > 0:
            per_series.append(err[series == s].mean() / scale[s])
    return {"mae": float(err.mean()), "wape": float(err.sum() / denom) if denom > 0 else float("nan"),
            "mase": float(np.mean(per_series)) if per_series else float("nan")}


def class_metrics(hot_true: np.ndarray, hot_pred: np.ndarray, trend_true: np.ndarray,
                  trend_pred: np.ndarray) -> dict[str, float]:
    hot_true, hot_pred = hot_true.ravel().astype(int), hot_pred.ravel().astype(int)
    out = {"hot_accuracy": float(accuracy_score(hot_true, hot_pred)),
           "hot_balanced_accuracy": float(balanced_accuracy_score(hot_true, hot_pred))
           if len(np.unique(hot_true)) > 1 else float("nan"),
           "trend_accuracy": float(accuracy_score(trend_true, trend_pred)),
           "trend_macro_f1": float(f1_score(trend_true, trend_pred, average="macro", zero_division=0))}
    return out


# -- intervals and P(hot) --------------------------------------------------------------------------
def residual_ratios(windows: WindowSet, pred: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(n, H) (actual - predicted) / window share level."""
    return (windows.targets - pred) / scale[:, None]


def interval(pred: np.ndarray, scale: np.ndarray, ratios: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower / upper bounds from per-step residual quantiles (clipped at 0)."""
    lo_q, hi_q = np.nanquantile(ratios, [(1 - level) / 2, (1 + level) / 2], axis=0)  # (H,) each
    lower = np.clip(pred + lo_q[None, :] * scale[:, None], 0.0, None)
    upper = np.clip(pred + hi_q[None, :] * scale[:, None], 0.0, None)
    return lower, np.maximum(upper, lower)


def p_hot_monte_carlo(pred: np.ndarray, scale: np.ndarray, ratios: np.ndarray, k: int, seed: int,
                      samples: int = 1000) -> np.ndarray:
    """(N, H) probability that each series is among the top k at each step: residual ratios are
    bootstrapped per step and series, added to the point forecasts, and the top k counted."""
    rng = np.random.default_rng(seed)
    n, H = pred.shape
    out = np.zeros((n, H))
    for h in range(H):
        pool = ratios[:, h][np.isfinite(ratios[:, h])]
        if len(pool) == 0:
            pool = np.zeros(1)
        draws = pred[:, h][None, :] + rng.choice(pool, size=(samples, n)) * scale[None, :]
        draws = np.clip(draws, 0.0, None) + rng.uniform(0, 1e-12, size=(samples, n))  # random tie break
        kth = -np.partition(-draws, k - 1, axis=1)[:, k - 1:k]
        out[:, h] = ((draws >= kth) & (draws > 1e-11)).mean(axis=0)
    return out


# -- frames ----------------------------------------------------------------------------------------
def _forecast_frame(panel: Panel, fw: WindowSet, pred: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    p_hot: np.ndarray, threshold: float, model: str, period: str) -> pd.DataFrame:
    H, G = fw.horizon, fw.gap
    periods = panel.future_periods(G + H, period)[G:]
    classes = trend_class(fw.share_inputs.mean(axis=1), pred.mean(axis=1), threshold)
    n = len(fw)
    return pd.DataFrame({
        "series": np.repeat(np.asarray(panel.columns, dtype=object)[fw.series], H),
        "step": np.tile(np.arange(1, H + 1), n),
        "period": np.tile(periods.to_numpy(), n),
        "point": pred.ravel(), "lower": lower.ravel(), "upper": upper.ravel(), "p_hot": p_hot.ravel(),
        "trend_class": np.repeat([TREND_NAMES[int(c)] for c in classes], H) if n else [],
        "model": model,
    }, columns=FORECAST_COLUMNS)


def _test_frame(panel: Panel, windows: WindowSet, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    H = windows.horizon
    n = len(windows)
    base = {"series": np.repeat(np.asarray(panel.columns, dtype=object)[windows.series], H),
            "origin": np.repeat(panel.index.to_numpy()[windows.origin], H),
            "step": np.tile(np.arange(1, H + 1), n),
            "period": panel.index.to_numpy()[windows.target_positions().ravel()],
            "actual": windows.targets.ravel()}
    frames = [pd.DataFrame({**base, "model": name, "predicted": pred.ravel()}, columns=TEST_COLUMNS)
              for name, pred in predictions.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TEST_COLUMNS)


def forecast_csv(result: ForecastResult) -> str:
    """The forward forecast as CSV, one row per series and horizon step (period as ISO date)."""
    frame = result.forecasts.copy()
    frame["period"] = pd.to_datetime(frame["period"]).dt.strftime("%Y-%m-%d")
    return frame.to_csv(index=False, float_format="%.6g")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


# -- the run ---------------------------------------------------------------------------------------
def run_forecast(panel: pd.DataFrame, covariates: dict[str, pd.DataFrame] | None = None,
                 cfg: ForecastConfig | None = None, progress: Progress | None = None, *,
                 trend: TrendConfig | None = None, season: int | None = None, val_periods: int | None = None,
                 interval_level: float = 0.8, device: str | None = None,
                 baselines: list[str] | None = None, threads: int | None = None) -> ForecastResult:
    """Train the LSTM and score it beside the baselines on the same leak-free test windows, then
    forecast H periods past the panel's end for every series. See the module doc."""
    cfg = cfg or ForecastConfig()
    trend = trend or TrendConfig()
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    report(0.0, "building windows")
    data = prepare_panel(panel, covariates)
    notes = list(data.notes)
    missing = [m for m in cfg.modalities if m != "share" and m not in data.covariates]
    if missing:
        notes.append(f"modalities without a covariate series were skipped: {', '.join(missing)}")
    season = season if season is not None else season_length(cfg.period)
    W, G, H = cfg.window, cfg.gap, cfg.horizon
    windows = build_windows(data, W, G, H, cfg.modalities, trend.hot_quantile)
    split = temporal_split(windows, data.n_periods, cfg.test_periods, val_periods)
    scaler = WindowScaler().fit(split.train)
    train_s, val_s, test_s = (scaler.transform(w) for w in (split.train, split.val, split.test))
    report(0.05, f"training on {len(split.train)} windows, validating on {len(split.val)}")

    def sub(fraction: float, message: str) -> None:
        report(0.05 + 0.85 * fraction, message)

    dev = pick_device(device)
    model, history = train_lstm(train_s, val_s, cfg, sub, dev, threads=threads)
    report(0.92, "scoring the test windows")

    # predictions on validation (for intervals) and test windows, every model
    names = [LSTM] + list(baselines or BASELINES)
    val_pred = {LSTM: scaler.inverse(predict(model, val_s)[0], val_s.scale)}
    test_pred = {LSTM: scaler.inverse(predict(model, test_s)[0], test_s.scale)}
    val_pred.update(predict_baselines(split.val, data.values, season, names[1:]))
    test_pred.update(predict_baselines(split.test, data.values, season, names[1:]))

    k = n_hot(data.n_series, trend.hot_quantile)
    scale_s, m_used = mase_scale(data.values, split.test_start, season)
    test = split.test
    in_mean = test.share_inputs.mean(axis=1)
    trend_true = trend_class(in_mean, test.targets.mean(axis=1), trend.trend_threshold)
    hot_true = test.hot.astype(int)
    ratios = {name: residual_ratios(split.val, val_pred[name], val_s.scale) for name in names}
    rows = []
    for name in names:
        pred = test_pred[name]
        lower, upper = interval(pred, test_s.scale, ratios[name], interval_level)
        row = {"model": name, **point_metrics(test.targets, pred, test.series, scale_s),
               **class_metrics(hot_true, top_k_hot(pred, test.origin, k), trend_true,
                               trend_class(in_mean, pred.mean(axis=1), trend.trend_threshold)),
               "coverage": float(((test.targets >= lower) & (test.targets <= upper)).mean()),
               "n_windows": len(test)}
        rows.append(row)
    train_trend = trend_class(split.train.share_inputs.mean(axis=1), split.train.targets.mean(axis=1),
                              trend.trend_threshold)
    values, counts = np.unique(train_trend, return_counts=True)
    majority_trend = int(values[np.argmax(counts)])
    majority_hot = int(np.nanmean(split.train.hot) > 0.5)
    rows.append({"model": MAJORITY, "mae": np.nan, "wape": np.nan, "mase": np.nan,
                 **class_metrics(hot_true, np.full_like(hot_true, majority_hot), trend_true,
                                 np.full_like(trend_true, majority_trend)),
                 "coverage": np.nan, "n_windows": len(test)})
    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)

    # forward forecast from the last window of every series
    report(0.96, "forecasting ahead")
    fw = build_windows(data, W, G, H, cfg.modalities, trend.hot_quantile, forward=True)
    fw_s = scaler.transform(fw)
    fw_scaled, _ = predict(model, fw_s)
    frames = []
    for i, name in enumerate(names):
        pred = scaler.inverse(fw_scaled, fw_s.scale) if name == LSTM else BASELINES[name](fw, data.values, season)
        lower, upper = interval(pred, fw_s.scale, ratios[name], interval_level)
        p_hot = p_hot_monte_carlo(pred, fw_s.scale, ratios[name], k, cfg.seed + i)
        frames.append(_forecast_frame(data, fw, pred, lower, upper, p_hot, trend.trend_threshold, name, cfg.period))
    forecasts = frames[0]
    baseline_forecasts = pd.concat(frames[1:], ignore_index=True) if len(frames) > 1 else \
        pd.DataFrame(columns=FORECAST_COLUMNS)

    dates = split.dates(data.index)
    info = {"counts": split.counts(), "device": str(dev), "seconds": round(time.perf_counter() - started, 3),
            "epochs_run": int(len(history)),
            "best_epoch": int(history.loc[history["best"], "epoch"].iloc[0]) if history["best"].any() else None,
            "season": int(season), "mase_season": int(m_used), "n_hot": int(k), "channels": list(windows.channels),
            "n_features": int(scaler.n_features), "majority_trend": TREND_NAMES[majority_trend],
            "interval": interval_level, "notes": notes}
    state = save_state(model, scaler, _jsonable({"forecast_config": asdict(cfg), "split": dates, "info": info}))
    report(1.0, "done")
    return ForecastResult(metrics, forecasts, _test_frame(data, test, test_pred), dates, history, state, cfg,
                          baseline_forecasts, info)
