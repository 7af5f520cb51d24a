"""Search posts by a Chinese or English text query: by text embedding, and by image when the images
were embedded with a joint image-text model (CLIP).

Text: the pipeline stores each post's tokens and text vectors, not the fitted model, so
`build_text_search` refits the configured text method (same config, same seed) on the stored tokens
and documents rebuilt from the posts; TF-IDF + SVD and word2vec are deterministic, so the refit
reproduces the stored matrix, which is checked (`IndexMismatch` when it does not). A query is
tokenised like the posts (`trend_core.text.tokenize`), English words the posts never use are looked
up in a small fashion glossary (floral -> 碎花), embedded, and ranked by cosine similarity (plain dot
products: every stored row is unit length or zero). A query without a known word gives an empty
result and the reason, never an error.

Image: with the `clip` encoder, the query is encoded by `ClipEmbedder.encode_text` and ranked by
cosine against the stored CLIP image vectors of the full photo (else of the masked clothing).
"""
from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from trend_core.config import TextConfig
from trend_core.embed.text import TextEmbedder, make_text_embedder
from trend_core.image_stages import image_set_key
from trend_core.store import post_keys
from trend_core.text import clean_text, load_stopwords, post_document, tokenize

if TYPE_CHECKING:
    from trend_core.pipeline import StylesView
    from trend_core.store import Store

__all__ = ["ENGLISH_GLOSSARY", "RESULT_COLUMNS", "IndexMismatch", "SearchUnavailable", "QueryTerms", "Hits",
           "SearchResult", "TextSearch", "ImageSearch", "build_text_search", "build_image_search",
           "image_search_status", "results_frame", "search"]

RESULT_COLUMNS = ["post_id", "score", "style", "style_name", "title", "content", "image_hash", "matched_by"]
CONTENT_CHARS = 80        # result content is cut to this many characters
MIN_SCORE = 1e-6          # posts with no positive similarity are never results
VERIFY_SAMPLE = 16        # rows re-encoded to check a pretrained (sentence) model against the stored matrix
CORPUS_METHODS = ("tfidf", "word2vec")  # methods fitted on the corpus: every row is checked
TOLERANCE = {"tfidf": 1e-4, "word2vec": 1e-4}  # max |refit - stored|; others (GPU models) 1e-3
NO_WORDS = "the query has no searchable words (only stopwords, punctuation or numbers)"
NO_MATCH = "none of these words occur in the posts"
NO_SIMILAR = "no post is similar to the query"
NEEDS_CLIP = ("image search needs a joint image-text model (CLIP): choose the clip image encoder on the "
              "Styles page and compute styles; its weights must be on this machine ($TREND_CLIP_WEIGHTS or "
              "the Hugging Face cache, see the README)")

# English fashion words -> the Chinese words posts use (only those the posts contain are searched).
ENGLISH_GLOSSARY: dict[str, tuple[str, ...]] = {
    "floral": ("碎花",), "flower": ("碎花",), "flowery": ("碎花",), "dress": ("连衣裙", "裙子"),
    "skirt": ("半身裙", "裙子"), "pleated": ("百褶裙",), "plaid": ("格纹", "格子裙"), "tartan": ("格纹",),
    "check": ("格纹", "格子裙"), "checked": ("格纹", "格子裙"), "preppy": ("学院风",), "college": ("学院风",),
    "school": ("学院风",), "uniform": ("制服",), "jeans": ("牛仔裤",), "denim": ("牛仔", "牛仔裤"),
    "tee": ("t恤",), "tshirt": ("t恤",), "casual": ("休闲",), "blazer": ("西装外套", "西装"),
    "suit": ("西装",), "office": ("通勤", "职场"), "commute": ("通勤",), "commuting": ("通勤",),
    "workwear": ("通勤", "职场"), "trousers": ("西裤", "裤子"), "pants": ("裤子", "运动裤"),
    "hoodie": ("卫衣", "帽衫"), "sweatshirt": ("卫衣",), "cargo": ("工装裤",), "street": ("街头",),
    "streetwear": ("街头", "街头风"), "oversized": ("oversize",), "qipao": ("旗袍",), "cheongsam": ("旗袍",),
    "chinese": ("新中式", "国风"), "sporty": ("运动风",), "sport": ("运动风",), "athleisure": ("运动风",),
    "tracksuit": ("运动套装",), "gym": ("健身",), "fitness": ("健身",), "running": ("跑步",),
    "stripe": ("条纹", "条纹衫"), "striped": ("条纹", "条纹衫"), "breton": ("海魂衫", "条纹衫"),
    "french": ("法式",), "paris": ("巴黎",), "parisian": ("巴黎",), "beret": ("贝雷帽",),
    "knit": ("针织", "针织衫"), "knitted": ("针织", "针织衫"), "sweater": ("毛衣", "针织衫"),
    "cardigan": ("开衫",), "vintage": ("复古",), "retro": ("复古",), "summer": ("夏天", "夏日"),
    "winter": ("冬天",), "spring": ("春天",), "autumn": ("秋天",), "elegant": ("优雅",),
    "gentle": ("温柔",), "sweet": ("甜美",), "romantic": ("浪漫",), "minimalist": ("简约",),
    "minimal": ("简约",), "coat": ("大衣", "外套"), "jacket": ("外套", "夹克"), "shirt": ("衬衫",),
    "vacation": ("度假",), "holiday": ("度假",), "beach": ("海边",), "outfit": ("穿搭",),
    "dot": ("波点",), "polka": ("波点",), "slimming": ("显瘦",),
}
_TSHIRT_RE = re.compile(r"\bt[\s-]?shirt", re.IGNORECASE)


