"""Data: import posts (upload or server path), see what was accepted / rejected and the data quality."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages._quality import quality_panel
from trend_core import plots

st.title("Data")
st.caption("Import posts (CSV, JSON, JSON Lines, Parquet) with their images or videos (the frame at 15 s, or "
           "the middle of a shorter clip, becomes the post's image). Every row ends up accepted or "
           "in the rejects table with its reason.")


def _import(source, file_name: str | None, images_dir: str | None) -> None:
    from trend_core import ingest

    s = ui.store()
    with st.spinner(f"Importing {file_name or source}…"):
        summary = ingest.ingest_file(s, source, images_dir=images_dir or None, file_name=file_name)
    ui.clear_caches()
    st.session_state["data_last_import"] = {"file": file_name or str(source), **summary}


empty = ui.post_count() == 0
if empty:
    ui.empty_notice()
tabs = ["Upload a file", "File on the server", "Demo dataset"]
upload_tab, path_tab, demo_tab = st.tabs(tabs, default=tabs[2] if empty else tabs[0])
with upload_tab:
    uploaded = st.file_uploader("Posts file", type=["csv", "json", "jsonl", "ndjson", "parquet"],
                                key="data_upload", help="Columns such as post_id, title, content, tags, "
                                "post_date, likes, collects, comments, image (file name or path).")
    zip_file = st.file_uploader("Images (optional zip)", type=["zip"], key="data_upload_zip",
                                help="Image and video names in the posts file are resolved inside this zip.")
    upload_images_dir = st.text_input("…or an images folder on the server", key="data_upload_images",
                                      placeholder="/path/to/images")
    if st.button("Import uploaded file", type="primary", disabled=uploaded is None, key="data_upload_button"):
        images_dir = upload_images_dir.strip() or None
        if zip_file is not None:
            images_dir = str(ui.extract_images_zip(zip_file.getvalue()))
        _import(io.BytesIO(uploaded.getvalue()), uploaded.name, images_dir)

with path_tab:
    server_path = st.text_input("Posts file path", key="data_server_path", placeholder="/path/to/posts.csv")
    server_images = st.text_input("Images folder (optional)", key="data_server_images",
                                  placeholder="/path/to/images")
    if st.button("Import from path", type="primary", key="data_server_button", disabled=not server_path.strip()):
        path = Path(server_path.strip()).expanduser()
        if not path.is_file():
            st.error(f"No file at {path}")
        else:
            _import(str(path), path.name, server_images.strip() or None)

with demo_tab:
    st.write("Synthetic outfit posts with planted style trends (deterministic for a seed); the styles are "
             "computed right after.")
    cols = st.columns([1, 1, 2])
    n_demo = cols[0].number_input("Posts", 100, 20000, ui.DEMO_POSTS, 100, key="data_demo_posts")
    seed = cols[1].number_input("Seed", 0, 10_000, 0, key="data_demo_seed")
    if st.button("Build the demo dataset", key="data_demo_button"):
        ui.build_demo_now(int(n_demo), int(seed))

last = st.session_state.get("data_last_import")
if last:
    st.subheader("Last import")
    cols = st.columns(5)
    for col, name in zip(cols, ["rows_read", "accepted", "rejected", "added", "already_present"]):
        col.metric(name.replace("_", " "), f"{int(last.get(name, 0) or 0):,}")
    st.json(json.loads(json.dumps(last, default=str)), expanded=False)
    if int(last.get("added", 0) or 0) > 0:
        st.info("New posts were added: styles are recomputed for the new data on the Styles page "
                "(or here).")
        if st.button("Compute styles now", key="data_compute_styles"):
            ui.compute_styles_now()

ui.show_last_reports(expanded=False)

if ui.post_count() > 0:
    st.subheader("Quality summary")
    frame = ui.posts()
    dates = pd.to_datetime(frame["post_date"])
    has_image = frame["image_hash"].notna() & (frame["image_hash"].astype(str) != "")
    has_text = (frame["content"].fillna("").astype(str).str.strip() != "") | (
        frame["title"].fillna("").astype(str).str.strip() != "")
    cols = st.columns(6)
    cols[0].metric("Posts", f"{len(frame):,}")
    cols[1].metric("First post", f"{dates.min():%Y-%m-%d}")
    cols[2].metric("Last post", f"{dates.max():%Y-%m-%d}")
    cols[3].metric("With image", f"{has_image.mean():.0%}")
    cols[4].metric("With text", f"{has_text.mean():.0%}")
    cols[5].metric("Posters", f"{frame['poster_id'].nunique():,}")
    period = st.segmented_control("Count per", ["day", "week", "month"], default="month", key="data_period")
    st.plotly_chart(plots.posts_per_period(frame, period or "month"), key="data_counts_chart")
    quality_panel()

s = ui.store()
rejects = s.load_rejects()
st.subheader(f"Rejected rows ({len(rejects):,})")
if rejects.empty:
    st.caption("No rejected rows.")
else:
    reasons = rejects["reason"].value_counts().rename_axis("reason").reset_index(name="rows")
    left, right = st.columns([1, 3])
    left.dataframe(reasons, hide_index=True, width="stretch")
    sources = ["all"] + sorted(rejects["source"].dropna().astype(str).unique().tolist())
    chosen = right.selectbox("Import", sources, key="data_rejects_source")
    shown = rejects if chosen == "all" else rejects[rejects["source"].astype(str) == chosen]
    # st.dataframe shows text as text: post content and raw rows are never rendered as HTML
    right.dataframe(shown, hide_index=True, width="stretch", height=320)

imports = s.load_imports()
st.subheader("Import history")
if imports.empty:
    st.caption("Nothing imported yet.")
else:
    st.dataframe(imports, hide_index=True, width="stretch")
