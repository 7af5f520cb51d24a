"""Map charts beyond the style colouring: colour by month / engagement / author, the map filling over
time, and the share line of a selection. Pure plotly (and PIL for `map_thumbnails`, the small WebPs drawn on the map);
the style colouring itself is `plots.style_map`.

Every point keeps `plots.MAP_CUSTOMDATA` (post_id first) so `plots.selected_post_ids` resolves a
click / box / lasso selection whatever the colouring (and whichever posts are drawn). Post text in
hover labels is escaped with `plots.escape_snippet` and cut to MAP_SNIPPET_CHARS; style names, author
ids and every trace name are escaped once with `plots.safe` where they enter the figure.

Large maps: a plotly figure costs about 0.1 s per 10,000 points to build and as much again to send
(Streamlit serialises it on every run), so the page draws at most MAP_POINTS posts by default
(`sample_points`: an even sample, each style keeping its share, stable per post) and builds the
figure in one go (`go.Figure(data=traces)`, no per-trace add_traces copies). `map_points` makes the
slim frame (hover snippet computed once) a page can cache.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from io import BytesIO

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from trend_core import plots, trends
from trend_core.selections import selection_shares

COLOUR_BY = {"style": "Style", "month": "Month of the post", "engagement": "Engagement (log scale)",
             "author": "Author (top posters)"}
TOP_AUTHORS = 10
MAP_POINTS = 20_000      # posts drawn by default; more are sampled (sample_points), all on request
MAP_SNIPPET_CHARS = 60   # post text shown in a hover label
MAP_THUMB_SIDE = 72      # thumbnails drawn on the map are re-encoded this small (they show ~60 px wide)
MAP_THUMB_BYTES = 250_000  # and no more than this many bytes of them per map (map_thumbnails)
MAP_COLUMNS = ("post_id", "x", "y", "style", "style_name", "post_date", "likes", "collects", "comments",
               "poster_id", "image_hash")
OTHER_AUTHORS = "other authors"
LATER_POSTS = "later posts"
_HOVER = ("<b>%{customdata[1]}</b> · %{customdata[3]} · ♥ %{customdata[4]}<br>%{customdata[2]}<br>"
          "<i>click / box / lasso to see thumbnails</i><extra></extra>")


# -- data helpers ------------------------------------------------------------------------------------
def map_thumbnails(blobs: Mapping[str, bytes], side: int = MAP_THUMB_SIDE,
                   max_bytes: int = MAP_THUMB_BYTES) -> dict[str, bytes]:
    """The pictures to draw on the map (post_id -> image bytes, in the order to keep them) as WebP of
    at most side x side px, the first ones up to max_bytes in all (the map's JSON carries them on every
    render); unreadable images are left out."""
    out: dict[str, bytes] = {}
    total = 0
    for post_id, blob in blobs.items():
        try:
            with Image.open(BytesIO(blob)) as img:
                rgb = img.convert("RGB")
        except (OSError, ValueError):
            continue
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = BytesIO()
        rgb.save(buffer, format="WEBP", quality=70, method=4)
        small = buffer.getvalue()
        if total + len(small) > max_bytes:
            break
        out[str(post_id)] = small
        total += len(small)
    return out


def placed_posts(posts: pd.DataFrame) -> pd.DataFrame:
    """Posts that have a map position."""
    if posts is None or posts.empty or "x" not in posts:
        return posts.iloc[0:0] if posts is not None else pd.DataFrame()
    return posts[posts["x"].notna() & posts["y"].notna()]


def post_months(posts: pd.DataFrame) -> pd.Series:
    """First day of each post's month (datetime64[ns])."""
    return trends.period_start(posts["post_date"], "month")


def month_options(posts: pd.DataFrame) -> list[pd.Timestamp]:
    """Every month from the first to the last post (for the time slider)."""
    months = post_months(posts).dropna()
    if months.empty:
        return []
    return list(trends.period_range(months.min(), months.max(), "month"))


