"""Data quality of the stored posts: figures an analyst should see before trusting a trend, and warnings
that say which pages each problem affects.

Pure functions over the posts frame (`Store.load_posts()`: one row per image, `post` = the post's id,
`image_no` 0 for a post without any image row) and the imports' summaries (the `summary` JSON that
`ingest_file` returns and stores: `dates` = how `MM-DD` dates got their year, `blank_counts` = rows whose
count cell was blank and stored as 0). Frames without `post` / `image_no` (older databases, the demo) are
read as one row per post.

`report(posts, summaries)` returns a JSON-ready dict:
- `rows`, `posts`, `date_range` (first, last, days, distinct days with posts),
- `dates`: the reference dates and the years `MM-DD` dates were given, summed over imports,
- `busiest_day`: the day with the most posts and its share of all posts (a crawl date written into
  every undated post piles them on one day and fakes a spike in every style),
- `images`: posts without any image, image rows without a stored picture,
- `blank_counts`: blank like / collect / comment cells stored as 0,
- `shared_images`: the same image (content hash) in several posts,
- `warnings`: [{code, level, message, pages}], `pages` naming the app pages whose numbers it skews.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from trend_core.store import post_keys

BUSIEST_DAY_LIMIT = 0.10  # a single day holding more than this share of posts is suspect
COUNT_COLUMNS = ("likes", "collects", "comments")
EXAMPLES = 5  # shared images listed in the report

# the pages each kind of problem reaches (names as in the app's navigation)
PAGES = {
    "busiest_day": ["Trends", "Forecast", "Map"],
    "month_day_years": ["Trends", "Forecast", "Map"],
    "no_image": ["Styles", "Map", "Trends", "Segmentation"],
    "no_picture": ["Segmentation", "Map", "Trends", "Search"],
    "blank_counts": ["Trends", "Forecast", "Map"],
    "shared_images": ["Trends", "Styles", "Map", "Search"],
}


# -- helpers ---------------------------------------------------------------------------------------
def post_ids(posts: pd.DataFrame) -> pd.Series:
    """The post each row belongs to (store.post_keys), as text."""
    return post_keys(posts).astype(str)


def _has_image_row(posts: pd.DataFrame) -> pd.Series:
    """Per row: it is an image of its post (image_no > 0), else, without image_no, it has a picture or a
    declared image source."""
    if "image_no" in posts:
        return pd.to_numeric(posts["image_no"], errors="coerce").fillna(0) > 0
    flags = pd.Series(False, index=posts.index)
    for column in ("image_hash", "image_source"):
        if column in posts:
            flags |= posts[column].notna() & (posts[column].astype(str).str.strip() != "")
    return flags


def _has_picture(posts: pd.DataFrame) -> pd.Series:
    if "image_hash" not in posts:
        return pd.Series(False, index=posts.index)
    return posts["image_hash"].notna() & (posts["image_hash"].astype(str).str.strip() != "")


def _share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _pct(value: float) -> str:
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def _warning(code: str, message: str, level: str = "warning") -> dict[str, Any]:
    return {"code": code, "level": level, "message": message, "pages": list(PAGES[code])}


def import_summaries(imports: pd.DataFrame) -> list[dict[str, Any]]:
    """The `summary` JSON of every import (Store.load_imports()), parsed; unreadable ones skipped."""
    out = []
    if imports is None or imports.empty or "summary" not in imports:
        return out
    for raw in imports["summary"]:
        if isinstance(raw, Mapping):
            out.append(dict(raw))
            continue
        try:
            value = json.loads(raw) if isinstance(raw, str) and raw else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            out.append(value)
    return out


# -- figures ---------------------------------------------------------------------------------------
def post_level(posts: pd.DataFrame) -> pd.DataFrame:
    """One row per post: `post`, `post_date`, `images` (image rows), `pictures` (rows with a stored image)."""
    if posts is None or posts.empty:
        return pd.DataFrame({"post": pd.Series([], dtype=str), "post_date": pd.Series([], dtype="datetime64[ns]"),
                             "images": pd.Series([], dtype="int64"), "pictures": pd.Series([], dtype="int64")})
    frame = pd.DataFrame({"post": post_ids(posts).to_numpy(),
                          "post_date": pd.to_datetime(posts["post_date"], errors="coerce").dt.normalize().to_numpy(),
                          "image": _has_image_row(posts).to_numpy(), "picture": _has_picture(posts).to_numpy()})
    return frame.groupby("post", sort=True).agg(post_date=("post_date", "first"), images=("image", "sum"),
                                                pictures=("picture", "sum")).reset_index()


def date_range(per_post: pd.DataFrame) -> dict[str, Any]:
    dates = per_post["post_date"].dropna()
    if dates.empty:
        return {"first": None, "last": None, "days": 0, "days_with_posts": 0}
    first, last = dates.min(), dates.max()
    return {"first": f"{first:%Y-%m-%d}", "last": f"{last:%Y-%m-%d}", "days": int((last - first).days) + 1,
            "days_with_posts": int(dates.nunique())}


def busiest_day(per_post: pd.DataFrame) -> dict[str, Any]:
    """The day with the most posts (the earliest of ties), its posts and their share of all dated posts."""
    dates = per_post["post_date"].dropna()
    if dates.empty:
        return {"date": None, "posts": 0, "share": 0.0, "median_day_posts": 0.0}
    counts = dates.value_counts()
    top = int(counts.max())
    day = min(counts.index[counts == top])
    return {"date": f"{day:%Y-%m-%d}", "posts": top, "share": _share(top, len(dates)),
            "median_day_posts": float(np.median(counts.to_numpy()))}


def month_day_years(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """How dates without a year (MM-DD) were given one, summed over imports: the reference dates, the
    rows and the years they were placed in (imports without a `dates` summary add nothing)."""
    references, years, rows = [], Counter(), 0
    for summary in summaries:
        dates = summary.get("dates") if isinstance(summary, Mapping) else None
        if not isinstance(dates, Mapping):
            continue
        if dates.get("reference_date") and int(dates.get("month_day_rows") or 0):
            references.append(str(dates["reference_date"]))
        rows += int(dates.get("month_day_rows") or 0)
        years.update({str(y): int(n) for y, n in (dates.get("years") or {}).items()})
    return {"reference_dates": sorted(set(references)), "month_day_rows": rows, "years": dict(sorted(years.items()))}


def blank_counts(summaries: Iterable[Mapping[str, Any]]) -> dict[str, int | None]:
    """Blank like / collect / comment cells (stored as 0) summed over imports; None for a column that no
    import's file had at all (every value stored as 0) or when no import recorded blanks."""
    totals: dict[str, int | None] = {column: None for column in COUNT_COLUMNS}
    for summary in summaries:
        counts = summary.get("blank_counts") if isinstance(summary, Mapping) else None
        for column, n in (counts or {}).items():
            if n is not None:
                totals[str(column)] = (totals.get(str(column)) or 0) + int(n)
    return totals


