"""Fuse feature blocks (image, text, engagement ...) into one vector per post.

Each block is scaled so that it counts as much as its weight says, whatever its width:
columns are standardised (zero-variance safe) -- except for blocks listed in `keep_scale`, whose
columns share one unit (LSA components: the leading ones carry the topics, the trailing ones mostly
noise) and are only centred -- then the block is divided by its mean row norm, multiplied by its weight
and the blocks are concatenated (float32).

Rows missing in one block (by default: rows that are exactly all-zero, which is how TfidfSvdText
encodes a post without tokens) are imputed from their nearest neighbours in the other blocks, so posts
without text are placed by their image instead of forming one "no text" cluster of their own. With a
single block they stay as they are (a group of their own).
"""
from __future__ import annotations

from collections.abc import Collection

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = ["fuse", "balance_block", "missing_rows", "KEEP_SCALE", "IMPUTE_NEIGHBORS"]

KEEP_SCALE = ("text",)   # blocks centred only (not standardised per column)
IMPUTE_NEIGHBORS = 10    # neighbours averaged to impute a missing row


def missing_rows(X: np.ndarray) -> np.ndarray:
    """Rows that are entirely zero (or non-finite): the block has nothing to say about them."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] == 0:
        return np.zeros(len(X), dtype=bool)
    return ~(np.isfinite(X) & (X != 0)).any(axis=1)


def balance_block(X: np.ndarray, standardize: bool = True, missing: np.ndarray | None = None) -> np.ndarray:
    """Centre (and, when standardize, scale to unit variance; constant columns -> 0) every column,
    then divide by the mean row L2 norm so the block's rows have norm 1 on average. Statistics come
    from the rows not flagged in `missing` (which are transformed like the others)."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float64))
    n = len(X)
    present = np.ones(n, dtype=bool) if missing is None else ~np.asarray(missing, dtype=bool)
    if X.size == 0 or not present.any():
        return np.zeros_like(X)
    ref = X[present]
    Z = X - ref.mean(axis=0)
    if standardize:
        std = ref.std(axis=0)
        Z = np.divide(Z, std, out=np.zeros_like(Z), where=std > 1e-12)
    mean_norm = np.linalg.norm(Z[present], axis=1).mean()
    return Z / mean_norm if mean_norm > 1e-12 else Z


def _impute(parts: dict[str, np.ndarray], missing: dict[str, np.ndarray], k: int) -> None:
    """In place: each block's missing rows = mean of that block over the k nearest rows (in the
    other blocks) that have it."""
    for name, miss in missing.items():
        others = [parts[o] for o in parts if o != name]
        if not miss.any() or miss.all() or not others:
            continue
        ref = np.concatenate(others, axis=1)
        if ref.shape[1] == 0:
            continue
        have = np.flatnonzero(~miss)
        nn = NearestNeighbors(n_neighbors=min(k, len(have))).fit(ref[have])
        _, idx = nn.kneighbors(ref[miss])
        parts[name][miss] = parts[name][have[idx]].mean(axis=1)


def fuse(blocks: dict[str, np.ndarray], weights: dict[str, float] | None = None,
         keep_scale: Collection[str] = KEEP_SCALE, missing: dict[str, np.ndarray] | None = None,
         impute_neighbors: int = IMPUTE_NEIGHBORS) -> np.ndarray:
    """Balanced blocks times their weights (default 1), concatenated in the order of `blocks`; float32.

    Blocks with weight 0 are left out (they could not change a distance). `missing` maps a block name
    to a bool mask of rows it lacks; blocks not named there treat all-zero rows as missing. Missing rows
    are imputed from the other blocks (left as they are when impute_neighbors=0 or there is no other
    block)."""
    weights = weights or {}
    sizes = {name: np.asarray(b).shape[0] for name, b in blocks.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"blocks have different row counts: {sizes}")
    n = next(iter(sizes.values()), 0)
    parts: dict[str, np.ndarray] = {}
    gaps: dict[str, np.ndarray] = {}
    for name, block in blocks.items():
        w = float(weights.get(name, 1.0))
        if w < 0:
            raise ValueError(f"weight of {name!r} must be >= 0, got {w}")
        if w == 0:
            continue
        X = np.asarray(block, dtype=np.float64).reshape(n, -1)
        miss = missing_rows(X) if missing is None or name not in missing else np.asarray(missing[name], bool)
        parts[name] = balance_block(X, standardize=name not in keep_scale, missing=miss) * w
        gaps[name] = miss
    if not parts:
        return np.zeros((n, 0), dtype=np.float32)
    if impute_neighbors > 0:
        _impute(parts, gaps, impute_neighbors)
    return np.concatenate(list(parts.values()), axis=1).astype(np.float32)
