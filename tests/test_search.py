"""Post search: the refitted text index reproduces the stored vectors, planted styles are found by
their words (Chinese and English), empty / unknown queries give a reason, image search with CLIP."""
from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from trend_core import pipeline, search, text
from trend_core.config import PipelineConfig, TextConfig
from trend_core.demo import STYLES
from trend_core.plugins import effective_config
from trend_core.store import Store

FLORAL = STYLES[0]
assert FLORAL.english == "floral dress"
W2V = TextConfig(method="word2vec", w2v_dim=32, w2v_epochs=10)


@pytest.fixture(scope="module")
def demo(demo_db):
    """(store, view) of the shared demo database (default settings: tfidf text)."""
    store = Store(demo_db)
    view = pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0])
    assert view is not None and view.config.text.method == "tfidf"
    return store, view


@pytest.fixture(scope="module")
def tfidf_index(demo) -> search.TextSearch:
    return search.build_text_search(*demo)


@pytest.fixture(scope="module")
def w2v_demo(demo_db, copy_db, tmp_path_factory):
    """(store, view-like, index) for word2vec text features computed by the pipeline on a copy."""
    store = Store(copy_db(demo_db, tmp_path_factory.mktemp("w2v") / "w2v.duckdb"))
    config = replace(PipelineConfig(), text=W2V)
    keys = pipeline.stage_keys(store.dataset_key(), config)
    posts = pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0]).posts
    assert pipeline.run_text(store, store.load_posts(), config, keys.text) is False
    view = SimpleNamespace(posts=posts, config=config, keys=keys)
    return store, view, search.build_text_search(store, view)


def stored_text(store: Store, key: str) -> tuple[list[list[str]], list[str], np.ndarray, np.ndarray]:
    """(tokens, documents, matrix, post ids) of a stored text artifact."""
    arrays = store.get_artifact(key)[0]
    posts = store.load_posts().set_index("post_id").reindex(arrays["post_ids"])
    docs = [text.post_document(t, c, g) for t, c, g in zip(posts["title"], posts["content"], posts["tags"])]
    return [t.split() for t in arrays["tokens"]], docs, arrays["matrix"], arrays["post_ids"]


def precision(index: search.TextSearch, posts: pd.DataFrame, query: str, style: str, n: int = 10) -> float:
    """Share of the top n results whose planted style is `style` (0 when there are none)."""
    hits = index.search(query, n)
    truth = dict(zip(posts["post_id"].astype(str), posts["true_style"]))
    return float(np.mean([truth[p] == style for p in hits.post_ids])) if len(hits.post_ids) else 0.0


# -- the refit reproduces the stored matrix ----------------------------------------------------------
def test_tfidf_refit_reproduces_the_stored_matrix(demo, tfidf_index):
    store, view = demo
    tokens, docs, matrix, post_ids = stored_text(store, view.keys.text)
    assert np.array_equal(tfidf_index.post_ids_, post_ids.astype(str))
    assert np.allclose(tfidf_index.embedder_.transform(tokens, docs), matrix, atol=1e-5)
    assert tfidf_index.matrix_.shape == matrix.shape and matrix.shape[1] > 2


def test_word2vec_refit_reproduces_the_stored_matrix(w2v_demo):
    store, view, index = w2v_demo
    tokens, docs, matrix, _ = stored_text(store, view.keys.text)
    assert index.embedder_.name == "word2vec" and matrix.shape[1] == W2V.w2v_dim
    assert np.allclose(index.embedder_.transform(tokens, docs), matrix, atol=1e-5)


def test_a_refit_that_does_not_reproduce_the_matrix_fails_loudly(demo):
    store, view = demo
    tokens, docs, matrix, post_ids = stored_text(store, view.keys.text)
    shuffled = matrix[np.roll(np.arange(len(matrix)), 1)]
    with pytest.raises(search.IndexMismatch, match="did not reproduce.*recompute styles"):
        search.TextSearch(view.config.text).fit(post_ids, tokens, docs, shuffled)
    with pytest.raises(search.IndexMismatch, match="shape"):  # another SVD size than the stored one
        search.TextSearch(view.config.text.replace(svd_dim=8)).fit(post_ids, tokens, docs, matrix)


def test_missing_text_features_are_reported(demo, tmp_path):
    _, view = demo
    with pytest.raises(search.SearchUnavailable, match="compute styles"):
        search.build_text_search(Store(tmp_path / "empty.duckdb"), view)


# -- search quality on the planted styles ------------------------------------------------------------
def test_floral_dress_query_finds_the_floral_style(demo, tfidf_index, w2v_demo):
    posts = demo[1].posts
    for index in (tfidf_index, w2v_demo[2]):
        assert precision(index, posts, "碎花连衣裙", FLORAL.name) >= 0.8  # measured 1.0 (tfidf, word2vec)
        assert precision(index, posts, "碎花连衣裙", FLORAL.name, n=20) >= 0.8


