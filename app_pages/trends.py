"""Trends: each style's share per period (lines with 95 % bands, or a stacked area), plain or
engagement-weighted; when each style stays above a share threshold (lifespans); and a monthly top-5
gallery with pictures. Every share is shown with its n (the images behind it); periods with fewer images
than the saved minimum are flagged on the charts and left out of the top 5 with a note. Widgets and
layout only: the numbers come from trend_core.trends, the figures from trend_core.trend_charts.

Many analysts at once (issue 11.9): the share table with the saved selections, both charts and the
monthly top-5 gallery are computed once per database, clustering, style names, saved selections and
settings and shared by every session (st.cache_data for tables, st.cache_resource for the figures: a
trend_core.shared_figure.FrozenFigure, never changed once made)."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import _shared
from trend_core import pipeline, plots, selections, trend_charts, trends
from trend_core.config import SHARE_UNITS
from trend_core.pipeline import StylesView
from trend_core.shared_figure import FrozenFigure

LEVEL = 0.95
KINDS = {"lines": "lines + 95 % bands", "area": "stacked area"}
MEASURES = {"share": "share of posts", "engagement_share": "engagement-weighted share"}
BAND_NOTES = {
    "share": "Bands: 95 % Wilson intervals of each share read as a binomial proportion (the style's posts "
             "out of the period's posts), so they are wide where a period has few posts.",
    "engagement_share": "Bands: 95 % Wilson intervals with Kish's effective number of posts, (Σe)² / Σe² with "
                        "e = likes + collects + comments per post: a period whose engagement comes from a few "
                        "posts gets a wide band even when it has many posts.",
}


def with_selections(table: pd.DataFrame, view: StylesView, period: str,
                    saved: Mapping[str, list[str]] | None = None) -> pd.DataFrame:
    """The style share table plus one series per selection saved on the Map page (marked ★): its posts'
    share of all kept posts per period, so it can be followed like a style (with the period's n).
    `saved`: the saved selections (read from the database when not given)."""
    saved = selections.load_selections(ui.store()) if saved is None else saved
    if not saved:
        return table
    extra = selections.selection_shares(view.kept_posts(), saved, period)
    extra["style_name"] = "★ " + extra["style_name"].astype(str)
    return pd.concat([table, extra.reindex(columns=table.columns)], ignore_index=True)


# -- shared by sessions ------------------------------------------------------------------------------
# Every function below is keyed on `shared` = (database, share key, style names digest, saved
# selections digest): what makes its result differ between databases, clusterings and renamings.

def shared_key(view: StylesView, saved: Mapping[str, list[str]]) -> tuple[str, str, str, str]:
    return ui.db_path(), view.share_key, _shared.view_names_key(view), _shared.selections_key(saved)


@st.cache_data(max_entries=16, show_spinner=False)
def _table(shared: tuple, period: str, _view: StylesView, _saved: Mapping[str, list[str]]) -> pd.DataFrame:
    """with_selections(the style shares per period)."""
    return with_selections(_view.shares(period), _view, period, _saved)


@st.cache_resource(max_entries=32, show_spinner=False)
def _share_figure(shared: tuple, period: str, kind: str, weighted: bool, min_n: int, chosen: tuple[int, ...],
                  unit: str, _view: StylesView, _saved: Mapping[str, list[str]]) -> FrozenFigure:
    """The share-over-time chart (lines with bands, or the stacked area) for these settings."""
    table = _table(shared, period, _view, _saved)
    value = "engagement_share" if weighted else "share"
    if kind == "lines":
        banded = (trends.engagement_bands(table, _view.kept_posts(), period, LEVEL) if weighted
                  else trends.binomial_bands(table, LEVEL))
        figure = trend_charts.share_lines(banded, value=value, styles=list(chosen), period=period, level=LEVEL,
                                          min_n=min_n, unit=unit)
    else:
        clusters = [c for c in chosen if c < selections.SELECTION_STYLE_BASE]
        figure = trend_charts.share_area(table, value=value, styles=clusters, period=period, min_n=min_n, unit=unit)
    return FrozenFigure(figure)


@st.cache_resource(max_entries=32, show_spinner=False)
def _lifespans(shared: tuple, period: str, value: str, percent: int, min_periods: int, chosen: tuple[int, ...],
               _view: StylesView, _saved: Mapping[str, list[str]],
               _names: Mapping[int, str]) -> tuple[pd.DataFrame, FrozenFigure]:
    """(the spans above the threshold, the lifespan chart); the frame is shared: read it, never change it."""
    table = _table(shared, period, _view, _saved)
    shown = table[table["style"].isin(chosen)]
    spans = trends.lifespans(shown, percent / 100.0, int(min_periods), value=value)
    rows = {s: _names[s] for s in _names if s in set(chosen)}
    extent = (table["period"].min(), table["period"].max()) if len(table) else None
    return spans, FrozenFigure(trend_charts.lifespan_chart(spans, period, percent / 100.0, rows, extent, value))


@st.cache_data(max_entries=16, show_spinner=False)
def _top(shared: tuple, value: str, min_n: int, _view: StylesView, _names: Mapping[int, str]) -> pd.DataFrame:
    """Monthly top 5 by `value` with the change against the month before, months with fewer than
    min_n images left out."""
    month_table = _view.shares("month")
    top = trends.top_changes(trends.top_styles(month_table, 5, value=value), month_table, value)
    dropped = set(trends.small_periods(month_table, min_n)["period"]) if min_n else set()
    top = top.assign(period=pd.to_datetime(top["period"]), style_name=top["style"].map(_names))
    return top[~top["period"].isin(dropped)]


@st.cache_data(max_entries=32, show_spinner=False)
def _gallery(shared: tuple, value: str, min_n: int, per_style: int, first: pd.Timestamp, last: pd.Timestamp,
             _view: StylesView, _names: Mapping[int, str]) -> pd.DataFrame:
    """The gallery rows (plots.top_gallery) of the months first..last with each picture's likes."""
    top = _top(shared, value, min_n, _view, _names)
    shown = top[(top["period"] >= first) & (top["period"] <= last)]
    exemplars = {int(s): list(ex) for s, ex in zip(_view.styles["style"], _view.styles["exemplars"])}
    gallery = plots.top_gallery(_view.posts, shown, exemplars, per_style=per_style, period="month")
    extra = ["period", "style", "count", "change", "new"] + [c for c in ("n",) if c in shown] + (
        [value] if value != "share" else [])
    gallery = gallery.astype({"period": "datetime64[ns]"}).merge(shown[extra], on=["period", "style"], how="left")
    likes = _likes(_view.posts)
    return gallery.assign(likes=[[likes.get(p, 0) for p in ids] for ids in gallery["post_ids"]])


def min_images() -> int:
    """The saved minimum of images per period (TrendConfig.min_period_images)."""
    return int(ui.current_config().trends.min_period_images)


def _save_min_images() -> None:
    pipeline.save_choice(ui.store(), "min_period_images", int(st.session_state["trends_min_images"]))


def _save_share_unit() -> None:
    pipeline.save_choice(ui.store(), "share_unit", st.session_state["trends_share_unit"])
    ui.clear_caches()


def unit_of(view: StylesView) -> str:
    """What shares count: the configured unit (images or posts), else what the posts' weights say."""
    unit = getattr(view.config, "share_unit", None)
    return unit if unit in ("images", "posts") else trends.count_unit(view.kept_posts())


def _listed(periods: pd.DataFrame, period: str, limit: int = 8) -> str:
    """'2024-01 (n = 12), 2024-02 (n = 3)' for up to `limit` periods, then '… and N more'."""
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    items = [f"{p:{fmt}} (n = {int(n)})" for p, n in zip(periods["period"], periods["n"])]
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def small_note(table: pd.DataFrame, period: str, min_n: int) -> str:
    """A caption naming the periods whose shares rest on fewer than min_n images ('' when none)."""
    small = trends.small_periods(table[table["n"].notna()] if "n" in table else table, min_n)
    if small.empty:
        return ""
    return (f"Grey shading and open grey points: {len(small)} {period}{'s' if len(small) != 1 else ''} with fewer "
            f"than {min_n} images, where a share rests on too few images to read: {_listed(small, period)}.")


def share_section(view: StylesView, names: Mapping[int, str], saved: Mapping[str, list[str]],
                  min_n_saved: int) -> tuple[pd.DataFrame, str, str, list[int]]:
    """Controls and the share-over-time chart; returns (share table, period, measure, chosen styles)."""
    cols = st.columns([1.4, 1.4, 1.3, 1.2, 3])
    period = cols[0].radio("Period", list(trends.PERIODS), index=2, horizontal=True, key="trends_period")
    kind = cols[1].radio("Chart", list(KINDS), format_func=KINDS.get, horizontal=True, key="trends_kind")
    cols[1].radio("Shares count", list(SHARE_UNITS), index=list(SHARE_UNITS).index(view.config.share_unit),
                  horizontal=True, key="trends_share_unit", on_change=_save_share_unit,
                  help="images: every image is one look, as the original study counted; posts: every post "
                       "counts once, split evenly over its images' styles (a saved setting, used by Forecast too).")
    cols[2].write("")
    weighted = cols[2].toggle("Engagement-weighted", key="trends_engagement",
                              help="Each style's share of the period's likes + collects + comments instead of "
                                   "its share of the period's posts.")
    min_n = int(cols[3].number_input("Fewest images", 0, 100_000, min_n_saved, step=5, key="trends_min_images",
                                     on_change=_save_min_images,
                                     help="Periods with fewer images are flagged on the charts and left out of the "
                                          "monthly top 5 (a saved setting)."))
    chosen = cols[4].multiselect("Styles", list(names), default=list(names), format_func=names.get,
                                 key="trends_styles")
    value = "engagement_share" if weighted else "share"
    unit = unit_of(view)
    shared = shared_key(view, saved)
    table = _table(shared, period, view, saved)
    figure = _share_figure(shared, period, kind, bool(weighted), min_n, tuple(int(c) for c in chosen), unit, view,
                           saved)
    if kind == "lines":
        note = BAND_NOTES[value]
    else:
        note = ("Stacked: with every style shown a period adds up to 100 %. No bands in this view; saved "
                "selections overlap the styles and are shown as lines only.")
    st.plotly_chart(figure, key="trends_chart")
    st.caption(note + f" Shares count {unit}; the hover shows each share with its n (the images behind the "
                      f"period's shares).")
    flagged = small_note(table, period, min_n)
    if flagged:
        st.caption(flagged)
    return table, period, value, chosen


def _spans_summary(spans: pd.DataFrame, period: str) -> str:
    """One markdown line: how many spans, the longest one."""
    if spans.empty:
        return "No spans above the threshold for the styles shown."
    longest = spans.sort_values(["periods", "peak_share"], ascending=False).iloc[0]
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    return (f"{len(spans)} span{'s' if len(spans) != 1 else ''} across {spans['style'].nunique()} styles; longest: "
            f"**{ui.md(longest['style_name'])}**, {int(longest['periods'])} {period}s "
            f"({longest['start']:{fmt}} – {longest['end']:{fmt}}).")


def lifespan_section(view: StylesView, saved: Mapping[str, list[str]], period: str, value: str,
                     names: Mapping[int, str], chosen: list[int]) -> None:
    """Threshold / shortest-span controls, the lifespan chart and the spans as a table."""
    st.subheader("Style lifespans")
    st.caption(f"When each style's {MEASURES[value]} rises above the threshold and when it falls below again.")
    cols = st.columns([2, 1, 2])
    percent = cols[0].slider("Threshold", 1, 90, 20, format="%d%%", key="trends_threshold",
                             help="A span starts in the first period above this share and ends in the last "
                                  "period above it.")
    min_periods = cols[1].number_input(f"Shortest span ({period}s)", 1, 52, 1, key="trends_min_periods",
                                       help="Spans shorter than this are left out (one-period blips).")
    spans, figure = _lifespans(shared_key(view, saved), period, value, int(percent), int(min_periods),
                               tuple(int(c) for c in chosen), view, saved, names)
    st.plotly_chart(figure, key="trends_lifespans")
    st.caption(_spans_summary(spans, period))
    with st.expander("Spans as a table"):
        st.dataframe(spans.drop(columns=["style"]), hide_index=True, width="stretch",
                     column_config={"style_name": "style", "periods": st.column_config.NumberColumn(period + "s"),
                                    "peak_share": st.column_config.NumberColumn("peak", format="percent"),
                                    "peak_n": st.column_config.NumberColumn("n at peak", format="%d",
                                                                            help="images behind the peak period"),
                                    "ongoing": st.column_config.CheckboxColumn("still above")})


def _change_text(change: float) -> str:
    """'▲ +3 pts' (green) / '▼ -2 pts' (red) / '= 0 pts' against the previous month."""
    if pd.isna(change):
        return ""
    points = round(float(change) * 100)
    if points > 0:
        return f":green[▲ +{points} pts]"
    if points < 0:
        return f":red[▼ {points} pts]"
    return "= 0 pts"


def _count_text(count: float, unit: str) -> str:
    """'12 posts' / '1 image' / '2.5 posts' (posts split over their images' styles)."""
    count = float(count)
    text = f"{count:,.0f}" if abs(count - round(count)) < 1e-9 else f"{count:,.1f}"
    return f"{text} {unit if count != 1 else unit.rstrip('s')}"


def _slot_caption(rec: object, value: str, unit: str = "posts") -> str:
    """Rank, escaped name, value with its n, change against last month, count, 'new' marker."""
    n_text = f" (n = {int(rec.n):,})" if not pd.isna(getattr(rec, "n", float("nan"))) else ""
    parts = [f"{getattr(rec, value):.0%}{n_text}", _change_text(rec.change), _count_text(rec.count, unit)]
    if rec.new:
        parts.append(":blue[new]")
    return f"**#{rec.rank} · {ui.md(rec.style_name)}**  \n" + " · ".join(p for p in parts if p)


def _likes(posts: pd.DataFrame) -> dict[str, int]:
    return dict(zip(posts["post_id"].astype(str), posts["likes"].fillna(0).astype(int)))


def month_range(months: list[pd.Timestamp], shown: int = 6) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A range slider over the months (the last `shown` months at first); one month needs no slider."""
    if len(months) == 1:
        return months[0], months[0]
    return st.select_slider("Months", options=months, value=(months[max(0, len(months) - shown)], months[-1]),
                            format_func=lambda m: f"{m:%Y-%m}", key="trends_month_range")


def left_out_note(month_table: pd.DataFrame, min_n: int) -> str:
    """Which months the top 5 leaves out and why ('' when none)."""
    small = trends.small_periods(month_table, min_n, with_rows_only=True)
    if small.empty:
        return ""
    return (f"Left out of the top 5: {_listed(small, 'month')}: fewer than {min_n} images that month, too few for a "
            "ranking (one post can make a style #1 at 50 %). Lower *Fewest images* above to include them.")


def gallery_section(view: StylesView, value: str, names: Mapping[int, str], min_n: int = 0,
                    saved: Mapping[str, list[str]] | None = None) -> None:
    """Monthly top 5 by the chosen measure: a row per month, a few pictures per style; months with fewer
    than min_n images are left out with a note."""
    st.subheader("Monthly top 5")
    shared = shared_key(view, {} if saved is None else saved)
    top = _top(shared, value, min_n, view, names)
    note = left_out_note(ui.shares(view, "month"), min_n) if min_n else ""
    if note:
        st.info(note, icon=":material/filter_alt:")
    months = sorted(top["period"].drop_duplicates())
    if not months:
        st.caption("No months to show.")
        return
    st.caption(f"Ranked by {MEASURES[value]}; n = the images behind the month's shares; the change is against the "
               "month before, *new* marks a style that was not in that month's top 5.")
    cols = st.columns([3, 1])
    with cols[0]:
        first, last = month_range(months)
    per_style = int(cols[1].number_input("Pictures per style", 1, 4, 2, key="trends_per_style"))
    gallery = _gallery(shared, value, min_n, per_style, pd.Timestamp(first), pd.Timestamp(last), view, names)
    thumbs = ui.images([h for hs in gallery["image_hashes"] for h in hs], "thumb")
    unit = unit_of(view)
    for month in sorted(gallery["period"].drop_duplicates(), reverse=True):
        month_row(month, gallery[gallery["period"] == month].sort_values("rank"), thumbs, None, value, unit)


def month_row(month: pd.Timestamp, rows: pd.DataFrame, thumbs: Mapping[str, bytes], likes: Mapping[str, int] | None,
              value: str, unit: str = "posts") -> None:
    """One bordered row: the month, then up to five styles with their pictures (likes: post_id -> likes,
    or None when the rows carry a `likes` list per style, as _gallery's do)."""
    with st.container(border=True, key=f"trends_month_{month:%Y%m}"):
        st.markdown(f"**{month:%Y-%m}**")
        for slot, rec in zip(st.columns(5), rows.itertuples(index=False)):
            slot.caption(_slot_caption(rec, value, unit))
            counts = rec.likes if likes is None else [likes.get(p, 0) for p in rec.post_ids]
            pictures = [(thumbs[h], f"♥ {n:,}") for n, h in zip(counts, rec.image_hashes) if h in thumbs]
            if pictures:
                slot.image([b for b, _ in pictures], caption=[c for _, c in pictures], width=88)
            else:
                slot.caption("no pictures this month")


st.title("Trends")
st.caption("How each style's share of images (or posts) moves over time, how long each stays popular, and the monthly "
           "top 5 with their pictures.")

view = ui.require_view("trends")
saved = selections.load_selections(ui.store())
style_names = dict(zip(view.styles["style"].astype(int), view.styles["name"].astype(str)))
style_names |= {sid: f"★ {name}" for name, sid in selections.selection_style_ids(saved).items()}
saved_min_images = min_images()
share_table, chosen_period, measure, chosen_styles = share_section(view, style_names, saved, saved_min_images)
lifespan_section(view, saved, chosen_period, measure, style_names, chosen_styles)
gallery_section(view, measure, style_names, saved_min_images, saved)
_shared.settle_memory("trends")
