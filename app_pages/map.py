"""Map: the 2-d UMAP of all posts, coloured by style, month, engagement or author.

- hover: style, date, likes and the post's title / text (HTML-escaped) from the point's customdata;
- pictures: per style, thumbnails of its best exemplar and of posts spread over its region are drawn on
  the map at their positions (layout images);
- time: a month slider draws only the posts up to that month (later ones optionally faint), so the map
  can be watched filling over time;
- size: at most map_charts.MAP_POINTS posts are drawn by default (an even sample, each style keeping
  its share; the caption says so and a toggle draws every post); the drawn points, their hover text
  and the month list are cached per clustering key and settings (st.cache_data);
- sessions: the figure itself is built once per database, clustering, style names and settings and
  shared by every session (st.cache_resource, a trend_core.shared_figure.FrozenFigure that is never
  changed; the chart's selection lives in each session's widget state, not in the figure), and so is
  the hover map's payload: many analysts at once cost little more than one (issue 11.9);
- mode: "Select (lasso / box)" is the interactive st.plotly_chart below; "Hover previews" draws the
  same WebGL figure in a custom component (app_pages/_hover_map.py, plotly.js served by the app) where
  hovering a point shows a thumbnail of its segmented garment (the masked image) and its text next to
  the cursor; a render sends the figure and as many previews as fit in map_hover.HOVER_BYTES (< 2 MB);
- thumbnails on the map are small WebPs within map_charts.MAP_THUMB_BYTES (map_charts.map_thumbnails);
- selection: clicking a point or drawing a box / lasso (st.plotly_chart(on_select="rerun")) shows the
  selected posts (thumbnails, escaped text) and their share per month; a selection can be saved under a
  name (trend_core.selections) and is then listed with its size, to show again or delete.
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import _shared
from app_pages._hover_map import hover_map
from trend_core import image_stages, map_charts, map_hover, pipeline, plots, selections
from trend_core.shared_figure import FrozenFigure
from trend_core.store import Store

GALLERY_LIMIT = 24
GALLERY_COLUMNS = 6
SELECT_MODE = "Select (lasso / box)"
HOVER_MODE = "Hover previews"
HOVER_HEIGHT = 660
SHOWN_SAVED = "map_show_saved"  # session key: name of the saved selection shown when nothing is selected


def thumbnails_on_map(view: pipeline.StylesView, drawn: pd.DataFrame, chosen: list[int],
                      per_style: int) -> dict[str, bytes]:
    """post_id -> small WebP of the exemplar / spread posts drawn on the map (map_charts.map_thumbnails:
    each style's first picture, then each style's second, ... while the byte budget lasts)."""
    exemplars = {int(s): list(ex) for s, ex in zip(view.styles["style"], view.styles["exemplars"])}
    wanted = plots.map_thumbnail_posts(drawn, exemplars, per_style=per_style, styles=chosen)
    style_of = dict(zip(drawn["post_id"].astype(str), drawn["style"].astype(int)))
    seen: dict[int, int] = {}
    rounds = []
    for pid in wanted:
        style = style_of.get(pid, -1)
        rounds.append(seen.get(style, 0))
        seen[style] = rounds[-1] + 1
    wanted = [pid for _, pid in sorted(zip(rounds, wanted), key=lambda pair: pair[0])]
    hashes = drawn.set_index(drawn["post_id"].astype(str)).reindex(wanted)["image_hash"]
    blobs = ui.images(hashes.dropna(), "thumb")
    return map_charts.map_thumbnails({pid: blobs[h] for pid, h in hashes.items()
                                      if isinstance(h, str) and h in blobs})


@st.cache_data(max_entries=8, show_spinner="Preparing the garment previews…")
def _garment_previews(db: str, clustering_key: str, segmenter: str,
                      pairs: tuple[tuple[str, str], ...]) -> dict[str, bytes]:
    """post_id -> masked garment JPEG; cached per clustering key, segmenter and drawn posts."""
    frame = pd.DataFrame(list(pairs), columns=["post_id", "image_hash"])
    return map_hover.load_masked_thumbnails(ui.store(), frame, segmenter, limit=map_hover.MAX_PREVIEWS)


def garment_previews(view: pipeline.StylesView, drawn: pd.DataFrame) -> dict[str, bytes]:
    """Masked garment thumbnails for at most map_hover.MAX_PREVIEWS of the drawn posts."""
    chosen = map_hover.preview_posts(drawn, map_hover.MAX_PREVIEWS)
    pairs = tuple(zip(chosen["post_id"].astype(str), chosen["image_hash"].astype(str)))
    return _garment_previews(ui.db_path(), view.clustering_key, image_stages.segmenter_key(view.config), pairs)


@st.cache_data(max_entries=8, show_spinner=False)
def _shown(db: str, clustering_key: str, styles: tuple[int, ...],
           _view: pipeline.StylesView) -> tuple[int, list[pd.Timestamp]]:
    """(number of placed posts of these styles, the months from their first to their last post)."""
    posts = _view.posts
    shown = map_charts.placed_posts(posts[posts["style"].isin(styles)])
    return len(shown), map_charts.month_options(shown)


@st.cache_data(max_entries=8, show_spinner="Preparing the map…")
def _points(db: str, clustering_key: str, names: str, styles: tuple[int, ...], upto: str | None, limit: int | None,
            _view: pipeline.StylesView) -> dict:
    """The posts drawn (map_charts.map_points of at most `limit` posts up to the month `upto`), the
    later ones (x, y only, at most `limit`) and how many there were before sampling."""
    posts = _view.posts
    shown = map_charts.placed_posts(posts[posts["style"].isin(styles)])
    drawn, later = map_charts.split_by_month(shown, pd.Timestamp(upto) if upto else None)
    return {"drawn": map_charts.map_points(map_charts.sample_points(drawn, limit)), "n_drawn": len(drawn),
            "later": map_charts.sample_points(later, limit)[["post_id", "style", "x", "y"]], "n_later": len(later)}


@st.cache_resource(max_entries=24, show_spinner="Drawing the map…")
def _figure(db: str, clustering_key: str, names: str, styles: tuple[int, ...], upto: str | None,
            limit: int | None, colour_by: str, per_style: int, faint: bool,
            _view: pipeline.StylesView) -> FrozenFigure:
    """The map for these settings, built once and shared by every session (read-only); per_style 0:
    no thumbnails on the map."""
    points = _points(db, clustering_key, names, styles, upto, limit, _view)
    thumbs = thumbnails_on_map(_view, points["drawn"], list(styles), per_style) if per_style else {}
    figure = map_charts.colour_map(points["drawn"], colour_by, thumbnails=thumbs,
                                   later=points["later"] if faint else None)
    return FrozenFigure(figure)


@st.cache_resource(max_entries=8, show_spinner="Preparing the garment previews…")
def _hover_payload(db: str, clustering_key: str, names: str, styles: tuple[int, ...], upto: str | None,
                   limit: int | None, colour_by: str, per_style: int, faint: bool, segmenter: str,
                   _view: pipeline.StylesView) -> tuple[bytes, str, int, int]:
    """(map_hover.hover_payload, its digest, previews in it, previews made before the byte budget) for
    the hover map, shared by sessions."""
    figure = _figure(db, clustering_key, names, styles, upto, limit, colour_by, per_style, faint, _view)
    drawn = _points(db, clustering_key, names, styles, upto, limit, _view)["drawn"]
    made = garment_previews(_view, drawn)
    payload = map_hover.hover_payload(figure, made, height=HOVER_HEIGHT - 20)
    sent = len(map_hover.read_payload(payload)["thumbs"])
    return payload, hashlib.sha256(payload).hexdigest()[:20], sent, len(made)


def month_slider(months: list[pd.Timestamp]) -> pd.Timestamp | None:
    """The 'posts up to' month (the last month by default); None when there are no dates."""
    if len(months) < 2:
        return months[0] if months else None
    labels = [m.strftime("%Y-%m") for m in months]
    chosen = st.select_slider("Show posts up to (and including) month", options=labels, value=labels[-1],
                              key="map_month")
    return months[labels.index(chosen)]


def post_text(row: pd.Series) -> str:
    """Title and text of a post, markdown-escaped for st.caption."""
    parts = [str(row.get(c) or "") for c in ("title", "content", "tags")]
    return ui.md(" — ".join(p for p in parts if p))


def show_gallery(frame: pd.DataFrame) -> None:
    """Thumbnails with the escaped text of up to GALLERY_LIMIT posts, plus the full table."""
    if len(frame) > GALLERY_LIMIT:
        st.caption(f"Showing the first {GALLERY_LIMIT} of {len(frame)} selected posts.")
    head = frame.head(GALLERY_LIMIT)
    thumbs = ui.images(head["image_hash"].dropna(), "thumb")
    columns = st.columns(GALLERY_COLUMNS)
    for i, (_, row) in enumerate(head.iterrows()):
        with columns[i % GALLERY_COLUMNS]:
            blob = thumbs.get(row["image_hash"]) if isinstance(row["image_hash"], str) else None
            if blob:
                st.image(blob, width=112)
            st.caption(f"**{ui.md(row['style_name'])}** · {ui.md(row['post_date'].date())}  \n{post_text(row)}")
    st.dataframe(frame[["post_id", "style_name", "post_date", "likes", "collects", "comments", "title", "content",
                        "tags"]], hide_index=True, width="stretch", key="map_selected_table")


def save_form(store: Store, post_ids: list[str]) -> None:
    """Name the current selection and save it as a user-made style."""
    cols = st.columns([3, 1])
    name = cols[0].text_input("Save this selection as a style named", key="map_selection_name",
                              max_chars=selections.NAME_CHARS)
    cols[1].write("")
    if cols[1].button("Save selection", key="map_save_selection", type="primary"):
        try:
            saved = selections.save_selection(store, name, post_ids)
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.success(f"Saved the selection **{ui.md(saved)}** ({len(post_ids)} posts).")


def show_selection(posts: pd.DataFrame, kept: pd.DataFrame, post_ids: list[str], label: str,
                   store: Store | None) -> None:
    """Gallery, text and share over time of the given posts; a save form when store is given."""
    order = {pid: i for i, pid in enumerate(post_ids)}
    frame = posts[posts["post_id"].astype(str).isin(order)].sort_values(
        "post_id", key=lambda ids: ids.astype(str).map(order))
    st.subheader(f"{ui.md(label)} ({len(frame)})")
    show_gallery(frame)
    st.plotly_chart(map_charts.selection_share_line(kept, frame["post_id"].astype(str), name=label),
                    key="map_selection_share")
    if store is not None:
        save_form(store, frame["post_id"].astype(str).tolist())


def saved_list(store: Store, posts: pd.DataFrame) -> None:
    """Saved selections with their size, a button to show one and a delete button."""
    saved = selections.load_selections(store)
    st.subheader(f"Saved selections ({len(saved)})")
    if not saved:
        st.caption("None yet: select posts on the map and save them under a name.")
        return
    known = set(posts["post_id"].astype(str))
    for i, (name, ids) in enumerate(saved.items()):
        cols = st.columns([4, 2, 1, 1])
        cols[0].markdown(f"**{ui.md(name)}**")
        cols[1].caption(f"{len(ids):,} posts ({sum(p in known for p in ids):,} in the data)")
        if cols[2].button("Show", key=f"map_show_{i}"):
            st.session_state[SHOWN_SAVED] = name
            st.rerun()
        if cols[3].button("Delete", key=f"map_delete_{i}"):
            selections.delete_selection(store, name)
            if st.session_state.get(SHOWN_SAVED) == name:
                del st.session_state[SHOWN_SAVED]
            st.rerun()


def main() -> None:
    st.title("Map")
    st.caption("Hover a point for its text; click a point or draw a box / lasso to see the thumbnails, text "
               "and share over time of the selected posts below the map, and save them as a style.")
    view = ui.require_view("map")
    posts, store = view.posts, ui.store()

    controls = st.columns([3, 2, 1, 1])
    names = dict(zip(view.styles["style"].astype(int), view.styles["name"].astype(str)))
    chosen = controls[0].multiselect("Styles", list(names), default=list(names), format_func=lambda s: names[s],
                                     key="map_styles")
    colour_by = controls[1].selectbox("Colour by", list(map_charts.COLOUR_BY), format_func=map_charts.COLOUR_BY.get,
                                      key="map_colour")
    show_thumbs = controls[2].toggle("Thumbnails on the map", value=True, key="map_thumbs")
    per_style = controls[3].slider("Thumbnails per style", 1, 6, 3, key="map_per_style", disabled=not show_thumbs)

    styles = tuple(sorted(int(s) for s in chosen))
    n_shown, months = _shown(ui.db_path(), view.clustering_key, styles, view)
    time_cols = st.columns([4, 1, 1])
    with time_cols[0]:
        upto = month_slider(months)
    faint = time_cols[1].toggle("Later posts faint", value=False, key="map_faint")
    every = (time_cols[2].toggle("Draw every post", value=False, key="map_every_post",
                                 help=f"Above {map_charts.MAP_POINTS:,} posts the map draws an even sample "
                                      "(each style keeps its share); drawing all is slower.")
             if n_shown > map_charts.MAP_POINTS else False)
    settings = (ui.db_path(), view.clustering_key, _shared.view_names_key(view), styles,
                f"{upto:%Y-%m}" if upto is not None else None, None if every else map_charts.MAP_POINTS)
    points = _points(*settings, view)
    drawn = points["drawn"]
    when = f" (up to {upto:%Y-%m})" if upto is not None else ""
    if len(drawn) < points["n_drawn"]:
        st.caption(f"Drawing {len(drawn):,} of {n_shown:,} posts{when}: an even sample of the "
                   f"{points['n_drawn']:,} posts{' up to that month' if upto is not None else ''}, each style "
                   f"keeping its share, to keep the page fast. Turn on “Draw every post” to draw them all (slower).")
    else:
        st.caption(f"Drawing {len(drawn):,} of {n_shown:,} posts{when}.")

    looks = (colour_by, int(per_style) if show_thumbs else 0, bool(faint))
    mode = st.radio("Mode", [SELECT_MODE, HOVER_MODE], horizontal=True, key="map_mode",
                    help="Select: click / box / lasso to list posts below. Hover previews: hovering a point "
                         "shows its segmented garment and text (selection is off in this mode).")
    if mode == HOVER_MODE:
        payload, digest, n_previews, n_made = _hover_payload(*settings, *looks,
                                                             image_stages.segmenter_key(view.config), view)
        limited = n_previews < n_made or len(drawn) > map_hover.MAX_PREVIEWS
        st.caption(f"Garment previews for {n_previews:,} of {len(drawn):,} drawn posts"
                   + (f" (at most {map_hover.MAX_PREVIEWS:,}, and as many as fit with the map in "
                      f"{map_hover.HOVER_BYTES / 1e6:.1f} MB, so the page stays light; the others show their "
                      "text only)."
                      if limited else "; hover a point to see it.")
                   + ("" if n_previews else " No stored clothing masks for the configured segmenter:"
                      " run the pipeline with segmentation to get them."))
        hover_map(payload, digest, HOVER_HEIGHT, key="map_hover")
        event = None
    else:
        figure = _figure(*settings, *looks, view)
        event = st.plotly_chart(figure, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"))
    left_out = int((posts["style"] < 0).sum())
    if left_out:
        st.caption(f"{left_out:,} posts left out of style fitting are not on the map.")

    selected = plots.selected_post_ids(event) if event is not None else []
    saved = selections.load_selections(store)
    shown_saved = st.session_state.get(SHOWN_SAVED)
    if selected:
        show_selection(posts, view.kept_posts(), selected, "Selected posts", store)
    elif shown_saved in saved:
        show_selection(posts, view.kept_posts(), saved[shown_saved], f"Saved selection: {shown_saved}", None)
    else:
        st.subheader("Selected posts")
        st.caption("Nothing selected yet: click a point, or use the box / lasso tools in the chart's toolbar.")
    saved_list(store, posts)


main()
_shared.settle_memory("map")
