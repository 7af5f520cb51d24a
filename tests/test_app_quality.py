"""AppTests of issue 10 points 6 and 7: the Data page's quality panel (demo and real crawl) and small
samples on the Trends page (n beside every share, small months flagged and left out of the top 5)."""
from __future__ import annotations


import pandas as pd
from test_app_pages import charts, open_app, rerun, view_for

from trend_core import trends

TRENDS, DATA = "app_pages/trends.py", "app_pages/data.py"


def month_headers(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**20")]


def infos(at) -> list[str]:
    return [i.value for i in at.info]


# -- Trends ------------------------------------------------------------------------------------------
def test_trends_shows_n_and_leaves_small_months_out_with_a_note(demo_db, monkeypatch):
    view = view_for(demo_db)
    monthly = view.shares("month")
    sizes = trends.period_sizes(monthly)
    small = sizes[sizes < 30]
    assert len(small) and (sizes >= 30).any(), sizes  # the 480-post demo has both kinds of month
    at = open_app(demo_db, monkeypatch, TRENDS)
    # the monthly chart: every share hovered with its n, small months as open grey points under shading
    line = [t for t in charts(at)[0].data if t.mode == "lines+markers"][0]
    assert [d[4] for d in line.customdata][0].startswith(f" (n = {int(sizes.iloc[0])}")
    assert list(line.marker.symbol) == ["circle-open" if n < 30 else "circle" for n in sizes]
    assert charts(at)[0].layout.shapes
    flagged = [c.value for c in at.caption if "fewer than 30 images" in c.value]
    assert flagged and f"{small.index[0]:%Y-%m} (n = {int(small.iloc[0])})" in flagged[0]
    # the top 5: only months with 30 images or more, a note naming the others and why
    assert month_headers(at) == [f"**{m:%Y-%m}**" for m in sorted(sizes[sizes >= 30].index, reverse=True)][:6]
    note = [i for i in infos(at) if i.startswith("Left out of the top 5")]
    assert len(note) == 1 and "fewer than 30 images" in note[0]
    assert all(f"{m:%Y-%m} (n = {int(n)})" in note[0] for m, n in small.head(8).items())
    slots = [c.value for c in at.caption if c.value.startswith("**#1 · ")]
    assert slots and all("(n = " in s for s in slots)


def test_lowering_the_minimum_is_saved_and_brings_months_back(demo_db_copy, monkeypatch):
    from trend_core import pipeline
    from trend_core.store import Store

    at = open_app(demo_db_copy, monkeypatch, TRENDS)
    before = len(month_headers(at))
    at.number_input(key="trends_min_images").set_value(0)
    rerun(at)
    assert pipeline.config_from_settings(Store(demo_db_copy)).trends.min_period_images == 0
    assert not [i for i in infos(at) if i.startswith("Left out of the top 5")]
    assert not [c for c in at.caption if "fewer than" in c.value]
    assert len(month_headers(at)) == 6 > before
    assert not charts(at)[0].layout.shapes


# -- Data --------------------------------------------------------------------------------------------
def test_data_page_shows_the_quality_panel(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, DATA)
    assert "Data quality" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert {"Date range", "Busiest day", "Posts without image", "Blank counts", "Images in several posts"} <= set(metrics)
    posts = view_for(demo_db).posts
    dates = pd.to_datetime(posts["post_date"])
    assert metrics["Date range"] == f"{dates.min():%Y-%m-%d} – {dates.max():%Y-%m-%d}"
    assert any(e.label.startswith("Quality figures as JSON") for e in at.expander)
    assert charts(at)[0].data[0].type == "bar"  # the counts chart stays the first chart of the page


def test_data_page_quality_panel_on_the_real_crawl_matches_pandas(real_crawl_db, real_image_rows, monkeypatch):
    raw = pd.read_csv(real_image_rows, dtype=str, keep_default_na=False)
    raw["date"] = pd.to_datetime(raw["post_date"].where(raw["post_date"].str.len() == 10, "2024-" + raw["post_date"]))
    per_post = raw.drop_duplicates("post_id")
    busiest = per_post["date"].value_counts().max() / len(per_post)
    at = open_app(real_crawl_db, monkeypatch, DATA)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Date range"] == f"{raw['date'].min():%Y-%m-%d} – {raw['date'].max():%Y-%m-%d}"
    assert metrics["Busiest day"] == f"{busiest:.1%}"
    assert metrics["Posts without image"] == "0" and metrics["Images in several posts"] == "0"
    assert metrics["Blank counts"] == f"{int((raw['post_like'] == '').sum() + (raw['post_collect'] == '').sum()):,}"
    month_day = int((raw["post_date"].str.len() == 5).sum())
    assert any(f"`MM-DD`): {month_day:,} rows" in c.value and f"2024: {month_day:,}" in c.value for c in at.caption)
    assert any("have no stored picture" in i and "**Affects:**" in i for i in infos(at))
    assert not [w for w in at.warning if "are dated" in w.value]  # no busiest-day warning: under 1 % per day
