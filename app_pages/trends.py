"""Trends: each style's share per period (lines with 95 % bands, or a stacked area), plain or
engagement-weighted; when each style stays above a share threshold (lifespans); and a monthly top-5
gallery with pictures. Widgets and layout only: the numbers come from trend_core.trends, the figures
from trend_core.trend_charts."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from trend_core import plots, selections, trend_charts, trends
from trend_core.pipeline import StylesView

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


def with_selections(table: pd.DataFrame, view: StylesView, period: str) -> pd.DataFrame:
    """The style share table plus one series per selection saved on the Map page (marked ★): its posts'
    share of all kept posts per period, so it can be followed like a style."""
    saved = selections.load_selections(ui.store())
    if not saved:
        return table
    extra = selections.selection_shares(view.kept_posts(), saved, period)
    extra["style_name"] = "★ " + extra["style_name"].astype(str)
    return pd.concat([table, extra[table.columns]], ignore_index=True)


def share_section(view: StylesView, names: Mapping[int, str]) -> tuple[pd.DataFrame, str, str, list[int]]:
    """Controls and the share-over-time chart; returns (share table, period, measure, chosen styles)."""
    cols = st.columns([1.4, 1.4, 1.3, 3])
    period = cols[0].radio("Period", list(trends.PERIODS), index=2, horizontal=True, key="trends_period")
    kind = cols[1].radio("Chart", list(KINDS), format_func=KINDS.get, horizontal=True, key="trends_kind")
    cols[2].write("")
    weighted = cols[2].toggle("Engagement-weighted", key="trends_engagement",
                              help="Each style's share of the period's likes + collects + comments instead of "
                                   "its share of the period's posts.")
    chosen = cols[3].multiselect("Styles", list(names), default=list(names), format_func=names.get,
                                 key="trends_styles")
    value = "engagement_share" if weighted else "share"
    table = with_selections(ui.shares(view, period), view, period)
    if kind == "lines":
        banded = (trends.engagement_bands(table, view.kept_posts(), period, LEVEL) if weighted
                  else trends.binomial_bands(table, LEVEL))
        figure = trend_charts.share_lines(banded, value=value, styles=chosen, period=period, level=LEVEL)
        note = BAND_NOTES[value]
    else:
        clusters = [c for c in chosen if c < selections.SELECTION_STYLE_BASE]
        figure = trend_charts.share_area(table, value=value, styles=clusters, period=period)
        note = ("Stacked: with every style shown a period adds up to 100 %. No bands in this view; saved "
                "selections overlap the styles and are shown as lines only.")
    st.plotly_chart(figure, key="trends_chart")
    st.caption(note)
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


def lifespan_section(table: pd.DataFrame, period: str, value: str, names: Mapping[int, str],
                     chosen: list[int]) -> None:
    """Threshold / shortest-span controls, the lifespan chart and the spans as a table."""
    st.subheader("Style lifespans")
    st.caption(f"When each style's {MEASURES[value]} rises above the threshold and when it falls below again.")
    cols = st.columns([2, 1, 2])
    percent = cols[0].slider("Threshold", 1, 90, 20, format="%d%%", key="trends_threshold",
                             help="A span starts in the first period above this share and ends in the last "
                                  "period above it.")
    min_periods = cols[1].number_input(f"Shortest span ({period}s)", 1, 52, 1, key="trends_min_periods",
                                       help="Spans shorter than this are left out (one-period blips).")
    shown = table[table["style"].isin(chosen)]
    spans = trends.lifespans(shown, percent / 100.0, int(min_periods), value=value)
    rows = {s: names[s] for s in names if s in set(chosen)}
    extent = (table["period"].min(), table["period"].max()) if len(table) else None
    st.plotly_chart(trend_charts.lifespan_chart(spans, period, percent / 100.0, rows, extent, value),
                    key="trends_lifespans")
    st.caption(_spans_summary(spans, period))
    with st.expander("Spans as a table"):
        st.dataframe(spans.drop(columns=["style"]), hide_index=True, width="stretch",
                     column_config={"style_name": "style", "periods": st.column_config.NumberColumn(period + "s"),
                                    "peak_share": st.column_config.NumberColumn("peak", format="percent"),
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


def _slot_caption(rec: object, value: str) -> str:
    """Rank, escaped name, value, change against last month, post count, 'new' marker."""
    posts = int(rec.count)
    parts = [f"{getattr(rec, value):.0%}", _change_text(rec.change), f"{posts} post{'s' if posts != 1 else ''}"]
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


def gallery_section(view: StylesView, value: str, names: Mapping[int, str]) -> None:
    """Monthly top 5 by the chosen measure: a row per month, a few pictures per style."""
    st.subheader("Monthly top 5")
    month_table = ui.shares(view, "month")
    top = trends.top_changes(trends.top_styles(month_table, 5, value=value), month_table, value)
    top = top.assign(period=pd.to_datetime(top["period"]), style_name=top["style"].map(names))
    months = sorted(top["period"].drop_duplicates())
    if not months:
        st.caption("No months to show.")
        return
    st.caption(f"Ranked by {MEASURES[value]}; the change is against the month before, *new* marks a style "
               "that was not in that month's top 5.")
    cols = st.columns([3, 1])
    with cols[0]:
        first, last = month_range(months)
    per_style = int(cols[1].number_input("Pictures per style", 1, 4, 2, key="trends_per_style"))
    shown = top[(top["period"] >= first) & (top["period"] <= last)]
    exemplars = {int(s): list(ex) for s, ex in zip(view.styles["style"], view.styles["exemplars"])}
    gallery = plots.top_gallery(view.posts, shown, exemplars, per_style=per_style, period="month")
    extra = ["period", "style", "count", "change", "new"] + ([value] if value != "share" else [])
    gallery = gallery.astype({"period": "datetime64[ns]"}).merge(shown[extra], on=["period", "style"], how="left")
    thumbs = ui.images([h for hs in gallery["image_hashes"] for h in hs], "thumb")
    likes = _likes(view.posts)
    for month in sorted(shown["period"].drop_duplicates(), reverse=True):
        month_row(month, gallery[gallery["period"] == month].sort_values("rank"), thumbs, likes, value)


def month_row(month: pd.Timestamp, rows: pd.DataFrame, thumbs: Mapping[str, bytes], likes: Mapping[str, int],
              value: str) -> None:
    """One bordered row: the month, then up to five styles with their pictures."""
    with st.container(border=True, key=f"trends_month_{month:%Y%m}"):
        st.markdown(f"**{month:%Y-%m}**")
        for slot, rec in zip(st.columns(5), rows.itertuples(index=False)):
            slot.caption(_slot_caption(rec, value))
            pictures = [(thumbs[h], f"♥ {likes.get(p, 0):,}") for p, h in zip(rec.post_ids, rec.image_hashes)
                        if h in thumbs]
            if pictures:
                slot.image([b for b, _ in pictures], caption=[c for _, c in pictures], width=88)
            else:
                slot.caption("no pictures this month")


st.title("Trends")
st.caption("How each style's share of posts moves over time, how long each stays popular, and the monthly "
           "top 5 with their pictures.")

view = ui.require_view("trends")
saved = selections.load_selections(ui.store())
style_names = dict(zip(view.styles["style"].astype(int), view.styles["name"].astype(str)))
style_names |= {sid: f"★ {name}" for name, sid in selections.selection_style_ids(saved).items()}
share_table, chosen_period, measure, chosen_styles = share_section(view, style_names)
lifespan_section(share_table, chosen_period, measure, style_names, chosen_styles)
gallery_section(view, measure, style_names)
