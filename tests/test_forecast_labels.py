"""Forecasting a short panel of imported style labels end to end (issue 10, points 8-9): the CLI
`forecast --db DB --source labels --period week --horizon 12 --out F.csv` with no other flag, and the
Forecast page with its default (derived) settings, which leads with the verdict."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from test_app_pages import _capture_media, button, frame_with, open_app, rerun
from trend_core.__main__ import main
from trend_core.forecast.verdict import choose_model
from trend_core.store import Store

FIRST, LAST = "2023-06-01", "2024-03-18"  # the real crawl's span: 43 weeks (Mondays 2023-05-29 .. 2024-03-18)
STYLES = ["Denim street", "Minimal", "Sweet", "Y2K"]


@pytest.fixture(scope="module")
def labels_db(tmp_path_factory):
    """A labels database like the crawl's import: one style label per row, 43 weeks, no images or text."""
    from trend_core import pipeline
    from trend_core.ingest import ingest_file

    folder = tmp_path_factory.mktemp("labels")
    rng = np.random.default_rng(4)
    days = pd.date_range(FIRST, LAST, freq="D")
    rows = pd.DataFrame({"post_id": [f"p{i}" for i in range(360)],
                         "post_date": [d.date().isoformat() for d in days[rng.integers(0, len(days), 360)]],
                         "style": rng.choice(STYLES, 360, p=[0.4, 0.3, 0.2, 0.1]),
                         "likes": rng.integers(0, 200, 360)})
    rows.loc[0, "post_date"], rows.loc[1, "post_date"] = FIRST, LAST  # the span's ends are present
    rows.to_csv(folder / "labels.csv", index=False)
    db = folder / "labels.duckdb"
    store = Store(db)
    summary = ingest_file(store, folder / "labels.csv")
    assert summary["accepted"] == 360
    pipeline.save_choice(store, "style_source", "labels")  # the app reads the same styles
    return db


def test_cli_forecast_of_labels_with_no_other_flag(labels_db, tmp_path, copy_db, capsys):
    db = copy_db(labels_db, tmp_path / "cli.duckdb")
    out = tmp_path / "F.csv"
    code = main(["forecast", "--db", str(db), "--source", "labels", "--period", "week", "--horizon", "12",
                 "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    summary = json.loads(printed.out)
    assert summary["settings"]["horizon"] == 12 and summary["settings"]["window"] <= 43 // 4
    assert summary["split"]["forward_train_end"] == LAST
    table = pd.read_csv(out, dtype=str)
    assert list(table.columns[:9]) == ["style", "period_start", "step", "share_pct", "lower_pct", "upper_pct",
                                       "p_hot", "trend", "model"]
    assert {"data_key", "model_key", "train_start", "train_end"} <= set(table.columns)
    assert sorted(table["style"].unique()) == STYLES and len(table) == len(STYLES) * 12
    starts = pd.to_datetime(table["period_start"])
    assert (starts.dt.day_of_week == 0).all() and starts.min() == pd.Timestamp("2024-03-25")
    for column in ("share_pct", "lower_pct", "upper_pct"):
        assert table[column].str.fullmatch(r"\d{1,3}\.\d{2}").all()
        assert pd.to_numeric(table[column]).between(0, 100).all()
    assert (table["model"] == summary["model"]).all() and summary["verdict"].startswith("Use ")
    assert (table["train_end"] == LAST).all()

    # a month panel of this crawl (10 months) is under the minimum: one clear message
    code = main(["forecast", "--db", str(db), "--source", "labels", "--period", "month", "--out", str(out)])
    assert code == 2 and "at least 20 are needed" in capsys.readouterr().err


def test_forecast_page_with_defaults_leads_with_the_verdict(labels_db, tmp_path, copy_db, monkeypatch):
    captured = _capture_media(monkeypatch)
    db = copy_db(labels_db, tmp_path / "app.duckdb")
    at = open_app(db, monkeypatch, "app_pages/forecast.py")
    rerun(at.button(key="forecast_compute_styles").click())  # the imported labels are the styles
    assert any("43 week periods" in c.value for c in at.caption)  # the derived settings, said before training
    at.number_input(key="forecast_epochs").set_value(5)  # every other setting stays on auto
    rerun(button(at, "Train").click())
    metrics = frame_with(at, "model", "mae", "mase")
    assert {"lstm", "moving_average", "ets"} <= set(metrics["model"])
    # the first thing below the title is the verdict
    # the first thing below the title is the verdict, in words, with the margin
    title, lead = list(at.main.children.values())[:2]
    verdict = list(lead.children.values())[0]
    assert title.value == "Forecast" and verdict.value.startswith("**Verdict:** Use **")
    assert "2%" in verdict.value and "backtest" in verdict.value
    chosen = at.selectbox(key="forecast_model").value
    assert chosen == choose_model(metrics).model  # the page and its export use the verdict's model
    url = at.get("download_button")[0].proto.url
    table = pd.read_csv(io.BytesIO(captured[url.rsplit("/", 1)[-1].split(".")[0]]))
    assert (table["model"] == chosen).all() and sorted(table["style"].unique()) == STYLES

    at.selectbox(key="forecast_period").set_value("month")  # 10 months: under the minimum
    rerun(button(at, "Train").click())
    assert [e.value for e in at.error if "at least 20" in e.value]
