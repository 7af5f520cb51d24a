"""Named selections of posts (drawn on the map with a box or lasso) kept as user-made styles.

A selection is a name and a list of post_ids, stored with the analyst's other choices
(`pipeline.save_choice("selections", {name: [post_id, ...]})`, insertion order kept). Its share
series has the same columns as `trends.share_table` (plus `style_name`), with a style id of
`SELECTION_STYLE_BASE + index` so it never collides with a cluster number and can be charted or
forecast like a cluster. The total of a period is every kept post of that period (style >= 0), so a
selection's share is "selected posts / all posts on the map" in that period.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from trend_core import pipeline, trends
from trend_core.store import Store

CHOICE = "selections"
SELECTION_STYLE_BASE = 1000
NAME_CHARS = pipeline.STYLE_NAME_CHARS  # 60
SELECTION_COLUMNS = [*trends.SHARE_COLUMNS, "style_name"]


def clean_selection_name(name: object) -> str:
    """A name as stored: one line, outer spaces removed, at most NAME_CHARS characters."""
    return pipeline.clean_style_name(name)


def load_selections(store: Store) -> dict[str, list[str]]:
    """name -> post_ids of every saved selection, in the order they were saved."""
    saved = pipeline.load_choice(store, CHOICE) or {}
    return {str(name): [str(p) for p in ids] for name, ids in saved.items()}


def _unique_ids(post_ids: Iterable[object]) -> list[str]:
    return list(dict.fromkeys(str(p) for p in post_ids if p is not None and str(p)))


def save_selection(store: Store, name: object, post_ids: Iterable[object]) -> str:
    """Store a selection under a cleaned name; returns that name.

    Raises ValueError for an empty name, a name already used (ignoring case) or no posts."""
    cleaned = clean_selection_name(name)
    if not cleaned:
        raise ValueError("A selection needs a name (it was empty).")
    saved = load_selections(store)
    if cleaned.casefold() in {n.casefold() for n in saved}:
        raise ValueError(f"A selection named {cleaned!r} exists already; choose another name.")
    ids = _unique_ids(post_ids)
    if not ids:
        raise ValueError("The selection holds no posts: select some points on the map first.")
    saved[cleaned] = ids
    pipeline.save_choice(store, CHOICE, saved)
    return cleaned


def delete_selection(store: Store, name: str) -> bool:
    """Remove a saved selection; False when no selection had that name."""
    saved = load_selections(store)
    if name not in saved:
        return False
    del saved[name]
    pipeline.save_choice(store, CHOICE, saved)
    return True


def selection_style_ids(selections: Mapping[str, object]) -> dict[str, int]:
    """name -> style id (SELECTION_STYLE_BASE + position) of each selection."""
    return {name: SELECTION_STYLE_BASE + i for i, name in enumerate(selections)}


def _empty_shares() -> pd.DataFrame:
    dtypes = {"period": "datetime64[ns]", "share": "float64", "engagement_share": "float64", "style_name": object}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "int64")) for c in SELECTION_COLUMNS})


def _kept_periods(posts: pd.DataFrame, period: str) -> pd.DataFrame:
    """post_id, period and engagement of the kept posts (style >= 0 when there is a style column)."""
    kept = posts[pd.to_numeric(posts["style"], errors="coerce").fillna(-1) >= 0] if "style" in posts else posts
    frame = pd.DataFrame({"post_id": kept["post_id"].astype(str).to_numpy(),
                          "period": trends.period_start(kept["post_date"], period).to_numpy(),
                          "engagement": trends.post_engagement(kept)})
    if "weight" in kept:  # what each look counts (shares of posts split a post over its images)
        frame["weight"] = kept["weight"].to_numpy(dtype=np.float64)
        frame["engagement"] = frame["engagement"] * frame["weight"]
    return frame[frame["period"].notna()]


def _tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Per period: count (summed weights, or rows), rows and engagement."""
    counted = frame.assign(_w=frame["weight"] if "weight" in frame else 1)
    return counted.groupby("period").agg(count=("_w", "sum"), rows=("post_id", "size"),
                                         engagement=("engagement", "sum"))


def _one_selection(frame: pd.DataFrame, ids: list[str], periods: pd.DatetimeIndex, totals: pd.DataFrame,
                   style: int, name: str) -> pd.DataFrame:
    chosen = frame[frame["post_id"].isin(set(ids))]
    grouped = _tally(chosen).reindex(periods, fill_value=0)
    kind = np.float64 if "weight" in frame else np.int64
    count = grouped["count"].to_numpy(dtype=kind)
    engagement = grouped["engagement"].to_numpy(dtype=kind)
    total = totals["count"].to_numpy(dtype=kind)
    eng_total = totals["engagement"].to_numpy(dtype=kind)
    return pd.DataFrame({
        "period": periods.astype("datetime64[ns]"), "style": np.int64(style), "count": count, "total": total,
        "share": np.where(total > 0, count / np.clip(total, 1, None), 0.0), "engagement": engagement,
        "engagement_share": np.where(eng_total > 0, engagement / np.clip(eng_total, 1, None), 0.0),
        "n": totals["rows"].to_numpy(dtype=np.int64), "style_name": name})  # n: the images behind the period


def selection_shares(posts: pd.DataFrame, selections: Mapping[str, Iterable[object]],
                     period: str = "month") -> pd.DataFrame:
    """Long share table of saved selections, like `trends.share_table` plus `style_name`.

    Every selection x period of the kept posts' full period range is present; `total` is all kept
    posts of the period, `share` = count / total. Selected posts that are not kept (left out of the
    styles) or not in `posts` do not count."""
    frame = _kept_periods(posts, period)
    if frame.empty or not selections:
        return _empty_shares()
    periods = trends.period_range(frame["period"].min(), frame["period"].max(), period)
    totals = _tally(frame).reindex(periods, fill_value=0)
    ids = selection_style_ids(selections)
    parts = [_one_selection(frame, _unique_ids(post_ids), periods, totals, ids[name], str(name))
             for name, post_ids in selections.items()]
    return pd.concat(parts, ignore_index=True)[SELECTION_COLUMNS]
