"""Search: the posts nearest a Chinese or English text query, by text embedding, or by image when the
images were embedded with CLIP (a joint image-text model)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from trend_core import pipeline
from trend_core import search as post_search

MODES = ["text", "image"]

st.title("Search")
st.caption("Type words in Chinese or English (e.g. 碎花连衣裙, floral dress): the nearest posts by their text, "
           "or by their picture when a joint image-text model (CLIP) embedded the images.")


@st.cache_resource(show_spinner="Indexing the posts' text…", max_entries=4)
def _text_index(db: str, text_key: str, _view: pipeline.StylesView) -> post_search.TextSearch:
    """The refitted text index, one per database and text key."""
    return post_search.build_text_search(ui.get_store(db), _view)


@st.cache_resource(show_spinner="Loading the CLIP image vectors…", max_entries=2)
def _image_index(db: str, clustering_key: str, _view: pipeline.StylesView) -> post_search.ImageSearch:
    """The CLIP image index, one per database and clustering (its key includes the image keys)."""
    return post_search.build_image_search(ui.get_store(db), _view)


def image_index(view: pipeline.StylesView) -> tuple[post_search.ImageSearch | None, str | None]:
    """(image index, None) when image search can run, else (None, why not)."""
    problem = post_search.image_search_status(view)
    if problem:
        return None, problem
    try:
        return _image_index(ui.db_path(), view.clustering_key, view), None
    except post_search.SearchUnavailable as exc:
        return None, str(exc)


def terms_caption(result: post_search.SearchResult) -> str:
    """How the query was read: words searched, English words translated, words the posts lack."""
    terms = result.terms
    parts = [f"searched for {ui.md(' · '.join(terms.used))}"] if terms.used else []
    if terms.translated:
        parts.append("from English: " + ", ".join(f"{ui.md(en)} → {ui.md('/'.join(zh))}"
                                                  for en, zh in terms.translated.items()))
    if terms.unknown:
        parts.append(f"not in the posts: {ui.md(', '.join(terms.unknown))}")
    return "; ".join(parts)


def show_gallery(frame: pd.DataFrame) -> None:
    """Thumbnails of the results with their style name and score (escaped)."""
    thumbs = ui.images(frame["image_hash"].dropna(), "thumb")
    shown = [rec for rec in frame.itertuples(index=False) if rec.image_hash in thumbs]
    if not shown:
        st.caption("None of these posts has a picture.")
        return
    st.image([thumbs[rec.image_hash] for rec in shown],
             caption=[f"{ui.md(rec.style_name)} · {rec.score:.2f}" for rec in shown], width=120)
    if len(shown) < len(frame):
        st.caption(f"{len(frame) - len(shown)} of the results have no picture.")


def show_results(result: post_search.SearchResult) -> None:
    frame = result.frame
    counts = frame["style_name"].value_counts()
    st.subheader(f"{len(frame)} posts")
    st.caption("Styles among the results: " + ", ".join(f"{ui.md(name)} ×{n}" for name, n in counts.items()))
    show_gallery(frame)
    st.dataframe(frame, hide_index=True, width="stretch", key="search_table",
                 column_config={"score": st.column_config.NumberColumn("score", format="%.3f"),
                                "image_hash": None})


view = ui.require_view("search")
image_search, image_problem = image_index(view)
cols = st.columns([4, 1, 1.4])
query = cols[0].text_input("Query", key="search_query", placeholder="碎花连衣裙 · floral dress")
n_results = int(cols[1].number_input("Results", min_value=1, max_value=60, value=12, key="search_n"))
mode = cols[2].radio("Search by", MODES, key="search_mode", horizontal=True, disabled=image_problem is not None,
                     help="image: needs the clip image encoder (a joint image-text model)")
if image_problem is not None:
    mode = "text"
    st.caption(f"Image search is not available: {ui.md(image_problem)}")

if mode == "image" and image_search is not None:
    index: post_search.TextSearch | post_search.ImageSearch = image_search
else:
    try:
        index = _text_index(ui.db_path(), view.keys.text, view)
    except (post_search.SearchUnavailable, post_search.IndexMismatch) as exc:
        st.error(f"Text search cannot run: {ui.md(exc)}")
        st.stop()
st.caption(f"Uses the {ui.md(index.describe())}.")

if not query.strip():
    st.info("Type a query to search the posts.")
    st.stop()
result = post_search.search(view.posts, index, query, n_results)
read = terms_caption(result)
if read:
    st.caption(read[0].upper() + read[1:])
if result.reason:
    st.warning(f"No results: {ui.md(result.reason)}.", icon=":material/search_off:")
else:
    show_results(result)
