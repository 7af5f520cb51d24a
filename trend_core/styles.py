"""Styles: reduce fused vectors with UMAP, sweep K (silhouette ...), fit K-means, describe clusters."""
from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, pairwise_distances
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from trend_core.config import StyleConfig
from trend_core.text import rank_phrases

__all__ = ["reduce", "sweep_k", "choose_k", "fit_styles", "describe_styles", "class_tfidf",
           "SWEEP_COLUMNS", "DESCRIBE_COLUMNS", "UMAP_METRIC", "MAX_K"]

SWEEP_COLUMNS = ["k", "silhouette", "silhouette_std", "calinski_harabasz", "davies_bouldin", "seconds"]
DESCRIBE_COLUMNS = ["style", "size", "keywords", "exemplars", "phrases"]
UMAP_METRIC = "euclidean"   # fused blocks are standardised, so euclidean distances are meaningful
MAX_K = 200                 # the largest K a sweep may try
MINIBATCH_ABOVE = 20000     # K-means switches to MiniBatchKMeans above this many points
SWEEP_FIT_SAMPLE = 20000    # above this many points the sweep fits each K on a fixed sample and labels the rest
_PRECOMPUTE_BELOW = 4000    # silhouette samples up to this size share one distance matrix across K
_EXACT_KNN_BELOW = 20000    # exact (BLAS, chunked) neighbours below this many points, NN-descent above


def _umap(n_neighbors: int, n_components: int, min_dist: float, seed: int, knn=None):
    import umap  # imported lazily: numba start-up is slow and only this stage needs it

    kwargs = {} if knn is None else {"precomputed_knn": knn}
    return umap.UMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=min_dist,
                     metric=UMAP_METRIC, random_state=seed, n_jobs=1, **kwargs)


def _shared_knn(X: np.ndarray, n_neighbors: int, seed: int) -> tuple:
    """Neighbours (indices, distances, each point first) computed once for both UMAP fits: exact with
    sklearn below _EXACT_KNN_BELOW points (umap's own exact path calls a Python metric per pair),
    NN-descent above."""
    if len(X) < _EXACT_KNN_BELOW:
        dist, idx = NearestNeighbors(n_neighbors=n_neighbors, metric=UMAP_METRIC).fit(X).kneighbors(X)
        return idx.astype(np.int32), dist.astype(np.float32)
    from umap.umap_ import nearest_neighbors

    idx, dist, index = nearest_neighbors(X, n_neighbors, UMAP_METRIC, {}, False,
                                         np.random.RandomState(seed))
    return idx, dist, index


