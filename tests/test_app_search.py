"""The Search page driven headlessly with AppTest on the shared demo database."""
from __future__ import annotations

import numpy as np
from test_app_pages import as_read, frame_with, open_app, view_for

from app_pages._common import md
from trend_core.demo import STYLES

PAGE = "app_pages/search.py"


def floral_style_name(db) -> str:
    """Name of the fitted style holding most of the planted floral-dress posts."""
    posts = view_for(db).posts
    return str(posts.loc[posts["true_style"] == STYLES[0].name, "style_name"].mode()[0])


def test_query_shows_pictures_with_style_names_and_a_table(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, PAGE)
    assert at.title[0].value == "Search"
    assert any("Type a query" in i.value for i in at.info)
    at.text_input(key="search_query").input("碎花连衣裙").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c for element in at.image for c in element.captions]
    assert len(captions) == 12  # the default number of results, every demo post has a picture
    floral = md(floral_style_name(demo_db))
    assert sum(c.startswith(floral + " · ") for c in captions) >= 10, captions
    table = frame_with(at, "post_id", "score", "style_name", "title", "content")
    assert len(table) == 12 and table["score"].is_monotonic_decreasing
    assert (table["matched_by"] == "text").all()
    shown = [c.value for c in at.caption]
    assert any(c.startswith("Styles among the results:") and floral in c for c in shown), shown
    assert any("tfidf" in c and "cosine" in c for c in shown), "the caption says what the search uses"


def test_number_of_results_and_english_query(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, PAGE)
    at.number_input(key="search_n").set_value(5)
    at.text_input(key="search_query").input("floral dress").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(frame_with(at, "post_id", "score", "style_name")) == 5
    assert any("from English: floral → 碎花" in c.value for c in at.caption)


def test_unknown_word_shows_the_reason(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, PAGE)
    at.text_input(key="search_query").input("xyzzy").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = [as_read(w.value) for w in at.warning]
    assert any("none of these words occur in the posts: xyzzy" in w for w in warnings), warnings
    assert not at.image and not at.dataframe


def test_image_mode_needs_clip_and_says_so(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, PAGE)
    mode = at.radio(key="search_mode")
    assert mode.options == ["text", "image"] and mode.disabled and mode.value == "text"
    assert any(c.value.startswith("Image search is not available") and "CLIP" in c.value for c in at.caption)


class OnePostEncoder:
    """Stands in for CLIP's text encoder: every query is encoded as one post's image vector."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector / np.linalg.norm(vector)
        self.dim = len(vector)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1)).astype(np.float32)


def test_image_mode_ranks_by_the_image_index(demo_db, monkeypatch):
    """With an image index available (CLIP stood in by a fake encoder) the mode can be chosen and the
    results come from it."""
    from trend_core import search

    posts = view_for(demo_db).posts
    vectors = np.random.default_rng(0).normal(size=(len(posts), 8))
    target = str(posts["post_id"].iloc[7])

    def fake_index(store, view):
        return search.ImageSearch(OnePostEncoder(vectors[7]), "full photo").fit(posts["post_id"], vectors)

    monkeypatch.setattr(search, "image_search_status", lambda view: None)
    monkeypatch.setattr(search, "build_image_search", fake_index)
    at = open_app(demo_db, monkeypatch, PAGE)
    assert not at.radio(key="search_mode").disabled
    at.radio(key="search_mode").set_value("image")
    at.text_input(key="search_query").input("a floral dress").run()
    assert not at.exception, [e.value for e in at.exception]
    table = frame_with(at, "post_id", "score", "matched_by")
    assert table["post_id"].iloc[0] == target and np.isclose(table["score"].iloc[0], 1.0)
    assert (table["matched_by"] == "image").all()
    assert any("image vectors of the full photo" in c.value for c in at.caption)
