"""Shared UI pieces for the pages: the store, cached reads, the empty-database offer, progress.

Widgets and layout only; every computation is a call into trend_core. Expensive reads are cached
with st.cache_data keyed on the database path and the dataset / clustering keys, so a new import or
a new K gives new cache entries instead of stale ones.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_pages import _server
from trend_core import errors, pipeline
from trend_core.config import PipelineConfig, default_db_path
from trend_core.store import DatabaseBusy, Store, lock_wait_from_env

try:  # st.stop / st.rerun / st.switch_page: Streamlit's control flow, never shown as a failure
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException as _ScriptControl
except ImportError:  # pragma: no cover - other Streamlit layouts
    class _ScriptControl(BaseException):
        """Stand-in: nothing raises it."""

DEMO_POSTS = 1200
READ_LOCK_WAIT = 3.0  # seconds a page's reads wait for a database another process holds


# -- database ------------------------------------------------------------------------------------
def cli_db_arg(argv: list[str] | None = None) -> str | None:
    """`--db PATH` given after `--` on the streamlit command line (streamlit run app.py -- --db x)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db")
    try:
        known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit:  # a malformed argv must not stop the app
        return None
    return known.db


def initial_db_path() -> str:
    """--db on the command line, else $TREND_DB, else data/trend.duckdb."""
    return str(cli_db_arg() or default_db_path())


def db_path() -> str:
    """The database the sidebar points at (session choice, else the initial path); in server mode the
    one the server sets (no visitor can choose another)."""
    fixed = _server.database()
    if fixed is not None:
        return fixed
    return str(st.session_state.get("db_path") or initial_db_path())


@st.cache_resource(show_spinner=False)
def get_store(path: str) -> Store:
    """One Store per database file, shared by sessions (it opens short-lived connections). A page's reads
    wait at most READ_LOCK_WAIT seconds for a database another process (a CLI run) holds, then fail with
    DatabaseBusy, which the page shows as one line with a Retry button."""
    return Store(path, lock_wait=min(lock_wait_from_env(), READ_LOCK_WAIT))


def store() -> Store:
    return get_store(db_path())