def _pca_fallback(X: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """Tiny inputs: PCA (padded with zero columns) instead of UMAP."""
    n, d = X.shape
    k = max(0, min(n_components, n, d))
    Z = PCA(n_components=k, random_state=seed).fit_transform(X) if k else np.zeros((n, 0))
    return np.pad(Z, ((0, 0), (0, n_components - Z.shape[1])))


def distinct_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows of X in order of first appearance, index of each row of X in them)."""
    if len(X) == 0:
        return X, np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return X[first[order]], rank[np.ravel(inverse)]


def reduce(X: np.ndarray, cfg: StyleConfig) -> tuple[np.ndarray, np.ndarray]:
    """UMAP (euclidean, min_dist 0, random_state cfg.seed) to cfg.n_components dims for clustering,
    and a second UMAP to 2 dims (min_dist 0.1) for the map. n_neighbors is clamped to n - 1; inputs
    with fewer than 10 rows use PCA instead. Repeated rows (the images of a post without image
    features) are reduced once and share their place. Both float32."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float32))
    distinct, rows = distinct_rows(X)
    if len(distinct) < len(X):  # the looks of one post often share their vector: reduce each vector once
        Z, map2d = reduce(distinct, cfg)
        return Z[rows], map2d[rows]
    n = X.shape[0]
    if n < 10 or X.shape[1] == 0:
        return (_pca_fallback(X, cfg.n_components, cfg.seed).astype(np.float32),
                _pca_fallback(X, 2, cfg.seed).astype(np.float32))
    nn = int(max(2, min(cfg.n_neighbors, n - 1)))
    knn = _shared_knn(X, nn, cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns that random_state disables parallelism
        Z = _umap(nn, min(cfg.n_components, n - 2), 0.0, cfg.seed, knn).fit_transform(X)
        Z = np.pad(Z, ((0, 0), (0, cfg.n_components - Z.shape[1])))
        map2d = _umap(nn, 2, 0.1, cfg.seed, knn).fit_transform(X)
    return Z.astype(np.float32), map2d.astype(np.float32)


def _kmeans(Z: np.ndarray, k: int, seed: int, n_init: int):
    if len(Z) > MINIBATCH_ABOVE:
        return MiniBatchKMeans(n_clusters=k, n_init=n_init, random_state=seed, batch_size=2048)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def _sample_scores(Z: np.ndarray, D: np.ndarray | None, idx: np.ndarray, labels: np.ndarray
                   ) -> tuple[float, float, float]:
    """Silhouette (on the sample's precomputed distances D when given), Calinski-Harabasz and
    Davies-Bouldin on one sample."""
    lab = labels[idx]
    if not 2 <= len(np.unique(lab)) <= len(idx) - 1:
        return np.nan, np.nan, np.nan
    sil = silhouette_score(D, lab, metric="precomputed") if D is not None else silhouette_score(Z[idx], lab)
    return (float(sil),
            float(calinski_harabasz_score(Z[idx], lab)), float(davies_bouldin_score(Z[idx], lab)))


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def _sweep_labels(Z: np.ndarray, k: int, seed: int, fit_rows: np.ndarray | None) -> np.ndarray:
    """K-means labels of every point; fitted on `fit_rows` only when given (large inputs)."""
    if fit_rows is None:
        return _kmeans(Z, k, seed, n_init=3).fit_predict(Z)
    return _kmeans(Z[fit_rows], k, seed, n_init=3).fit(Z[fit_rows]).predict(Z)


def sweep_k(Z: np.ndarray, ks: Sequence[int], sample_size: int, seed: int, repeats: int = 3,
            progress: Callable[[float, str], None] | None = None) -> pd.DataFrame:
    """For every K: K-means (n_init 3, random_state seed; above SWEEP_FIT_SAMPLE points fitted on a
    fixed random sample of that size, every point then labelled by its nearest centre), then
    silhouette, Calinski-Harabasz and Davies-Bouldin on `repeats` random samples of `sample_size`
    points (different per repeat, the same samples for every K). Columns SWEEP_COLUMNS: silhouette = mean over samples, silhouette_std = their
    std (0 when the sample is the whole set, which is then scored once); `seconds` per K (fit + scores,
    the shared distance matrices counted once up front in the first K). `progress(fraction, message)`
    is called after each K."""
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    rng = np.random.default_rng(seed)
    size = int(min(sample_size, n))
    n_samples = 1 if size >= n else max(1, int(repeats))
    t0 = time.perf_counter()
    samples = [np.arange(n) if size >= n else np.sort(rng.choice(n, size=size, replace=False))
               for _ in range(n_samples)]
    dists = [pairwise_distances(Z[idx]) if size <= _PRECOMPUTE_BELOW else None for idx in samples]
    fit_rows = (None if n <= SWEEP_FIT_SAMPLE
                else np.sort(np.random.default_rng(seed + 1).choice(n, size=SWEEP_FIT_SAMPLE, replace=False)))
    shared = time.perf_counter() - t0
    rows = []
    for k in ks:
        t = time.perf_counter()
        if not 2 <= k < n:
            rows.append({"k": int(k), "silhouette": np.nan, "silhouette_std": np.nan,
                         "calinski_harabasz": np.nan, "davies_bouldin": np.nan, "seconds": 0.0})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than K
            labels = _sweep_labels(Z, int(k), seed, fit_rows)
        scores = np.array([_sample_scores(Z, D, idx, labels) for idx, D in zip(samples, dists)])
        sil = _finite(scores[:, 0])
        rows.append({"k": int(k), "silhouette": _mean(sil),
                     "silhouette_std": float(sil.std()) if len(sil) else np.nan,
                     "calinski_harabasz": _mean(_finite(scores[:, 1])),
                     "davies_bouldin": _mean(_finite(scores[:, 2])),
                     "seconds": time.perf_counter() - t + shared})
        shared = 0.0
        if progress is not None:
            progress(len(rows) / len(ks), f"K={int(k)} ({len(rows)}/{len(ks)})")
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def choose_k(sweep: pd.DataFrame, tol: float = 1e-6) -> int:
    """The K with the highest mean silhouette. Ties (within `tol`) go to the smallest K, the simpler
    model. Raises ValueError when no K has a finite silhouette."""
    valid = sweep[np.isfinite(sweep["silhouette"].to_numpy(dtype=float))]
    if valid.empty:
        raise ValueError("no K in the sweep has a finite silhouette")
    best = valid["silhouette"].max()
    return int(valid.loc[valid["silhouette"] >= best - tol, "k"].min())


def fit_styles(Z: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means (n_init 10) -> labels (n,) int64 and centres (k, d). Styles are numbered by size,
    largest first (ties by the centre's first coordinate), so the numbering is stable for a seed."""
    Z = np.asarray(Z, dtype=np.float64)
    model = _kmeans(Z, int(k), seed, n_init=10).fit(Z)
    labels, centers = model.labels_, model.cluster_centers_
    sizes = np.bincount(labels, minlength=k)
    order = np.lexsort((centers[:, 0], -sizes))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[labels].astype(np.int64), centers[order]


def class_tfidf(labels: np.ndarray, token_lists: Sequence[Sequence[str]], n_classes: int
                ) -> tuple[list[str], np.ndarray]:
    """Class-based TF-IDF (BERTopic): tf = term count in the class / tokens in the class,
    idf = log(1 + mean tokens per class / term count over all classes). Returns (vocab, scores (k, V))."""
    counts = [Counter() for _ in range(n_classes)]
    for lab, tokens in zip(labels, token_lists):
        if 0 <= lab < n_classes:
            counts[lab].update(tokens)
    vocab = sorted(set().union(*counts)) if counts else []
    if not vocab:
        return [], np.zeros((n_classes, 0))
    index = {t: i for i, t in enumerate(vocab)}
    tf = np.zeros((n_classes, len(vocab)))
    for c, counter in enumerate(counts):
        for t, v in counter.items():
            tf[c, index[t]] = v
    per_class = tf.sum(1, keepdims=True)
    idf = np.log1p(per_class.mean() / np.maximum(tf.sum(0), 1))
    return vocab, np.divide(tf, per_class, out=np.zeros_like(tf), where=per_class > 0) * idf


def _style_phrases(labels: np.ndarray, phrase_lists: Sequence[Sequence[str]] | None, k: int,
                   n_phrases: int, method: str) -> list[list[str]]:
    """Top keyphrases per style (text.rank_phrases against all posts); empty lists without candidates."""
    if phrase_lists is None:
        return [[] for _ in range(k)]
    lists = [list(p) for p in phrase_lists]
    if len(lists) != len(labels):
        raise ValueError(f"{len(lists)} phrase lists for {len(labels)} labels")
    return [rank_phrases([lists[i] for i in np.flatnonzero(labels == s)], n_phrases, method=method,
                         reference=lists) for s in range(k)]


def describe_styles(labels: np.ndarray, token_lists: Sequence[Sequence[str]], Z: np.ndarray,
                    centers: np.ndarray, post_ids: Sequence[str], top_k: int = 8,
                    n_exemplars: int = 6, phrase_lists: Sequence[Sequence[str]] | None = None,
                    n_phrases: int = 5, phrase_method: str = "rake") -> pd.DataFrame:
    """One row per style (0..k-1): size, keywords (top_k class-TF-IDF terms), exemplars (post ids of
    the n_exemplars members nearest the centre in Z) and phrases (the n_phrases best keyphrases of its
    posts' `phrase_lists` (text.phrase_candidates per post) by text.rank_phrases with `phrase_method`,
    scored against all posts; empty lists when phrase_lists is None)."""
    labels = np.asarray(labels)
    Z = np.asarray(Z, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    post_ids = np.asarray(post_ids, dtype=object)
    k = len(centers)
    vocab, scores = class_tfidf(labels, token_lists, k)
    phrases = _style_phrases(labels, phrase_lists, k, n_phrases, phrase_method)
    rows = []
    for s in range(k):
        members = np.flatnonzero(labels == s)
        order = np.argsort(-scores[s], kind="stable")[:top_k] if len(vocab) else []
        keywords = [vocab[i] for i in order if scores[s, i] > 0]
        dist = np.linalg.norm(Z[members] - centers[s], axis=1)
        exemplars = [str(p) for p in post_ids[members[np.argsort(dist, kind="stable")[:n_exemplars]]]]
        rows.append({"style": s, "size": int(len(members)), "keywords": keywords, "exemplars": exemplars,
                     "phrases": phrases[s]})
    return pd.DataFrame(rows, columns=DESCRIBE_COLUMNS)
