"""Single-origin forecasters for external series (a wide CSV: one column per series).

Every model follows OriginForecaster: fit(history (T, N), season, covariates, progress) then
predict(horizon) -> (horizon, N) point forecasts, clipped at 0. fit() keeps its own copy of the
history, so nothing after the last history row can ever reach a forecast (and changing the caller's
array afterwards changes nothing). Covariates are arrays of the history's shape covering the same periods.

ORIGIN_MODELS maps a name to a factory(seed=0, device=None, **settings):
- last_value, moving_average (window = `window` setting or the season), seasonal_naive, drift
  (last value + the history's average step);
- ets: Holt-Winters, additive damped trend + additive season (trend_core.forecast.ets);
- profile: the mean of the last `years` seasons (each minus its mean), smoothed by a circular moving
  average of `smooth` periods, plus the last season's mean (a de-noised seasonal naive);
- profile_ets: the history minus that profile forecast by exponential smoothing (damped trend, or none
  with trend=False), plus the profile;
- lstm / mlp: a global network trained on sliding windows of all series (trend_core.forecast.neural),
  early stopping on the last `val_periods` periods of the history; uses the covariates unless
  use_covariates=False;
- hybrid: the profile forecast plus a global MLP corrector of its error fed with the recent windows of
  the series and the covariates (HERMES's idea, with a base cheap enough to recompute at every
  training origin);
- ensemble: a weighted mean of members (default ets, profile, profile_ets, seasonal_naive) whose
  weights are chosen on a validation span at the end of the history (members refitted on the history
  without it, scored by MASE there, weights on a 0.1 grid; then every member is refitted on the whole
  history) unless fixed `weights` are given.

Neural models are trained for a horizon fixed at fit time: the `horizon` setting (default: the
season); predict() with a longer horizon refits them on the same stored history for that horizon.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from trend_core.forecast.ets import ets_forecast_info
from trend_core.forecast.neural import GlobalNeural, NeuralSettings, mase_scales

Progress = Callable[[float, str], None]


class OriginForecaster(Protocol):
    name: str

    def fit(self, history: np.ndarray, season: int, covariates: dict[str, np.ndarray] | None = None,
            progress: Progress | None = None) -> OriginForecaster: ...

    def predict(self, horizon: int) -> np.ndarray: ...


def _as_history(history: np.ndarray) -> np.ndarray:
    y = np.array(history, dtype=float, copy=True)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] < 1 or y.shape[1] < 1:
        raise ValueError("history must be a non-empty (T, N) array")
    if not np.all(np.isfinite(y)):
        raise ValueError("history must not contain NaN or inf")
    return y


def _as_covariates(covariates: dict[str, np.ndarray] | None, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    out = {}
    for name, cov in (covariates or {}).items():
        c = np.array(cov, dtype=float, copy=True)
        if c.ndim == 1:
            c = c[:, None]
        if c.shape != shape:
            raise ValueError(f"covariate {name!r} has shape {c.shape}, the history {shape}")
        out[name] = np.nan_to_num(c)
    return out


class _Base:
    name = "base"

    def __init__(self, seed: int = 0, device: Any = None, **settings: Any) -> None:
        self.seed = seed
        self.device = device
        self.settings = settings

    def fit(self, history: np.ndarray, season: int, covariates: dict[str, np.ndarray] | None = None,
            progress: Progress | None = None) -> _Base:
        self.history_ = _as_history(history)
        self.season_ = max(1, int(season))
        self.covariates_ = _as_covariates(covariates, self.history_.shape)
        self._fit(progress)
        if progress is not None:
            progress(1.0, f"{self.name} fitted")
        return self

    def _fit(self, progress: Progress | None) -> None:
        pass

    def _profile_settings(self) -> tuple[int, int]:
        """(years, smooth) of the seasonal profile (defaults 2 and 5)."""
        return int(self.settings.get("years", 2)), int(self.settings.get("smooth", 5))

    def predict(self, horizon: int) -> np.ndarray:
        if not hasattr(self, "history_"):
            raise RuntimeError("call fit() first")
        if int(horizon) < 1:
            raise ValueError("horizon must be >= 1")
        return np.clip(self._predict(int(horizon)), 0.0, None)

    def _predict(self, horizon: int) -> np.ndarray:
        raise NotImplementedError


class LastValue(_Base):
    name = "last_value"

    def _predict(self, horizon: int) -> np.ndarray:
        return np.repeat(self.history_[-1:], horizon, axis=0)


class MovingAverage(_Base):
    name = "moving_average"

    def _predict(self, horizon: int) -> np.ndarray:
        window = int(self.settings.get("window") or self.season_)
        mean = self.history_[-max(1, window):].mean(axis=0, keepdims=True)
        return np.repeat(mean, horizon, axis=0)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step h gets the value m * ceil(h/m) periods earlier; the last value when less than a season."""
    T = len(history)
    if season < 2 or T < season:
        return np.repeat(history[-1:], horizon, axis=0)
    steps = np.arange(1, horizon + 1)
    source = T - 1 + steps - season * np.ceil(steps / season).astype(np.int64)
    return history[source]