def _announce_wait(message: str) -> None:
    """A job's store waits for the database: say so (only from the script's own thread)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is not None:
        st.toast(f"{message[:1].upper()}{message[1:]}…", icon=":material/hourglass_top:")


def job_store() -> Store:
    """The store for a long job (import, demo, pipeline run): like store(), but it waits the full lock
    wait ($TREND_LOCK_WAIT, 60 s) for a database another process holds, with a notice while it waits,
    so the job is not lost to a short turn of a CLI run."""
    job = copy.copy(store())
    job.lock_wait = lock_wait_from_env()
    job.on_wait = _announce_wait
    return job


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    """'cuda (GPU name)' when torch sees a GPU (or $TREND_DEVICE says so), else 'cpu (N threads)'."""
    from trend_core.device import device_label

    return device_label()


def post_count() -> int:
    return store().count_posts()


# -- cached reads --------------------------------------------------------------------------------
class _NotComputed(Exception):
    """Raised inside a cached loader so a missing result is never cached."""


def current_config() -> PipelineConfig:
    """The saved settings, with parts that cannot run here replaced by weights-free ones."""
    return effective_settings()[0]


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _effective(config: PipelineConfig) -> tuple[PipelineConfig, list[str]]:
    from trend_core.plugins import effective_config

    return effective_config(config, fallback=True)


def effective_settings() -> tuple[PipelineConfig, list[str]]:
    """(configuration that runs here, one notice per part that fell back); availability of weights
    is checked again at most once a minute."""
    return _effective(pipeline.config_from_settings(store()))


def show_fallback_notices() -> None:
    """Say which chosen parts (segmenter, encoder, text method) cannot run here and what replaced them."""
    for notice in effective_settings()[1]:
        st.warning(notice, icon=":material/swap_horiz:")


@st.cache_data(max_entries=4, show_spinner=False)
def _dataset_key(db: str, n_posts: int, imports: int) -> str:
    return get_store(db).dataset_key()


def dataset_key() -> str:
    s = store()
    with s.connect() as con:
        n, imports = con.execute("SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM imports)").fetchall()[0]
    return _dataset_key(db_path(), int(n), int(imports))


@st.cache_data(max_entries=4, show_spinner=False)
def load_posts(db: str, dataset: str) -> pd.DataFrame:
    return get_store(db).load_posts()


def posts() -> pd.DataFrame:
    return load_posts(db_path(), dataset_key())


@st.cache_data(max_entries=6, show_spinner=False)
def _load_view(db: str, clustering_key: str, share_unit: str, _config: PipelineConfig) -> pipeline.StylesView:
    view = pipeline.load_view(get_store(db), _config)
    if view is None:
        raise _NotComputed(clustering_key)
    return view


def current_view() -> pipeline.StylesView | None:
    """Styles for the saved settings, or None when they were never computed."""
    config = current_config()
    keys = pipeline.stage_keys(dataset_key(), config)
    try:
        return _load_view(db_path(), keys.fit, config.share_unit, config)
    except _NotComputed:
        return None


@st.cache_data(max_entries=12, show_spinner=False)
def _shares(db: str, share_key: str, period: str, _view: pipeline.StylesView) -> pd.DataFrame:
    return _view.shares(period)


def shares(view: pipeline.StylesView, period: str) -> pd.DataFrame:
    return _shares(db_path(), view.share_key, period, view)


@st.cache_data(max_entries=12, show_spinner=False)
def _top_styles(db: str, share_key: str, period: str, n: int, _view: pipeline.StylesView) -> pd.DataFrame:
    return _view.top_styles(period, n)


def top_styles(view: pipeline.StylesView, period: str = "month", n: int = 5) -> pd.DataFrame:
    return _top_styles(db_path(), view.share_key, period, n, view)


@st.cache_data(max_entries=64, show_spinner=False)
def _images(db: str, hashes: tuple[str, ...], column: str) -> dict[str, bytes]:
    return get_store(db).load_image_bytes(hashes, column)


def images(hashes: Iterable[str], column: str = "thumb") -> dict[str, bytes]:
    """hash -> JPEG bytes for the given image hashes (missing ones are absent)."""
    wanted = tuple(sorted({h for h in hashes if isinstance(h, str) and h}))
    return _images(db_path(), wanted, column) if wanted else {}


def clear_caches() -> None:
    """After a write (import, pipeline run) drop cached reads; the store stays."""
    for fn in (_dataset_key, load_posts, _load_view, _shares, _top_styles, _effective):
        fn.clear()


# -- long work with progress ---------------------------------------------------------------------
def run_with_progress(label: str, work: Callable[[Callable[[float, str], None]], Any]) -> Any:
    """Run work(progress) inside st.status with a progress bar; returns work's result. In server mode the
    work takes the process's one heavy-job slot (while another job holds it: nothing runs, "try again")."""
    with _server.heavy_job(label[:1].lower() + label[1:]), st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting…")
        log = st.empty()
        seen: list[str] = []

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=str(message))
            stage = str(message).split(":")[0].rstrip("…")
            if stage and (not seen or seen[-1] != stage):
                seen.append(stage)
                log.caption(" → ".join(seen[-8:]))
        try:
            result = work(progress)
        except Exception as exc:
            status.update(label=f"{label} failed: {errors.reason(exc, app=True)}", state="error", expanded=True)
            raise
        status.update(label=f"{label}: done", state="complete", expanded=False)
    return result


def reports_frame(result: pipeline.PipelineResult) -> pd.DataFrame:
    return pd.DataFrame([{"stage": r.stage, "cached": bool(r.cached), "seconds": round(float(r.seconds), 2),
                          "detail": r.detail, "key": r.key} for r in result.reports])


def remember_reports(result: pipeline.PipelineResult, what: str) -> None:
    st.session_state["last_reports"] = {"what": what, "frame": reports_frame(result)}


def show_last_reports(expanded: bool = True) -> None:
    last = st.session_state.get("last_reports")
    if not last:
        return
    frame = last["frame"]
    n_cached = int(frame["cached"].sum())
    with st.expander(f"Last run ({last['what']}): {len(frame) - n_cached} stages computed, "
                     f"{n_cached} from cache", expanded=expanded):
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={"cached": st.column_config.CheckboxColumn("cached"),
                                    "seconds": st.column_config.NumberColumn("seconds", format="%.2f")})


def build_demo_now(n_posts: int, seed: int = 0) -> None:
    cap = _server.max_demo_posts()
    if n_posts > cap:  # the number inputs stop at the cap; this holds for a value sent around them
        st.error(f"At most {cap:,} demo posts can be built here.")
        return
    s = job_store()
    result = run_with_progress(
        f"Building the demo dataset ({n_posts} posts)",
        lambda progress: pipeline.build_demo(s, n_posts=n_posts, seed=seed, config=current_config(),
                                             progress=progress, fallback=True))
    clear_caches()
    remember_reports(result, f"demo, {n_posts} posts")
    st.rerun()


def compute_styles_now(label: str = "Computing styles") -> pipeline.PipelineResult:
    s = job_store()
    config = current_config()
    result = run_with_progress(label, lambda progress: pipeline.run_pipeline(s, config, progress, fallback=True))
    clear_caches()
    remember_reports(result, label.lower())
    return result


