"""Text embedding: TF-IDF over pre-tokenised posts reduced by truncated SVD (LSA), rows L2-normalised."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from trend_core.config import TextConfig

__all__ = ["TfidfSvdText", "identity_analyzer"]


def identity_analyzer(tokens: Sequence[str]) -> list[str]:
    """Tokens are already cut (jieba); TF-IDF uses them as they are."""
    return list(tokens)


class TfidfSvdText:
    """TF-IDF (sublinear tf) over token lists -> TruncatedSVD -> L2-normalised rows.

    The SVD size is cfg.svd_dim clamped to (vocabulary size - 1) and (documents - 1); with fewer than
    two usable terms the normalised TF-IDF itself is the output. Posts without tokens (or with only
    out-of-vocabulary tokens) get a zero vector. `dim_` is the output width after fit.
    """

    def __init__(self, cfg: TextConfig | None = None, random_state: int = 0):
        self.cfg = cfg
        self.random_state = random_state

    def fit(self, token_lists: Sequence[Sequence[str]]) -> "TfidfSvdText":
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

    def transform(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """(n, dim_) float32; all-zero rows for posts with no known tokens."""
        docs = [list(t) for t in token_lists]
        if self.vectorizer_ is None:
            return np.zeros((len(docs), 0), dtype=np.float32)
        tfidf = self.vectorizer_.transform(docs)
        out = self.svd_.transform(tfidf) if self.svd_ is not None else tfidf.toarray()
        return normalize(np.asarray(out, dtype=np.float64)).astype(np.float32)

    def fit_transform(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        docs = [list(t) for t in token_lists]
        return self.fit(docs).transform(docs)
