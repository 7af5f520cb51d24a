"""The forecasting engine beyond one split: ETS on windows, rolling-origin folds, the attention model,
embedding channels, live loss rows, a time-shuffle leakage check and the modality ablation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from test_forecast import noise_panel, seasonal_panel
from trend_core.config import ForecastConfig
from trend_core.forecast import baselines as bl
from trend_core.forecast.ets import ets_forecast
from trend_core.forecast.ablation import ABLATION_COLUMNS, modality_groups, run_ablation
from trend_core.forecast.evaluate import run_forecast
from trend_core.forecast.models import AttentionLSTMForecaster, LSTMConfig, embedding_groups
from trend_core.forecast.train import load_state
from trend_core.forecast.windows import WindowScaler, build_windows, feature_names, prepare_panel, temporal_split

FAST = ["last_value", "moving_average"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def embedding_covariates(panel: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Two 'image' and one 'text' component per period: centred, some negative, one informative."""
    rng = np.random.default_rng(seed)
    lead = panel.shift(-2).bfill() / panel.mean() - 1.0  # knows the share two periods ahead (a leak on purpose)
    return {"image_1": lead, "image_2": pd.DataFrame(rng.normal(0, 1, panel.shape), panel.index, panel.columns),
            "text_1": pd.DataFrame(rng.normal(0, 1, panel.shape), panel.index, panel.columns)}


# -- ETS on windows --------------------------------------------------------------------------------
def test_ets_baseline_from_states_equals_a_run_per_origin():
    panel = prepare_panel(seasonal_panel(n_series=2, T=60))
    ws = build_windows(panel, 8, 1, 3)
    ws = ws.subset(ws.origin >= 45)
    fast = bl.ets(ws, panel.values, 12)
    fitted = bl._ets_fixed(panel.values[:46, 0], 12)  # fitted up to the earliest origin, 45
    assert fitted is not None and fitted["form"]["seasonal"] == "add"
    for origin in (45, 50, 55):
        row = np.flatnonzero((ws.origin == origin) & (ws.series == 0))[0]
        single = bl._ets_from_states(fitted, panel.values[:origin + 1, 0], np.array([origin]), 4)[0]
        assert fast[row] == pytest.approx(np.clip(single[1:], 0, None))
    # it learns the season: far better than the last value, close to a full refit per origin
    err = lambda p: np.abs(p - ws.targets).mean()  # noqa: E731
    assert err(fast) < 0.3 * err(bl.last_value(ws))
    refit = np.vstack([ets_forecast(panel.values[:o + 1, [s]], 4, 12)[1:, 0] for o, s in zip(ws.origin, ws.series)])
    assert err(fast) < 1.5 * err(refit)


def test_ets_never_reads_past_the_origin():
    panel = prepare_panel(seasonal_panel(n_series=2, T=60))
    ws = build_windows(panel, 8, 0, 2)
    ws = ws.subset(ws.origin == 40)
    changed = panel.values.copy()
    changed[41:] *= 5.0
    assert np.array_equal(bl.ets(ws, panel.values, 12), bl.ets(ws, changed, 12))


# -- folds -----------------------------------------------------------------------------------------
def test_rolling_origin_folds_train_before_their_own_test_span():
    cfg = ForecastConfig(epochs=3, hidden=8, folds=3, test_periods=8, window=6, horizon=2, modalities=("share",))
    raw = seasonal_panel(n_series=4, T=90)
    result = run_forecast(raw, None, cfg, baselines=FAST)
    folds = result.info["folds"]
    assert len(folds) == 3
    starts = [pd.Timestamp(f["test_start"]) for f in folds]
    assert starts == sorted(starts) and (starts[1] - starts[0]) == pd.Timedelta(weeks=8)
    for f in folds:  # every fold's training targets end before its validation and test spans
        assert f["train_target_end"] < f["val_start"] <= f["val_end"] < f["test_start"] <= f["test_end"]
    assert folds[0]["test_end"] < folds[1]["test_start"]
    tp = result.test_predictions
    assert set(tp["fold"]) == {1, 2, 3}
    assert result.split["first_test_start"] == folds[0]["test_start"]
    assert result.metrics.set_index("model").loc["lstm", "n_windows"] == sum(f["test_windows"] for f in folds)
    # fold 1's predictions do not change when everything after its test span changes
    changed = raw.copy()
    changed.iloc[-16:] = changed.iloc[-16:].to_numpy()[::-1] * 2
    other = run_forecast(changed, None, cfg, baselines=FAST).test_predictions
    first = lambda tp: tp[tp["fold"] == 1].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(first(tp), first(other))
    assert not np.allclose(tp[tp["fold"] == 3]["predicted"], other[other["fold"] == 3]["predicted"])


def test_too_many_folds_says_so():
    with pytest.raises(ValueError, match="fewer folds"):
        run_forecast(seasonal_panel(n_series=3, T=60), None,
                     ForecastConfig(epochs=1, folds=5, test_periods=12, modalities=("share",)), baselines=FAST)


