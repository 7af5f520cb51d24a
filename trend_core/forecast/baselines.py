"""Baseline forecasters over the same windows as the LSTM: each returns (n, H) predictions.

Every baseline sees only what a window's origin knows: the window's inputs and, for seasonal naive,
the series' history up to the origin. Predictions are clipped at 0 (shares are never negative).
A baseline is a function (windows, history, season) -> array; BASELINES names them so the app and
the evaluation list what exists. `ets` refits Holt-Winters (forecast.ets) on each window's own history
up to its origin, one fit per series and origin.
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


def ets(windows: WindowSet, history: np.ndarray | None = None, season: int = 52) -> np.ndarray:
    """Holt-Winters ETS (forecast.ets: additive damped trend, additive season when two seasons are
    known). Per series, the parameters and initial states are estimated once, on the history up to
    the earliest origin among the windows; every origin then runs that model over its own history
    history[:origin + 1] (no refit, so later origins cost a recursion, not an optimisation) and
    forecasts steps G+1..G+H. Without a history: fitted on each window's inputs alone."""
    from trend_core.forecast.ets import ets_forecast

    out = np.zeros((len(windows), windows.horizon))
    steps = windows.gap + windows.horizon
    if history is None or len(windows) == 0:
        for i in range(len(windows)):
            out[i] = ets_forecast(windows.share_inputs[i][:, None], steps, season)[windows.gap:, 0]
        return out
    for s in np.unique(windows.series):
        rows = np.flatnonzero(windows.series == s)
        origins = windows.origin[rows]
        fitted = _ets_fixed(history[:int(origins.min()) + 1, s], season)
        paths = _ets_from_states(fitted, history[:int(origins.max()) + 1, s], origins, steps) \
            if fitted is not None else None
        for i, (row, origin) in enumerate(zip(rows, origins)):
            fc = paths[i] if paths is not None else ets_forecast(history[:origin + 1, s][:, None], steps, season)[:, 0]
            out[row] = fc[windows.gap:]
    return np.clip(out, 0.0, None)


def _ets_fixed(y: np.ndarray, season: int) -> dict | None:
    """Estimated Holt-Winters settings for a series (None when ETS would not be fitted: short,
    constant, or the fit fails; ets_forecast then handles each origin)."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    from trend_core.forecast.ets import MIN_TREND, SEASON_EXTRA

    if len(y) < MIN_TREND or np.ptp(y) <= 1e-12 * max(1.0, abs(float(y[-1]))):
        return None
    seasonal = season >= 2 and len(y) >= 2 * season + SEASON_EXTRA
    form = {"trend": "add", "damped_trend": True, "seasonal": "add" if seasonal else None,
            "seasonal_periods": season if seasonal else None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = ExponentialSmoothing(y, initialization_method="estimated", **form).fit().params
    except Exception:  # noqa: BLE001 - the per-origin path falls back to naive forecasts
        return None
    return {"form": form, "params": params}


def _ets_from_states(fitted: dict, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray | None:
    """(len(origins), steps) forecasts from each origin with fixed parameters and initial states: one
    statsmodels pass over y gives the level, trend and season states after every period; from the
    states at origin t, y(t+h) = l_t + (phi + ... + phi^h) b_t + s_(t+h-m(k+1)), k = (h-1) // m. A
    state after period t depends on periods <= t only, so this equals a separate run on y[:t+1]."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    p, form = fitted["params"], fitted["form"]
    seasonal = form["seasonal"] is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(y, initialization_method="known", initial_level=p["initial_level"],
                                         initial_trend=p["initial_trend"],
                                         initial_seasonal=p["initial_seasons"] if seasonal else None, **form)
            res = model.fit(smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"],
                            smoothing_seasonal=p["smoothing_seasonal"] if seasonal else None,
                            damping_trend=p["damping_trend"], optimized=False)
    except Exception:  # noqa: BLE001
        return None
    level, trend = np.asarray(res.level, dtype=float), np.asarray(res.trend, dtype=float)
    phi = float(p["damping_trend"])
    h = np.arange(1, steps + 1)
    damp = np.cumsum(phi ** h)
    out = level[origins, None] + damp[None, :] * trend[origins, None]
    if seasonal:
        m = int(form["seasonal_periods"])
        season = np.asarray(res.season, dtype=float)
        src = origins[:, None] + h[None, :] - m * ((h[None, :] - 1) // m + 1)
        initial = np.asarray(p["initial_seasons"], dtype=float)  # s_(-m) .. s_(-1)
        out += np.where(src >= 0, season[np.clip(src, 0, None)], initial[np.clip(src + m, 0, m - 1)])
    return out if np.all(np.isfinite(out)) else None


Baseline = Callable[..., np.ndarray]
BASELINES: dict[str, Baseline] = {
    "last_value": last_value,
    "moving_average": moving_average,
    "seasonal_naive": seasonal_naive,
    "drift": drift,
    "ets": ets,
}


def predict_baselines(windows: WindowSet, history: np.ndarray, season: int,
                      names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every (or the named) baseline's (n, H) predictions for the same windows."""
    return {name: BASELINES[name](windows, history, season)
            for name in (list(BASELINES) if names is None else names)}
