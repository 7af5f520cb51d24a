"""The Trends page driven headlessly with streamlit's AppTest against the session's demo database:
chart kind (lines with bands / stacked area), the engagement toggle, lifespans and the monthly gallery."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import charts, open_app, rerun

from trend_core import trends

PAGE = "app_pages/trends.py"


# -- helpers (as in test_app_pages.py) ---------------------------------------------------------------
def open_page(db: Path, monkeypatch) -> AppTest:
    return open_app(db, monkeypatch, PAGE)


def share_chart(at: AppTest) -> go.Figure:
    return charts(at)[0]


def lifespan_figure(at: AppTest) -> go.Figure:
    found = [f for f in charts(at) if (f.layout.title.text or "").startswith("Style lifespans")]
    assert len(found) == 1, [f.layout.title.text for f in charts(at)]
    return found[0]


def lines(figure: go.Figure) -> list:
    return [t for t in figure.data if t.mode == "lines+markers"]


def n_bars(figure: go.Figure) -> int:
    return sum(len(t.x) for t in figure.data if t.type == "bar")


def view_for(db: Path):
    from trend_core import pipeline
    from trend_core.plugins import effective_config
    from trend_core.store import Store

    store = Store(db)
    return pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0])


@pytest.fixture(scope="module")
def view(demo_db):
    return view_for(demo_db)


def series_of(table: pd.DataFrame, style: int, column: str) -> np.ndarray:
    return table[table["style"] == style].sort_values("period")[column].to_numpy(dtype=float)


def style_of(trace) -> int:
    """The style a trace belongs to (every trace of a style shares its legend group)."""
    return int(trace.legendgroup)


# -- share over time -----------------------------------------------------------------------------------
def test_lines_show_a_band_around_every_line(demo_db, monkeypatch, view):
    at = open_page(demo_db, monkeypatch)
    figure = share_chart(at)
    drawn, fills = lines(figure), [t for t in figure.data if t.fill == "tonexty"]
    assert len(drawn) == len(fills) == view.k
    expected = trends.binomial_bands(view.shares("month"))
    for line in drawn:
        style = style_of(line)
        band = [t for t in figure.data if t.legendgroup == line.legendgroup and t.fill == "tonexty"][0]
        assert np.allclose(line.y, series_of(expected, style, "share"))
        assert np.allclose(band.y, series_of(expected, style, "lower"))
        assert (np.asarray(band.y) <= np.asarray(line.y) + 1e-12).all()
    assert "95" in figure.layout.title.text
    assert any("Wilson" in c.value for c in at.caption)


def test_stacked_area_has_no_bands(demo_db, monkeypatch, view):
    at = open_page(demo_db, monkeypatch)
    at.radio(key="trends_kind").set_value("area")
    figure = share_chart(rerun(at))
    assert len(figure.data) == view.k
    assert {t.stackgroup for t in figure.data} == {"shares"}
    assert not [t for t in figure.data if t.fill == "tonexty"]
    totals = np.sum([np.asarray(t.y, dtype=float) for t in figure.data], axis=0)
    with_posts = view.shares("month").groupby("period")["total"].first().to_numpy() > 0
    assert np.allclose(totals[with_posts], 1.0)
    assert any("No bands" in c.value for c in at.caption)


def test_engagement_toggle_plots_engagement_shares(demo_db, monkeypatch, view):
    at = open_page(demo_db, monkeypatch)
    at.toggle(key="trends_engagement").set_value(True)
    figure = share_chart(rerun(at))
    expected = trends.engagement_bands(view.shares("month"), view.kept_posts(), "month")
    drawn = lines(figure)
    assert len(drawn) == view.k
    for line in drawn:
        style = style_of(line)
        assert np.allclose(line.y, series_of(expected, style, "engagement_share"))
        assert not np.allclose(line.y, series_of(expected, style, "share"))
        band = [t for t in figure.data if t.legendgroup == line.legendgroup and t.fill == "tonexty"][0]
        assert np.allclose(band.y, series_of(expected, style, "lower"))
    assert figure.layout.yaxis.title.text == "engagement-weighted share"
    assert any("Kish" in c.value for c in at.caption)
    assert "engagement-weighted" in lifespan_figure(at).layout.title.text
    assert any(c.value.startswith("Ranked by engagement-weighted share") for c in at.caption)
    at.radio(key="trends_kind").set_value("area")
    stacked = share_chart(rerun(at))
    assert np.allclose(stacked.data[0].y, series_of(expected, style_of(stacked.data[0]), "engagement_share"))


def test_weekly_period_and_style_filter(demo_db, monkeypatch, view):
    at = open_page(demo_db, monkeypatch)
    picked = [int(s) for s in view.styles["style"][:2]]
    at.radio(key="trends_period").set_value("week")
    at.multiselect(key="trends_styles").set_value(picked)
    figure = share_chart(rerun(at))
    weekly = view.shares("week")
    assert sorted(style_of(t) for t in lines(figure)) == sorted(picked)
    assert len(lines(figure)[0].y) == weekly["period"].nunique()
    assert len([t for t in figure.data if t.fill == "tonexty"]) == 2
    rows = [t for t in lifespan_figure(at).data if t.type == "scatter"][0]
    assert len(rows.y) == 2  # one lifespan row per chosen style
    assert at.number_input(key="trends_min_periods").label == "Shortest span (weeks)"


# -- lifespans ---------------------------------------------------------------------------------------
def test_lifespan_bars_follow_threshold_and_shortest_span(demo_db, monkeypatch, view):
    at = open_page(demo_db, monkeypatch)
    table = view.shares("month")
    counts = {}
    for percent in (20, 8, 40):
        at.slider(key="trends_threshold").set_value(percent)
        figure = lifespan_figure(rerun(at))
        counts[percent] = n_bars(figure)
        assert counts[percent] == len(trends.lifespans(table, percent / 100)), percent
        assert f"above {percent}%" in figure.layout.title.text
    assert len(set(counts.values())) > 1, counts
    at.slider(key="trends_threshold").set_value(20)
    at.number_input(key="trends_min_periods").set_value(3)
    longer = n_bars(lifespan_figure(rerun(at)))
    assert longer == len(trends.lifespans(table, 0.2, min_periods=3)) < counts[20]
    bars = [t for t in lifespan_figure(at).data if t.type == "bar"]
    assert bars and "peak" in bars[0].hovertemplate
    assert all(int(d[3].split()[0]) >= 3 for t in bars for d in t.customdata)  # 'N months' in the hover


# -- monthly gallery -----------------------------------------------------------------------------------
def month_headers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**20")]


def test_gallery_rows_per_month_with_pictures(demo_db_copy, monkeypatch, view):
    # every month ranked: the 480-post demo has under 30 images in most months (the default minimum
    # leaves those out of the top 5, see test_app_quality.py)
    from trend_core.pipeline import save_choice
    from trend_core.store import Store

    save_choice(Store(demo_db_copy), "min_period_images", 0)
    at = open_page(demo_db_copy, monkeypatch)
    months = sorted(pd.to_datetime(view.top_styles("month", 5)["period"]).drop_duplicates())
    headers = month_headers(at)
    assert headers == [f"**{m:%Y-%m}**" for m in months[::-1][:6]]  # newest first, six months
    assert len(at.image) >= 5
    slots = [c.value for c in at.caption if c.value.startswith("**#1 · ")]
    # shares count images by default (issue 10): '34% (n = 40) · ▲ +3 pts · 14 images'
    assert len(slots) == len(headers) and all(" image" in s and "(n = " in s for s in slots)
    at.select_slider(key="trends_month_range").set_value((months[0], months[1]))
    assert month_headers(rerun(at)) == [f"**{months[1]:%Y-%m}**", f"**{months[0]:%Y-%m}**"]
    slots = [c.value for c in at.caption if c.value.startswith("**#")]
    n_first = int((pd.to_datetime(view.top_styles("month", 5)["period"]) == months[0]).sum())
    assert all("pts" in c for c in slots[:-n_first])  # change against the month before
    assert not any("pts" in c for c in slots[-n_first:])  # the first month has nothing to compare with


def test_a_saved_selection_appears_as_a_starred_line(demo_db_copy, monkeypatch):
    from trend_core.selections import SELECTION_STYLE_BASE, save_selection
    from trend_core.store import Store

    posts = Store(demo_db_copy).load_posts()
    save_selection(Store(demo_db_copy), "picked", posts["post_id"].astype(str).head(60).tolist())
    at = open_page(demo_db_copy, monkeypatch)
    styles = at.multiselect(key="trends_styles")
    assert SELECTION_STYLE_BASE in styles.value
    names = [t.name or "" for t in share_chart(at).data]
    assert any(n.endswith("★ picked") or "★ picked" in n for n in names), names
    at.radio(key="trends_kind").set_value("area")
    rerun(at)
    assert not any("★" in (t.name or "") for t in share_chart(at).data)  # selections overlap: lines only