# -- embedding channels and the attention model ----------------------------------------------------
def test_embedding_channels_are_standardised_not_divided():
    panel = seasonal_panel(n_series=4, T=60)
    covs = embedding_covariates(panel)
    data = prepare_panel(panel, covs)
    ws = build_windows(data, 8, 0, 4, ("share", "image_1", "image_2", "text_1"))
    split = temporal_split(ws, 60, 12)
    scaler = WindowScaler().fit(split.train)
    names = scaler.feature_names_
    assert names == feature_names(ws.channels) and "level:image_1" not in names and "level:share" in names
    X = scaler.transform(split.test).X
    assert np.isfinite(X).all() and np.abs(X).max() < 20  # a ratio to a ~0 mean would explode
    i = names.index("image_2")
    raw = split.test.inputs[:, :, ws.channels.index("image_2")]
    assert np.allclose(X[:, :, i], (raw - scaler.mean_[i]) / scaler.std_[i], atol=1e-5)
    assert embedding_groups(names) == {"image": [names.index("image_1"), i], "text": [names.index("text_1")]}
    assert modality_groups(("share", "engagement", "image_1", "image_2", "text_1")) == {
        "engagement": ["engagement"], "image": ["image_1", "image_2"], "text": ["text_1"]}


def test_attention_model_fuses_text_and_image_tokens():
    cfg = LSTMConfig(n_features=6, horizon=3, hidden=8, kind="attention", groups={"image": [2, 3], "text": [4]})
    model = AttentionLSTMForecaster(cfg).eval()
    x = torch.randn(5, 7, 6)
    pred, logit = model(x)
    assert pred.shape == (5, 3) and logit.shape == (5, 3)
    weights = model.last_attention
    assert weights.shape == (5, 7, 2) and torch.allclose(weights.sum(-1), torch.ones(5, 7))  # nothing + image
    # the text token matters: changing it changes the output; numeric features enter through their MLP
    x2 = x.clone()
    x2[:, :, 4] += 3.0
    assert not torch.allclose(model(x2)[0], pred)
    assert model.numeric_idx == [0, 1, 5]


def test_attention_learns_from_an_informative_embedding_and_reloads():
    panel = seasonal_panel(n_series=6, T=70, seed=3)
    covs = embedding_covariates(panel)
    cfg = ForecastConfig(model="attention", epochs=25, hidden=16, window=6, horizon=2, test_periods=12,
                         modalities=("share", "image_1", "image_2", "text_1"))
    result = run_forecast(panel, covs, cfg, baselines=FAST)
    metrics = result.metrics.set_index("model")
    assert "attention" in metrics.index and (result.forecasts["model"] == "attention").all()
    assert metrics.loc["attention", "mae"] < 0.6 * metrics.loc["last_value", "mae"]
    model, scaler, extra = load_state(result.state)
    assert isinstance(model, AttentionLSTMForecaster) and extra["forecast_config"]["model"] == "attention"
    assert set(model.cfg.groups) == {"image", "text"}


# -- live losses, leakage ----------------------------------------------------------------------------
def test_on_epoch_reports_every_epoch_as_it_comes():
    rows = []
    result = run_forecast(seasonal_panel(n_series=3, T=60), None,
                          ForecastConfig(epochs=4, hidden=8, folds=2, test_periods=10, modalities=("share",)),
                          baselines=FAST, on_epoch=rows.append)
    assert [r["fold"] for r in rows] == sorted(r["fold"] for r in rows) and {r["fold"] for r in rows} == {1, 2}
    assert [r["epoch"] for r in rows if r["fold"] == 2] == list(result.history["epoch"])  # the last fold's model
    assert all({"train_loss", "val_loss", "seconds"} <= set(r) for r in rows)


def test_targets_shuffled_in_time_give_chance_level_trend_skill():
    """Each series' values permuted in time: no model can know whether the next span rises, so the
    LSTM's trend-class balanced accuracy must sit near chance (1/3) and its hot AUC must not beat
    the moving average's by much (both only know a series' level). A leak would show as skill."""
    rng = np.random.default_rng(7)
    panel = noise_panel(n_series=20, T=110, seed=4)
    shuffled = panel.apply(lambda col: rng.permutation(col.to_numpy()))
    result = run_forecast(shuffled, None, ForecastConfig(epochs=30, modalities=("share",), folds=2, test_periods=20),
                          baselines=FAST)
    metrics = result.metrics.set_index("model")
    # measured: balanced accuracy ~0.35, AUC lstm ~0.6 vs moving average ~0.6
    assert metrics.loc["lstm", "trend_balanced_accuracy"] < 0.45
    assert metrics.loc["lstm", "hot_auc"] < metrics.loc["moving_average", "hot_auc"] + 0.08
    assert metrics.loc["lstm", "mae"] >= 0.9 * metrics.loc["moving_average", "mae"]


# -- ablation --------------------------------------------------------------------------------------
def test_ablation_trains_every_subset_on_the_same_split():
    panel = seasonal_panel(n_series=4, T=60)
    covs = embedding_covariates(panel) | {"engagement": panel * 1.1}
    cfg = ForecastConfig(epochs=3, hidden=8, window=6, horizon=2, test_periods=10,
                         modalities=("share", "engagement", "image_1", "image_2"))
    seen = []
    table = run_ablation(panel, covs, cfg, progress=lambda f, m: seen.append(f), baselines=FAST)
    assert list(table.columns) == ABLATION_COLUMNS
    lstm = table[table["model"] == "lstm"]
    assert list(lstm["inputs"]) == ["share", "share+engagement", "share+image", "share+engagement+image"]
    assert list(lstm["n_inputs"]) == [1, 2, 2, 3]
    assert set(table.loc[table["inputs"] == "(baseline)", "model"]) == {*FAST, "majority"}
    assert table["n_windows"].nunique() == 1 and seen[-1] == 1.0
    # the subset's metrics equal a plain run on that subset
    alone = run_forecast(panel, covs, cfg.replace(modalities=("share", "image_1", "image_2")), baselines=FAST)
    assert lstm.set_index("inputs").loc["share+image", "mae"] == pytest.approx(
        alone.metrics.set_index("model").loc["lstm", "mae"])
