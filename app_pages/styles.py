"""Styles: the silhouette curve over K, the K (and feature) choice, the styles table with a rename control,
the comparison with the previous clustering (matched styles and a Sankey of splits and merges) and exemplars."""
from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages._weights import offer_download
from trend_core import identity, identity_charts, pipeline, plots
from trend_core import styles as style_ops
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
    saved = SAVED.get(setting) or current
    chosen = st.selectbox(label, names, key=key, index=names.index(saved) if saved in names else 0,
                          format_func=lambda n: n if by_name[n].available else f"{n} (unavailable here)",
                          help="; ".join(f"{c.name}: {c.description}" for c in choices))
    if not by_name[chosen].available:
        st.caption(f":red[{ui.md(chosen)} cannot run here:] {ui.md(by_name[chosen].problem)}")
    offer_download(by_name[chosen], f"{key}_download")
    return chosen


ROUTE_WORDS = {"fitted": "styled on their fused features", pipeline.TEXT_ASSIGNED: "text-assigned: no usable "
              "image, given the nearest style by text + engagement"}


def _routes_section(view: pipeline.StylesView) -> None:
    """How many images and posts each route covers, and a one-click switch to text-only features when
    most posts have no image."""
    routes = view.routes()
    parts = [f"{int(r.images):,} images of {int(r.posts):,} posts {ROUTE_WORDS.get(r.route, r.route)}"
             for r in routes.itertuples(index=False)]
    st.caption("Coverage: " + "; ".join(parts) + ".")  # the words are the library's, not data
    image_blocks = set(pipeline.IMAGE_BLOCKS) & set(view.config.fusion.modalities)
    if image_blocks and view.mostly_without_images():
        st.warning("Most posts have no image, so the styles rest on the few posts that have one. Text-only "
                   "features (text + engagement) use every post.")
        if st.button("Use text-only features", key="styles_text_only"):
            pipeline.save_choice(ui.store(), "modalities", ["text", "engagement"])
            _apply_and_record(view, "Computing styles from text + engagement")
            st.rerun()


def _apply_and_record(before: pipeline.StylesView, label: str) -> None:
    """Re-cluster with the saved choices, remember `before` as the previous clustering and carry the
    names the analyst gave to the matched new styles."""
    result = ui.compute_styles_now(label)
    carried = identity.record_recluster(ui.store(), before, result.view)
    if carried:
        ui.clear_caches()
        st.session_state["styles_notice"] = (f"{len(carried)} style name(s) you gave followed their matched "
                                             "style into this clustering.")


def _numbered(style: int, name: str) -> str:
    """'S3 name' for a selectbox option (default names already start with their number)."""
    return name if name.startswith(f"S{style} ") or name == f"S{style}" else f"S{style} · {name}"


def _rename_form(view: pipeline.StylesView) -> None:
    """Give a style a name for this clustering (a blank name restores the default one)."""
    names = dict(zip(view.styles["style"].astype(int), view.styles["name"]))
    with st.form("styles_rename_form", border=False):
        style_col, name_col, button_col = st.columns([2, 3, 1], vertical_alignment="bottom")
        style = style_col.selectbox("Style to rename", list(names), key="styles_rename_style",
                                    format_func=lambda s: _numbered(s, names[s]))
        name = name_col.text_input("New name", key="styles_rename_name", max_chars=pipeline.STYLE_NAME_CHARS,
                                   placeholder="blank: back to the default name")
        if button_col.form_submit_button("Rename", key="styles_rename_button"):
            pipeline.rename_style(ui.store(), view.clustering_key, int(style), name)
            ui.clear_caches()
            st.rerun()
    st.caption("Names are kept for this clustering and follow their style when you re-cluster.")


@st.cache_data(max_entries=8, show_spinner=False)
def _comparison(db: str, previous_fit: str, current_fit: str, _previous: dict[str, str],
                _view: pipeline.StylesView) -> identity.Comparison | None:
    """Matches and flows between two stored clusterings (their keys never change content)."""
    return identity.compare(ui.get_store(db), _previous, _view)


def _change_caption(comparison: identity.Comparison, prev_names: dict[int, str], new_names: dict[int, str]) -> None:
    """One line naming the splits and merges (escaped names)."""
    splits, merges = identity.splits_and_merges(comparison.flows)
    parts = [f"{ui.md(prev_names.get(p, f'S{p}'))} split into "
             + ", ".join(ui.md(new_names.get(n, f"S{n}")) for n in news) for p, news in splits.items()]
    parts += [", ".join(ui.md(prev_names.get(p, f"S{p}")) for p in prevs)
              + f" merged into {ui.md(new_names.get(n, f'S{n}'))}" for n, prevs in merges.items()]
    st.caption("; ".join(parts) + "." if parts else "No style was split or merged.")


