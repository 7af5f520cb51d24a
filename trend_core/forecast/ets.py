"""Holt-Winters exponential smoothing (ETS) forecasts for a panel of series, one fit per series.

ets_forecast(history (T, N), horizon, season) -> (horizon, N). Per series (statsmodels
ExponentialSmoothing, parameters estimated by maximum likelihood, initial states estimated):
- T >= 2 * season + 2 and season >= 2: additive (damped) trend + additive season of length `season`;
- 4 <= T, no full two seasons: additive (damped) trend, no season;
- T < 4: the last value repeated.
A fit that raises or yields non-finite values falls back to seasonal naive (when a whole season is
known) or the last value; ets_forecast_info also returns which method each series used.
Forecasts are clipped at 0 when nonnegative=True (shares are never negative).
Only `history` is read: nothing after its last row can influence the forecast.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

MIN_TREND = 4          # fewer periods than this: repeat the last value
SEASON_EXTRA = 2       # seasonal model when T >= 2 * season + SEASON_EXTRA

ETS_SEASONAL = "ets_seasonal"
ETS_TREND = "ets_trend"
LAST_VALUE = "last_value"
SEASONAL_NAIVE = "seasonal_naive"
CONSTANT = "constant"


def _seasonal_naive(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    steps = np.arange(1, horizon + 1)
    back = season * np.ceil(steps / season).astype(np.int64)
    return y[len(y) - 1 + steps - back]


def _fallback(y: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, str]:
    if season >= 2 and len(y) >= season:
        return _seasonal_naive(y, horizon, season), SEASONAL_NAIVE
    return np.repeat(y[-1], horizon), LAST_VALUE


def _fit_one(y: np.ndarray, horizon: int, season: int, damped: bool, trend: bool = True) -> tuple[np.ndarray, str]:
    T = len(y)
    if T == 0:
        raise ValueError("empty history")
    if T < MIN_TREND:
        return np.repeat(y[-1], horizon), LAST_VALUE
    if np.ptp(y) <= 1e-12 * max(1.0, abs(float(y[-1]))):
        return np.repeat(y[-1], horizon), CONSTANT
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = season >= 2 and T >= 2 * season + SEASON_EXTRA
    kind = ETS_SEASONAL if seasonal else ETS_TREND
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(y, trend="add" if trend else None, damped_trend=damped and trend,
                                         seasonal="add" if seasonal else None,
                                         seasonal_periods=season if seasonal else None,
                                         initialization_method="estimated")
            fc = np.asarray(model.fit().forecast(horizon), dtype=float)
        if fc.shape != (horizon,) or not np.all(np.isfinite(fc)):
            raise FloatingPointError("non-finite forecast")
        # a diverging fit (far outside the history's range) is treated as a failure too
        spread = float(np.ptp(y)) + abs(float(np.mean(y)))
        if np.max(np.abs(fc - np.mean(y))) > 50.0 * spread:
            raise FloatingPointError("diverging forecast")
        return fc, kind
    except Exception:  # noqa: BLE001 - any failure of the optimiser falls back to a naive forecast
        return _fallback(y, horizon, season)


def ets_forecast_info(history: np.ndarray, horizon: int, season: int, *, damped: bool = True,
                      nonnegative: bool = True, trend: bool = True,
                      progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """ETS forecasts (horizon, N) and, per series, the method used: 'ets_seasonal', 'ets_trend',
    'last_value', 'constant' (flat history) or, after a failed fit, 'seasonal_naive' / 'last_value'.
    trend=False drops the trend (simple exponential smoothing, plus the season when there is one)."""
    values = np.asarray(history, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError("history must be (T, N)")
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    if not np.all(np.isfinite(values)):
        raise ValueError("history must not contain NaN or inf")
    N = values.shape[1]
    out = np.empty((horizon, N), dtype=float)
    methods: list[str] = []
    for j in range(N):
        out[:, j], method = _fit_one(values[:, j], horizon, int(season), damped, trend)
        methods.append(method)
        if progress is not None:
            progress((j + 1) / N, f"ETS {j + 1}/{N}")
    if nonnegative:
        out = np.clip(out, 0.0, None)
    return out, methods


def ets_forecast(history: np.ndarray, horizon: int, season: int, *, damped: bool = True,
                 nonnegative: bool = True) -> np.ndarray:
    """(horizon, N) Holt-Winters forecasts of every column of history (T, N); see the module doc."""
    return ets_forecast_info(history, horizon, season, damped=damped, nonnegative=nonnegative)[0]
