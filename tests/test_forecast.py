"""Forecasting: windows, a leak-free split, baselines by hand, the LSTM against baselines and a
leakage check on noise, the forecasts frame and its CSV."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from trend_core.config import ForecastConfig
from trend_core.forecast import ForecastResult, forecast_csv, run_forecast
from trend_core.forecast import baselines as bl
from trend_core.forecast.evaluate import FORECAST_COLUMNS, TEST_COLUMNS
from trend_core.forecast.metrics import METRIC_COLUMNS, mase_scale, top_k_hot
from trend_core.forecast.train import load_state, predict
from trend_core.forecast.windows import WindowScaler, build_windows, prepare_panel, temporal_split


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest and immune to a busy machine
    yield
    torch.set_num_threads(previous)


def weekly(T: int) -> pd.DatetimeIndex:
    return pd.date_range("2022-01-03", periods=T, freq="W-MON")


def seasonal_panel(n_series: int = 10, T: int = 80, period: int = 12, seed: int = 0) -> pd.DataFrame:
    """Learnable: each series is a level times a sine (period 12, random phase) with 5 % noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    cols = {}
    for s in range(n_series):
        level, phase = rng.uniform(0.03, 0.2), rng.uniform(0, 2 * np.pi)
        cols[s] = level * (1 + 0.5 * np.sin(2 * np.pi * t / period + phase)) * np.exp(rng.normal(0, 0.05, T))
    return pd.DataFrame(cols, index=weekly(T))


def noise_panel(n_series: int = 20, T: int = 100, seed: int = 0) -> pd.DataFrame:
    """Unpredictable trend class: log share = a slow random walk (sd 0.02) + white noise (sd 0.3).
    Given a window, the best guess of the future mean is (close to) the window mean itself, so the
    sign of the change is not predictable."""
    rng = np.random.default_rng(seed)
    level = np.log(rng.uniform(0.02, 0.2, n_series))[None, :] + np.cumsum(rng.normal(0, 0.02, (T, n_series)), axis=0)
    return pd.DataFrame(np.exp(level + rng.normal(0, 0.3, (T, n_series))), index=weekly(T))


def tiny_panel(T: int = 30, N: int = 3) -> pd.DataFrame:
    """value = period position + series / 10, so positions can be read off the values."""
    return pd.DataFrame({s: np.arange(T) + s / 10 for s in range(N)}, index=weekly(T))


@pytest.fixture(scope="module")
def seasonal_result() -> ForecastResult:
    panel = seasonal_panel()
    engagement = panel * np.exp(np.random.default_rng(1).normal(0, 0.1, panel.shape))
    return run_forecast(panel, {"engagement": engagement}, ForecastConfig(folds=1))


# -- windows and split -----------------------------------------------------------------------------
def test_windows_positions_and_gap():
    panel = prepare_panel(tiny_panel())
    ws = build_windows(panel, window=4, gap=2, horizon=3)
    assert ws.channels == ("share", "rank")
    # origins 3 .. 30-2-3-1 = 24, three series each
    assert ws.origin.min() == 3 and ws.origin.max() == 24 and len(ws) == 22 * 3
    i = np.flatnonzero((ws.origin == 10) & (ws.series == 2))[0]
    assert ws.share_inputs[i].tolist() == pytest.approx([7.2, 8.2, 9.2, 10.2])   # periods t-3..t
    assert ws.targets[i].tolist() == pytest.approx([13.2, 14.2, 15.2])           # periods t+G+1..t+G+H
    assert ws.inputs[i, :, 1].tolist() == pytest.approx([1.0] * 4)                 # largest share: rank 1
    fw = build_windows(panel, window=4, gap=2, horizon=3, forward=True)
    assert len(fw) == 3 and (fw.origin == 29).all() and np.isnan(fw.targets).all()
    assert panel.future_periods(5)[0] == panel.index[-1] + pd.Timedelta(days=7)