class IndexMismatch(RuntimeError):
    """The refitted text method does not reproduce the stored post vectors."""


class SearchUnavailable(ValueError):
    """This kind of search cannot run for the current posts and settings (the message says why)."""


@dataclass(frozen=True)
class QueryTerms:
    """How a query was read: its tokens, those searched (after the glossary), those unknown to the posts."""

    tokens: tuple[str, ...] = ()
    used: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    translated: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Hits:
    """Best posts for a query, best first; empty with a reason when nothing could be searched."""

    post_ids: np.ndarray
    scores: np.ndarray
    matched_by: str
    reason: str | None = None
    terms: QueryTerms = field(default_factory=QueryTerms)

    @classmethod
    def empty(cls, matched_by: str, reason: str, terms: QueryTerms | None = None) -> "Hits":
        return cls(np.array([], dtype=str), np.array([], dtype=np.float32), matched_by, reason,
                   terms or QueryTerms())


@dataclass(frozen=True)
class SearchResult:
    """Result rows (RESULT_COLUMNS) and, when there are none, why."""

    frame: pd.DataFrame
    reason: str | None
    terms: QueryTerms
    matched_by: str


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest positive scores, best first (ties: lower index first)."""
    candidates = np.flatnonzero(scores > MIN_SCORE)
    if n <= 0 or candidates.size == 0:
        return np.array([], dtype=np.int64)
    if candidates.size > n:
        candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def _vocabulary(embedder: TextEmbedder) -> Container[str] | None:
    """Words the fitted method knows; None for a pretrained model (any text can be encoded)."""
    if embedder.name == "tfidf":
        vectorizer = getattr(embedder, "vectorizer_", None)
        return vectorizer.vocabulary_ if vectorizer is not None else {}
    if embedder.name == "word2vec":
        wv = getattr(embedder, "wv_", None)
        return wv.key_to_index if wv is not None else {}
    return None


def _glossary_words(token: str) -> tuple[str, ...]:
    """Glossary entry of an English token, trying its singular ('dresses' -> 'dress')."""
    for form in (token, token[:-2] if token.endswith("es") else "", token[:-1] if token.endswith("s") else ""):
        if form in ENGLISH_GLOSSARY:
            return ENGLISH_GLOSSARY[form]
    return ()


def read_query(query: str | None, vocabulary: Container[str] | None) -> QueryTerms:
    """Tokenise like the posts; keep the known tokens, replacing unknown English ones through the
    glossary when the posts use its words."""
    tokens = tuple(tokenize(_TSHIRT_RE.sub("tshirt", query or ""), load_stopwords()))
    if vocabulary is None:
        return QueryTerms(tokens, tokens)
    used: list[str] = []
    unknown: list[str] = []
    translated: dict[str, tuple[str, ...]] = {}
    for token in tokens:
        if token in vocabulary:
            used.append(token)
            continue
        words = tuple(w for w in _glossary_words(token) if w in vocabulary)
        if words:
            translated[token] = words
            used.extend(words)
        else:
            unknown.append(token)
    return QueryTerms(tokens, tuple(dict.fromkeys(used)), tuple(unknown), translated)


def _verify(embedder: TextEmbedder, token_lists: list[list[str]], documents: list[str],
            matrix: np.ndarray, method: str) -> None:
    """Raise IndexMismatch unless the refitted method gives the stored vectors (all rows of a
    corpus-fitted method, a sample for a pretrained model)."""
    n_rows = len(token_lists) if method in CORPUS_METHODS else min(VERIFY_SAMPLE, len(token_lists))
    rows = np.arange(n_rows)
    refit = embedder.transform([token_lists[i] for i in rows], [documents[i] for i in rows])
    stored = matrix[rows]
    if refit.shape != stored.shape:
        raise IndexMismatch(f"refitting the text method {method!r} gave vectors of shape {refit.shape}, the "
                            f"stored ones are {stored.shape}: recompute styles on the Styles page")
    gap = float(np.abs(refit - stored).max()) if stored.size else 0.0
    if gap > TOLERANCE.get(method, 1e-3):
        raise IndexMismatch(f"refitting the text method {method!r} did not reproduce the stored post vectors "
                            f"(largest difference {gap:.2g}): recompute styles on the Styles page")


class TextSearch:
    """Text-embedding search over the posts of one text artifact (see the module doc)."""

    matched_by = "text"

    def __init__(self, config: TextConfig | None = None, random_state: int = 0) -> None:
        self.config = config
        self.random_state = random_state

    def fit(self, post_ids: Sequence[str], token_lists: Sequence[Sequence[str]], documents: Sequence[str],
            matrix: np.ndarray) -> "TextSearch":
        """Refit the text method on the stored tokens / documents and check it reproduces `matrix`."""
        cfg = self.config or TextConfig()
        tokens = [list(t) for t in token_lists]
        docs = [str(d) for d in documents]
        matrix = np.asarray(matrix, dtype=np.float32)
        embedder = make_text_embedder(cfg, random_state=self.random_state).fit(tokens, docs)
        _verify(embedder, tokens, docs, matrix, cfg.method)
        self.embedder_ = embedder
        self.vocabulary_ = _vocabulary(embedder)
        self.post_ids_ = np.asarray(post_ids, dtype=str)
        self.matrix_ = matrix
        return self

    def describe(self) -> str:
        """One line on what the search uses (for the page)."""
        method = (self.config or TextConfig()).method
        words = f", {len(self.vocabulary_):,} indexed words" if self.vocabulary_ is not None else ""
        return (f"text embedding '{method}' of {len(self.post_ids_):,} posts{words}, refitted from the stored "
                "tokens; cosine similarity to the query")

    def search(self, query: str | None, n: int = 10) -> Hits:
        """The n posts nearest the query's text vector; empty with a reason when nothing is searchable."""
        terms = read_query(query, self.vocabulary_)
        if self.vocabulary_ is None and not clean_text(query):
            return Hits.empty(self.matched_by, NO_WORDS, terms)
        if self.vocabulary_ is not None and not terms.used:
            reason = f"{NO_MATCH}: {', '.join(terms.unknown)}" if terms.unknown else NO_WORDS
            return Hits.empty(self.matched_by, reason, terms)
        vector = self.embedder_.transform([list(terms.used)], [query])[0]
        if not np.any(vector):
            return Hits.empty(self.matched_by, NO_MATCH, terms)
        return _ranked(self.matrix_ @ vector, self.post_ids_, n, self.matched_by, terms)


