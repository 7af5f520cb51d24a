"""Baseline forecasters over the same windows as the LSTM: each returns (n, H) predictions.

Every baseline sees only what a window's origin knows: the window's inputs and, for seasonal naive,
the series' history up to the origin. Predictions are clipped at 0 (shares are never negative).
A baseline is a function (windows, history, season) -> array; BASELINES names them so the app and
the evaluation list what exists (ETS can join with the same signature).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trend_core.forecast.windows import WindowSet

SEASON_LENGTH = {"day": 7, "week": 52, "month": 12}


def season_length(period: str) -> int:
    """Default season length for a period kind (day 7, week 52, month 12)."""
    return SEASON_LENGTH.get(period, 1)


def last_value(windows: WindowSet, history: np.ndarray | None = None, season: int = 1) -> np.ndarray:
    """Repeat the last input value for every step."""
    last = windows.share_inputs[:, -1]
    return np.repeat(last[:, None], windows.horizon, axis=1)


def moving_average(windows: WindowSet, history: np.ndarray | None = None, season: int = 1) -> np.ndarray:
    """The mean of the W input values for every step."""
    mean = windows.share_inputs.mean(axis=1)
    return np.repeat(mean[:, None], windows.horizon, axis=1)


def seasonal_naive(windows: WindowSet, history: np.ndarray | None = None, season: int = 52) -> np.ndarray:
    """Target period p = t+G+h gets the value one (or more) whole seasons earlier that the origin t
    already knows: p - m * ceil((G+h)/m). Falls back to the last value when that lies before the
    series start (or no history is given)."""
    fallback = last_value(windows)
    if history is None or season < 1:
        return fallback
    steps = windows.gap + np.arange(1, windows.horizon + 1)  # (H,) distance origin -> target
    back = season * np.ceil(steps / season).astype(np.int64)
    source = windows.origin[:, None] + steps[None, :] - back[None, :]
    ok = source >= 0
    values = history[np.where(ok, source, 0), windows.series[:, None]]
    return np.clip(np.where(ok, values, fallback), 0.0, None)


def drift(windows: WindowSet, history: np.ndarray | None = None, season: int = 1) -> np.ndarray:
    """Last value plus the window's average step (first to last input) times the distance G+h."""
    x = windows.share_inputs
    slope = (x[:, -1] - x[:, 0]) / max(windows.window - 1, 1)
    steps = windows.gap + np.arange(1, windows.horizon + 1)
    return np.clip(x[:, -1:] + slope[:, None] * steps[None, :], 0.0, None)


Baseline = Callable[..., np.ndarray]
BASELINES: dict[str, Baseline] = {
    "last_value": last_value,
    "moving_average": moving_average,
    "seasonal_naive": seasonal_naive,
    "drift": drift,
}


def predict_baselines(windows: WindowSet, history: np.ndarray, season: int,
                      names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every (or the named) baseline's (n, H) predictions for the same windows."""
    return {name: BASELINES[name](windows, history, season) for name in (names or list(BASELINES))}