@pytest.mark.parametrize("gap", [0, 2])
def test_split_has_no_training_target_in_val_or_test_span(gap):
    T, P = 80, 12
    panel = prepare_panel(tiny_panel(T))
    ws = build_windows(panel, window=8, gap=gap, horizon=4)
    split = temporal_split(ws, T, P)
    test_start = T - P
    train_targets = split.train.target_positions()
    val_targets = split.val.target_positions()
    test_targets = split.test.target_positions()
    # (1) every training target lies before the validation span, every validation target before the test span
    assert train_targets.max() < split.val_start <= val_targets.min()
    assert val_targets.max() < test_start == split.test_start == test_targets.min()
    assert train_targets.max() == split.train_target_end
    # the values say the same (value = period position)
    assert split.train.targets.max() < test_start and split.val.targets.max() < test_start
    # test windows: every origin from the test origin on, all targets inside the test span
    assert split.test.origin.min() == split.test_origin == test_start - gap - 1
    assert test_targets.max() == T - 1 and len(split.test) == (P - 4 + 1) * 3
    # every window is in at most one split, and the gap is respected everywhere
    for part in (split.train, split.val, split.test):
        assert (part.target_positions()[:, 0] - part.origin == gap + 1).all()
    dates = split.dates(panel.index)
    assert dates["test_start"] == panel.index[test_start].date().isoformat()
    assert dates["train_target_end"] < dates["val_start"] <= dates["val_end"] < dates["test_start"] <= dates["test_end"]


def test_split_too_short_raises():
    panel = prepare_panel(tiny_panel(20))
    ws = build_windows(panel, window=8, gap=0, horizon=4)
    with pytest.raises(ValueError, match="too few periods"):
        temporal_split(ws, 20, 12)
    with pytest.raises(ValueError, match="at least the horizon"):
        temporal_split(ws, 20, 2)


def test_scaler_is_fitted_on_training_windows_only():
    raw = seasonal_panel(T=80)
    changed = raw.copy()
    changed.iloc[-20:] = np.random.default_rng(5).uniform(0, 1, (20, raw.shape[1]))  # val + test spans
    scalers = []
    for frame in (raw, changed):
        panel = prepare_panel(frame)
        split = temporal_split(build_windows(panel, 8, 0, 4), 80, 12, val_periods=8)
        scalers.append(WindowScaler().fit(split.train))
    a, b = scalers
    for name in ("eps_", "mean_", "std_", "y_mean_", "y_std_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # and the statistics are those of the training windows themselves
    panel = prepare_panel(raw)
    split = temporal_split(build_windows(panel, 8, 0, 4), 80, 12, val_periods=8)
    ratio = split.train.targets / (split.train.share_inputs.mean(axis=1, keepdims=True) + a.eps_[0]) - 1
    assert np.allclose(a.y_mean_, ratio.mean(axis=0))
    assert a.eps_[0] == pytest.approx(0.05 * split.train.share_inputs.mean())


def test_training_never_sees_the_test_span():
    """Replacing every value of the test span leaves the backtest's model, its history, the intervals'
    source (validation residuals) and the scaler unchanged; only test metrics and forecasts move. The
    forward forecast's model is refitted on every period, so it does see the change."""
    cfg = ForecastConfig(folds=1, epochs=8, hidden=8)
    raw = seasonal_panel(n_series=6, T=70)
    changed = raw.copy()
    changed.iloc[-cfg.test_periods:] = changed.iloc[-cfg.test_periods:].to_numpy()[::-1] * 3.0
    first, second = run_forecast(raw, None, cfg), run_forecast(changed, None, cfg)
    pd.testing.assert_frame_equal(first.history.drop(columns="seconds"), second.history.drop(columns="seconds"))
    m1, s1, _ = load_state(first.fold_state)
    m2, s2, _ = load_state(second.fold_state)
    for key, value in m1.state_dict().items():
        assert torch.equal(value, m2.state_dict()[key]), key
    assert s1.to_dict() == s2.to_dict()
    assert first.split == second.split
    assert not np.allclose(first.metrics["mae"].iloc[:1], second.metrics["mae"].iloc[:1])
    r1, _, _ = load_state(first.state)
    r2, _, _ = load_state(second.state)
    assert not all(torch.equal(v, r2.state_dict()[k]) for k, v in r1.state_dict().items())


# -- baselines -------------------------------------------------------------------------------------
def test_baselines_hand_checked():
    values = np.array([[1.0, 10.0], [2.0, 10.0], [4.0, 8.0], [3.0, 6.0], [5.0, 6.0], [6.0, 4.0], [7.0, 2.0]])
    panel = prepare_panel(pd.DataFrame(values, index=weekly(7)))
    ws = build_windows(panel, window=3, gap=0, horizon=2)
    pick = lambda o, s: np.flatnonzero((ws.origin == o) & (ws.series == s))[0]  # noqa: E731
    i, j = pick(3, 0), pick(3, 1)   # inputs rows 1..3: [2, 4, 3] and [10, 8, 6]
    assert bl.last_value(ws)[i].tolist() == [3.0, 3.0]
    assert bl.moving_average(ws)[i].tolist() == pytest.approx([3.0, 3.0])
    assert bl.drift(ws)[i].tolist() == pytest.approx([3.5, 4.0])        # slope (3-2)/2 = 0.5
    assert bl.drift(ws)[j].tolist() == pytest.approx([4.0, 2.0])        # slope -2
    # season 2: target rows 4, 5 take rows 2, 3 (one season back from each target)
    assert bl.seasonal_naive(ws, values, season=2)[i].tolist() == [4.0, 3.0]
    # season 3: row 4 <- 1, row 5 <- 2
    assert bl.seasonal_naive(ws, values, season=3)[j].tolist() == [10.0, 8.0]
    # season 5 from origin 2: row 3 <- row -2 (before the start) -> last value; row 4 <- row -1 -> last value
    k = pick(2, 0)
    assert bl.seasonal_naive(ws, values, season=5)[k].tolist() == [4.0, 4.0]
    # with a gap of 1 the drift extrapolates two and three steps
    gapped = build_windows(panel, window=3, gap=1, horizon=2)
    g = np.flatnonzero((gapped.origin == 2) & (gapped.series == 1))[0]   # inputs [10, 10, 8], slope -1
    assert bl.drift(gapped)[g].tolist() == pytest.approx([6.0, 5.0])
    h = np.flatnonzero((gapped.origin == 3) & (gapped.series == 1))[0]   # inputs [10, 8, 6], slope -2
    assert bl.drift(gapped)[h].tolist() == pytest.approx([2.0, 0.0])      # 6 - 4, 6 - 6 (clipped at 0)
    preds = bl.predict_baselines(ws, values, 2)
    assert set(preds) == set(bl.BASELINES) and all(p.shape == (len(ws), 2) for p in preds.values())
    assert bl.season_length("week") == 52 and bl.season_length("month") == 12


def test_mase_scale_and_top_k():
    values = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0], [7.0, 0.0]])
    scale, m = mase_scale(values, 4, season=1)
    assert m == 1 and scale.tolist() == pytest.approx([2.0, 0.0])
    assert mase_scale(values, 4, season=52)[1] == 1  # too short for a season: naive differences
    pred = np.array([[0.1, 0.9], [0.5, 0.2], [0.3, 0.3], [0.9, 0.1]])
    hot = top_k_hot(pred, np.array([0, 0, 0, 1]), k=1)
    assert hot.tolist() == [[0, 1], [1, 0], [0, 0], [1, 1]]


