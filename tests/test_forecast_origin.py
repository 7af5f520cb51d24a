"""Single-origin forecasters (trend_core.forecast.origin) and ETS on small synthetic panels."""
from __future__ import annotations

import numpy as np
import pytest

from trend_core.forecast.ets import ets_forecast, ets_forecast_info
from trend_core.forecast.origin import (
    ORIGIN_MODELS,
    make_model,
    seasonal_profile_forecast,
)

SEASON = 12
HORIZON = 6
# small neural settings so the whole file stays fast
FAST = {"epochs": 4, "hidden": 16, "patience": 2, "batch_size": 64, "window": 12, "horizon": HORIZON,
        "threads": 1}
FAST_SETTINGS = {
    "mlp": FAST, "lstm": {**FAST, "stride": 2}, "hybrid": FAST,
    # ETS is slow-ish per series and tested on its own: the fast ensemble mixes cheap members
    "ensemble": {"members": {"drift": {"model": "drift"}, "profile": {"model": "profile"},
                             "seasonal_naive": {"model": "seasonal_naive"}}, "horizon": HORIZON},
}


def panel(T: int = 60, N: int = 3, seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(T + HORIZON, N) positive seasonal series with a mild trend, and a covariate that leads them."""
    rng = np.random.default_rng(seed)
    t = np.arange(T + HORIZON)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, N))
    level = rng.uniform(1.0, 3.0, size=(1, N))
    y = level * (1.0 + 0.3 * np.sin(2 * np.pi * t / SEASON + phase) + 0.002 * t)
    y = y + noise * rng.standard_normal(y.shape)
    cov = np.roll(y, -2, axis=0) * 1.1
    return np.clip(y, 0.0, None), np.clip(cov, 0.0, None)


def fit_predict(name: str, history: np.ndarray, cov: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    model = make_model(name, seed=seed, device="cpu", **FAST_SETTINGS.get(name, {}))
    model.fit(history, SEASON, {"ff": cov} if cov is not None else None)
    return model.predict(HORIZON)


@pytest.mark.parametrize("name", sorted(ORIGIN_MODELS))
def test_every_model_returns_finite_nonnegative_forecasts(name: str) -> None:
    y, cov = panel()
    T = len(y) - HORIZON
    fc = fit_predict(name, y[:T], cov[:T])
    assert fc.shape == (HORIZON, y.shape[1])
    assert np.all(np.isfinite(fc))
    assert np.all(fc >= 0.0)


def test_models_clip_at_zero_on_a_falling_series() -> None:
    T = 40
    y = np.linspace(5.0, 0.05, T)[:, None].repeat(2, axis=1)
    for name in ("drift", "ets"):
        fc = make_model(name).fit(y, SEASON).predict(20)
        assert fc.min() >= 0.0
    assert (make_model("drift").fit(y, SEASON).predict(20) == 0.0).any()  # would be negative unclipped


def test_ets_recovers_a_seasonal_pattern_better_than_last_value() -> None:
    y, _ = panel(T=48, N=2, noise=0.01)
    T = len(y) - HORIZON
    truth = y[T:]
    ets = ets_forecast(y[:T], HORIZON, SEASON)
    last = make_model("last_value").fit(y[:T], SEASON).predict(HORIZON)
    err_ets = np.abs(ets - truth).mean()
    err_last = np.abs(last - truth).mean()
    assert err_ets < 0.3 * err_last


def test_ets_methods_by_history_length() -> None:
    rng = np.random.default_rng(1)
    short = rng.uniform(1, 2, size=(3, 2))
    fc, methods = ets_forecast_info(short, 4, SEASON)
    assert methods == ["last_value", "last_value"]
    np.testing.assert_allclose(fc, np.repeat(short[-1:], 4, axis=0))
    _, methods = ets_forecast_info(rng.uniform(1, 2, size=(15, 1)), 4, SEASON)
    assert methods == ["ets_trend"]
    _, methods = ets_forecast_info(panel(T=40, N=1)[0][:40], 4, SEASON)
    assert methods == ["ets_seasonal"]


def test_ets_rejects_nan_and_keeps_sign_when_asked() -> None:
    with pytest.raises(ValueError):
        ets_forecast(np.array([[1.0], [np.nan], [2.0], [3.0]]), 2, SEASON)
    y = np.linspace(3.0, 0.1, 20)[:, None]
    assert ets_forecast(y, 30, SEASON, nonnegative=False).min() < 0.0
    assert ets_forecast(y, 30, SEASON).min() >= 0.0


def test_seasonal_profile_repeats_a_clean_season() -> None:
    season = np.tile(np.sin(2 * np.pi * np.arange(SEASON) / SEASON), 3)[:, None] + 2.0
    fc = seasonal_profile_forecast(season, SEASON, SEASON, years=2, smooth=1)
    np.testing.assert_allclose(fc[:, 0], season[:SEASON, 0], atol=1e-9)


@pytest.mark.parametrize("name", ["mlp", "hybrid", "lstm"])
def test_neural_models_are_deterministic_for_a_seed(name: str) -> None:
    y, cov = panel(T=60, N=3)
    T = len(y) - HORIZON
    a = fit_predict(name, y[:T], cov[:T], seed=3)
    b = fit_predict(name, y[:T], cov[:T], seed=3)
    c = fit_predict(name, y[:T], cov[:T], seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(ORIGIN_MODELS))
def test_models_never_read_beyond_the_history(name: str) -> None:
    y, cov = panel(T=60, N=3)
    T = len(y) - HORIZON
    before = fit_predict(name, y[:T], cov[:T])
    # a different future changes nothing: the model only sees the history slice
    y2, cov2 = y.copy(), cov.copy()
    y2[T:] *= 10.0
    cov2[T:] *= 10.0
    after = fit_predict(name, y2[:T], cov2[:T])
    np.testing.assert_array_equal(before, after)
    # and changing the caller's history after fit() changes nothing either (the model keeps a copy)
    history = y[:T].copy()
    model = make_model(name, seed=0, device="cpu", **FAST_SETTINGS.get(name, {}))
    model.fit(history, SEASON, {"ff": cov[:T].copy()})
    history[:] = 0.0
    np.testing.assert_array_equal(model.predict(HORIZON), before)


def test_covariate_changes_the_neural_forecast() -> None:
    y, cov = panel(T=60, N=3)
    T = len(y) - HORIZON
    with_cov = fit_predict("mlp", y[:T], cov[:T])
    other = fit_predict("mlp", y[:T], cov[:T][::-1].copy())
    assert not np.allclose(with_cov, other)


def test_ensemble_weights_are_chosen_on_the_history() -> None:
    y, _ = panel(T=60, N=3, noise=0.01)
    T = len(y) - HORIZON
    model = make_model("ensemble", **FAST_SETTINGS["ensemble"]).fit(y[:T], SEASON)
    assert abs(sum(model.weights_.values()) - 1.0) < 1e-9
    assert set(model.val_scores_) >= {"drift", "profile", "seasonal_naive", "ensemble"}
    assert model.val_scores_["ensemble"] <= min(v for k, v in model.val_scores_.items() if k != "ensemble") + 1e-12


def test_unknown_model_and_bad_shapes() -> None:
    with pytest.raises(ValueError):
        make_model("nope")
    y, cov = panel()
    with pytest.raises(ValueError):
        make_model("mlp").fit(y, SEASON, {"ff": cov[:-1]})
    with pytest.raises(ValueError):
        make_model("ets").fit(np.full((10, 2), np.nan), SEASON)
