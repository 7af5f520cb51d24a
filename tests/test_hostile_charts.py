"""Escaping everywhere (issue 11, point 6): every figure of the chart modules built with hostile
style names, author ids, post titles, selection / series names and titles keeps no live tag in any
string of its JSON (trace names, legend, axes, titles, annotations, hovers, customdata), shows the
text escaped exactly once, and `md()` neutralises Streamlit directives, emoji codes and autolinks."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from trend_core import identity_charts, map_charts, map_hover, plots, trend_charts

LINK = '<a href="https://evil">x</a>'
BIG = '<b style="font-size:90px">big</b>'
IMG = "<img src=x onerror=alert(1)>"
HOSTILE = (LINK, BIG, IMG)
LIVE = re.compile(r"<\s*(a|b|img)\s", re.IGNORECASE)  # an opened tag with attributes


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def assert_inert(fig: go.Figure, *, shows_names: bool = True) -> None:
    """No live <a / <b / <img anywhere in the figure's JSON; the hostile text is there escaped once."""
    strings = _strings(json.loads(fig.to_json()))
    live = sorted({s for s in strings if LIVE.search(s)})
    assert not live, f"live tags survive: {live[:5]}"
    assert not any("&amp;lt;" in s for s in strings), "escaped twice"
    if shows_names:
        assert any("&lt;a href=" in s for s in strings), "the hostile name is not shown at all"


@pytest.fixture
def posts() -> pd.DataFrame:
    """24 posts of 3 styles named with hostile HTML, hostile authors and titles, on the map."""
    n = 24
    style = np.arange(n) % 3
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "post_id": [f"p{i}" for i in range(n)], "poster_id": [HOSTILE[i % 3] for i in range(n)],
        "title": [HOSTILE[(i + 1) % 3] for i in range(n)], "content": [HOSTILE[(i + 2) % 3] for i in range(n)],
        "post_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) * 9, unit="D"),
        "likes": np.arange(n), "collects": np.ones(n, dtype=int), "comments": np.zeros(n, dtype=int),
        "style": style, "style_name": [HOSTILE[s] for s in style], "image_hash": [f"h{i}" for i in range(n)],
        "x": rng.normal(size=n) + style * 3, "y": rng.normal(size=n)})


@pytest.fixture
def shares() -> pd.DataFrame:
    periods = pd.date_range("2024-01-01", periods=4, freq="MS")
    rows = [{"period": p, "style": s, "style_name": HOSTILE[s], "count": 2.0 + s, "total": 9.0, "n": 9,
             "share": (2.0 + s) / 9, "lower": 0.1, "upper": 0.5, "engagement": 3.0 + s}
            for p in periods for s in range(3)]
    return pd.DataFrame(rows)


def test_plots_figures_with_hostile_names(posts, shares):
    assert_inert(plots.style_map(posts))
    assert_inert(plots.share_lines(shares, styles=[0, 1, 2], title=LINK))
    assert_inert(plots.share_lines(shares.iloc[0:0], title=LINK))  # the empty chart's title
    last = shares["period"].max()
    forecasts = pd.DataFrame([{"series": HOSTILE[s], "model": "lstm", "step": k,
                               "period": last + pd.DateOffset(months=k), "point": 0.3, "lower": 0.1,
                               "upper": 0.6, "p_hot": 0.5} for s in range(3) for k in (1, 2)])
    tests = pd.DataFrame([{"series": HOSTILE[s], "model": "lstm", "period": p, "predicted": 0.2}
                          for s in range(3) for p in shares["period"].unique()])
    assert_inert(plots.forecast_chart(shares, forecasts, [0, 1, 2], test_predictions=tests))
    metrics = pd.DataFrame({"model": ["lstm", LINK, BIG, IMG], "wape": [0.1, 0.2, 0.3, 0.4]})
    assert_inert(plots.metrics_bars(metrics))
    assert_inert(plots.posts_per_period(posts), shows_names=False)


def test_plots_hovertemplates_do_not_read_braces_in_names(shares):
    named = shares.assign(style_name="50%{y} off")
    line = plots.share_lines(named, styles=[0]).data[0]
    assert "%{y} off" not in line.hovertemplate and "50%&#123;y} off" in line.hovertemplate


def test_trend_charts_with_hostile_names(shares):
    assert_inert(trend_charts.share_lines(shares, styles=[0, 1, 2], min_n=20))
    assert_inert(trend_charts.share_area(shares, styles=[0, 1, 2], title=BIG), shows_names=True)
    assert_inert(trend_charts.share_lines(shares.iloc[0:0], title=LINK))
    spans = pd.DataFrame([{"style": s, "style_name": HOSTILE[s], "start": pd.Timestamp("2024-01-01"),
                           "end": pd.Timestamp("2024-02-01"), "periods": 2, "peak_share": 0.4,
                           "peak_period": pd.Timestamp("2024-02-01"), "ongoing": False, "peak_n": 9}
                          for s in range(3)])
    extent = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01"))
    assert_inert(trend_charts.lifespan_chart(spans, threshold=0.3, names=dict(enumerate(HOSTILE)),
                                             extent=extent))


@pytest.mark.parametrize("colour_by", list(map_charts.COLOUR_BY))
def test_map_charts_with_hostile_names_and_authors(posts, colour_by):
    later = posts.iloc[:4]
    fig = map_charts.colour_map(map_charts.map_points(posts), colour_by, later=later)
    assert_inert(fig)
    if colour_by == "author":  # the legend: one entry per author id, shown escaped once
        names = [t.name for t in fig.data]
        assert "author &lt;img src=x onerror=alert(1)&gt;" in names


def test_map_selection_line_with_a_hostile_selection_name(posts):
    assert_inert(map_charts.selection_share_line(posts, ["p0", "p3"], name=LINK))


def test_map_hover_page_keeps_names_escaped(posts):
    fig = map_charts.colour_map(posts, "author")
    page = map_hover.hover_html(fig, {})
    for old, new in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u002f", "/"), ('\\"', '"')):
        page = page.replace(old, new)  # the figure's JSON in the page's script, read back
    for raw in HOSTILE:
        assert raw not in page
    assert "author &lt;img src=x onerror=alert(1)&gt;" in page


def test_identity_sankey_with_hostile_names():
    flows = pd.DataFrame({"prev": [0, 1, 2], "new": [0, 1, 2], "posts": [3, 2, 1]})
    matches = pd.DataFrame({"prev": [0, 1, 2], "new": [0, 1, 2], "matched": [True, True, False]})
    names = dict(enumerate(HOSTILE))
    assert_inert(identity_charts.flow_sankey(flows, names, names, matches))


def test_safe_escapes_once_and_keeps_quotes_readable():
    assert plots.safe(LINK) == '&lt;a href="https://evil"&gt;x&lt;/a&gt;'
    assert plots.safe("Tom & Jerry's") == "Tom &amp; Jerry's"
    assert plots.safe(None) == ""


def test_md_neutralises_directives_emoji_and_autolinks():
    from app_pages._common import md

    out = md(":red[x] :material/home: :smile: https://evil.example www.evil.example a@b.example")
    for live in (":red[", ":material/", ":smile:", "https://", "www.evil", "a@b", "evil.example"):
        assert live not in out, live
    assert not re.search(r":[\w/+-]+:", out), "an emoji / icon shortcode survives"
    visible = out.replace("\\", "").replace("\u2060", "")
    assert visible == ":red[x] :material/home: :smile: https://evil.example www.evil.example a@b.example"
    assert md("plain words") == "plain words"
