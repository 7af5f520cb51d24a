"""Text embedders: word2vec trained on the corpus, sentence-transformers from local files, the shared
interface (make_text_embedder / text_method_status)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import emoji
import numpy as np
import pytest

from trend_core import text
from trend_core.config import TextConfig
from trend_core.demo import STYLES, generate_demo
from trend_core.embed import text as text_embed
from trend_core.embed.text import (SENTENCE_MODEL_ENV, SentenceText, TfidfSvdText, Word2VecText,
                                   make_text_embedder, text_method_status)
from trend_core.weights import WeightsMissing

ROOT = Path(__file__).resolve().parent.parent
W2V = TextConfig(method="word2vec", w2v_dim=32, w2v_epochs=10)
DEFAULT_MODEL = TextConfig().sentence_model


@pytest.fixture(scope="module")
def demo_text():
    """(tokens, documents, true styles) of 200 demo posts."""
    posts = generate_demo(n_posts=200, seed=0).posts
    docs = [text.post_document(t, c, g) for t, c, g in zip(posts["title"], posts["content"], posts["tags"])]
    stop = text.load_stopwords()
    return [text.tokenize(d, stop) for d in docs], docs, posts["true_style"].to_numpy(dtype=str)


# -- word2vec --------------------------------------------------------------------------------------
_DIGEST_SCRIPT = """
import hashlib, json, sys
from trend_core.config import TextConfig
from trend_core.embed.text import Word2VecText
cfg = TextConfig(**json.loads(sys.argv[1]))
with open(sys.argv[2], encoding="utf-8") as f:
    X = Word2VecText(cfg).fit_transform(json.load(f))
