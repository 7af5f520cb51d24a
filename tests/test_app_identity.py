"""The Styles page's rename control and its comparison with the previous clustering (AppTest)."""
from __future__ import annotations

from test_app_pages import charts, frame_with, open_app, view_for

NAME = "Office <b>chic</b>"  # a given name with markup: shown as typed in tables, escaped in the Sankey


def _styles_table(at):
    return frame_with(at, "name", "size", "keywords").set_index("style")


def test_no_previous_clustering_is_said(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, "app_pages/styles.py")
    assert any("no previous clustering" in i.value for i in at.info)
    assert not any(f.data and f.data[0].type == "sankey" for f in charts(at))


def test_rename_then_another_k_shows_the_sankey_and_the_name_follows(demo_db_copy, monkeypatch):
    view = view_for(demo_db_copy)
    new_k = view.k + 1 if view.k + 1 <= int(view.sweep["k"].max()) else view.k - 1
    at = open_app(demo_db_copy, monkeypatch, "app_pages/styles.py")
    at.selectbox(key="styles_rename_style").set_value(1)
    at.text_input(key="styles_rename_name").set_value(NAME)
    at.button(key="styles_rename_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _styles_table(at).loc[1, "name"] == NAME
    assert _styles_table(at).loc[0, "name"] == view.styles.set_index("style").loc[0, "name"]

    at.checkbox(key="styles_auto_k").uncheck().run()
    at.number_input(key="styles_k").set_value(new_k).run()
    at.button(key="styles_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = _styles_table(at)
    assert len(table) == new_k

    sankeys = [f for f in charts(at) if f.data and f.data[0].type == "sankey"]
    assert len(sankeys) == 1
    sankey = sankeys[0].data[0]
    kept_now = int((view_for(demo_db_copy).posts["route"] == "fitted").sum())  # text-assigned looks do not flow
    assert sum(sankey.link.value) == kept_now  # same posts kept: every one flows somewhere
    assert any("Office &lt;b&gt;chic&lt;/b&gt;" in label for label in sankey.node.label)
    assert not any("<b>" in label for label in sankey.node.label)

    matches = frame_with(at, "previous", "current", "overlap")
    assert not matches[["previous", "current"]].isna().any().any(), "no None cells in the match table"
    row = matches[matches["previous"] == "1"].iloc[0]
    assert bool(row["matched"]) and row["previous name"] == NAME
    assert table.loc[int(row["current"]), "name"] == NAME          # the name followed its matched style
    assert (table["name"] == NAME).sum() == 1
    assert any("followed their matched style" in s.value for s in at.success)