# -- failures ------------------------------------------------------------------------------------
def debug_mode() -> bool:
    """$TREND_DEBUG set (1, true, yes): failures also show Streamlit's full traceback."""
    return os.environ.get("TREND_DEBUG", "").strip().lower() in ("1", "true", "yes")


def failure_reason(exc: BaseException) -> str:
    """One line saying what went wrong, without server paths (trend_core.errors.reason)."""
    return errors.reason(exc, app=True)


def show_failure(exc: BaseException, key: str = "failure") -> None:
    """A failure as a person reads it: one error line, a Retry button when the database is busy, and the
    exception with a module-relative traceback in a collapsed "Details" box (no server paths)."""
    st.error(md(failure_reason(exc)), icon=":material/error:")
    if isinstance(exc, DatabaseBusy):
        st.button("Retry", key=f"{key}_retry", icon=":material/refresh:")
    with st.expander("Details", expanded=False):
        st.code(errors.details(exc), language=None, wrap_lines=True)
    if debug_mode():
        st.exception(exc)


def run_guarded(body: Callable[[], Any], key: str = "page") -> None:
    """Run a page (or part of one) so that any failure is shown by show_failure instead of a traceback;
    Streamlit's control flow (st.stop, st.rerun, st.switch_page) passes through."""
    try:
        body()
    except _ScriptControl:
        raise
    except Exception as exc:  # MemoryError and RecursionError included
        show_failure(exc, key)


# -- page guards ---------------------------------------------------------------------------------
def empty_notice() -> None:
    shown = Path(db_path()).name if _server.enabled() else db_path()  # a server's folders are not shown
    st.info(f"The database **{md(shown)}** holds no posts yet. Build the demo dataset (synthetic "
            "outfit posts with planted trends) to explore the dashboard, or import your own posts.")


def offer_demo(page: str) -> None:
    """Shown when the database is empty: build the demo, or go to the Data page to import."""
    empty_notice()
    cols = st.columns([1, 1, 2])
    cap = _server.max_demo_posts()
    n_posts = cols[0].number_input("Demo posts", min_value=100, max_value=cap, value=min(DEMO_POSTS, cap), step=100,
                                   key=f"{page}_demo_posts")
    cols[1].write("")
    if cols[1].button("Build the demo dataset", type="primary", key=f"{page}_demo_button"):
        build_demo_now(int(n_posts))
    if page != "data":
        cols[2].write("")
        cols[2].page_link("app_pages/data.py", label="…or import posts on the Data page", icon=":material/upload:")


def require_posts(page: str) -> None:
    if post_count() == 0:
        offer_demo(page)
        st.stop()


def require_view(page: str) -> pipeline.StylesView:
    """The current styles, or an offer to compute them (then stop the page)."""
    require_posts(page)
    view = current_view()
    if view is None:
        st.warning("Styles have not been computed for the current posts and settings yet.")
        if st.button("Compute styles", type="primary", key=f"{page}_compute_styles"):
            compute_styles_now()
            st.rerun()
        st.stop()
    return view


# -- images --------------------------------------------------------------------------------------
# (an uploaded zip of images is unpacked by trend_core.archive.extracted_images, see data.py)
def thumbnails_for_posts(frame: pd.DataFrame, limit: int = 24) -> list[tuple[bytes, str]]:
    """(thumb bytes, caption) for up to `limit` posts of a frame that have an image."""
    frame = frame[frame["image_hash"].notna()].head(limit)
    thumbs = images(frame["image_hash"], "thumb")
    out = []
    for rec in frame.itertuples(index=False):
        blob = thumbs.get(rec.image_hash)
        if blob:
            caption = str(rec.title or rec.content or rec.post_id)[:24]
            out.append((blob, caption))
    return out


def show_thumbnails(items: list[tuple[bytes, str]], width: int = 96) -> None:
    if items:
        st.image([b for b, _ in items], caption=[c for _, c in items], width=width)
    else:
        st.caption("no images")


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:@")
_WORD_JOINER = "\u2060"  # invisible, no line break


def md(text: object) -> str:
    """Text from posts made inert for st.markdown / st.caption: markdown specials backslash-escaped, and
    an invisible word joiner after every ':' and '@'. The escapes stop directives (':red[...]') and
    autolinks ('https://x', 'www.x', 'a@b.c': '\\:' / '\\.' / '\\@' break the literal); the joiner stops
    what Streamlit matches in the text itself, after escapes are resolved: emoji shortcodes (':smile:')
    and material icons (':material/home:'). The text reads the same."""
    out = []
    for ch in str(text):
        out.append("\\" + ch if ch in _MD_SPECIAL else ch)
        if ch in ":@":
            out.append(_WORD_JOINER)
    return "".join(out)
