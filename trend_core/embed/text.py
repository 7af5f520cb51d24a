"""Text embedding, one interface for three methods (`make_text_embedder(cfg)`):

- tfidf: TF-IDF over the posts' jieba tokens reduced by truncated SVD (LSA), weights-free;
- word2vec: gensim Word2Vec trained on the posts' jieba tokens, a post = IDF-weighted mean of its
  word vectors;
- sentence: a sentence-transformers model over the cleaned post text, loaded from local files only.

Every embedder has `name`, `version`, `weights_id` (for cache keys) and
`fit(token_lists, documents=None)` / `transform(...)` / `fit_transform(...)` returning (n, dim_) float32
rows that are L2-normalised, or all-zero for a post the method has nothing to say about (no known
tokens, blank text). `documents` are the raw post texts (`trend_core.text.post_document`); only the
sentence method reads them. Nothing is ever downloaded.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from trend_core.config import TextConfig
from trend_core.text import CLEANING_VERSION
from trend_core.weights import WeightsMissing, file_weights_id

__all__ = ["TextEmbedder", "TfidfSvdText", "Word2VecText", "SentenceText", "TEXT_EMBEDDERS",
           "SENTENCE_MODEL_ENV", "make_text_embedder", "text_method_status", "resolve_sentence_model",
           "identity_analyzer", "stable_word_hash"]

SENTENCE_MODEL_ENV = "TREND_SENTENCE_MODEL"  # a folder saved by SentenceTransformer.save()
SENTENCE_BATCH = 64

TokenLists = Sequence[Sequence[str]]


class TextEmbedder(Protocol):
    """What the pipeline calls, whatever the method."""

    name: str
    version: str

    @property
    def weights_id(self) -> str: ...

    def fit(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> "TextEmbedder": ...

    def transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray: ...

    def fit_transform(self, token_lists: TokenLists,
                      documents: Sequence[str] | None = None) -> np.ndarray: ...


def identity_analyzer(tokens: Sequence[str]) -> list[str]:
    """Tokens are already cut (jieba); TF-IDF uses them as they are."""
    return list(tokens)


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit L2 norm; all-zero rows stay zero."""
    return normalize(np.asarray(X, dtype=np.float64)).astype(np.float32)


class TfidfSvdText:
    """TF-IDF (sublinear tf) over token lists -> TruncatedSVD -> L2-normalised rows.

    The SVD size is cfg.svd_dim clamped to (vocabulary size - 1) and (documents - 1); with fewer than
    two usable terms the normalised TF-IDF itself is the output. Posts without tokens (or with only
    out-of-vocabulary tokens) get a zero vector. `dim_` is the output width after fit.
    """

    name = "tfidf"
    version = f"1+clean{CLEANING_VERSION}"  # the cleaning changes tokens and texts: part of the key
    weights_id = "none"  # fitted on the corpus itself

    def __init__(self, cfg: TextConfig | None = None, random_state: int = 0):
        self.cfg = cfg
        self.random_state = random_state

    def fit(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> "TfidfSvdText":
        """Learn vocabulary, IDF and SVD from the token lists (documents are not used)."""
        cfg = self.cfg or TextConfig()
        docs = [list(t) for t in token_lists]
        self.vectorizer_ = TfidfVectorizer(analyzer=identity_analyzer, min_df=cfg.min_df,
                                           max_features=cfg.max_features, sublinear_tf=True)
        try:
            tfidf = self.vectorizer_.fit_transform(docs)
        except ValueError:  # empty vocabulary (no tokens, or none frequent enough)
            self.vectorizer_ = None
            self.svd_, self.dim_, self.vocabulary_size_ = None, 0, 0
            return self
        self.vocabulary_size_ = len(self.vectorizer_.vocabulary_)
        n_components = min(cfg.svd_dim, self.vocabulary_size_ - 1, len(docs) - 1)
        if n_components < 1:
            self.svd_, self.dim_ = None, self.vocabulary_size_
            return self
        self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.random_state).fit(tfidf)
        self.dim_ = n_components
        return self

    def transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        """(n, dim_) float32; all-zero rows for posts with no known tokens."""
        docs = [list(t) for t in token_lists]
        if self.vectorizer_ is None:
            return np.zeros((len(docs), 0), dtype=np.float32)
        tfidf = self.vectorizer_.transform(docs)
        out = self.svd_.transform(tfidf) if self.svd_ is not None else tfidf.toarray()
        return _unit_rows(out)

    def fit_transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        docs = [list(t) for t in token_lists]
        return self.fit(docs).transform(docs)


