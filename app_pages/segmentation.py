"""Segmentation: pick the segmenter and the clothing threshold; see original / person mask / clothing
mask / masked image and the clothing-area ratio for a sample of posts."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import _common as ui
from app_pages._weights import offer_download
from trend_core import pipeline, plots
from trend_core.image_stages import preview_segmentation, stored_ratios
from trend_core.plugins import segmenter_choices

st.title("Segmentation")
st.caption("The clothing mask is the person mask minus face and exposed skin. Images whose clothing covers "
           "less than the threshold are left out of style fitting, with that reason shown on the Styles page. "
           "The \"mask\" feature embeds only the clothing (the masked image).")

ui.require_posts("segmentation")
config = ui.current_config()
ui.show_fallback_notices()

choices = {c.name: c for c in segmenter_choices()}
names = list(choices)
saved = pipeline.load_choice(ui.store(), "segmenter") or pipeline.PipelineConfig().segment.method


def _label(name: str) -> str:
    choice = choices[name]
    return f"{name}: {choice.description}" if choice.available else f"{name} (unavailable here)"


left, right = st.columns([2, 1])
with left:
    method = st.selectbox("Segmenter", names, index=names.index(saved) if saved in names else 0,
                          format_func=_label, key="seg_method")
    if not choices[method].available:
        st.error(f"**{method}** cannot run here: {ui.md(choices[method].problem)}")
    offer_download(choices[method], "seg_download")
with right:
    threshold = st.slider("Leave out images with clothing below", 0.0, 0.5,
                          float(config.segment.min_clothing_ratio), 0.01, format="%.2f", key="seg_threshold",
                          help="Share of the image that is clothing (0.05 = 5 %, as the original notes used).")
    if st.button("Use for styles", type="primary", key="seg_apply", disabled=not choices[method].available):
        s = ui.store()
        pipeline.save_choice(s, "segmenter", method)
        pipeline.save_choice(s, "min_clothing_ratio", float(threshold))
        ui.compute_styles_now(f"Segmenting with {method}")
        st.rerun()
st.caption(f"Styles currently use **{ui.md(config.segment.method)}** with a threshold of "
           f"{config.segment.min_clothing_ratio:.0%}.")

posts = ui.posts()
hashes = sorted({h for h in posts["image_hash"] if isinstance(h, str) and h})
if not hashes:
    st.info("No post has an image: segmentation has nothing to do.")
    st.stop()

st.subheader("Clothing area over all images")
ratios = stored_ratios(ui.store(), hashes, config)
if ratios:
    values = np.fromiter(ratios.values(), dtype=float)
    cols = st.columns(3)
    cols[0].metric("Images segmented", f"{len(values):,} / {len(hashes):,}")
    cols[1].metric("Median clothing area", f"{np.median(values):.0%}")
    cols[2].metric(f"Below {config.segment.min_clothing_ratio:.0%}",
                   f"{int((values < config.segment.min_clothing_ratio).sum()):,}")
    st.plotly_chart(plots.clothing_ratio_histogram(values, config.segment.min_clothing_ratio), key="seg_hist")
else:
    st.caption(f"No image has been segmented with {ui.md(config.segment.method)} yet: compute styles to do so.")

st.subheader("Sample")
cols = st.columns([1, 1, 2])
n_sample = int(cols[0].number_input("Images", 1, 24, 6, key="seg_sample_n"))
seed = int(cols[1].number_input("Sample seed", 0, 10_000, 0, key="seg_sample_seed"))
preview_method = method if choices[method].available else config.segment.method
rng = np.random.default_rng(seed)
sample = [hashes[i] for i in sorted(rng.choice(len(hashes), size=min(n_sample, len(hashes)), replace=False))]
with st.spinner(f"Segmenting {len(sample)} images with {preview_method}…"):
    rows = preview_segmentation(ui.store(), sample, preview_method)
st.caption(f"Computed now with **{ui.md(preview_method)}**: original · person mask · clothing mask · "
           "masked image (what the mask feature sees).")
for row in rows:
    verdict = "left out" if row["ratio"] < threshold else "kept"
    st.image([row["original"], row["person"], row["clothes"], row["masked"]], width=150,
             caption=["original", "person", "clothing", f"clothing {row['ratio']:.0%} ({verdict})"])
