"""Named map selections (trend_core.selections) and the pure map charts (trend_core.map_charts) on tiny
frames: saving / loading / deleting, name rules, share tables like trends.share_table, colourings."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trend_core import map_charts, trends
from trend_core.selections import (SELECTION_COLUMNS, SELECTION_STYLE_BASE, delete_selection, load_selections,
                                   save_selection, selection_shares)
from trend_core.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "selections.duckdb")


@pytest.fixture
def posts() -> pd.DataFrame:
    """40 posts over 4 months (10 a month), style -1 for every 5th, 4 authors, map positions."""
    n = 40
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "post_id": [f"p{i:02d}" for i in range(n)], "poster_id": [f"a{i % 4}" if i < 30 else "a0" for i in range(n)],
        "title": [f"<b>title {i}</b>" for i in range(n)], "content": ["text"] * n, "tags": ["#tag"] * n,
        "post_date": pd.to_datetime([f"2024-{1 + i // 10:02d}-{1 + i % 10:02d}" for i in range(n)]),
        "likes": np.arange(n) * 10, "collects": np.ones(n, dtype=int), "comments": np.zeros(n, dtype=int),
        "style": [-1 if i % 5 == 0 else i % 3 for i in range(n)], "image_hash": [None] * n,
        "x": rng.normal(size=n), "y": rng.normal(size=n)})
    frame["style_name"] = "style " + frame["style"].astype(str)
    frame.loc[frame["style"] < 0, ["x", "y"]] = np.nan
    return frame


# -- save / load / delete ----------------------------------------------------------------------------
def test_save_load_delete_round_trip(store):
    assert load_selections(store) == {}
    assert save_selection(store, "first", ["p1", "p2", "p2", 3]) == "first"
    save_selection(store, "second", ["p9"])
    assert load_selections(store) == {"first": ["p1", "p2", "3"], "second": ["p9"]}
    assert list(load_selections(store)) == ["first", "second"], "saving order is kept"
    assert delete_selection(store, "first") is True
    assert delete_selection(store, "first") is False
    assert load_selections(store) == {"second": ["p9"]}


def test_names_are_cleaned_to_one_short_line(store):
    name = save_selection(store, "  red \n  coats\t", ["p1"])
    assert name == "red coats"
    long = save_selection(store, "x" * 200, ["p1"])
    assert long == "x" * 60
    assert set(load_selections(store)) == {"red coats", "x" * 60}


@pytest.mark.parametrize("name", ["", "   ", None, "\n\t"])
def test_empty_names_are_rejected(store, name):
    with pytest.raises(ValueError, match="needs a name"):
        save_selection(store, name, ["p1"])
    assert load_selections(store) == {}


def test_duplicate_names_and_empty_selections_are_rejected(store):
    save_selection(store, "Denim", ["p1"])
    with pytest.raises(ValueError, match="exists already"):
        save_selection(store, " denim ", ["p2"])
    with pytest.raises(ValueError, match="no posts"):
        save_selection(store, "nothing", [])
    assert load_selections(store) == {"Denim": ["p1"]}


# -- share tables ------------------------------------------------------------------------------------
def test_selection_shares_count_total_and_share(posts):
    kept = posts[posts["style"] >= 0]
    chosen = {"early": ["p01", "p02", "p11", "p00"], "late": ["p31", "p32", "p33", "p39", "nope"]}
    table = selection_shares(posts, chosen, "month")
    assert list(table.columns) == SELECTION_COLUMNS
    assert set(table["style"]) == {SELECTION_STYLE_BASE, SELECTION_STYLE_BASE + 1}
    assert dict(zip(table["style"], table["style_name"])) == {1000: "early", 1001: "late"}
    counts = table.groupby("style_name")["count"].sum().to_dict()
    assert counts == {"early": 3, "late": 4}, "left-out (p00) and unknown posts do not count"
    totals = trends.share_table(kept, "month").groupby("period")["count"].sum()
    for _, group in table.groupby("style"):
        assert list(group["period"]) == list(totals.index)
        assert list(group["total"]) == list(totals.to_numpy())
    assert np.allclose(table["share"], table["count"] / table["total"])
    early = table[table["style_name"] == "early"].set_index("period")
    assert early.loc[pd.Timestamp("2024-01-01"), "count"] == 2 and early.loc[pd.Timestamp("2024-03-01"), "count"] == 0
    eng = posts.set_index("post_id")[["likes", "collects", "comments"]].sum(axis=1)
    jan_total = eng[kept["post_id"][kept["post_date"] < "2024-02-01"]].sum()
    assert early.loc[pd.Timestamp("2024-01-01"), "engagement_share"] == pytest.approx((eng["p01"] + eng["p02"]) / jan_total)


def test_selection_shares_match_share_table_dtypes_and_empty_cases(posts):
    table = selection_shares(posts, {"a": ["p01"]}, "week")
    reference = trends.share_table(posts, "week")
    for column in trends.SHARE_COLUMNS:
        assert table[column].dtype == reference[column].dtype, column
    assert table["period"].nunique() == reference["period"].nunique()
    assert selection_shares(posts, {}, "month").empty
    assert list(selection_shares(posts.iloc[0:0], {"a": ["p1"]}).columns) == SELECTION_COLUMNS


# -- map charts --------------------------------------------------------------------------------------
def test_colour_map_variants(posts):
    placed = int(posts["x"].notna().sum())
    by_style = map_charts.colour_map(posts, "style")
    assert len(by_style.data) == 3 and sum(len(t.x) for t in by_style.data) == placed
    engagement = map_charts.colour_map(posts, "engagement")
    assert len(engagement.data) == 1 and engagement.data[0].marker.colorbar.title.text
    assert engagement.data[0].customdata[0][0] == posts.loc[posts["x"].notna(), "post_id"].iloc[0]
    assert "&lt;b&gt;" in engagement.data[0].customdata[0][2], "post text is escaped in hover labels"
    authors = map_charts.colour_map(posts, "author", n_authors=1)
    assert [t.name for t in authors.data] == ["author a0", map_charts.OTHER_AUTHORS]
    assert sum(len(t.x) for t in authors.data) == placed
    with pytest.raises(ValueError):
        map_charts.colour_map(posts, "weather")


def test_month_split_and_faint_later_posts(posts):
    months = map_charts.month_options(posts)
    assert [m.strftime("%Y-%m") for m in months] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    early, later = map_charts.split_by_month(posts, months[1] + pd.Timedelta(days=5))
    assert len(early) == 20 and len(later) == 20
    figure = map_charts.colour_map(early, "month", later=later)
    assert figure.data[0].name == map_charts.LATER_POSTS
    assert len(figure.data[0].x) == int(later["x"].notna().sum())
    assert sum(len(t.x) for t in figure.data[1:]) == int(early["x"].notna().sum())


def test_selection_share_line(posts):
    figure = map_charts.selection_share_line(posts, ["p01", "p02", "p11"])
    assert len(figure.data) == 1 and figure.data[0].mode == "lines+markers"
    assert np.allclose(figure.data[0].y, [2 / 8, 1 / 8, 0, 0])


def test_a_saved_selection_is_forecast_and_exported_like_a_style(demo_db_copy):
    from trend_core import pipeline
    from trend_core.config import ForecastConfig
    from trend_core.plugins import effective_config
    from trend_core.selections import save_selection

    db = Store(demo_db_copy)
    view = pipeline.load_view(db, effective_config(pipeline.config_from_settings(db))[0])
    fcfg = ForecastConfig(period="month", window=3, horizon=2, epochs=2, test_periods=3)
    before = pipeline.forecast_key(view, fcfg, load_selections(db))
    chosen = view.kept_posts()["post_id"].astype(str).head(40).tolist()
    save_selection(db, "My <b>pick</b>", chosen)
    saved = load_selections(db)
    assert pipeline.forecast_key(view, fcfg, saved) != before  # a new selection is a new forecast
    panel, _, _ = pipeline.forecast_inputs(db, view, fcfg)
    assert SELECTION_STYLE_BASE in set(panel.columns) and len(panel.columns) == view.k + 1
    result = pipeline.run_forecast(db, view, fcfg)
    table = pd.read_csv(__import__("io").StringIO(pipeline.forecast_csv(result, view)))
    assert len(table) == (view.k + 1) * 2
    assert (table.loc[table["style_id"] == SELECTION_STYLE_BASE, "style"] == "★ My <b>pick</b>").all()
