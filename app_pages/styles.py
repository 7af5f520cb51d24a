"""Styles: the silhouette curve over K, the K (and feature) choice, the styles table and exemplars."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from trend_core import pipeline, plots
from trend_core.plugins import Choice, encoder_choices, text_choices

MODALITY_HELP = {"image": "image (full photo)", "mask": "mask (clothing only)", "text": "text",
                 "engagement": "engagement"}

st.title("Styles")
st.caption("Styles are clusters of fused image + text (+ engagement) features. Pick K on the silhouette "
           "curve; applying a new K refits only the K-dependent stages.")


def _plugin_select(label: str, choices: list[Choice], setting: str, current: str, key: str) -> str:
    """A selectbox over registered plug-ins; unavailable ones are marked and their reason shown."""
    by_name = {c.name: c for c in choices}
    names = list(by_name)
    saved = pipeline.load_choice(ui.store(), setting) or current
    chosen = st.selectbox(label, names, key=key, index=names.index(saved) if saved in names else 0,
                          format_func=lambda n: n if by_name[n].available else f"{n} (unavailable here)",
                          help="; ".join(f"{c.name}: {c.description}" for c in choices))
    if not by_name[chosen].available:
        st.caption(f":red[{ui.md(chosen)} cannot run here:] {ui.md(by_name[chosen].problem)}")
    return chosen


view = ui.require_view("styles")
config = ui.current_config()
ui.show_fallback_notices()
st.caption(f"Segmenter **{ui.md(config.segment.method)}** · image encoder **{ui.md(config.image.encoder)}** · "
           f"text **{ui.md(config.text.method)}** · features {ui.md(', '.join(config.fusion.modalities))}")

left, right = st.columns([3, 1])
with right:
    st.markdown("**Choose K**")
    sweep_ks = sorted(int(k) for k in view.sweep["k"]) if not view.sweep.empty else [view.k]
    saved_k = pipeline.load_choice(ui.store(), "k")
    use_auto = st.checkbox(f"Auto (best silhouette: K = {view.auto_k})", value=not saved_k, key="styles_auto_k")
    k_value = st.number_input("K", min_value=min(sweep_ks), max_value=max(sweep_ks), value=int(view.k), step=1,
                              key="styles_k", disabled=use_auto)
    modalities = st.multiselect("Features used for styles", list(MODALITY_HELP),
                                default=[m for m in config.fusion.modalities if m in MODALITY_HELP],
                                key="styles_modalities", format_func=lambda m: MODALITY_HELP[m],
                                help="Changing these recomputes fusion, UMAP, the sweep and the fit; "
                                     "per-image masks and embeddings stay cached.")
    encoder = _plugin_select("Image encoder", encoder_choices(), "encoder", config.image.encoder, "styles_encoder")
    text_method = _plugin_select("Text features", text_choices(config), "text_method", config.text.method,
                                 "styles_text_method")
    if st.button("Apply", type="primary", key="styles_apply"):
        if not modalities:
            st.error("Pick at least one feature.")
        else:
            s = ui.store()
            pipeline.save_choice(s, "k", None if use_auto else int(k_value))
            pipeline.save_choice(s, "modalities", list(modalities))
            pipeline.save_choice(s, "encoder", encoder)
            pipeline.save_choice(s, "text_method", text_method)
            ui.compute_styles_now(f"Applying K = {'auto' if use_auto else int(k_value)}")
            st.rerun()
    st.metric("K in use", view.k, delta=None if view.k == view.auto_k else f"auto K = {view.auto_k}",
              delta_color="off")
with left:
    second = st.radio("Second index", ["davies_bouldin", "calinski_harabasz"], horizontal=True,
                      key="styles_second", format_func=lambda n: plots.SECOND_INDEX[n])
    st.plotly_chart(plots.silhouette_curve(view.sweep, view.k, view.auto_k, second=second),
                    key="styles_silhouette")

ui.show_last_reports(expanded=True)

st.subheader(f"{len(view.styles)} styles")
excluded = view.posts["excluded"].dropna()
if len(excluded):
    st.caption(f"{len(excluded):,} of {len(view.posts):,} posts were left out of style fitting: "
               + ", ".join(f"{reason} ({n})" for reason, n in excluded.value_counts().head(4).items()))
table = view.styles[["style", "name", "size", "keywords", "phrases"]].copy()
table["share"] = table["size"] / max(int(table["size"].sum()), 1)
st.dataframe(table, hide_index=True, width="stretch", key="styles_table",
             column_config={"share": st.column_config.ProgressColumn("share", format="percent",
                                                                     min_value=0.0, max_value=1.0)})

st.subheader("Exemplars")
st.caption("The posts closest to each style's centre.")
by_id = view.posts.set_index(view.posts["post_id"].astype(str))
all_ids = [str(p) for ids in view.styles["exemplars"] for p in ids]
hashes = by_id.reindex(all_ids)["image_hash"].dropna()
thumbs = ui.images(hashes, "thumb")
for rec in view.styles.itertuples(index=False):
    ids = [str(p) for p in rec.exemplars if str(p) in by_id.index]
    rows = by_id.loc[ids]
    items = []
    for pid, row in rows.iterrows():
        blob = thumbs.get(row["image_hash"]) if isinstance(row["image_hash"], str) else None
        if blob:
            items.append((blob, str(row["title"] or pid)[:20]))
    name_col, img_col = st.columns([1, 5])
    name_col.markdown(f"**{ui.md(rec.name)}**")
    name_col.caption(f"{int(rec.size):,} posts · {ui.md(rec.keywords)}")
    with img_col:
        ui.show_thumbnails(items, width=96)