def _ranked(scores: np.ndarray, post_ids: np.ndarray, n: int, matched_by: str, terms: QueryTerms) -> Hits:
    order = top_n(scores, n)
    if order.size == 0:
        return Hits.empty(matched_by, NO_SIMILAR, terms)
    return Hits(post_ids[order], scores[order].astype(np.float32), matched_by, None, terms)


class TextEncoder(Protocol):
    """What image search needs of a joint image-text model (ClipEmbedder)."""

    dim: int

    def encode_text(self, texts: list[str]) -> np.ndarray: ...


class ImageSearch:
    """Rank posts by the cosine between the query's CLIP text vector and their CLIP image vector."""

    matched_by = "image"

    def __init__(self, encoder: TextEncoder, source: str = "full photo") -> None:
        self.encoder = encoder
        self.source = source

    def fit(self, post_ids: Sequence[str], matrix: np.ndarray) -> "ImageSearch":
        """Keep the posts' image vectors (rows L2-normalised here)."""
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.encoder.dim:
            raise SearchUnavailable(f"the stored image vectors have shape {matrix.shape}, the text encoder gives "
                                    f"{self.encoder.dim} dims: recompute styles with the clip encoder")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix_ = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        self.post_ids_ = np.asarray(post_ids, dtype=str)
        return self

    def describe(self) -> str:
        model = getattr(self.encoder, "weights_id", "CLIP")
        return (f"CLIP ({model}) text embedding of the query against the image vectors of the {self.source} "
                f"of {len(self.post_ids_):,} posts; cosine similarity")

    def search(self, query: str | None, n: int = 10) -> Hits:
        """The n posts whose image is nearest the query text in CLIP space."""
        text = clean_text(query)
        terms = QueryTerms((text,) if text else (), (text,) if text else ())
        if not text:
            return Hits.empty(self.matched_by, NO_WORDS, terms)
        vector = self.encoder.encode_text([text])[0]
        return _ranked(self.matrix_ @ vector, self.post_ids_, n, self.matched_by, terms)


