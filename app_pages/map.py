"""Map: the 2-d UMAP of all posts coloured by style.

Plotly hover labels can only show text, so the map works in two layers:
- hover: style, date, likes and the post's title / text (HTML-escaped) from the point's customdata;
- pictures: per style, thumbnails of its best exemplar and of posts spread over its region are drawn on
  the map at their positions (layout images), and clicking a point (or drawing a box / lasso) selects posts: the panel below
  the map then shows their thumbnails and full text (st.plotly_chart(on_select="rerun")).
"""
from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from trend_core import plots

st.title("Map")
st.caption("Hover a point for its text; click a point or draw a box / lasso to see the thumbnails and "
           "full text of the selected posts below the map.")

view = ui.require_view("map")
posts = view.posts

controls = st.columns([2, 1, 1])
names = dict(zip(view.styles["style"].astype(int), view.styles["name"].astype(str)))
chosen = controls[0].multiselect("Styles", list(names), default=list(names), format_func=lambda s: names[s],
                                 key="map_styles")
show_thumbs = controls[1].toggle("Thumbnails on the map", value=True, key="map_thumbs")
per_style = controls[2].slider("Thumbnails per style", 1, 6, 3, key="map_per_style", disabled=not show_thumbs)

shown = posts[posts["style"].isin(chosen)]
thumbs_by_post: dict[str, bytes] = {}
if show_thumbs:
    exemplars = {int(s): list(ex) for s, ex in zip(view.styles["style"], view.styles["exemplars"])}
    wanted = plots.map_thumbnail_posts(posts, exemplars, per_style=per_style, styles=chosen)
    hashes = posts.set_index(posts["post_id"].astype(str)).reindex(wanted)["image_hash"]
    blobs = ui.images(hashes.dropna(), "thumb")
    thumbs_by_post = {pid: blobs[h] for pid, h in hashes.items() if isinstance(h, str) and h in blobs}

event = st.plotly_chart(plots.style_map(shown, thumbnails=thumbs_by_post), key="map_chart", on_select="rerun",
                        selection_mode=("points", "box", "lasso"))
left_out = int((posts["style"] < 0).sum())
if left_out:
    st.caption(f"{left_out:,} posts left out of style fitting are not on the map.")

selected = plots.selected_post_ids(event)
st.subheader(f"Selected posts ({len(selected)})" if selected else "Selected posts")
if not selected:
    st.caption("Nothing selected yet: click a point, or use the box / lasso tools in the chart's toolbar.")
else:
    order = {pid: i for i, pid in enumerate(selected)}
    frame = posts[posts["post_id"].astype(str).isin(order)].sort_values(
        "post_id", key=lambda ids: ids.astype(str).map(order))
    limit = 36
    if len(frame) > limit:
        st.caption(f"Showing the first {limit} of {len(frame)} selected posts (thumbnails).")
    ui.show_thumbnails(ui.thumbnails_for_posts(frame, limit), width=112)
    st.dataframe(frame[["post_id", "style_name", "post_date", "likes", "collects", "comments", "title", "content",
                        "tags"]], hide_index=True, width="stretch", key="map_selected_table")