def split_by_month(posts: pd.DataFrame, upto: pd.Timestamp | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(posts up to and including the month of `upto`, later posts); everything when upto is None."""
    if upto is None:
        return posts, posts.iloc[0:0]
    month = trends.period_start(pd.Series([upto]), "month").iloc[0]
    early = (post_months(posts) <= month).to_numpy()
    return posts[early], posts[~early]


def top_authors(posts: pd.DataFrame, n: int = TOP_AUTHORS) -> list[str]:
    """The n poster_ids with most posts (ties by id, so the order is stable)."""
    counts = posts["poster_id"].astype(str).value_counts()
    frame = pd.DataFrame({"author": counts.index, "n": counts.to_numpy()})
    return frame.sort_values(["n", "author"], ascending=[False, True])["author"].head(n).tolist()


def map_points(posts: pd.DataFrame) -> pd.DataFrame:
    """The placed posts with only what the map needs (MAP_COLUMNS that exist) and their hover
    snippet (escaped title — text) in a `snippet` column, so a page can cache it once."""
    placed = placed_posts(posts)
    slim = placed[[c for c in MAP_COLUMNS if c in placed]].copy()
    slim["snippet"] = _snippets(placed)
    return slim


def sample_points(posts: pd.DataFrame, limit: int | None = MAP_POINTS) -> pd.DataFrame:
    """At most `limit` posts (all when there are no more, or limit is None), in input order.

    Each style keeps its share of the posts (largest remainder), and within a style the posts with
    the smallest hash of their post_id are kept, so the sample is deterministic and a post drawn at
    one month stays drawn when more months are shown."""
    n = len(posts)
    if limit is None or n <= limit:
        return posts
    limit = max(int(limit), 0)
    key = pd.util.hash_pandas_object(posts["post_id"].astype(str), index=False).to_numpy()
    groups = posts["style"].to_numpy() if "style" in posts else np.zeros(n, dtype=int)
    styles, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    exact = limit * counts / n
    quota = np.floor(exact).astype(int)
    order = np.lexsort((styles, -(exact - quota)))  # largest remainder first, ties by style
    quota[order[:limit - int(quota.sum())]] += 1
    keep = [idx[np.argsort(key[idx], kind="stable")[:q]]
            for idx, q in ((np.flatnonzero(inverse == j), quota[j]) for j in range(len(styles)))]
    return posts.iloc[np.sort(np.concatenate(keep))] if keep else posts.iloc[0:0]


def _snippets(group: pd.DataFrame) -> list[str]:
    def column(name: str) -> pd.Series:
        return group[name].fillna("") if name in group else pd.Series("", index=group.index)

    return [plots.escape_snippet(f"{t} — {c}" if (t and c) else (t or c), limit=MAP_SNIPPET_CHARS)
            for t, c in zip(column("title"), column("content"))]


def _customdata(group: pd.DataFrame, style_label: str | None = None) -> np.ndarray:
    """plots.MAP_CUSTOMDATA rows: post_id, escaped style name, escaped snippet, date, likes.
    Uses a precomputed `snippet` column (map_points) when there is one."""
    def column(name: str, fill: object) -> pd.Series:
        return group[name].fillna(fill) if name in group else pd.Series(fill, index=group.index)

    custom = np.empty((len(group), len(plots.MAP_CUSTOMDATA)), dtype=object)
    custom[:, 0] = group["post_id"].astype(str).to_numpy()
    custom[:, 1] = (plots.safe(style_label) if style_label is not None
                    else [plots.safe(s) for s in column("style_name", "")])
    custom[:, 2] = group["snippet"].to_numpy() if "snippet" in group else _snippets(group)
    custom[:, 3] = pd.to_datetime(group["post_date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy()
    custom[:, 4] = column("likes", 0).astype(int).to_numpy()
    return custom


def _points(group: pd.DataFrame, name: str, marker: dict, extra_hover: str = "",
            style_label: str | None = None) -> go.Scattergl:
    """`name` and `style_label` are raw (unescaped) text: escaped here, once."""
    return go.Scattergl(x=group["x"].to_numpy(dtype=float), y=group["y"].to_numpy(dtype=float), mode="markers",
                        name=plots.safe(name), customdata=_customdata(group, style_label),
                        marker={"size": 6, "opacity": 0.8, **marker},
                        hovertemplate=_HOVER.replace("<i>", extra_hover + "<i>"))


# -- colourings --------------------------------------------------------------------------------------
def _style_traces(posts: pd.DataFrame) -> list[go.Scattergl]:
    """One trace per style in its stable colour (what plots.style_map draws)."""
    traces = []
    for style, group in posts.groupby("style", sort=True):
        name = plots._style_label(style, group["style_name"].iloc[0] if "style_name" in group else None)
        traces.append(_points(group, name, {"color": plots.style_color(int(style))}, style_label=name))
    return traces


def _month_traces(posts: pd.DataFrame) -> list[go.Scattergl]:
    months = post_months(posts)
    first = months.min()
    index = ((months.dt.year - first.year) * 12 + months.dt.month - first.month).to_numpy(dtype=float)
    span = month_options(posts)
    step = max(1, len(span) // 8)
    ticks = list(range(0, len(span), step))
    marker = {"color": index, "colorscale": "Viridis", "cmin": 0, "cmax": max(len(span) - 1, 1),
              "colorbar": {"title": {"text": "month"}, "tickvals": ticks,
                           "ticktext": [span[i].strftime("%Y-%m") for i in ticks]}}
    return [_points(posts, "posts by month", marker)]


def _engagement_traces(posts: pd.DataFrame) -> list[go.Scattergl]:
    engagement = trends.post_engagement(posts)
    top = max(int(engagement.max()) if len(engagement) else 1, 1)
    ticks = [v for v in (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if v <= top] or [0]
    marker = {"color": np.log10(1 + engagement), "colorscale": "Plasma",
              "colorbar": {"title": {"text": "likes + collects + comments"},
                           "tickvals": [float(np.log10(1 + v)) for v in ticks], "ticktext": [f"{v:,}" for v in ticks]}}
    trace = _points(posts, "posts by engagement", marker, "engagement %{marker.color:.2f} (log10 1+x)<br>")
    return [trace]


def _author_traces(posts: pd.DataFrame, n: int) -> list[go.Scattergl]:
    authors = posts["poster_id"].astype(str)
    leaders = top_authors(posts, n)
    traces = [_points(posts[authors == a], f"author {a}", {"color": plots.PALETTE[i % len(plots.PALETTE)]})
              for i, a in enumerate(leaders)]
    rest = posts[~authors.isin(leaders)]
    if len(rest):
        traces.append(_points(rest, OTHER_AUTHORS, {"color": plots.LEFT_OUT_COLOR, "opacity": 0.5}))
    return traces


def faint_trace(later: pd.DataFrame) -> go.Scattergl:
    """Later posts as faint grey dots without hover (context only, not selectable data)."""
    return go.Scattergl(x=later["x"].to_numpy(dtype=float), y=later["y"].to_numpy(dtype=float), mode="markers",
                        name=LATER_POSTS, hoverinfo="skip",
                        marker={"size": 4, "color": plots.LEFT_OUT_COLOR, "opacity": 0.15})


def colour_map(posts: pd.DataFrame, colour_by: str = "style", thumbnails: Mapping[str, bytes] | None = None,
               later: pd.DataFrame | None = None, n_authors: int = TOP_AUTHORS) -> go.Figure:
    """The UMAP scatter (WebGL) coloured by style, month, engagement or author.

    The layout and the thumbnails drawn on the map are `plots.style_map`'s; the style colouring is one
    trace per style in `plots.style_color` (as style_map draws it), month and engagement one trace with
    a continuous colour bar (engagement on a log scale), author one trace per top author plus a grey
    one for the rest. `later` posts (after the time slider's month) are drawn faint behind. Every post
    given is drawn: sample large inputs first (sample_points)."""
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {list(COLOUR_BY)}, got {colour_by!r}")
    placed = placed_posts(posts)
    # the layout (title, axes, thumbnails on the map) from plots.style_map on the few posts that fix
    # the axes' span and carry the thumbnails; the traces are built here, all at once
    layout = plots.style_map(_layout_rows(placed, thumbnails), thumbnails=thumbnails)
    if placed.empty:
        return layout
    builders = {"style": _style_traces, "month": _month_traces, "engagement": _engagement_traces,
                "author": lambda p: _author_traces(p, n_authors)}
    traces = builders[colour_by](placed)
    later = placed_posts(later) if later is not None else None
    if later is not None and len(later):
        traces = [faint_trace(later), *traces]  # behind the drawn posts
    fig = go.Figure(data=traces, layout=layout.layout)
    if colour_by != "style":
        fig.update_layout(title=f"Post map coloured by {COLOUR_BY[colour_by].lower()}")
    return fig


def _layout_rows(placed: pd.DataFrame, thumbnails: Mapping[str, bytes] | None) -> pd.DataFrame:
    """The posts at the extremes of x and y plus those with a thumbnail (same span, same pictures)."""
    if placed.empty:
        return placed
    x, y = placed["x"].to_numpy(dtype=float), placed["y"].to_numpy(dtype=float)
    rows = {int(x.argmin()), int(x.argmax()), int(y.argmin()), int(y.argmax())}
    if thumbnails:
        rows |= set(np.flatnonzero(placed["post_id"].astype(str).isin(list(thumbnails)).to_numpy()).tolist())
    return placed.iloc[sorted(rows)]


# -- selection over time -----------------------------------------------------------------------------
def selection_share_line(posts: pd.DataFrame, post_ids: Iterable[str], period: str = "month",
                         name: str = "selection") -> go.Figure:
    """Share of the selected posts among all kept posts per period, as one line."""
    shares = selection_shares(posts, {name: list(post_ids)}, period)
    title = f"Share of the selected posts per {period} (selected / all posts on the map)"
    return plots.share_lines(shares, value="share", title=title)
