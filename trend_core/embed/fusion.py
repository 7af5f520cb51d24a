"""Fuse feature blocks (image, text, engagement ...) into one vector per post."""
from __future__ import annotations

import numpy as np

from trend_core.embed.numeric import standardize

__all__ = ["fuse", "balance_block"]


def balance_block(X: np.ndarray) -> np.ndarray:
    """Standardise columns (constant ones -> 0), then scale so the mean row L2 norm is 1."""
    Z = standardize(X)
    if Z.size == 0:
        return Z
    mean_norm = np.linalg.norm(Z, axis=1).mean()
    return Z / mean_norm if mean_norm > 1e-12 else Z


def fuse(blocks: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """Each block balanced (see balance_block), times its weight (default 1), concatenated in the
    order of `blocks`; float32. Blocks with weight 0 are left out (they could not change a distance)."""
    weights = weights or {}
    sizes = {name: np.asarray(b).shape[0] for name, b in blocks.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"blocks have different row counts: {sizes}")
    n = next(iter(sizes.values()), 0)
    parts = []
    for name, block in blocks.items():
        w = float(weights.get(name, 1.0))
        if w < 0:
            raise ValueError(f"weight of {name!r} must be >= 0, got {w}")
        if w == 0:
            continue
        X = np.asarray(block, dtype=np.float64).reshape(n, -1)
        parts.append(balance_block(X) * w)
    if not parts:
        return np.zeros((n, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)
