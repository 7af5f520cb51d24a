"""Style identity across clusterings: when the analyst re-clusters (another K, other features or
encoder) the new styles are matched to the previous ones by their centres, the posts' flows between
them are counted (splits and merges) and the names the analyst gave follow their matched style.

The first section is pure (labelings in, frames out); the second reads the clusterings the pipeline
stored and the choices the analyst saved.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from trend_core import pipeline
from trend_core.store import Store

MIN_OVERLAP = 0.2  # a centre match whose posts overlap less (Jaccard) than this is not a match
MATCH_COLUMNS = ["prev", "new", "distance", "overlap", "shared", "matched"]
PREVIOUS_CLUSTERING = "previous_clustering"  # choice name: the clustering the analyst applied before


# -- matching two labelings ------------------------------------------------------------------------
def shared_labels(prev_labels: pd.Series, new_labels: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both labelings (post_id -> style) restricted to the posts they share, in new_labels' order."""
    shared = new_labels.index[new_labels.index.isin(prev_labels.index)]
    return prev_labels.loc[shared].astype(np.int64), new_labels.loc[shared].astype(np.int64)


def style_centres(labels: pd.Series, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(styles, centres): the mean row of X for each style present in labels (rows aligned)."""
    styles = np.unique(labels.to_numpy())
    values = labels.to_numpy()
    centres = np.stack([X[values == s].mean(axis=0) for s in styles]) if len(styles) else np.zeros((0, X.shape[1]))
    return styles, centres


def _jaccard(prev: np.ndarray, new: np.ndarray, a: int, b: int) -> tuple[float, int]:
    """Jaccard overlap of the posts in previous style a and new style b, and their shared count."""
    in_a, in_b = prev == a, new == b
    both = int(np.sum(in_a & in_b))
    union = int(np.sum(in_a | in_b))
    return (both / union if union else 0.0), both


def _unpaired(styles: np.ndarray, paired: np.ndarray, side: str) -> pd.DataFrame:
    """Rows for styles the assignment left without a partner (the other side is -1)."""
    rest = np.setdiff1d(styles, paired)
    other = "new" if side == "prev" else "prev"
    return pd.DataFrame({side: rest, other: -1, "distance": np.nan, "overlap": 0.0, "shared": 0,
                         "matched": False})


def match_styles(prev_labels: pd.Series, new_labels: pd.Series, X: np.ndarray,
                 min_overlap: float = MIN_OVERLAP) -> pd.DataFrame:
    """Match previous styles to new ones on the posts both labelings share.

    prev_labels / new_labels map post_id (index) -> style; X holds one feature row per entry of
    new_labels (e.g. the current run's reduced vectors). Both labelings' centres are computed in X
    over the shared posts and paired one-to-one by the Hungarian method on centre distance (k may
    differ). A pair is `matched` only when its posts' Jaccard overlap reaches min_overlap. Styles left
    without a partner get a row with -1 on the other side. Columns: prev, new, distance, overlap,
    shared, matched."""
    X = np.asarray(X, dtype=np.float64)
    if len(X) != len(new_labels):
        raise ValueError(f"X has {len(X)} rows for {len(new_labels)} new labels")
    rows = new_labels.index.isin(prev_labels.index)
    prev, new = shared_labels(prev_labels, new_labels)
    prev_styles, prev_centres = style_centres(prev, X[rows])
    new_styles, new_centres = style_centres(new, X[rows])
    if not len(prev_styles):
        return pd.DataFrame(columns=MATCH_COLUMNS)
    distance = cdist(prev_centres, new_centres)
    pi, ni = linear_sum_assignment(distance)
    records = []
    for i, j in zip(pi, ni):
        overlap, both = _jaccard(prev.to_numpy(), new.to_numpy(), prev_styles[i], new_styles[j])
        records.append({"prev": int(prev_styles[i]), "new": int(new_styles[j]), "distance": float(distance[i, j]),
                        "overlap": overlap, "shared": both, "matched": overlap >= min_overlap and both > 0})
    table = pd.concat([pd.DataFrame(records, columns=MATCH_COLUMNS), _unpaired(prev_styles, prev_styles[pi], "prev"),
                       _unpaired(new_styles, new_styles[ni], "new")], ignore_index=True)
    table = table.astype({"prev": np.int64, "new": np.int64, "distance": np.float64, "overlap": np.float64,
                          "shared": np.int64, "matched": bool})
    return table.sort_values(["prev", "new"], key=_unpaired_last).reset_index(drop=True)[MATCH_COLUMNS]


def _unpaired_last(column: pd.Series) -> pd.Series:
    """Sort key: -1 (no partner) after every real style number."""
    return column.where(column >= 0, np.iinfo(np.int64).max)


def flows(prev_labels: pd.Series, new_labels: pd.Series) -> pd.DataFrame:
    """Posts moving from each previous style to each new style (shared posts only, non-zero flows).
    A split is one prev with several new rows, a merge several prev rows into one new.
    Columns: prev, new, posts."""
    prev, new = shared_labels(prev_labels, new_labels)
    counts = pd.DataFrame({"prev": prev.to_numpy(), "new": new.to_numpy()}).value_counts()
    table = counts.rename("posts").reset_index()
    return table.astype(np.int64).sort_values(["prev", "new"]).reset_index(drop=True)


def carry_names(prev_names: Mapping[int, str], matches: pd.DataFrame) -> dict[int, str]:
    """Names given to previous styles, moved to the new style each one is matched to (unmatched
    previous styles lose their name; new styles without a matched named partner get none)."""
    matched = matches[matches["matched"].astype(bool)]
    return {int(n): prev_names[int(p)] for p, n in zip(matched["prev"], matched["new"]) if int(p) in prev_names}


NO_PREVIOUS = "new"   # match table: a current style no previous style was paired with
NO_CURRENT = "gone"   # match table: a previous style no current style was paired with


def match_table(matches: pd.DataFrame, prev_names: Mapping[int, str], new_names: Mapping[int, str]) -> pd.DataFrame:
    """The matches for display: previous style and name -> current style and name, overlap, posts
    in both, matched. Style numbers are text, so a style without a partner reads NO_PREVIOUS ("new")
    or NO_CURRENT ("gone") on the other side instead of an empty (None) cell; its name there is ""."""
    def style_or(column: pd.Series, missing: str) -> pd.Series:
        return pd.Series([str(int(s)) if s >= 0 else missing for s in column], index=column.index, dtype=object)

    return pd.DataFrame({
        "previous": style_or(matches["prev"], NO_PREVIOUS),
        "previous name": [prev_names.get(int(p), "") if p >= 0 else "" for p in matches["prev"]],
        "current": style_or(matches["new"], NO_CURRENT),
        "current name": [new_names.get(int(n), "") if n >= 0 else "" for n in matches["new"]],
        "overlap": matches["overlap"].astype(float), "posts in both": matches["shared"].astype(int),
        "matched": matches["matched"].astype(bool)})


def splits_and_merges(flow_table: pd.DataFrame,
                      min_share: float = MIN_OVERLAP) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """(splits, merges): previous styles whose posts went in large parts (at least min_share of the
    style each) to several current styles, and current styles that gathered large parts of several
    previous ones."""
    def spread(side: str, other: str) -> dict[int, list[int]]:
        share = flow_table["posts"] / flow_table.groupby(side)["posts"].transform("sum")
        big = flow_table[share >= min_share]
        groups = big.groupby(side)[other].apply(lambda s: sorted(int(v) for v in s))
        return {int(k): v for k, v in groups.items() if len(v) > 1}

    if flow_table.empty:
        return {}, {}
    return spread("prev", "new"), spread("new", "prev")


# -- stored clusterings ------------------------------------------------------------------------------
@dataclass
class Comparison:
    """The current clustering next to the one the analyst applied before it."""

    previous_key: str
    matches: pd.DataFrame
    flows: pd.DataFrame
    shared_posts: int  # posts both clusterings kept (the flows add up to this)


def clustering_labels(store: Store, fit_key: str, fusion_key: str) -> pd.Series | None:
    """post_id -> style of a stored clustering (its kept posts), or None when it is gone."""
    fused = store.get_artifact(fusion_key)
    fit = store.get_artifact(fit_key)
    if fused is None or fit is None:
        return None
    post_ids = fused[0]["post_ids"][fused[0]["kept"]].astype(str)
    return pd.Series(fit[0]["labels"].astype(np.int64), index=pd.Index(post_ids, name="post_id"), name="style")


def stored_names(store: Store, fit_key: str) -> dict[int, str]:
    """Display names of a stored clustering: the default names with the analyst's names applied."""
    fit = store.get_artifact(fit_key)
    if fit is None:
        return {}
    names = {i: str(n) for i, n in enumerate(fit[0]["names"])}
    return names | {s: n for s, n in pipeline.load_style_names(store, fit_key).items() if s in names}


def previous_clustering(store: Store) -> dict[str, str] | None:
    """{'fit': key, 'fusion': key} of the clustering applied before the current one, if any."""
    saved = pipeline.load_choice(store, PREVIOUS_CLUSTERING)
    return saved if isinstance(saved, dict) and {"fit", "fusion"} <= set(saved) else None


def _current_inputs(store: Store, view: pipeline.StylesView) -> tuple[pd.Series, np.ndarray] | None:
    """The current clustering's labels and its reduced vectors (rows aligned)."""
    labels = clustering_labels(store, view.keys.fit, view.keys.fusion)
    reduced = store.get_artifact(view.keys.reduce)
    return None if labels is None or reduced is None else (labels, reduced[0]["Z"])


def compare(store: Store, previous: Mapping[str, str], view: pipeline.StylesView) -> Comparison | None:
    """Match the current styles to a stored clustering's ({'fit', 'fusion'} keys) in the current
    reduced space and count the flows between them; None when either clustering is gone."""
    prev_labels = clustering_labels(store, previous["fit"], previous["fusion"])
    current = _current_inputs(store, view)
    if prev_labels is None or current is None:
        return None
    new_labels, Z = current
    shared = int(new_labels.index.isin(prev_labels.index).sum())
    return Comparison(previous["fit"], match_styles(prev_labels, new_labels, Z), flows(prev_labels, new_labels),
                      shared)


def compare_with_previous(store: Store, view: pipeline.StylesView) -> Comparison | None:
    """`compare` with the clustering applied before this one; None when there is none, it is the
    current one, or it is gone."""
    previous = previous_clustering(store)
    if previous is None or previous["fit"] == view.keys.fit:
        return None
    return compare(store, previous, view)


def record_recluster(store: Store, before: pipeline.StylesView, after: pipeline.StylesView | None) -> dict[int, str]:
    """After the analyst re-clustered: remember `before` as the previous clustering and, when `after`
    is shown for the first time (no names saved for it yet), carry the names given in `before` to
    their matched styles. Returns the carried names ({} when nothing changed)."""
    if after is None or after.keys.fit == before.keys.fit:
        return {}
    pipeline.save_choice(store, PREVIOUS_CLUSTERING, {"fit": before.keys.fit, "fusion": before.keys.fusion})
    given = pipeline.load_style_names(store, before.keys.fit)
    if pipeline.has_style_names(store, after.keys.fit) or not given:
        return {}
    comparison = compare_with_previous(store, after)
    carried = carry_names(given, comparison.matches) if comparison else {}
    pipeline.save_style_names(store, after.keys.fit, carried)
    return carried