def test_each_planted_style_is_found_by_its_name(demo, tfidf_index, w2v_demo):
    posts = demo[1].posts
    for index in (tfidf_index, w2v_demo[2]):
        scores = {s.name: precision(index, posts, s.name, s.name) for s in STYLES}
        # measured: tfidf 1.0 for every style; word2vec (32 dims) 1.0 but 法式条纹 0.4 (法式 is shared
        # with the floral style)
        assert np.mean(list(scores.values())) >= 0.85, scores
        assert min(scores.values()) >= 0.3, scores


def test_a_query_of_style_words_finds_that_style(demo, tfidf_index):
    posts = demo[1].posts
    scores = {s.name: precision(tfidf_index, posts, " ".join(s.vocab[:3]), s.name) for s in STYLES}
    assert np.mean(list(scores.values())) >= 0.8, scores


# -- English --------------------------------------------------------------------------------------------
def test_english_query_is_translated_through_the_glossary(demo, tfidf_index):
    hits = tfidf_index.search("Floral Dresses", 10)
    assert hits.reason is None and hits.terms.tokens == ("floral", "dresses")
    assert hits.terms.translated["floral"] == ("碎花",) and "连衣裙" in hits.terms.translated["dresses"]
    assert precision(tfidf_index, demo[1].posts, "floral dress", FLORAL.name) >= 0.8  # measured 1.0
    scores = {s.english: precision(tfidf_index, demo[1].posts, s.english, s.name) for s in STYLES}
    assert np.mean(list(scores.values())) >= 0.7, scores  # measured 0.9 (tracksuit with stripes: 0.2)


def test_english_words_the_posts_use_are_searched_as_they_are(tfidf_index):
    hits = tfidf_index.search("OOTD oversize", 5)
    assert hits.terms.used == ("ootd", "oversize") and not hits.terms.translated
    assert len(hits.post_ids) == 5


def test_t_shirt_is_read_as_one_word():
    terms = search.read_query("white T-shirt", {"t恤": 0})
    assert terms.translated == {"tshirt": ("t恤",)} and terms.unknown == ("white",)


# -- empty and unknown queries ----------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["", "   ", "的 了 123 !!!", None])
def test_a_query_without_words_gives_the_reason(tfidf_index, query):
    hits = tfidf_index.search(query, 10)
    assert len(hits.post_ids) == 0 and hits.reason == search.NO_WORDS


def test_unknown_words_give_the_reason_and_an_empty_frame(demo, tfidf_index):
    result = search.search(demo[1].posts, tfidf_index, "xyzzy 量子力学", 10)
    assert result.frame.empty and list(result.frame.columns) == search.RESULT_COLUMNS
    assert result.reason.startswith(search.NO_MATCH) and "xyzzy" in result.reason
    assert result.terms.unknown == ("xyzzy", "量子力学")


def test_unknown_words_beside_known_ones_are_listed_and_skipped(tfidf_index):
    hits = tfidf_index.search("碎花 xyzzy", 5)
    assert hits.reason is None and hits.terms.used == ("碎花",) and hits.terms.unknown == ("xyzzy",)
    assert len(hits.post_ids) == 5


# -- results --------------------------------------------------------------------------------------------
def test_results_frame_rows_are_the_nearest_posts(demo, tfidf_index):
    _, view = demo
    result = search.search(view.posts, tfidf_index, "西装 通勤", 12)
    frame = result.frame
    assert list(frame.columns) == search.RESULT_COLUMNS and len(frame) == 12
    assert (frame["matched_by"] == "text").all() and frame["score"].is_monotonic_decreasing
    query = tfidf_index.embedder_.transform([["西装", "通勤"]])[0]
    cosine = tfidf_index.matrix_ @ query
    assert np.isclose(frame["score"].iloc[0], cosine.max(), atol=1e-5)
    assert np.allclose(np.sort(cosine)[::-1][:12], frame["score"], atol=1e-5)
    posts = view.posts.set_index(view.posts["post_id"].astype(str))
    assert (frame["style_name"].to_numpy() == posts.loc[frame["post_id"], "style_name"].to_numpy()).all()
    assert (frame["image_hash"].to_numpy() == posts.loc[frame["post_id"], "image_hash"].to_numpy()).all()
    assert frame["content"].str.len().max() <= search.CONTENT_CHARS


def test_top_n_keeps_positive_scores_best_first():
    scores = np.array([0.2, -0.5, 0.9, 0.2, 0.0, 0.7])
    assert search.top_n(scores, 3).tolist() == [2, 5, 0]
    assert search.top_n(scores, 10).tolist() == [2, 5, 0, 3]  # ties by position; <= 0 left out
    assert search.top_n(scores, 0).size == 0 and search.top_n(-scores[:2], 3).tolist() == [1]


class CharSentence:
    """Stands in for a sentence-transformers model: hashed character counts of the cleaned text."""

    name, version, weights_id, dim_ = "sentence", "1", "fake", 16

    def fit(self, token_lists, documents=None) -> "CharSentence":
        return self

    def transform(self, token_lists, documents=None) -> np.ndarray:
        out = np.zeros((len(documents), self.dim_))
        for row, doc in zip(out, documents):
            for ch in text.clean_text(doc):
                row[ord(ch) % self.dim_] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)


