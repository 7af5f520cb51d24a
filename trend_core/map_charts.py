"""Map charts beyond the style colouring: colour by month / engagement / author, the map filling over
time, and the share line of a selection. Pure plotly; the style colouring itself is `plots.style_map`.

Every point keeps `plots.MAP_CUSTOMDATA` (post_id first) so `plots.selected_post_ids` resolves a
click / box / lasso selection whatever the colouring. Post text in hover labels is escaped with
`plots.escape_snippet`.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from trend_core import plots, trends
from trend_core.selections import selection_shares

COLOUR_BY = {"style": "Style", "month": "Month of the post", "engagement": "Engagement (log scale)",
             "author": "Author (top posters)"}
TOP_AUTHORS = 10
OTHER_AUTHORS = "other authors"
LATER_POSTS = "later posts"
_HOVER = ("<b>%{customdata[1]}</b> · %{customdata[3]} · ♥ %{customdata[4]}<br>%{customdata[2]}<br>"
          "<i>click / box / lasso to see thumbnails</i><extra></extra>")


# -- data helpers ------------------------------------------------------------------------------------
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


def _customdata(group: pd.DataFrame) -> np.ndarray:
    """plots.MAP_CUSTOMDATA rows: post_id, escaped style name, escaped snippet, date, likes."""
    def column(name: str, fill: object) -> pd.Series:
        return group[name].fillna(fill) if name in group else pd.Series(fill, index=group.index)

    titles, contents = column("title", ""), column("content", "")
    custom = np.empty((len(group), len(plots.MAP_CUSTOMDATA)), dtype=object)
    custom[:, 0] = group["post_id"].astype(str).to_numpy()
    custom[:, 1] = [html.escape(str(s)) for s in column("style_name", "")]
    custom[:, 2] = [plots.escape_snippet(f"{t} — {c}" if (t and c) else (t or c)) for t, c in zip(titles, contents)]
    custom[:, 3] = pd.to_datetime(group["post_date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy()
    custom[:, 4] = column("likes", 0).astype(int).to_numpy()
    return custom


def _points(group: pd.DataFrame, name: str, marker: dict, extra_hover: str = "") -> go.Scattergl:
    return go.Scattergl(x=group["x"].to_numpy(dtype=float), y=group["y"].to_numpy(dtype=float), mode="markers",
                        name=name, customdata=_customdata(group), marker={"size": 6, "opacity": 0.8, **marker},
                        hovertemplate=_HOVER.replace("<i>", extra_hover + "<i>"))


# -- colourings --------------------------------------------------------------------------------------
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

    The style colouring is `plots.style_map` (one trace per style, thumbnails drawn on the map); the
    others reuse its layout and thumbnails with their own traces: month and engagement as one trace
    with a continuous colour bar (engagement on a log scale), author as one trace per top author plus
    a grey one for the rest. `later` posts (after the time slider's month) are drawn faint behind."""
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {list(COLOUR_BY)}, got {colour_by!r}")
    placed = placed_posts(posts)
    fig = plots.style_map(placed, thumbnails=thumbnails)
    if placed.empty:
        return fig
    if colour_by != "style":
        builders = {"month": _month_traces, "engagement": _engagement_traces,
                    "author": lambda p: _author_traces(p, n_authors)}
        fig.data = ()
        fig.add_traces(builders[colour_by](placed))
        fig.update_layout(title=f"Post map coloured by {COLOUR_BY[colour_by].lower()}")
    later = placed_posts(later) if later is not None else None
    if later is not None and len(later):
        fig.add_trace(faint_trace(later))
        fig.data = (fig.data[-1], *fig.data[:-1])  # behind the drawn posts
    return fig


# -- selection over time -----------------------------------------------------------------------------
def selection_share_line(posts: pd.DataFrame, post_ids: Iterable[str], period: str = "month",
                         name: str = "selection") -> go.Figure:
    """Share of the selected posts among all kept posts per period, as one line."""
    shares = selection_shares(posts, {name: list(post_ids)}, period)
    title = f"Share of the selected posts per {period} (selected / all posts on the map)"
    return plots.share_lines(shares, value="share", title=title)
