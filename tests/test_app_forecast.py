"""AppTest of the Forecast page's newer controls: the attention model with folds, the modality
ablation, and imported series (a wide CSV and a covariate) trained, scored and exported."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from test_app_pages import _capture_media, button, charts, frame_with, open_app, rerun


def set_small(at, horizon: int = 2, test_periods: int = 3, window: int = 3, period: str | None = "month") -> None:
    if period:
        at.selectbox(key="forecast_period").set_value(period)
    at.number_input(key="forecast_window").set_value(window)
    at.number_input(key="forecast_gap").set_value(0)
    at.number_input(key="forecast_horizon").set_value(horizon)
    at.number_input(key="forecast_epochs").set_value(3)
    at.number_input(key="forecast_test_periods").set_value(test_periods)


def test_attention_with_two_folds_and_the_ablation(demo_db_copy, monkeypatch):
    at = open_app(demo_db_copy, monkeypatch, "app_pages/forecast.py")
    at.multiselect(key="forecast_modalities").set_value(["share", "engagement"])
    at.selectbox(key="forecast_model_kind").set_value("attention")
    set_small(at, horizon=1, test_periods=2)
    at.number_input(key="forecast_folds").set_value(2)
    rerun(button(at, "Train").click())
    metrics = frame_with(at, "model", "mae", "hot_auc", "tercile_accuracy")
    assert {"attention", "ets", "ensemble", "majority"} <= set(metrics["model"])
    folds = frame_with(at, "test_start", "train_target_end")
    assert len(folds) == 2 and folds["test_start"].iloc[0] < folds["test_start"].iloc[1]
    assert any("attention loss" in (f.layout.title.text or "") for f in charts(at))

    rerun(button(at, "Run the ablation").click())
    table = frame_with(at, "inputs", "n_inputs", "mase")
    neural = table[table["model"] == "attention"]
    assert list(neural["inputs"]) == ["share", "share+engagement"]
    assert "(baseline)" in set(table["inputs"])
    assert any("Modality ablation" in (f.layout.title.text or "") for f in charts(at))


def weekly_csv(path, n_series: int = 5, T: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    data = {f"item_{s}": 0.1 * (1 + 0.5 * np.sin(2 * np.pi * t / 13 + s)) * np.exp(rng.normal(0, 0.05, T))
            for s in range(n_series)}
    frame = pd.DataFrame(data, index=pd.date_range("2021-01-04", periods=T, freq="W-MON"))
    frame.index.name = "week"
    frame.to_csv(path)
    return frame


def test_imported_series_are_trained_scored_and_exported(demo_db_copy, monkeypatch, tmp_path):
    captured = _capture_media(monkeypatch)
    series = weekly_csv(tmp_path / "series.csv")
    (series.shift(-2).bfill() * 1.1).to_csv(tmp_path / "lead.csv")
    at = open_app(demo_db_copy, monkeypatch, "app_pages/forecast.py")
    at.radio(key="forecast_source").set_value("Imported series (CSV)").run()
    at.text_input(key="forecast_series_path").set_value(str(tmp_path / "series.csv")).run()
    rerun(at.text_input(key="forecast_covariate_paths").set_value(str(tmp_path / "lead.csv")))
    assert any("5 series × 90 dates" in c.value for c in at.caption)
    at.multiselect(key="forecast_modalities").set_value(["share", "lead"])
    set_small(at, horizon=4, test_periods=8, window=8, period=None)
    rerun(button(at, "Train").click())
    metrics = frame_with(at, "model", "mae", "mase")
    assert {"lstm", "ets", "seasonal_naive", "majority"} <= set(metrics["model"])
    names = [t.name or "" for f in charts(at) for t in f.data]
    assert any(n.startswith("S0") or "item_" in n for n in names if n.endswith("· forecast"))
    url = at.get("download_button")[0].proto.url
    table = pd.read_csv(io.BytesIO(captured[url.rsplit("/", 1)[-1].split(".")[0]]))
    assert len(table) == 5 * 4 and set(table["series"]) == set(series.columns)
    assert {"point", "lower", "upper", "p_hot", "trend_class", "trend_tercile", "model", "data_key", "model_key",
            "train_start", "train_end"} <= set(table.columns)
    # the export defaults to the verdict's model (the best model, or the best baseline by the 2 % margin)
    from trend_core.forecast.verdict import choose_model

    chosen = choose_model(metrics).model
    assert (table["model"] == chosen).all() and pd.Timestamp(table["period"].min()) > series.index.max()
    assert any(a.value.startswith("**Verdict:**") for a in list(at.success) + list(at.info))

    button(at, "Train").click().run()  # same file, same settings: stored in DuckDB, not trained again
    assert any("Loaded from cache" in s.value for s in at.success)

    # a bad file gets a clear message, not a traceback
    (tmp_path / "bad.csv").write_text("week,a\n2021-01-04,1\nnot a date,2\n", encoding="utf-8")
    at.text_input(key="forecast_series_path").set_value(str(tmp_path / "bad.csv")).run()
    assert not at.exception
    assert any("dates could not be read" in e.value for e in at.error)
