"""Trends: each style's share per period, and a monthly top-5 gallery with pictures."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from trend_core import plots

st.title("Trends")
st.caption("How each style's share of posts moves over time; the monthly top 5 with their pictures.")

view = ui.require_view("trends")
names = dict(zip(view.styles["style"].astype(int), view.styles["name"].astype(str)))

cols = st.columns([1.4, 1, 3])
period = cols[0].radio("Period", ["day", "week", "month"], index=2, horizontal=True, key="trends_period")
value = cols[1].selectbox("Measure", ["share", "engagement_share", "count", "engagement"], key="trends_value",
                          format_func=lambda v: plots.VALUE_LABELS[v])
chosen = cols[2].multiselect("Styles", list(names), default=list(names), format_func=lambda s: names[s],
                             key="trends_styles")
table = ui.shares(view, period)
st.plotly_chart(plots.share_lines(table, value=value, styles=chosen), key="trends_chart")

st.subheader("Monthly top 5")
top = ui.top_styles(view, "month", 5)
top = top.assign(period=pd.to_datetime(top["period"]))
months = sorted(top["period"].drop_duplicates(), reverse=True)
if not months:
    st.caption("No months to show.")
    st.stop()
cols = st.columns([2, 1])
n_months = cols[0].slider("Months shown (newest first)", 1, len(months), min(6, len(months)), key="trends_months")
per_style = cols[1].number_input("Pictures per style", 1, 4, 2, key="trends_per_style")
exemplars = {int(s): list(ex) for s, ex in zip(view.styles["style"], view.styles["exemplars"])}
shown_top = top[top["period"].isin(months[:n_months])]
gallery = plots.top_gallery(view.posts, shown_top, exemplars, per_style=int(per_style), period="month")
thumbs = ui.images([h for hs in gallery["image_hashes"] for h in hs], "thumb")
for month in months[:n_months]:
    rows = gallery[gallery["period"] == month].sort_values("rank")
    with st.container(border=True, key=f"trends_month_{month:%Y%m}"):
        st.markdown(f"**{month:%Y-%m}**")
        slots = st.columns(5)
        for slot, rec in zip(slots, rows.itertuples(index=False)):
            slot.caption(f"#{rec.rank} · {ui.md(rec.style_name)} · {rec.share:.0%}")
            blobs = [thumbs[h] for h in rec.image_hashes if h in thumbs]
            if blobs:
                slot.image(blobs, width=88)
            else:
                slot.caption("no pictures this month")