print(hashlib.sha256(X.tobytes()).hexdigest())
"""


def _toy_corpus(n: int = 120, seed: int = 0) -> list[list[str]]:
    """Posts drawn from three word groups (plus shared words), deterministic."""
    groups = [["碎花", "连衣裙", "法式", "温柔", "夏天"], ["西装", "通勤", "干练", "职场", "外套"],
              ["卫衣", "街头", "宽松", "工装裤", "美式"]]
    rng = np.random.default_rng(seed)
    return [list(rng.choice(groups[i % 3], size=6)) + list(rng.choice(["显瘦", "百搭"], size=1))
            for i in range(n)]


def _digest_in_subprocess(corpus_file: Path, hash_seed: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    cfg = json.dumps({"method": "word2vec", "w2v_dim": W2V.w2v_dim, "w2v_epochs": W2V.w2v_epochs})
    return subprocess.Popen([sys.executable, "-c", _DIGEST_SCRIPT, cfg, str(corpus_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_word2vec_identical_across_processes(tmp_path):
    corpus = _toy_corpus()
    corpus_file = tmp_path / "corpus.json"
    corpus_file.write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
    procs = [_digest_in_subprocess(corpus_file, seed) for seed in ("1", "2")]  # differently salted hash
    digests = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        digests.append(out.strip())
    here = hashlib.sha256(Word2VecText(W2V).fit_transform(corpus).tobytes()).hexdigest()
    assert digests[0] == digests[1] == here
    other_seed = Word2VecText(W2V, random_state=1).fit_transform(corpus)
    assert hashlib.sha256(other_seed.tobytes()).hexdigest() != here  # the digest does see the vectors


def test_word2vec_posts_sharing_words_are_closer(demo_text):
    tokens, docs, styles = demo_text
    model = Word2VecText(W2V)
    X = model.fit_transform(tokens, docs)
    assert X.shape == (len(tokens), W2V.w2v_dim) == (len(tokens), model.dim_) and X.dtype == np.float32
    known = np.array([any(t in model.wv_.key_to_index for t in post) for post in tokens])
    assert 0 < (~known).sum() < 10                           # e.g. emoji-only posts
    assert np.allclose(np.linalg.norm(X, axis=1), known.astype(float), atol=1e-5)
    X, styles = X[known], styles[known]
    sims = X @ X.T
    same = (styles[:, None] == styles[None, :]) & ~np.eye(len(styles), dtype=bool)
    assert sims[same].mean() > sims[styles[:, None] != styles[None, :]].mean() + 0.15
    floral = next(s for s in STYLES if s.name == "碎花连衣裙")
    floral_words = set(text.tokenize(" ".join(floral.vocab + floral.hashtags)))
    neighbours = [w for w, _ in model.similar_words("碎花", 5)]
    assert len(neighbours) == 5 and set(neighbours) & floral_words
    assert model.similar_words("不存在的词") == []


def test_word2vec_vocabulary_has_no_emoji_or_stopwords():
    docs = ["今天我穿了碎花连衣裙😍✨ 真的很好看啊！！", "碎花连衣裙❤️ 我的通勤西装也好看了",
            "通勤西装 😍 今天的我"] * 4
    stop = text.load_stopwords()
    model = Word2VecText(TextConfig(method="word2vec", w2v_dim=8, w2v_epochs=2))
    model.fit([text.tokenize(d, stop) for d in docs], docs)
    vocab = list(model.wv_.key_to_index)
    assert {"碎花", "连衣裙", "通勤", "西装"} <= set(vocab)
    assert not set(vocab) & stop
    assert not any(emoji.emoji_count(w) for w in vocab)


def test_word2vec_zero_rows_for_posts_without_known_words():
    model = Word2VecText(W2V).fit(_toy_corpus())
    X = model.transform([[], ["从没见过"], ["碎花", "从没见过"]])
    assert X.shape == (3, W2V.w2v_dim)
    assert not X[:2].any() and np.isclose(np.linalg.norm(X[2]), 1)
    empty = Word2VecText(W2V).fit_transform([[], ["只出现一次"]])  # nothing reaches min_df
    assert empty.shape == (2, W2V.w2v_dim) and not empty.any()


# -- shared interface ------------------------------------------------------------------------------
def test_make_text_embedder_registry_and_status():
    for method, cls in (("tfidf", TfidfSvdText), ("word2vec", Word2VecText), ("sentence", SentenceText)):
        embedder = make_text_embedder(TextConfig(method=method))
        assert isinstance(embedder, cls) and embedder.name == method and embedder.version
        assert all(callable(getattr(embedder, f)) for f in ("fit", "transform", "fit_transform"))
    assert make_text_embedder(TextConfig()).weights_id == "none"
    with pytest.raises(ValueError, match="unknown text method"):
        make_text_embedder(TextConfig(method="bert"))
    assert text_method_status("tfidf") is None and text_method_status("word2vec") is None
    assert "unknown" in text_method_status("bert")


def test_every_corpus_method_takes_tokens_and_documents():
    corpus = _toy_corpus(60)
    docs = ["".join(t) for t in corpus]
    for method in ("tfidf", "word2vec"):
        a = make_text_embedder(TextConfig(method=method, w2v_epochs=2)).fit_transform(corpus, docs)
        b = make_text_embedder(TextConfig(method=method, w2v_epochs=2)).fit_transform(corpus)
        assert a.dtype == np.float32 and a.shape[0] == len(corpus) and np.array_equal(a, b)


# -- sentence-transformers -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sentence_model(tmp_path_factory) -> Path:
    """A tiny random BERT + mean pooling saved as a sentence-transformers folder (built offline)."""
    pytest.importorskip("sentence_transformers")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    root = tmp_path_factory.mktemp("sentence")
    chars = sorted(set("今天穿了一条法式碎花连衣裙搭配白色帆布鞋通勤西装外套运动风卫衣好看"))
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                                    encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    config = BertConfig(vocab_size=5 + len(chars), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "hf")
    tokenizer.save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=64)
    SentenceTransformer(modules=[transformer, Pooling(16)], device="cpu").save(str(root / "model"))
    return root / "model"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_sentence_text_encodes_cleaned_documents_offline(tiny_sentence_model, monkeypatch, no_network):
    monkeypatch.setenv(SENTENCE_MODEL_ENV, str(tiny_sentence_model))
    monkeypatch.setenv("TREND_DEVICE", "cpu")
    cfg = TextConfig(method="sentence")
    assert text_method_status("sentence", cfg) is None
    embedder = make_text_embedder(cfg)
    assert embedder.weights_id.startswith("dir:")
    assert embedder.weights_id == make_text_embedder(cfg).weights_id   # stable for the same files
    docs = ["今天穿了一条法式碎花连衣裙", "",
            "今天穿了一条法式碎花连衣裙 https://xhslink.com/a/x @小红薯 - 小红书", "通勤西装外套 好看"]
    X = embedder.fit_transform([[] for _ in docs], docs)
    assert X.shape == (4, 16) == (4, embedder.dim_) and X.dtype == np.float32
    assert not X[1].any()                                   # blank post -> zeros
    assert np.allclose(np.linalg.norm(X[[0, 2, 3]], axis=1), 1, atol=1e-5)
    assert np.allclose(X[0], X[2], atol=1e-6)               # URL, mention, suffix cleaned away
    assert not np.allclose(X[0], X[3])
    with pytest.raises(ValueError, match="documents"):
        embedder.transform([["碎花"]])


def test_sentence_model_found_in_hugging_face_cache(monkeypatch, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(text_embed, "_has_package", lambda name: True)
    monkeypatch.delenv(SENTENCE_MODEL_ENV, raising=False)
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(tmp_path))
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--sentence-transformers--tiny-model"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "modules.json").write_text("[]", encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    cfg = TextConfig(method="sentence", sentence_model="tiny-model")
    folder, weights_id = text_embed.resolve_sentence_model(cfg)
    assert folder == repo / "snapshots" / commit and weights_id == "hf:" + commit[:12]
    assert text_method_status("sentence", cfg) is None


def test_sentence_missing_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr(text_embed, "_has_package", lambda name: True)
    monkeypatch.setattr(text_embed, "_cached_snapshot", lambda model: None)
    monkeypatch.delenv(SENTENCE_MODEL_ENV, raising=False)
    cfg = TextConfig(method="sentence")
    with pytest.raises(WeightsMissing) as info:
        text_embed.resolve_sentence_model(cfg)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert (f"SentenceTransformer('{DEFAULT_MODEL}').save('/path/to/{DEFAULT_MODEL}')" in message
            and f"export {SENTENCE_MODEL_ENV}=/path/to/{DEFAULT_MODEL}" in message)
    status = text_method_status("sentence", cfg)
    assert status and "\n" not in status and SENTENCE_MODEL_ENV in status
    monkeypatch.setenv(SENTENCE_MODEL_ENV, str(tmp_path))  # a folder without a saved model
    with pytest.raises(WeightsMissing, match="no saved model there"):
        make_text_embedder(cfg).fit([["碎花"]], ["碎花"])


def test_sentence_missing_package_says_so(monkeypatch):
    monkeypatch.setattr(text_embed, "_has_package", lambda name: False)
    with pytest.raises(WeightsMissing, match="sentence-transformers is not installed") as info:
        _ = make_text_embedder(TextConfig(method="sentence")).weights_id
    assert "pip install sentence-transformers" in str(info.value)
    assert "not installed" in text_method_status("sentence")
    assert "gensim" in text_method_status("word2vec")