# -- word2vec ------------------------------------------------------------------------------------
def stable_word_hash(text: str) -> int:
    """CRC-32 of the UTF-8 text, Word2Vec's `hashfxn` instead of Python's per-process salted str hash.
    gensim 4 draws initial vectors from `seed` alone (hashfxn only serves its deprecated
    seeded_vector), gensim 3 seeded each word's vector with hashfxn; either way training is the same
    in every process."""
    return zlib.crc32(text.encode("utf-8"))


class Word2VecText:
    """gensim Word2Vec (skip-gram, negative sampling) trained on the posts' token lists. A post is the
    IDF-weighted mean of its words' vectors (sublinear tf x smoothed idf, as TfidfVectorizer computes
    them) with the corpus' common direction removed (the first singular vector of the training posts'
    means, as in SIF, Arora et al. 2017: without it every pair of posts has cosine ~1 on a small
    corpus), L2-normalised. Words seen fewer than cfg.min_df times are left out of the vocabulary;
    posts without a known word get zeros. Deterministic for a random_state (one worker, stable word
    hash). `dim_` = cfg.w2v_dim after fit."""

    name = "word2vec"
    version = f"1+clean{CLEANING_VERSION}"  # the cleaning changes tokens and texts: part of the key
    weights_id = "none"  # trained on the corpus itself

    def __init__(self, cfg: TextConfig | None = None, random_state: int = 0):
        self.cfg = cfg
        self.random_state = random_state

    def fit(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> "Word2VecText":
        """Train word vectors and the IDF weights on the token lists (documents are not used)."""
        from gensim.models import Word2Vec  # noqa: PLC0415 (gensim loads in ~1 s; only this method needs it)

        cfg = self.cfg or TextConfig()
        docs = [list(t) for t in token_lists]
        self.dim_ = int(cfg.w2v_dim)
        model = Word2Vec(vector_size=self.dim_, window=cfg.w2v_window, min_count=max(1, cfg.min_df),
                         sg=1, negative=5, seed=self.random_state, workers=1,
                         hashfxn=stable_word_hash, max_final_vocab=cfg.max_features)
        model.build_vocab(docs)
        self.wv_, self.vectorizer_, self.common_ = None, None, None
        if len(model.wv) == 0:
            return self
        model.train(docs, total_examples=len(docs), epochs=cfg.w2v_epochs)
        self.wv_ = model.wv
        self.vectorizer_ = TfidfVectorizer(analyzer=identity_analyzer, vocabulary=self.wv_.key_to_index,
                                           sublinear_tf=True, norm=None).fit(docs)
        self.common_ = _common_direction(self._weighted_means(docs))
        return self

    def _weighted_means(self, docs: list[list[str]]) -> np.ndarray:
        """Unit-norm IDF-weighted means of the posts' word vectors (float64, zero rows when none known)."""
        weights = self.vectorizer_.transform(docs)  # (n, V) sparse, columns in the model's word order
        return normalize(np.asarray(weights @ self.wv_.vectors, dtype=np.float64))

    def transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        """(n, dim_) float32: weighted means minus the common direction, L2-normalised (zeros for
        posts without a known word)."""
        docs = [list(t) for t in token_lists]
        if self.wv_ is None:
            return np.zeros((len(docs), self.dim_), dtype=np.float32)
        means = self._weighted_means(docs)
        if self.common_ is not None:
            means -= np.outer(means @ self.common_, self.common_)
        return _unit_rows(means)

    def fit_transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        docs = [list(t) for t in token_lists]
        return self.fit(docs).transform(docs)

    def similar_words(self, word: str, n: int = 10) -> list[tuple[str, float]]:
        """The n words nearest `word` (cosine) with their similarity; [] for an unknown word."""
        word = word.strip().lower()
        if self.wv_ is None or word not in self.wv_.key_to_index or n <= 0:
            return []
        return [(w, float(s)) for w, s in self.wv_.most_similar(word, topn=n)]


def _common_direction(means: np.ndarray) -> np.ndarray | None:
    """First right singular vector of the non-zero rows (None with fewer than two such rows)."""
    rows = means[np.abs(means).sum(axis=1) > 0]
    if len(rows) < 2:
        return None
    return np.linalg.svd(rows, full_matrices=False)[2][0]


# -- sentence-transformers -----------------------------------------------------------------------
def _has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _repo_ids(model: str) -> list[str]:
    """Hub ids a sentence-transformers name may be cached under ('x' -> also 'sentence-transformers/x')."""
    return [model] if "/" in model else [f"sentence-transformers/{model}", model]


def _hub_cache_dirs() -> list[str | None]:
    """Caches to look in: $SENTENCE_TRANSFORMERS_HOME (older releases) and the Hugging Face hub cache."""
    legacy = os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    return ([legacy] if legacy else []) + [None]  # None: huggingface_hub's own cache (HF_HUB_CACHE)


def _cached_snapshot(model: str) -> Path | None:
    """The model's snapshot folder in a local Hugging Face cache, never touching the network."""
    if not _has_package("huggingface_hub"):
        return None
    from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415

    for cache_dir in _hub_cache_dirs():
        for repo_id in _repo_ids(model):
            for filename in ("modules.json", "config.json"):
                found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
                if isinstance(found, str):
                    return Path(found).parent
    return None


def _looks_like_model(folder: Path) -> bool:
    return folder.is_dir() and any((folder / f).is_file() for f in ("modules.json", "config.json"))


def _sentence_missing(model: str, looked_at: list[str], reason: str = "not found locally") -> WeightsMissing:
    folder = f"/path/to/{model.rsplit('/', 1)[-1]}"
    return WeightsMissing(
        f"sentence-transformers model {model!r} {reason} (looked at: {', '.join(looked_at)}); weights "
        "are never downloaded at run time.\n"
        "To get them: on a connected machine (pip install sentence-transformers) run\n"
        f"    python -c \"from sentence_transformers import SentenceTransformer; "
        f"SentenceTransformer('{model}').save('{folder}')\"\n"
        f"then copy that folder to this machine and point {SENTENCE_MODEL_ENV} at it:\n"
        f"    export {SENTENCE_MODEL_ENV}={folder}")


def _locate_sentence_model(cfg: TextConfig | None) -> tuple[Path, bool]:
    """(model folder, whether it is a Hugging Face cache snapshot); see resolve_sentence_model."""
    model = (cfg or TextConfig()).sentence_model
    if not _has_package("sentence_transformers"):
        raise _sentence_missing(model, ["python package sentence_transformers"],
                                "cannot be used: the package sentence-transformers is not installed")
    explicit = os.environ.get(SENTENCE_MODEL_ENV) or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if not _looks_like_model(folder):
            raise _sentence_missing(model, [f"${SENTENCE_MODEL_ENV}={folder} (no saved model there)"])
        return folder, False
    if _looks_like_model(Path(model).expanduser()):
        return Path(model).expanduser(), False
    snapshot = _cached_snapshot(model)
    if snapshot is None:
        raise _sentence_missing(model, [f"${SENTENCE_MODEL_ENV} (unset)",
                                        "Hugging Face cache: " + " / ".join(_repo_ids(model))])
    return snapshot, True


def resolve_sentence_model(cfg: TextConfig | None = None) -> tuple[Path, str]:
    """(model folder, weights_id) found locally: $TREND_SENTENCE_MODEL, else cfg.sentence_model when it
    is a folder, else the Hugging Face cache (local files only). weights_id is 'hf:<commit[:12]>' for a
    cache snapshot, else 'dir:<hash of the folder's files>'. Raises WeightsMissing with how to get the
    weights when the package or the model is absent."""
    folder, in_cache = _locate_sentence_model(cfg)
    # a cache snapshot folder is named by its commit hash
    return folder, (f"hf:{folder.name[:12]}" if in_cache else _folder_weights_id(folder))


def _folder_weights_id(folder: Path) -> str:
    """'dir:<sha12>' of every file's relative path and content hash (hashes cached per file)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(folder).as_posix()}={file_weights_id(path)}\n".encode())
    return "dir:" + h.hexdigest()[:12]


class SentenceText:
    """A sentence-transformers model (cfg.sentence_model, local files only, see resolve_sentence_model)
    encoding each post's cleaned text (trend_core.text.clean_text of the document); rows L2-normalised,
    zeros for blank posts. Nothing is learnt from the corpus: fit loads the model."""

    name = "sentence"
    version = f"1+clean{CLEANING_VERSION}"  # the cleaning changes tokens and texts: part of the key

    def __init__(self, cfg: TextConfig | None = None, random_state: int = 0, device: str | None = None):
        self.cfg = cfg
        self.random_state = random_state
        self.device = device

    @property
    def weights_id(self) -> str:
        """Identifies the model files; raises WeightsMissing when they are not here."""
        return resolve_sentence_model(self.cfg)[1]

    def fit(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> "SentenceText":
        """Load the model from local files (tokens and documents are not used)."""
        folder, self.weights_id_ = resolve_sentence_model(self.cfg)
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 (optional, slow import)

        from trend_core.device import pick_device  # noqa: PLC0415 (imports torch)

        self.model_ = SentenceTransformer(str(folder), device=str(pick_device(self.device)),
                                          local_files_only=True)
        self.dim_ = int(_embedding_dimension(self.model_))
        return self

    def transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        """(n, dim_) float32 embeddings of the cleaned documents."""
        from trend_core.text import clean_text  # noqa: PLC0415

        if documents is None:
            raise ValueError("SentenceText encodes the post texts: pass documents")
        texts = [clean_text(d) for d in documents]
        out = np.zeros((len(texts), self.dim_), dtype=np.float32)
        filled = [i for i, t in enumerate(texts) if t]
        if filled:
            encoded = self.model_.encode([texts[i] for i in filled], batch_size=SENTENCE_BATCH,
                                         show_progress_bar=False, convert_to_numpy=True,
                                         normalize_embeddings=True)
            out[filled] = np.asarray(encoded, dtype=np.float32)
        return out

    def fit_transform(self, token_lists: TokenLists, documents: Sequence[str] | None = None) -> np.ndarray:
        return self.fit(token_lists, documents).transform(token_lists, documents)


def _embedding_dimension(model: Any) -> int:
    """Output width of a SentenceTransformer (the method was renamed in sentence-transformers 6)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


# -- registry ------------------------------------------------------------------------------------
TEXT_EMBEDDERS: dict[str, type] = {"tfidf": TfidfSvdText, "word2vec": Word2VecText, "sentence": SentenceText}


def make_text_embedder(cfg: TextConfig | None = None, random_state: int = 0) -> TextEmbedder:
    """The embedder for cfg.method (unfitted). Raises ValueError for an unknown method."""
    cfg = cfg or TextConfig()
    if cfg.method not in TEXT_EMBEDDERS:
        raise ValueError(f"unknown text method {cfg.method!r}; choose from {sorted(TEXT_EMBEDDERS)}")
    return TEXT_EMBEDDERS[cfg.method](cfg, random_state=random_state)


def text_method_status(method: str, cfg: TextConfig | None = None) -> str | None:
    """None when `method` can run on this machine, else a one-line reason (for the UI)."""
    if method not in TEXT_EMBEDDERS:
        return f"unknown text method {method!r}; choose from {sorted(TEXT_EMBEDDERS)}"
    if method == "word2vec" and not _has_package("gensim"):
        return "the package gensim is not installed (pip install gensim)"
    if method == "sentence":
        try:
            _locate_sentence_model(cfg)  # no hashing: the UI asks often
        except WeightsMissing as exc:
            return f"{str(exc).splitlines()[0]} Set {SENTENCE_MODEL_ENV} to a saved model folder."
    return None