def shared_images(posts: pd.DataFrame, examples: int = EXAMPLES) -> dict[str, Any]:
    """Images (by content hash) that appear in more than one post: how many, the posts and rows they
    touch, and the most shared ones."""
    empty = {"images": 0, "posts": 0, "rows": 0, "examples": []}
    if posts is None or posts.empty or "image_hash" not in posts:
        return empty
    has = _has_picture(posts)
    frame = pd.DataFrame({"hash": posts.loc[has, "image_hash"].astype(str), "post": post_ids(posts)[has]})
    per_hash = frame.groupby("hash")["post"].nunique()
    shared = per_hash[per_hash > 1].sort_values(ascending=False, kind="stable")
    if shared.empty:
        return empty
    touched = frame[frame["hash"].isin(shared.index)]
    return {"images": int(len(shared)), "posts": int(touched["post"].nunique()), "rows": int(len(touched)),
            "examples": [{"image_hash": h[:12], "posts": int(n)} for h, n in shared.head(examples).items()]}


# -- the report ------------------------------------------------------------------------------------
def report(posts: pd.DataFrame, summaries: Iterable[Mapping[str, Any]] = (),
           busiest_day_limit: float = BUSIEST_DAY_LIMIT) -> dict[str, Any]:
    """Every figure of the data quality panel and its warnings (see the module docstring)."""
    summaries = list(summaries)
    per_post = post_level(posts)
    n_posts = len(per_post)
    busiest = busiest_day(per_post)
    years = month_day_years(summaries)
    blanks = blank_counts(summaries)
    shared = shared_images(posts)
    image_rows = int(_has_image_row(posts).sum()) if len(posts) else 0
    no_picture = int((_has_image_row(posts) & ~_has_picture(posts)).sum()) if len(posts) else 0
    no_image = int((per_post["images"] == 0).sum())
    images = {"image_rows": image_rows, "posts_without_image": no_image,
              "posts_without_image_share": _share(no_image, n_posts),
              "image_rows_without_picture": no_picture,
              "image_rows_without_picture_share": _share(no_picture, image_rows)}
    warnings: list[dict[str, Any]] = []

    if busiest["share"] > busiest_day_limit:
        warnings.append(_warning("busiest_day", (
            f"{busiest['posts']:,} of {n_posts:,} posts ({_pct(busiest['share'])}) are dated {busiest['date']} "
            f"(a typical day has {busiest['median_day_posts']:.0f}); over {busiest_day_limit:.0%} on one day looks "
            "like a crawl date written into undated posts: every style's share in that period is distorted.")))
    md_rows = years["month_day_rows"]
    if md_rows:
        placed = ", ".join(f"{y}: {n:,}" for y, n in years["years"].items())
        refs = ", ".join(years["reference_dates"]) or "unknown"
        split = len(years["years"]) > 1
        warnings.append(_warning("month_day_years", (
            f"{md_rows:,} of {len(posts):,} rows ({_pct(_share(md_rows, len(posts)))}) had no year (MM-DD) and were "
            f"given the latest year on or before the reference date ({refs}): {placed}. "
            + ("The same MM-DD form went to more than one year: check the reference date (the crawl date) "
               "before reading trends across the year boundary." if split else
               "If the crawl was made on another date, import the file into a new database with the crawl's "
               "date (`ingest --reference-date`, or 'Crawl date' on the Data page): it decides each MM-DD "
               "row's year.")), level="warning" if split else "info"))
    if no_image:
        warnings.append(_warning("no_image", (
            f"{no_image:,} of {n_posts:,} posts ({_pct(images['posts_without_image_share'])}) have no image: their "
            "style comes from text and engagement only (text-assigned when image features are used), and each "
            "counts as one look in shares.")))
    if no_picture:
        warnings.append(_warning("no_picture", (
            f"{no_picture:,} of {image_rows:,} image rows ({_pct(images['image_rows_without_picture_share'])}) have "
            "no stored picture (file missing or not given): no segmentation, thumbnails or image search for them."),
            level="info" if no_picture == image_rows else "warning"))
    blank_total = sum(n or 0 for n in blanks.values())
    if blank_total:
        listed = ", ".join(f"{c} {n:,}" for c, n in blanks.items() if n)
        warnings.append(_warning("blank_counts", (
            f"Blank count cells were stored as 0 ({listed} rows): engagement-weighted shares, engagement "
            "bands and the engagement input of forecasts read them as no engagement.")))
    if shared["images"]:
        warnings.append(_warning("shared_images", (
            f"{shared['images']:,} images appear in more than one post ({shared['posts']:,} posts, "
            f"{shared['rows']:,} rows): reposts or a placeholder picture are counted once per post in shares and "
            "pull those posts into one style.")))

    return {"rows": int(len(posts)), "posts": n_posts, "date_range": date_range(per_post), "dates": years,
            "busiest_day": busiest | {"limit": busiest_day_limit}, "images": images, "blank_counts": blanks,
            "shared_images": shared, "warnings": warnings}
