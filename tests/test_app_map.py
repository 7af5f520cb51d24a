"""The Map page driven headlessly with streamlit's AppTest: colour by, the month slider, a selection's
gallery and share line, saving / showing / deleting a named selection.

Simulating a box / lasso selection: AppTest has no plotly-chart widget, but a chart with
on_select="rerun" is a widget whose value lives in session state under its key, so setting
`at.session_state["map_chart"] = {"selection": {"points": [{"customdata": [post_id, ...]}, ...]}}` and
running again makes `st.plotly_chart` return that event (the same shape the browser sends).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from streamlit.testing.v1 import AppTest
from test_app_pages import as_read, charts, open_app, rerun, view_for

from trend_core import map_charts, selections
from trend_core.store import Store

PAGE = "app_pages/map.py"


def open_map(db: Path, monkeypatch) -> AppTest:
    return open_app(db, monkeypatch, PAGE)


def the_map(at: AppTest) -> go.Figure:
    return charts(at)[0]


def drawn_points(figure: go.Figure) -> int:
    return sum(len(t.x) for t in figure.data if t.name != map_charts.LATER_POSTS)


def select(at: AppTest, post_ids: list[str]) -> AppTest:
    """Simulate a lasso / box selection of these posts on the map (see the module docstring)."""
    points = [{"customdata": [pid, "", "", "", 0], "curve_number": 0, "point_index": i}
              for i, pid in enumerate(post_ids)]
    at.session_state["map_chart"] = {"selection": {"points": points, "point_indices": list(range(len(points))),
                                                   "box": [], "lasso": []}}
    return rerun(at)


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, [b.label for b in at.button]
    return matches[0]


def subheaders(at: AppTest) -> list[str]:
    return [as_read(s.value) for s in at.subheader]


# -- colour by ---------------------------------------------------------------------------------------
def test_colour_by_changes_the_traces(demo_db, monkeypatch):
    view = view_for(demo_db)
    placed = map_charts.placed_posts(view.kept_posts())  # text-assigned posts have no place on the map
    kept = len(placed)
    at = open_map(demo_db, monkeypatch)
    styled = the_map(at)
    assert {t.type for t in styled.data} == {"scattergl"} and len(styled.data) == view.k
    assert drawn_points(styled) == kept

    at.selectbox(key="map_colour").set_value("engagement")
    engagement = the_map(rerun(at))
    assert len(engagement.data) == 1 and engagement.data[0].type == "scattergl"
    marker = engagement.data[0].marker
    assert marker.colorbar.title.text == "likes + collects + comments"
    assert np.allclose(sorted(marker.color), sorted(np.log10(1 + placed[["likes", "collects", "comments"]]
                                                                  .sum(axis=1).to_numpy())))
    assert drawn_points(engagement) == kept

    at.selectbox(key="map_colour").set_value("author")
    authors = the_map(rerun(at))
    names = [t.name for t in authors.data]
    assert len(names) <= map_charts.TOP_AUTHORS + 1 and names[0].startswith("author ")
    if map_charts.OTHER_AUTHORS in names:
        other = authors.data[names.index(map_charts.OTHER_AUTHORS)]
        assert other.marker.color == "#B0B0B0"
    assert drawn_points(authors) == kept

    at.selectbox(key="map_colour").set_value("month")
    months = the_map(rerun(at))
    assert months.data[0].marker.colorbar.title.text == "month"


# -- month slider ------------------------------------------------------------------------------------
def test_month_slider_draws_only_posts_up_to_the_month(demo_db, monkeypatch):
    view = view_for(demo_db)
    kept = map_charts.placed_posts(view.kept_posts())
    at = open_map(demo_db, monkeypatch)
    slider = at.select_slider(key="map_month")
    labels = list(slider.options)
    assert slider.value == labels[-1] and len(labels) >= 3
    assert drawn_points(the_map(at)) == len(kept)

    middle = labels[len(labels) // 2]
    slider.set_value(middle)
    figure = the_map(rerun(at))
    expected = int((kept["post_date"].dt.strftime("%Y-%m") <= middle).sum())
    assert 0 < drawn_points(figure) == expected < len(kept)
    assert any(f"Drawing {expected:,} of {len(kept):,} posts" in c.value for c in at.caption)
    assert map_charts.LATER_POSTS not in [t.name for t in figure.data]

    at.toggle(key="map_faint").set_value(True)
    faint = the_map(rerun(at))
    assert faint.data[0].name == map_charts.LATER_POSTS and len(faint.data[0].x) == len(kept) - expected
    assert drawn_points(faint) == expected


# -- selection: gallery, share line, save / show / delete --------------------------------------------
def test_selection_gallery_share_line_and_saving(demo_db_copy, monkeypatch):
    view = view_for(demo_db_copy)
    kept = view.kept_posts()
    at = open_map(demo_db_copy, monkeypatch)
    assert "Selected posts" in subheaders(at) and "Saved selections (0)" in subheaders(at)
    assert len(charts(at)) == 1

    chosen = kept.sort_values("post_date")["post_id"].astype(str).head(12).tolist()
    select(at, chosen)
    assert "Selected posts (12)" in subheaders(at)
    assert len(at.image) >= 1, "the selected posts' thumbnails are shown"
    title = str(kept.set_index(kept["post_id"].astype(str)).loc[chosen[0], "title"])
    assert any(title.split()[0] in c.value for c in at.caption if title), "the posts' text is shown"
    line = charts(at)[1].data[0]
    assert line.mode == "lines+markers"
    expected = selections.selection_shares(kept, {"Selected posts": chosen})
    assert np.allclose(np.asarray(line.y, dtype=float), expected["share"].to_numpy())
    assert int(expected["count"].sum()) == 12

    at.text_input(key="map_selection_name").set_value("  early\nlooks  ")
    button(at, "Save selection").click()
    rerun(at)
    assert "Saved selections (1)" in subheaders(at)
    assert any("early looks" in m.value for m in at.markdown)
    assert selections.load_selections(Store(demo_db_copy)) == {"early looks": chosen}

    button(at, "Save selection").click()  # same name again: refused with a clear message
    rerun(at)
    assert any("exists already" in e.value for e in at.error)
    assert "Saved selections (1)" in subheaders(at)

    select(at, [])
    button(at, "Show").click()
    rerun(at)
    assert "Saved selection: early looks (12)" in subheaders(at)
    button(at, "Delete").click()
    rerun(at)
    assert "Saved selections (0)" in subheaders(at) and "Selected posts" in subheaders(at)
    assert selections.load_selections(Store(demo_db_copy)) == {}


# -- hover previews ----------------------------------------------------------------------------------
def test_hover_previews_mode_renders_the_component(demo_db, monkeypatch):
    from app_pages import _hover_map
    from trend_core import map_hover

    SELECT_MODE, HOVER_MODE = "Select (lasso / box)", "Hover previews"  # app_pages.map runs on import

    at = open_map(demo_db, monkeypatch)
    assert at.radio(key="map_mode").value == SELECT_MODE
    assert len(at.get("iframe")) == 0 and len(charts(at)) == 1

    at.radio(key="map_mode").set_value(HOVER_MODE)
    rerun(at)
    components = at.get("component_instance")
    assert len(components) == 1 and len(charts(at)) == 0, "the map is the hover component, not st.plotly_chart"
    proto = components[0].proto
    assert proto.component_name.endswith("hover_map")
    page = (Path(_hover_map.asset_dir()) / "index.html").read_text(encoding="utf-8")
    assert "plotly_hover" in page and map_hover.TIP_IMG_ID in page and map_hover.TIP_ID in page
    payload = map_hover.read_payload(next(a.bytes for a in proto.special_args if a.key == "payload"))
    assert len(payload["thumbs"]) >= 1, "masked garment thumbnails are sent"
    assert all(uri.startswith("data:image/webp;base64,") for uri in payload["thumbs"].values())
    points = [t for t in payload["figure"]["data"] if t.get("customdata")]
    assert points and all(t["hoverinfo"] == "none" for t in points), "the tip replaces plotly's hover label"
    assert any("Garment previews for" in c.value for c in at.caption)

    at.radio(key="map_mode").set_value(SELECT_MODE)
    rerun(at)
    assert len(at.get("component_instance")) == 0 and len(charts(at)) == 1