def test_a_pretrained_text_model_encodes_the_query_text(monkeypatch):
    monkeypatch.setattr(search, "make_text_embedder", lambda cfg, random_state=0: CharSentence())
    docs = ["碎花连衣裙 夏天", "西装 通勤 上班", "卫衣 街头", "", "法式碎花裙"]
    tokens = [text.tokenize(d) for d in docs]
    matrix = CharSentence().transform(tokens, docs)
    index = search.TextSearch(TextConfig(method="sentence")).fit(list("abcde"), tokens, docs, matrix)
    assert index.vocabulary_ is None and "indexed words" not in index.describe()
    hits = index.search("碎花连衣裙 夏天", 5)  # the text of post a: its vector exactly
    assert hits.terms.unknown == () and hits.terms.used == ("碎花", "连衣裙", "夏天")  # no vocabulary
    assert hits.post_ids[0] == "a" and np.isclose(hits.scores[0], 1.0)
    expected = matrix @ matrix[0]
    assert np.allclose(hits.scores, np.sort(expected[expected > 0])[::-1])
    assert index.search(" ", 5).reason == search.NO_WORDS
    with pytest.raises(search.IndexMismatch):
        search.TextSearch(TextConfig(method="sentence")).fit(list("abcde"), tokens, docs, matrix[::-1])


# -- image search ---------------------------------------------------------------------------------------
def test_image_search_needs_clip(demo):
    store, view = demo
    assert view.config.image.encoder != "clip"
    problem = search.image_search_status(view)
    assert "CLIP" in problem and "Styles page" in problem and "clip" in problem
    with pytest.raises(search.SearchUnavailable, match="joint image-text model"):
        search.build_image_search(store, view)


class FakeEncoder:
    """Maps a few texts to fixed unit vectors in 3 dims."""

    dim = 3
    vectors = {"red": [1.0, 0.0, 0.0], "green": [0.0, 1.0, 0.0]}

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def test_image_search_ranks_posts_by_cosine_to_the_query_text():
    matrix = np.array([[0.0, 2.0, 0.0], [3.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    index = search.ImageSearch(FakeEncoder()).fit(["a", "b", "c", "d"], matrix)
    hits = index.search("red", 3)
    assert hits.post_ids.tolist() == ["c", "b"] and hits.matched_by == "image"  # d (no vector) and a (0) out
    assert np.allclose(hits.scores, [1.0, 3 / np.sqrt(10)])
    assert index.search("green", 1).post_ids.tolist() == ["a"]
    assert index.search("  ", 3).reason == search.NO_WORDS
    with pytest.raises(search.SearchUnavailable, match="shape"):
        search.ImageSearch(FakeEncoder()).fit(["a"], np.ones((1, 4)))


def test_image_search_with_a_tiny_clip(tmp_path, monkeypatch):
    """CLIP image vectors computed by the image stage are found and ranked (random tiny model)."""
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    from test_clip import TINY, TINY_CONFIG

    from trend_core.demo import write_demo
    from trend_core.embed.clip import ENV_MODEL, ENV_WEIGHTS
    from trend_core.image_stages import run_image_embedding

    (tmp_path / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(tmp_path / f"{TINY}.json")
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TINY).state_dict(), tmp_path / "tiny.pt")
    monkeypatch.setenv(ENV_WEIGHTS, str(tmp_path / "tiny.pt"))
    monkeypatch.setenv(ENV_MODEL, TINY)
    monkeypatch.setenv("TREND_DEVICE", "cpu")
    store = Store(tmp_path / "clip.duckdb")
    write_demo(store, n_posts=24, seed=1)
    config = replace(PipelineConfig(), image=PipelineConfig().image.replace(encoder="clip"))
    view = SimpleNamespace(posts=store.load_posts(), config=config)
    with pytest.raises(search.SearchUnavailable, match="not been computed"):
        search.build_image_search(store, view)
    hashes = sorted(set(view.posts["image_hash"].dropna()))
    assert run_image_embedding(store, hashes, config, False, lambda f, m: None) == (len(hashes), 0)
    index = search.build_image_search(store, view)
    assert index.source == "full photo" and len(index.post_ids_) == len(view.posts)
    result = search.search(view.posts, index, "a floral dress", 5)
    query = index.encoder.encode_text(["a floral dress"])[0]
    expected = np.sort(index.matrix_ @ query)[::-1]
    expected = expected[expected > search.MIN_SCORE][:5]
    assert len(expected) == 5, "the tiny model's seed gives positive similarities"
    assert result.reason is None and (result.frame["matched_by"] == "image").all()
    assert np.allclose(result.frame["score"], expected, atol=1e-5)
    assert result.frame["style"].eq(-1).all()  # plain posts: no styles yet
