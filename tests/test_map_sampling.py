"""Large maps: map_charts.sample_points (an even, stable sample per style), map_points (the slim cached
frame) and the Map page drawing a sample with a caption and a 'Draw every post' toggle, while a
selection still resolves to the right posts."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from test_app_map import (
    drawn_points,
    open_map,
    rerun,
    select,
    subheaders,
    the_map,
    view_for,
)

from trend_core import map_charts


@pytest.fixture
def many() -> pd.DataFrame:
    """1,000 posts of 3 styles with shares 0.6 / 0.3 / 0.1, map positions and text."""
    n = 1000
    rng = np.random.default_rng(2)
    style = np.repeat([0, 1, 2], [600, 300, 100])
    frame = pd.DataFrame({
        "post_id": [f"p{i:04d}" for i in range(n)], "poster_id": [f"a{i % 7}" for i in range(n)],
        "title": [f"<i>t{i}</i>" for i in range(n)], "content": ["长文本" * 40] * n, "tags": [""] * n,
        "post_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        "likes": rng.integers(0, 100, n), "collects": np.ones(n, dtype=int), "comments": np.zeros(n, dtype=int),
        "style": style, "style_name": [f"style {s}" for s in style], "image_hash": [None] * n,
        "x": rng.normal(size=n) + style * 3, "y": rng.normal(size=n)})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # styles interleaved


def test_sample_keeps_each_styles_share_and_the_input_order(many):
    sample = map_charts.sample_points(many, 100)
    assert len(sample) == 100
    assert sample["style"].value_counts().to_dict() == {0: 60, 1: 30, 2: 10}
    assert sample.index.is_monotonic_increasing and sample["post_id"].is_unique
    assert set(sample["post_id"]) <= set(many["post_id"])
    uneven = map_charts.sample_points(many, 7)  # largest remainders: 4.2, 2.1, 0.7 -> 4, 2, 1
    assert uneven["style"].value_counts().to_dict() == {0: 4, 1: 2, 2: 1}


def test_sample_is_deterministic_and_stable_per_post(many):
    a = map_charts.sample_points(many, 100)
    b = map_charts.sample_points(many.sample(frac=1.0, random_state=5), 100)
    assert set(a["post_id"]) == set(b["post_id"]), "the sample does not depend on row order"
    bigger = map_charts.sample_points(many, 200)
    assert set(a["post_id"]) <= set(bigger["post_id"]), "a larger sample keeps the posts of a smaller one"


def test_no_sample_when_small_enough(many):
    assert map_charts.sample_points(many, 1000) is many
    assert map_charts.sample_points(many, None) is many
    assert len(map_charts.sample_points(many.iloc[:0], 5)) == 0


def test_map_points_are_slim_with_a_short_escaped_snippet(many):
    slim = map_charts.map_points(many)
    assert "title" not in slim and "content" not in slim and len(slim) == len(many)
    assert max(len(html.unescape(t)) for t in slim["snippet"]) == map_charts.MAP_SNIPPET_CHARS  # cut, with '…'
    assert slim["snippet"].iloc[0].startswith("&lt;i&gt;")


@pytest.mark.parametrize("colour_by", list(map_charts.COLOUR_BY))
def test_sampled_map_points_resolve_to_their_posts(many, colour_by):
    """Every drawn point's customdata[0] is the post drawn at that position, whatever the colouring."""
    sample = map_charts.map_points(map_charts.sample_points(many, 120))
    fig = map_charts.colour_map(sample, colour_by)
    where = many.set_index("post_id")
    n = 0
    for trace in fig.data:
        ids = [row[0] for row in trace.customdata]
        np.testing.assert_allclose(trace.x, where.loc[ids, "x"].to_numpy())
        np.testing.assert_allclose(trace.y, where.loc[ids, "y"].to_numpy())
        n += len(ids)
    assert n == 120
    if colour_by == "style":
        assert [t.name for t in fig.data] == ["style 0", "style 1", "style 2"]
        assert all(row[1] == t.name for t in fig.data for row in t.customdata[:3])


def test_map_page_draws_a_sample_and_selection_still_finds_the_posts(demo_db, monkeypatch):
    view = view_for(demo_db)
    kept = map_charts.placed_posts(view.kept_posts())  # text-assigned posts have no place on the map
    limit = len(kept) // 3
    monkeypatch.setattr(map_charts, "MAP_POINTS", limit)
    at = open_map(demo_db, monkeypatch)
    figure = the_map(at)
    assert drawn_points(figure) == limit
    assert any(f"Drawing {limit:,} of {len(kept):,} posts" in c.value and "even sample" in c.value
               for c in at.caption)
    drawn_ids = {row[0] for t in figure.data for row in t.customdata}
    assert drawn_ids < set(kept["post_id"].astype(str))

    chosen = sorted(drawn_ids)[:5]
    select(at, chosen)
    assert "Selected posts (5)" in subheaders(at)
    tables = [d.value for d in at.dataframe if "post_id" in d.value and "style_name" in d.value]
    assert len(tables) == 1 and sorted(tables[0]["post_id"].astype(str)) == chosen

    at.toggle(key="map_every_post").set_value(True)
    assert drawn_points(the_map(rerun(at))) == len(kept)
    assert any(f"Drawing {len(kept):,} of {len(kept):,} posts" in c.value and "sample" not in c.value
               for c in at.caption)
