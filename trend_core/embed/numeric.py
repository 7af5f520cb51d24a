"""Engagement features: log counts and log ratios, standardised."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["engagement_matrix", "standardize", "ENGAGEMENT_FEATURES"]

ENGAGEMENT_FEATURES = ["log_likes", "log_collects", "log_comments", "collect_per_like", "comment_per_like"]


def standardize(X: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance columns; constant columns become 0 (never NaN)."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float64))
    if X.shape[0] == 0:
        return X
    std = X.std(axis=0)
    return np.divide(X - X.mean(axis=0), std, out=np.zeros_like(X), where=std > 1e-12)


def engagement_matrix(posts: pd.DataFrame) -> np.ndarray:
    """(n, 5) float32, columns ENGAGEMENT_FEATURES: log1p(likes, collects, comments) and the
    collect/like and comment/like ratios as log((x + 1) / (likes + 1)), each column standardised.
    Missing or negative counts count as 0."""
    counts = {c: pd.to_numeric(posts[c], errors="coerce").fillna(0).clip(lower=0).to_numpy(np.float64)
              if c in posts else np.zeros(len(posts)) for c in ("likes", "collects", "comments")}
    logs = {c: np.log1p(v) for c, v in counts.items()}
    X = np.column_stack([logs["likes"], logs["collects"], logs["comments"],
                         logs["collects"] - logs["likes"], logs["comments"] - logs["likes"]])
    return standardize(X).astype(np.float32)