# -- the model against baselines -------------------------------------------------------------------
def test_lstm_beats_last_value_on_a_learnable_pattern(seasonal_result):
    metrics = seasonal_result.metrics.set_index("model")
    assert list(seasonal_result.metrics.columns) == METRIC_COLUMNS
    assert set(metrics.index) == {"lstm", "last_value", "moving_average", "seasonal_naive", "drift", "ets",
                                  "ensemble", "majority"}
    assert metrics["n_windows"].nunique() == 1  # every model on the same test windows
    # measured: lstm MAE ~0.007 vs last value ~0.043; trend accuracy ~0.92 vs majority ~0.5
    assert metrics.loc["lstm", "mae"] < 0.5 * metrics.loc["last_value", "mae"]
    assert metrics.loc["lstm", "wape"] < 0.5 * metrics.loc["last_value", "wape"]
    assert metrics.loc["lstm", "mase"] < metrics.loc["seasonal_naive", "mase"]
    assert metrics.loc["lstm", "trend_accuracy"] > metrics.loc["majority", "trend_accuracy"] + 0.2
    assert metrics.loc["lstm", "hot_balanced_accuracy"] > 0.75
    assert metrics.loc["majority", "hot_balanced_accuracy"] == pytest.approx(0.5)
    # measured: hot AUC lstm ~0.99, ets ~0.88, majority 0.5; terciles lstm ~0.89 vs majority ~0.4
    assert metrics.loc["lstm", "hot_auc"] > 0.9 and metrics.loc["majority", "hot_auc"] == pytest.approx(0.5)
    assert metrics.loc["lstm", "tercile_accuracy"] > metrics.loc["majority", "tercile_accuracy"] + 0.2
    # ETS refitted per origin learns the season: better than the naive baselines
    assert metrics.loc["ets", "mae"] < metrics.loc["last_value", "mae"]
    assert seasonal_result.info["channels"] == ["share", "engagement", "rank"]


