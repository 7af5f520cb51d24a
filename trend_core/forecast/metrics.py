"""Forecast metrics and uncertainty: MASE / WAPE / MAE, hot and trend classes (accuracy, balanced
accuracy, macro-F1, AUC), per-origin ranks and terciles, residual-quantile intervals and a Monte
Carlo P(hot). Pure numpy / scikit-learn functions over window arrays (see forecast.evaluate)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from trend_core.forecast.windows import WindowSet

METRIC_COLUMNS = ["model", "mae", "wape", "mase", "hot_accuracy", "hot_balanced_accuracy", "hot_auc",
                  "trend_accuracy", "trend_balanced_accuracy", "trend_macro_f1", "tercile_accuracy",
                  "tercile_macro_f1", "coverage", "n_windows"]


# -- point and class metrics ---------------------------------------------------------------------------------------
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


def rank_within_origin(pred: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(n, H) each prediction's percentile rank among the windows of its origin (a hot score)."""
    out = np.zeros_like(pred, dtype=float)
    for o in np.unique(origin):
        rows = np.flatnonzero(origin == o)
        out[rows] = pd.DataFrame(pred[rows]).rank(axis=0, pct=True).to_numpy()
    return out


def tercile_by_origin(change: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(n,) +1 / 0 / -1: the top / middle / bottom third of the relative change among the series of
    the same origin."""
    out = np.zeros(len(change), dtype=np.int64)
    for o in np.unique(origin):
        rows = np.flatnonzero(origin == o)
        pct = pd.Series(change[rows]).rank(pct=True, method="average").to_numpy()
        out[rows] = np.where(pct > 2.0 / 3.0, 1, np.where(pct <= 1.0 / 3.0, -1, 0))
    return out


def point_metrics(actual: np.ndarray, pred: np.ndarray, series: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """mae, wape and mase; scale is per window (n,) (its fold's MASE scale of its series)."""
    err = np.abs(actual - pred)
    denom = np.abs(actual).sum()
    per_series = []
    for s in np.unique(series):
        rows = (series == s) & np.isfinite(scale) & (scale > 0)
        if rows.any():
            per_series.append((err[rows] / scale[rows, None]).mean())
    return {"mae": float(err.mean()), "wape": float(err.sum() / denom) if denom > 0 else float("nan"),
            "mase": float(np.mean(per_series)) if per_series else float("nan")}


def class_metrics(hot_true: np.ndarray, hot_pred: np.ndarray, hot_score: np.ndarray | None,
                  trend_true: np.ndarray, trend_pred: np.ndarray, tercile_true: np.ndarray,
                  tercile_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1 and AUC (hot) of the class targets."""
    hot_true, hot_pred = hot_true.ravel().astype(int), hot_pred.ravel().astype(int)
    both = len(np.unique(hot_true)) > 1
    with warnings.catch_warnings():  # a class the truth lacks is a fact of small test spans, not news
        warnings.simplefilter("ignore", UserWarning)
        return _class_metrics(hot_true, hot_pred, hot_score, both, trend_true, trend_pred, tercile_true, tercile_pred)


def _class_metrics(hot_true: np.ndarray, hot_pred: np.ndarray, hot_score: np.ndarray | None, both: bool,
                   trend_true: np.ndarray, trend_pred: np.ndarray, tercile_true: np.ndarray,
                   tercile_pred: np.ndarray) -> dict[str, float]:
    return {"hot_accuracy": float(accuracy_score(hot_true, hot_pred)),
            "hot_balanced_accuracy": float(balanced_accuracy_score(hot_true, hot_pred)) if both else float("nan"),
            "hot_auc": float(roc_auc_score(hot_true, hot_score.ravel())) if both and hot_score is not None
            else float("nan"),
            "trend_accuracy": float(accuracy_score(trend_true, trend_pred)),
            "trend_balanced_accuracy": float(balanced_accuracy_score(trend_true, trend_pred)),
            "trend_macro_f1": float(f1_score(trend_true, trend_pred, average="macro", zero_division=0)),
            "tercile_accuracy": float(accuracy_score(tercile_true, tercile_pred)),
            "tercile_macro_f1": float(f1_score(tercile_true, tercile_pred, average="macro", zero_division=0))}


# -- intervals and P(hot) --------------------------------------------------------------------------
def residual_ratios(windows: WindowSet, pred: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(n, H) (actual - predicted) / window share level."""
    return (windows.targets - pred) / scale[:, None]


def interval(pred: np.ndarray, scale: np.ndarray, ratios: np.ndarray, level: float,
             upper_bound: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower / upper bounds from per-step residual quantiles, clipped to [0, upper_bound] (shares:
    upper_bound=1) and so that lower <= pred <= upper."""
    lo_q, hi_q = np.nanquantile(ratios, [(1 - level) / 2, (1 + level) / 2], axis=0)  # (H,) each
    lower = np.clip(pred + lo_q[None, :] * scale[:, None], 0.0, upper_bound)
    upper = np.clip(pred + hi_q[None, :] * scale[:, None], 0.0, upper_bound)
    point = np.clip(pred, 0.0, upper_bound)
    return np.minimum(lower, point), np.maximum(upper, point)


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