def _comparison_section(view: pipeline.StylesView) -> None:
    """The current styles matched to the previous clustering's, and a Sankey of the posts' flows."""
    st.subheader("Compared with the previous clustering")
    notice = st.session_state.pop("styles_notice", None)
    if notice:
        st.success(notice)
    previous = identity.previous_clustering(ui.store())
    comparison = (None if previous is None or previous["fit"] == view.clustering_key
                  else _comparison(ui.db_path(), previous["fit"], view.clustering_key, previous, view))
    if comparison is None:
        st.info("There is no previous clustering to compare with yet. After you apply another K, other "
                "features or another encoder, the new styles are matched here to the ones they replace.")
        return
    prev_names = identity.stored_names(ui.store(), comparison.previous_key)
    new_names = dict(zip(view.styles["style"].astype(int), view.styles["name"]))
    matched = int(comparison.matches["matched"].sum())
    st.caption(f"{comparison.shared_posts:,} posts are in both clusterings. Styles are paired by their "
               f"centres (Hungarian method); {matched} pair(s) share at least {identity.MIN_OVERLAP:.0%} of "
               "their posts (Jaccard overlap) and count as the same style.")
    _change_caption(comparison, prev_names, new_names)
    st.dataframe(identity.match_table(comparison.matches, prev_names, new_names), hide_index=True, width="stretch",
                 key="styles_matches", column_config={"overlap": st.column_config.ProgressColumn(
                     "overlap", format="percent", min_value=0.0, max_value=1.0)})
    st.plotly_chart(identity_charts.flow_sankey(comparison.flows, prev_names, new_names, comparison.matches),
                    key="styles_sankey")


def _sweep_range(view: pipeline.StylesView, config) -> None:
    """The K range and samples per K of the silhouette sweep, and the time each K took. A new range
    re-runs the sweep and the fit only (UMAP and the features stay cached)."""
    cfg = config.styles
    with st.expander(f"K range {cfg.k_min}..{cfg.k_max}, {cfg.silhouette_repeats} samples of "
                     f"{cfg.silhouette_sample:,} posts per K", expanded=False):
        cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        k_from = cols[0].number_input("K from", 2, style_ops.MAX_K - 1, int(cfg.k_min), key="styles_k_min")
        k_to = cols[1].number_input("K to", 3, style_ops.MAX_K, int(cfg.k_max), key="styles_k_max")
        repeats = cols[2].number_input("Samples per K", 1, 10, int(cfg.silhouette_repeats), key="styles_repeats",
                                       help="Independent random samples scored per K: the curve's ±1 std band.")
        if cols[3].button("Run the sweep", key="styles_sweep_button"):
            if k_from >= k_to:
                st.error("'K from' must be smaller than 'K to'.")
            else:
                s = ui.store()
                for name, value in (("k_min", k_from), ("k_max", k_to), ("silhouette_repeats", repeats)):
                    pipeline.save_choice(s, name, int(value))
                _apply_and_record(view, f"Sweeping K = {int(k_from)}..{int(k_to)}")
                st.rerun()
        st.plotly_chart(plots.sweep_seconds(view.sweep, view.k), key="styles_seconds")


view = ui.require_view("styles")
config = ui.current_config()
SAVED = pipeline.load_choices(ui.store())  # the analyst's saved choices, read once per run
ui.show_fallback_notices()
st.caption(f"Segmenter **{ui.md(config.segment.method)}** · image encoder **{ui.md(config.image.encoder)}** · "
           f"text **{ui.md(config.text.method)}** · features {ui.md(', '.join(config.fusion.modalities))}")

def _source_choice(view: pipeline.StylesView) -> None:
    """Styles from clustering or from the imported style column (offered when the posts carry labels)."""
    if not ui.posts()["style_label"].notna().any():
        return
    sources = {"clusters": "clusters of the features", "labels": "my style column (labels as given)"}
    chosen = st.radio("Styles from", list(sources), format_func=sources.get, horizontal=True,
                      index=list(sources).index(view.config.style_source), key="styles_source")
    if chosen != view.config.style_source:
        pipeline.save_choice(ui.store(), "style_source", chosen)
        _apply_and_record(view, "Computing styles from " + sources[chosen])
        st.rerun()


_source_choice(view)
left, right = st.columns([3, 1])
if config.style_source == "labels":
    left.info(f"The styles are the {len(view.styles)} labels of your style column, as given: no K to choose. "
              "The features below place the images on the Map.")
with right:
    st.markdown("**Choose K**" if config.style_source != "labels" else "**Features for the map**")
    sweep_ks = sorted(int(k) for k in view.sweep["k"]) if not view.sweep.empty else [view.k]
    saved_k = SAVED.get("k")
    clustered = config.style_source != "labels"
    use_auto = st.checkbox(f"Auto (best silhouette: K = {view.auto_k})", value=not saved_k, key="styles_auto_k",
                           disabled=not clustered)
    k_value = st.number_input("K", min_value=min(sweep_ks), max_value=max(sweep_ks), value=int(view.k), step=1,
                              key="styles_k", disabled=use_auto or not clustered)
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
            _apply_and_record(view, f"Applying K = {'auto' if use_auto else int(k_value)}")
            st.rerun()
    st.metric("K in use" if clustered else "Styles (labels)", view.k,
              delta=None if view.k == view.auto_k else f"auto K = {view.auto_k}", delta_color="off")
if clustered:
    with left:
        second = st.radio("Second index", ["davies_bouldin", "calinski_harabasz"], horizontal=True,
                          key="styles_second", format_func=lambda n: plots.SECOND_INDEX[n])
        st.plotly_chart(plots.silhouette_curve(view.sweep, view.k, view.auto_k, second=second),
                        key="styles_silhouette")
        _sweep_range(view, config)

ui.show_last_reports(expanded=True)

st.subheader(f"{len(view.styles)} styles")
_routes_section(view)
table = view.styles[["style", "name", "size", "keywords", "phrases"]].copy()
table["share"] = table["size"] / max(int(table["size"].sum()), 1)
st.dataframe(table, hide_index=True, width="stretch", key="styles_table",
             column_config={"share": st.column_config.ProgressColumn("share", format="percent",
                                                                     min_value=0.0, max_value=1.0)})
_rename_form(view)
_comparison_section(view)

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
