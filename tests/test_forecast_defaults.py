"""Forecasts on a real year (issue 10, points 8-9): settings derived from the panel, one message under
the minimum, share intervals within [0, 1], the forward forecast from models refitted on every period,
the verdict (best model or best baseline by a margin), trend and tercile in agreement, and the analyst
export (columns, dates, percentages, file name)."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from test_forecast import seasonal_panel
from trend_core.config import ForecastConfig
from trend_core.forecast import run_forecast
from trend_core.forecast.defaults import MIN_PERIODS, derive_config, derive_plan
from trend_core.forecast.export import EXPORT_COLUMNS, analyst_csv, analyst_frame, file_name
from trend_core.forecast.metrics import interval
from trend_core.forecast.train import load_state, predict
from trend_core.forecast.verdict import MARGIN, choose_model
from trend_core.forecast.windows import build_windows, prepare_panel

FAST = ["last_value", "moving_average"]
SMALL = ForecastConfig(epochs=2, hidden=8, modalities=("share",))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- settings derived from the panel ---------------------------------------------------------------
@pytest.mark.parametrize("T", [20, 27, 42, 60])
def test_derived_defaults_run_on_short_panels(T):
    panel = seasonal_panel(n_series=4, T=T)
    cfg = derive_config(T, SMALL)
    assert cfg.test_periods >= cfg.horizon and 1 <= cfg.folds <= 3 and 2 <= cfg.window <= max(2, T // 4)
    result = run_forecast(panel, None, cfg, baselines=FAST)
    assert len(result.forecasts) == 4 * cfg.horizon
    assert len(result.info["folds"]) == cfg.folds and result.metrics["n_windows"].iloc[0] > 0


def test_the_old_fixed_defaults_failed_on_a_year_of_weeks():
    """The bug: W=8, H=4, test span 26 and 2 folds need about 70 weekly periods."""
    with pytest.raises(ValueError, match="too few periods"):
        run_forecast(seasonal_panel(n_series=3, T=27), None, ForecastConfig(epochs=1, modalities=("share",)),
                     baselines=FAST)
    assert derive_plan(27).folds >= 1  # ... while the derived settings fit


def test_panel_without_settings_derives_them():
    result = run_forecast(seasonal_panel(n_series=3, T=27), None, None, baselines=FAST)
    assert result.info["settings"]["n_periods"] == 27 and result.config.window <= 27 // 4


def test_under_the_minimum_one_message_names_it():
    with pytest.raises(ValueError, match=f"at least {MIN_PERIODS} are needed") as caught:
        derive_plan(19, "week")
    assert "19 week period" in str(caught.value)
    with pytest.raises(ValueError, match=f"at least {MIN_PERIODS}"):
        run_forecast(seasonal_panel(n_series=3, T=19), None, None, baselines=FAST)


def test_a_horizon_that_cannot_fit_says_which_would():
    with pytest.raises(ValueError, match="largest horizon that fits is 5"):
        derive_plan(20, "week", horizon=12)
    plan = derive_plan(43, "week", horizon=12)  # the real crawl: 43 weeks, 12 ahead
    assert plan.horizon == 12 and plan.train_origins >= 3 and plan.test_origins >= 1


def test_given_settings_are_kept():
    cfg = derive_config(60, SMALL, window=6, folds=1, gap=1)
    assert (cfg.window, cfg.folds, cfg.gap) == (6, 1, 1)
    assert cfg.period == "week" and cfg.modalities == ("share",) and cfg.epochs == 2


# -- intervals of shares ------------------------------------------------------------------------------
def test_interval_is_clipped_to_the_share_range():
    pred = np.array([[0.5, 0.9]])
    ratios = np.array([[-3.0, 3.0], [3.0, 4.0], [2.0, -2.0]])
    lower, upper = interval(pred, np.array([0.5]), ratios, 0.8)
    assert upper.max() > 1  # unbounded, a share's interval passes 100 %
    lower, upper = interval(pred, np.array([0.5]), ratios, 0.8, upper_bound=1.0)
    assert (lower >= 0).all() and (upper <= 1).all() and (lower <= pred).all() and (pred <= upper).all()


def volatile_shares(T: int = 30) -> pd.DataFrame:
    """A dominant style jumping between 5 % and 95 % of posts: residuals of several times its level."""
    a = np.where(np.random.default_rng(0).random(T) < 0.5, 0.05, 0.95)
    return pd.DataFrame({"a": a, "b": (1 - a) * 0.7, "c": (1 - a) * 0.3},
                        index=pd.date_range("2024-01-01", periods=T, freq="W-MON"))


def test_share_forecasts_and_intervals_lie_in_0_1():
    panel = volatile_shares()
    cfg = derive_config(len(panel), SMALL)
    unbounded = run_forecast(panel, None, cfg, baselines=FAST)
    assert pd.concat([unbounded.forecasts, unbounded.baseline_forecasts])["upper"].max() > 1  # the bug
    result = run_forecast(panel, None, cfg, baselines=FAST, upper_bound=1.0)
    rows = pd.concat([result.forecasts, result.baseline_forecasts])
    assert rows[["point", "lower", "upper"]].ge(0).all().all() and rows[["point", "lower", "upper"]].le(1).all().all()
    assert ((rows["lower"] <= rows["point"] + 1e-12) & (rows["point"] <= rows["upper"] + 1e-12)).all()


# -- the forward forecast is refitted on every period -------------------------------------------------
def test_forward_forecast_comes_from_a_model_refitted_to_the_last_period():
    panel = seasonal_panel(n_series=5, T=42)
    cfg = derive_config(42, ForecastConfig(epochs=6, hidden=8, modalities=("share",)))
    result = run_forecast(panel, None, cfg, baselines=FAST)
    last = panel.index[-1].date().isoformat()
    assert result.split["forward_train_end"] == last == result.info["forward"]["train_end"]
    assert result.split["forward_train_start"] == panel.index[0].date().isoformat()
    assert result.split["train_target_end"] < result.split["test_start"] <= last  # the last fold stopped early
    refit, refit_scaler, _ = load_state(result.state)
    fold, fold_scaler, _ = load_state(result.fold_state)
    fw = build_windows(prepare_panel(panel), cfg.window, cfg.gap, cfg.horizon, ("share",), forward=True)
    lstm = result.forecasts.sort_values(["series", "step"])["point"].to_numpy().reshape(5, cfg.horizon)
    from_refit = refit_scaler.inverse(predict(refit, refit_scaler.transform(fw))[0], refit_scaler.transform(fw).scale)
    from_fold = fold_scaler.inverse(predict(fold, fold_scaler.transform(fw))[0], fold_scaler.transform(fw).scale)
    assert lstm == pytest.approx(from_refit, rel=1e-5, abs=1e-7)
    assert not np.allclose(lstm, from_fold)
    assert result.info["forward"]["windows"] > result.info["folds"][-1]["train_windows"]


def test_trend_class_and_tercile_never_disagree_in_order():
    result = run_forecast(seasonal_panel(n_series=9, T=42), None, derive_config(42, SMALL), baselines=FAST)
    rank = {"falling": -1, "flat": 0, "rising": 1, "bottom third": -1, "middle third": 0, "top third": 1}
    rows = pd.concat([result.forecasts, result.baseline_forecasts]).query("step == 1")
    for _, group in rows.groupby("model"):
        trend, tercile = group["trend_class"].map(rank).to_numpy(), group["trend_tercile"].map(rank).to_numpy()
        higher = tercile[:, None] > tercile[None, :]
        assert not (higher & (trend[:, None] < trend[None, :])).any()


# -- the verdict ----------------------------------------------------------------------------------------
def metrics(**mase: float) -> pd.DataFrame:
    rows = [{"model": m, "mae": v / 10, "mase": v, "n_windows": 120} for m, v in mase.items()]
    return pd.DataFrame(rows + [{"model": "majority", "mae": np.nan, "mase": np.nan, "n_windows": 120}])


def test_verdict_picks_the_baseline_unless_a_model_beats_it_by_the_margin():
    close = choose_model(metrics(lstm=0.99, ensemble=0.995, moving_average=1.0, last_value=1.2, ets=1.05))
    assert (close.model, close.kind, close.best_model, close.best_baseline) == \
        ("moving_average", "baseline", "lstm", "moving_average")
    assert close.improvement == pytest.approx(0.01) and close.margin == MARGIN == 0.02
    assert "moving average" in close.text and "2%" in close.text and "120 test windows" in close.text
    clear = choose_model(metrics(lstm=0.95, ensemble=0.97, moving_average=1.0, ets=1.1))
    assert (clear.model, clear.kind) == ("lstm", "model") and "LSTM" in clear.text
    ensemble = choose_model(metrics(lstm=1.1, ensemble=0.9, moving_average=1.0))
    assert ensemble.model == "ensemble"
    assert choose_model(metrics(lstm=0.97, moving_average=1.0), margin=0.05).model == "moving_average"
    no_mase = metrics(lstm=1.0, moving_average=1.0).assign(mase=np.nan, mae=[0.5, 0.6, np.nan])
    assert choose_model(no_mase).metric == "mae" and choose_model(no_mase).model == "lstm"


# -- the analyst export ----------------------------------------------------------------------------------
def forecast_rows(periods: list[str], model: str = "moving_average") -> pd.DataFrame:
    return pd.DataFrame({
        "series": [3, 3, 7, 7], "step": [1, 2, 1, 2], "period": pd.to_datetime(periods * 2),
        "point": [0.123456, 0.2, 0.5, 1.2], "lower": [0.1, -0.1, 0.4, 0.9], "upper": [0.15, 0.3, 0.7, 3.68],
        "p_hot": [0.25, 0.3333333, 0.9, 1.0], "trend_class": ["rising", "rising", "flat", "flat"],
        "trend_tercile": ["top third"] * 2 + ["bottom third"] * 2, "model": model})


def test_export_columns_dates_and_percentages():
    frame = analyst_frame(forecast_rows(["2024-03-27", "2024-04-03"]), {"3": "Denim street", "7": "★ My pick"},
                          "week", data_key="d1", model_key="m1", train_start="2023-05-29", train_end="2024-03-18")
    assert list(frame.columns) == EXPORT_COLUMNS[:len(frame.columns)] == EXPORT_COLUMNS
    assert frame["style"].tolist() == ["Denim street"] * 2 + ["★ My pick"] * 2
    assert set(pd.to_datetime(frame["period_start"]).dt.day_of_week) == {0}  # Mondays
    assert frame["period_start"].tolist()[:2] == ["2024-03-25", "2024-04-01"]
    text = analyst_csv(frame)
    back = pd.read_csv(io.StringIO(text), dtype=str)
    for column in ("share_pct", "lower_pct", "upper_pct"):
        assert back[column].str.fullmatch(r"\d{1,3}\.\d{2}").all(), back[column].tolist()
    assert back["share_pct"].tolist() == ["12.35", "20.00", "50.00", "100.00"]
    assert back["upper_pct"].tolist()[-1] == "100.00" and back["lower_pct"].tolist()[1] == "0.00"
    assert back["p_hot"].tolist()[1] == "0.333" and back["trend"].tolist()[0] == "rising"
    assert (back["train_end"] == "2024-03-18").all() and (back["style_id"] == ["3", "3", "7", "7"]).all()
    monthly = analyst_frame(forecast_rows(["2024-04-17", "2024-05-09"]), {}, "month", data_key="d", model_key="m",
                            train_start=None, train_end=None)
    assert monthly["period_start"].tolist()[:2] == ["2024-04-01", "2024-05-01"] and monthly["style"].iloc[0] == "3"


def test_export_file_name_says_database_model_and_date():
    name = file_name("/data/xhs crawl.duckdb", "moving_average", "2024-03-18")
    assert name == "forecast_xhs-crawl_moving_average_2024-03-18.csv"
    assert re.fullmatch(r"forecast_[\w.-]+_lstm_\d{4}-\d{2}-\d{2}\.csv", file_name("trend.duckdb", "lstm",
                                                                                  pd.Timestamp("2024-01-01")))