class SeasonalNaive(_Base):
    name = "seasonal_naive"

    def _predict(self, horizon: int) -> np.ndarray:
        return seasonal_naive_forecast(self.history_, horizon, self.season_)


class Drift(_Base):
    name = "drift"

    def _predict(self, horizon: int) -> np.ndarray:
        y = self.history_
        slope = (y[-1] - y[0]) / max(len(y) - 1, 1)
        return y[-1][None, :] + slope[None, :] * np.arange(1, horizon + 1)[:, None]


def seasonal_profile_forecast(history: np.ndarray, horizon: int, season: int, years: int = 2,
                              smooth: int = 5) -> np.ndarray:
    """Mean of the last `years` whole seasons, each minus its own mean, smoothed by a circular centred
    moving average of `smooth` periods, plus the mean of the last season. Less than one season of
    history: the mean of what there is."""
    T = len(history)
    if season < 2 or T < season:
        return np.repeat(history[-min(T, max(season, 1)):].mean(axis=0, keepdims=True), horizon, axis=0)
    k = max(1, min(int(years), T // season))
    chunks = [history[T - season * (i + 1):T - season * i] for i in range(k)]
    profile = np.mean([c - c.mean(axis=0, keepdims=True) for c in chunks], axis=0)  # (season, N)
    width = max(1, int(smooth))
    if width > 1:
        offsets = np.arange(width) - width // 2
        idx = (np.arange(season)[:, None] + offsets[None, :]) % season
        profile = profile[idx].mean(axis=1)
    level = history[-season:].mean(axis=0)
    steps = (np.arange(horizon)) % season  # step h+1 lands on profile position h mod season
    return profile[steps] + level[None, :]


class SeasonalProfile(_Base):
    """Smoothed multi-season profile + last-season level (settings: years, smooth)."""

    name = "profile"

    def _predict(self, horizon: int) -> np.ndarray:
        return seasonal_profile_forecast(self.history_, horizon, self.season_, *self._profile_settings())


class ProfileETS(_Base):
    """The history minus its smoothed seasonal profile (as in `profile`) is forecast by exponential
    smoothing without season (damped additive trend, or no trend with trend=False), then the profile is
    added back: a smooth multi-season pattern with an adaptive level / trend. Settings: years, smooth,
    trend (default True)."""

    name = "profile_ets"

    def _fit(self, progress: Progress | None) -> None:
        self.progress_ = progress
        self.cache_: dict[int, np.ndarray] = {}

    def _predict(self, horizon: int) -> np.ndarray:
        if horizon in self.cache_:
            return self.cache_[horizon].copy()
        y, season = self.history_, self.season_
        T = len(y)
        years, smooth = self._profile_settings()
        if season < 2 or T < season:
            fc = ets_forecast_info(y, horizon, 1, trend=bool(self.settings.get("trend", True)))[0]
        else:
            seasonal = seasonal_profile_forecast(y, season, season, years, smooth) - y[-season:].mean(axis=0)
            phase = (np.arange(T) - T) % season          # profile row of every history period
            deseasonalised = y - seasonal[phase]
            level = ets_forecast_info(deseasonalised, horizon, 1, nonnegative=False,
                                      trend=bool(self.settings.get("trend", True)), progress=self.progress_)[0]
            fc = level + seasonal[np.arange(horizon) % season]
        self.cache_[horizon] = fc
        return fc.copy()


class ETS(_Base):
    """Holt-Winters per series; the fit happens in predict (statsmodels fits and forecasts together),
    cached per horizon."""

    name = "ets"

    def _fit(self, progress: Progress | None) -> None:
        self.cache_: dict[int, np.ndarray] = {}
        self.methods_: list[str] = []
        self.progress_ = progress

    def _predict(self, horizon: int) -> np.ndarray:
        if horizon not in self.cache_:
            fc, self.methods_ = ets_forecast_info(self.history_, horizon, self.season_,
                                                  damped=bool(self.settings.get("damped", True)),
                                                  progress=self.progress_)
            self.cache_[horizon] = fc
        return self.cache_[horizon].copy()


NEURAL_KEYS = {f for f in NeuralSettings.__dataclass_fields__}


class Neural(_Base):
    """Global network (trend_core.forecast.neural.GlobalNeural); settings: NeuralSettings fields plus
    horizon (default: the season) and use_covariates (default True)."""

    name = "mlp"
    arch = "mlp"

    def _neural_settings(self) -> NeuralSettings:
        kw = {k: v for k, v in self.settings.items() if k in NEURAL_KEYS}
        kw.setdefault("arch", self.arch)
        if self.arch == "lstm":  # recurrent steps are slow on CPU: fewer, sparser windows
            kw.setdefault("hidden", 32)
            kw.setdefault("stride", 4)
            kw.setdefault("epochs", 60)
            kw.setdefault("patience", 8)
        return NeuralSettings(**kw)

    def _fit(self, progress: Progress | None) -> None:
        self.horizon_ = int(self.settings.get("horizon") or max(self.season_, 1))
        self._train(self.horizon_, progress)

    fallback_name = "ets"  # what forecasts when the history is too short for windows

    def _base(self) -> Callable[[np.ndarray, int], np.ndarray] | None:
        """A base forecast whose error the network corrects (None: the network forecasts alone)."""
        return None

    def _fallback(self, horizon: int) -> np.ndarray:
        return ets_forecast_info(self.history_, horizon, self.season_)[0]

    def _train(self, horizon: int, progress: Progress | None) -> None:
        covs = self.covariates_ if self.settings.get("use_covariates", True) else None
        self.net_: GlobalNeural | None
        try:
            self.net_ = GlobalNeural(horizon, self.season_, self._neural_settings(), seed=self.seed,
                                     device=self.device, base=self._base()).fit(self.history_, covs, progress)
            self.fallback_ = None
        except ValueError:
            # too short a history for windows: the fallback instead (recorded in fallback_)
            self.net_ = None
            self.fallback_ = self.fallback_name
        self.horizon_ = horizon

    def _predict(self, horizon: int) -> np.ndarray:
        if horizon > self.horizon_:
            self._train(horizon, None)
        if self.net_ is None:
            return self._fallback(horizon)
        return self.net_.predict(horizon)


class LSTM(Neural):
    name = "lstm"
    arch = "lstm"


class Hybrid(Neural):
    """Seasonal profile (settings years, smooth) + a global MLP corrector of its error, fed with the
    recent window of the series and of the covariates (HERMES's idea with a base that is cheap to
    recompute at every training origin). The corrector's last layer starts at zero, so before / without
    useful training it returns the profile forecast; early stopping on the end of the history."""

    name = "hybrid"
    arch = "mlp"
    fallback_name = "profile"

    def _neural_settings(self) -> NeuralSettings:
        settings = super()._neural_settings()
        settings.arch = "mlp"
        if "hidden" not in self.settings:
            settings.hidden = 64
        if "dropout" not in self.settings:
            settings.dropout = 0.3
        return settings

    def _base(self) -> Callable[[np.ndarray, int], np.ndarray]:
        (years, smooth), season = self._profile_settings(), self.season_

        def base(history: np.ndarray, h: int) -> np.ndarray:
            return seasonal_profile_forecast(history, h, season, years, smooth)

        return base

    def _fallback(self, horizon: int) -> np.ndarray:
        return seasonal_profile_forecast(self.history_, horizon, self.season_, *self._profile_settings())


DEFAULT_MEMBERS: dict[str, dict[str, Any]] = {
    "ets": {"model": "ets"},
    "profile": {"model": "profile"},
    "profile_ets": {"model": "profile_ets"},
    "seasonal_naive": {"model": "seasonal_naive"},
}


class Ensemble(_Base):
    """Weighted mean of member models. settings: members {label: {"model": name, **settings}},
    weights {label: w} (fixed; else chosen on the validation span), val_periods (default: horizon),
    step (weight grid, default 0.1), horizon (default: the season)."""

    name = "ensemble"

    def _members(self) -> dict[str, dict[str, Any]]:
        return self.settings.get("members") or DEFAULT_MEMBERS

    def _make(self, spec: dict[str, Any]) -> _Base:
        spec = dict(spec)
        name = spec.pop("model")
        spec.setdefault("horizon", self.horizon_)
        return ORIGIN_MODELS[name](seed=self.seed, device=self.device, **spec)

    def _fit(self, progress: Progress | None) -> None:
        self.horizon_ = int(self.settings.get("horizon") or self.season_)
        members = self._members()
        weights = self.settings.get("weights")
        T = len(self.history_)
        V = int(self.settings.get("val_periods") or self.horizon_)
        self.val_scores_: dict[str, float] = {}
        if weights is None and T - V >= max(2 * self.season_ + 2, 12):
            weights = self._select(members, V, progress)
        elif weights is None:
            weights = {k: 1.0 / len(members) for k in members}
        total = sum(weights.values())
        self.weights_ = {k: float(w) / total for k, w in weights.items() if w > 0}
        self.models_ = {}
        for i, label in enumerate(self.weights_):
            self.models_[label] = self._make(members[label]).fit(self.history_, self.season_, self.covariates_)
            if progress is not None:
                progress(0.5 + 0.5 * (i + 1) / len(self.weights_), f"refitted {label}")

    def _select(self, members: dict[str, dict[str, Any]], V: int, progress: Progress | None) -> dict[str, float]:
        """Fit members on history[:-V], score combinations by MASE on the last V periods."""
        T = len(self.history_)
        inner = self.history_[:T - V]
        truth = self.history_[T - V:]
        covs = {k: v[:T - V] for k, v in self.covariates_.items()}
        scale = mase_scales(inner, self.season_)
        preds = {}
        for i, (label, spec) in enumerate(members.items()):
            model = self._make({**spec, "horizon": V}).fit(inner, self.season_, covs)
            preds[label] = model.predict(V)
            self.val_scores_[label] = float((np.abs(truth - preds[label]).mean(axis=0) / scale).mean())
            if progress is not None:
                progress(0.5 * (i + 1) / len(members), f"validated {label}")
        labels = list(preds)
        step = float(self.settings.get("step", 0.1))
        n = max(1, round(1 / step))
        best, best_w = np.inf, None
        for combo in itertools.product(range(n + 1), repeat=len(labels)):
            if sum(combo) != n:
                continue
            fc = sum(c / n * preds[lab] for c, lab in zip(combo, labels))
            score = float((np.abs(truth - fc).mean(axis=0) / scale).mean())
            if score < best - 1e-12:
                best, best_w = score, combo
        self.val_scores_["ensemble"] = best
        return {lab: c / n for c, lab in zip(best_w, labels)}

    def _predict(self, horizon: int) -> np.ndarray:
        return sum(w * self.models_[label].predict(horizon) for label, w in self.weights_.items())


ORIGIN_MODELS: dict[str, Callable[..., OriginForecaster]] = {
    "last_value": LastValue,
    "moving_average": MovingAverage,
    "seasonal_naive": SeasonalNaive,
    "drift": Drift,
    "ets": ETS,
    "profile": SeasonalProfile,
    "profile_ets": ProfileETS,
    "mlp": Neural,
    "lstm": LSTM,
    "hybrid": Hybrid,
    "ensemble": Ensemble,
}


def make_model(name: str, seed: int = 0, device: Any = None, **settings: Any) -> OriginForecaster:
    """ORIGIN_MODELS[name](seed=seed, device=device, **settings), with a clear error for unknown names."""
    if name not in ORIGIN_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(ORIGIN_MODELS)}")
    return ORIGIN_MODELS[name](seed=seed, device=device, **settings)