def test_leakage_check_on_noise():
    """On series whose future change is unpredictable the LSTM must not look skilled: its trend-class
    accuracy stays within a small margin of the majority class and its error is no better than the
    moving average by more than a few percent (a leak would show as a big win)."""
    result = run_forecast(noise_panel(), None, ForecastConfig(folds=1, modalities=("share",)))
    metrics = result.metrics.set_index("model")
    # measured: lstm trend accuracy ~0.36 vs majority ~0.45; MAE ~= moving average
    assert metrics.loc["lstm", "trend_accuracy"] <= metrics.loc["majority", "trend_accuracy"] + 0.05
    assert metrics.loc["lstm", "trend_accuracy"] < 0.6
    assert metrics.loc["lstm", "mae"] >= 0.9 * metrics.loc["moving_average", "mae"]


# -- outputs ---------------------------------------------------------------------------------------
def test_forecasts_frame_and_csv(seasonal_result):
    cfg = seasonal_result.config
    fc = seasonal_result.forecasts
    assert list(fc.columns) == FORECAST_COLUMNS
    assert len(fc) == 10 * cfg.horizon and not fc.duplicated(["series", "step"]).any()
    assert set(fc["step"]) == set(range(1, cfg.horizon + 1)) and (fc["model"] == "lstm").all()
    last = pd.Timestamp("2022-01-03") + pd.Timedelta(weeks=79)
    first_step = fc[fc["step"] == 1]["period"]
    assert (first_step == last + pd.Timedelta(weeks=1)).all()
    assert ((fc["lower"] <= fc["point"] + 1e-12) & (fc["point"] <= fc["upper"] + 1e-12)).all()
    assert fc["p_hot"].between(0, 1).all() and set(fc["trend_class"]) <= {"rising", "flat", "falling"}
    # the LSTM's P(hot) is its hot head (trained on the hot labels): roughly 2 hot series per step;
    # a baseline's is the Monte Carlo over its residuals: exactly the number of hot series per step
    assert fc.groupby("step")["p_hot"].sum().to_numpy() == pytest.approx([2.0] * cfg.horizon, abs=0.7)
    ets = seasonal_result.baseline_forecasts.query("model == 'ets'")
    assert ets.groupby("step")["p_hot"].sum().to_numpy() == pytest.approx([2.0] * cfg.horizon, abs=0.05)
    text = forecast_csv(seasonal_result)
    back = pd.read_csv(io.StringIO(text))
    assert len(back) == len(fc) and list(back.columns) == list(fc.columns)
    assert back["period"].iloc[0] == pd.Timestamp(fc["period"].iloc[0]).date().isoformat()
    assert np.allclose(back["point"], fc["point"], rtol=1e-5)
    baselines = seasonal_result.baseline_forecasts
    assert len(baselines) == 6 * len(fc) and set(baselines["model"]) == {*bl.BASELINES, "ensemble"}
    assert set(fc["trend_tercile"]) <= {"top third", "middle third", "bottom third"}


def test_test_predictions_split_history_state(seasonal_result):
    r = seasonal_result
    tp = r.test_predictions
    assert list(tp.columns) == TEST_COLUMNS
    assert set(tp["model"]) == {"lstm", *bl.BASELINES, "ensemble"} and set(tp["fold"]) == {1}
    assert (tp["period"] >= pd.Timestamp(r.split["test_start"])).all()
    assert len(tp) == 7 * r.info["counts"]["test_windows"] * r.config.horizon
    assert set(r.split) >= {"train_target_end", "test_origin", "test_start", "test_end"}
    assert list(r.history.columns[:3]) == ["epoch", "train_loss", "val_loss"] and r.history["best"].sum() == 1
    model, scaler, extra = load_state(r.state)
    assert extra["forecast_config"]["window"] == r.config.window and scaler.channels_ == ("share", "engagement", "rank")
    # the reloaded model reproduces the forward forecast
    panel = prepare_panel(seasonal_panel(), {"engagement": seasonal_panel()})
    fw = build_windows(panel, 8, 0, 4, ("share", "engagement"), forward=True)
    assert predict(model, scaler.transform(fw))[0].shape == (10, 4)


def test_progress_and_missing_modality():
    seen = []
    panel = seasonal_panel(n_series=4, T=60)
    result = run_forecast(panel, None, ForecastConfig(folds=1, epochs=3, modalities=("share", "engagement")),
                          progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 5
    assert any("engagement" in note for note in result.info["notes"])
    assert result.info["channels"] == ["share", "rank"]