# -- building indexes from the store -----------------------------------------------------------------
def build_text_search(store: Store, view: StylesView) -> TextSearch:
    """The text index of the view's text artifact. Raises SearchUnavailable when text features were
    never computed and IndexMismatch when the refit does not reproduce them."""
    stored = store.get_artifact(view.keys.text)
    if stored is None:
        raise SearchUnavailable("text features have not been computed for these posts: compute styles first")
    arrays = stored[0]
    post_ids = arrays["post_ids"].astype(str)  # the text artifact has one row per post
    first_looks = view.posts.assign(_post=post_keys(view.posts).astype(str)).drop_duplicates("_post")
    posts = first_looks.set_index("_post").reindex(post_ids)
    docs = [post_document(t, c, g) for t, c, g in zip(posts["title"], posts["content"], posts["tags"])]
    tokens = [str(t).split() for t in arrays["tokens"]]
    # a hit names the post's first look (its first image), the row the result table shows
    return TextSearch(view.config.text).fit(posts["post_id"].astype(str).to_numpy(), tokens, docs, arrays["matrix"])


def _post_image_vectors(store: Store, view: StylesView) -> tuple[str, np.ndarray, np.ndarray]:
    """(source, post ids, vectors) of the first CLIP image set stored for the posts: full photo, else
    masked clothing. Raises SearchUnavailable when neither is there."""
    posts = view.posts[view.posts["image_hash"].notna()]
    hashes = [str(h) for h in posts["image_hash"]]
    for masked, source in ((False, "full photo"), (True, "masked clothing")):
        vectors = store.load_image_vectors(hashes, image_set_key(view.config, masked))
        if vectors:
            ids = [str(p) for p, h in zip(posts["post_id"], hashes) if h in vectors]
            return source, np.array(ids, dtype=str), np.stack([vectors[h] for h in hashes if h in vectors])
    raise SearchUnavailable("the CLIP image vectors of these posts have not been computed yet: compute styles "
                            "on the Styles page with the clip encoder and an image feature (image or mask)")


def image_search_status(view: StylesView) -> str | None:
    """None when the settings use a joint image-text model (CLIP), else why image search cannot run
    and how to enable it. Stored vectors are checked by build_image_search."""
    return None if view.config.image.encoder == "clip" else NEEDS_CLIP


def build_image_search(store: Store, view: StylesView, encoder: TextEncoder | None = None) -> ImageSearch:
    """The CLIP image index of the view's posts; raises SearchUnavailable with the reason (not CLIP,
    vectors not computed, weights missing). `encoder` defaults to the configured ClipEmbedder."""
    problem = image_search_status(view)
    if problem:
        raise SearchUnavailable(problem)
    if encoder is None:
        from trend_core.embed.image import get_embedder
        from trend_core.weights import WeightsMissing

        encoder = get_embedder("clip", size=view.config.image.size)
        try:
            encoder.check()  # type: ignore[attr-defined]
        except (WeightsMissing, ValueError) as exc:
            raise SearchUnavailable(str(exc).splitlines()[0]) from exc
    source, post_ids, matrix = _post_image_vectors(store, view)
    return ImageSearch(encoder, source).fit(post_ids, matrix)


# -- results -----------------------------------------------------------------------------------------
def _truncate(text: object, chars: int) -> str:
    value = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    return value if len(value) <= chars else value[:chars - 1] + "…"


def results_frame(posts: pd.DataFrame, hits: Hits, content_chars: int = CONTENT_CHARS) -> pd.DataFrame:
    """RESULT_COLUMNS for the hits, best first; `posts` is a styles view's posts (style, style_name)."""
    if len(hits.post_ids) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "score" else object) for c in RESULT_COLUMNS})
    rows = posts.assign(post_id=posts["post_id"].astype(str)).set_index("post_id").reindex(hits.post_ids)
    style = rows["style"] if "style" in rows else pd.Series(-1, index=rows.index)
    names = rows["style_name"] if "style_name" in rows else pd.Series("", index=rows.index)
    return pd.DataFrame({
        "post_id": hits.post_ids.astype(str), "score": hits.scores.astype(float),
        "style": style.fillna(-1).astype(int).to_numpy(), "style_name": names.fillna("").astype(str).to_numpy(),
        "title": [_truncate(t, content_chars) for t in rows["title"]],
        "content": [_truncate(c, content_chars) for c in rows["content"]],
        "image_hash": [h if isinstance(h, str) and h else None for h in rows["image_hash"]],
        "matched_by": hits.matched_by})


def search(posts: pd.DataFrame, index: TextSearch | ImageSearch, query: str, n: int = 10) -> SearchResult:
    """Run `query` on a text or image index and describe the best n posts."""
    hits = index.search(query, n)
    return SearchResult(results_frame(posts, hits), hits.reason, hits.terms, hits.matched_by)
