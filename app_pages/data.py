"""Data: import posts (upload or server path), see what was accepted / rejected and the data quality."""
from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from app_pages import _server
from app_pages._quality import quality_panel
from trend_core import ingest, plots
from trend_core.data_roots import PathRefused
from trend_core.store import post_keys

st.title("Data")
st.caption("Import posts (CSV, JSON, JSON Lines, Parquet) with their images or videos (the frame at 15 s, or "
           "the middle of a shorter clip, becomes the post's image). Every row ends up accepted or "
           "in the rejects table with its reason.")


IGNORE = "(ignore)"


def _import(source, file_name: str | None, images_dir: str | None, mapping: dict | None, tab: str) -> None:
    s = ui.job_store()  # waits for a database a CLI run holds, with a notice
    name = file_name or str(source)
    with _server.heavy_job(f"the import of {ui.md(name)}"), st.spinner(f"Importing {name}…"):
        try:
            summary = ingest.ingest_file(s, source, images_dir=images_dir or None, file_name=file_name,
                                         mapping=mapping, reference_date=st.session_state.get("data_reference_date"),
                                         dayfirst=bool(st.session_state.get("data_dayfirst")))
        except (ValueError, OSError) as exc:  # unreadable file, missing required column, no images folder
            st.session_state["data_last_import"] = {"file": name, "error": ui.failure_reason(exc)}
            return
    ui.clear_caches()
    st.session_state["data_last_import"] = {"file": name, **summary}
    st.session_state["data_tab"] = tab  # the rerun keeps showing the tab the import came from
    st.rerun()  # the sidebar's post count and the empty-database notice were drawn before the import


@st.cache_data(max_entries=4, show_spinner=False)
def _preview_bytes(data: bytes, name: str) -> tuple[list[str], dict, dict]:
    return ingest.preview_columns(data, name)


@st.cache_data(max_entries=4, show_spinner=False)
def _preview_path(path: str, mtime_ns: int, size: int) -> tuple[list[str], dict, dict]:
    return ingest.preview_columns(path)


def _column_mapping(tab: str, preview: tuple[list[str], dict, dict]) -> dict[str, str | None] | None:
    """Expander "Columns": one "→ use as" select per column of the file, pre-filled with what the known
    column names pick. Returns {column: canonical column or None (ignored)}, or None (with the reason
    shown) when that choice cannot be imported."""
    columns, suggested, examples = preview
    options = [IGNORE, *ingest.INPUT_COLUMNS]
    digest = hashlib.md5("\x1f".join(columns).encode("utf-8")).hexdigest()[:8]  # a new header, new selects
    keys = {col: f"data_map_{tab}_{digest}_{i}" for i, col in enumerate(columns)}
    current = {col: st.session_state.get(keys[col], suggested[col] or IGNORE) for col in columns}
    ignored = [col for col in columns if current[col] == IGNORE]
    label = f"Columns: {len(columns) - len(ignored)} of {len(columns)} used"
    label += f" (ignored: {', '.join(ignored[:4])}{', …' if len(ignored) > 4 else ''})" if ignored else ""
    mapping: dict[str, str | None] = {}
    with st.expander(label):
        st.caption("What each column of the file is used as, pre-filled from known column names (e.g. a "
                   "crawl's `post_like` → likes). Map an unknown column such as `image_style` to "
                   "`style_label`, or ignore a column.")
        grid = st.columns(3)
        for i, col in enumerate(columns):
            example = examples.get(col)
            choice = grid[i % 3].selectbox(
                f"{col} → use as", options, index=options.index(suggested[col] or IGNORE), key=keys[col],
                help=f"First value: {example!r}" if example is not None else "The column is blank in every row.")
            mapping[col] = None if choice == IGNORE else choice
    twice = sorted(t for t, n in Counter(v for v in mapping.values() if v).items() if n > 1)
    if twice:
        st.error(f"Columns: {', '.join(twice)} is chosen for more than one column; keep one.")
        return None
    try:
        ingest.check_columns(columns, ingest.column_map(columns, mapping))
    except ValueError as exc:
        st.error(f"Columns: {exc}")
        return None
    return mapping


def _server_path(text: str, kind: str) -> tuple[Path | None, bool]:
    """(the path typed, or None when empty or refused; whether it was refused). In server mode a path
    outside the data roots is refused before anything is opened, with a message naming only the path."""
    if not text.strip():
        return None, False
    try:
        return _server.server_path(text, kind), False
    except PathRefused as exc:
        st.error(str(exc), icon=":material/block:")
        return None, True


def _preview_error(exc: Exception) -> None:
    st.error(f"Cannot read the file's columns: {ui.failure_reason(exc)}")


def _n(summary: dict, name: str) -> int:
    return int(summary.get(name, 0) or 0)


def dates_line(dates: dict | None) -> str | None:
    """How `MM-DD` dates got their year, e.g. "6,452 rows had no year: given 2024 (latest on or before
    2024-03-18)"; None when every date had its year."""
    n = int((dates or {}).get("month_day_rows", 0) or 0)
    if not n:
        return None
    years = sorted((dates.get("years") or {}).items(), reverse=True)
    given = (years[0][0] if len(years) == 1
             else ", ".join(f"{year} to {count:,}" for year, count in years))
    return (f"{n:,} {'row' if n == 1 else 'rows'} had no year (`MM-DD`): given {given} (latest on or "
            f"before {dates.get('reference_date', '?')})")


def encoding_label(encoding: str) -> str:
    """A text encoding as people name it: GB18030, UTF-8, UTF-8 with BOM, UTF-16-LE."""
    return "UTF-8 with BOM" if str(encoding).lower() == "utf-8-sig" else str(encoding).upper()


def import_history(imports: pd.DataFrame, rejects: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """(the imports as a table a person reads, newest first; per file, its latest import's accepted +
    current rejects against its rows read)."""
    current = rejects["source"].astype(str).value_counts() if not rejects.empty else pd.Series(dtype=int)
    ordered = imports.sort_values("imported_at", ascending=False)
    latest = set(ordered.drop_duplicates("file_name")["source"])
    counts = {c: ordered[c].fillna(0).astype(int) for c in ("rows_read", "accepted", "rejected", "added")}
    now = ordered["source"].astype(str).map(current).fillna(0).astype(int)
    table = pd.DataFrame({
        "file": ordered["file_name"].fillna("").astype(str),
        "when (UTC)": pd.to_datetime(ordered["imported_at"]).dt.strftime("%Y-%m-%d %H:%M"),
        "rows read": counts["rows_read"], "accepted": counts["accepted"], "rejected": counts["rejected"],
        "current rejects": now, "added": counts["added"],
        "adds up": [(a + r == n) if src in latest else None for src, a, r, n in
                    zip(ordered["source"], counts["accepted"], now, counts["rows_read"])],
        "source": ordered["source"].astype(str)})
    balance = [{"file": f, "rows_read": int(n), "accepted": int(a), "rejected": int(r), "current": int(c),
                "adds_up": int(a) + int(c) == int(n)}
               for f, src, n, a, r, c in zip(table["file"], table["source"], table["rows read"],
                                             table["accepted"], table["rejected"], table["current rejects"])
               if src in latest]
    return table.reset_index(drop=True), balance


def _show_import(last: dict) -> None:
    """The last import as a person reads it: counts, warnings, how dates got their year, details."""
    if "error" in last:
        st.error(f"{last['file']} was not imported: {last['error']}")
        return
    metrics = [("rows read", "rows_read"), ("accepted", "accepted"), ("rejected", "rejected"),
               ("posts", "posts"), ("images", "images"), ("added", "added"), ("already present", "already_present")]
    for col, (label, name) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, f"{_n(last, name):,}")
    st.caption(f"**{last.get('file', '')}**: {_n(last, 'accepted'):,} rows accepted + {_n(last, 'rejected'):,} "
               f"rejected = {_n(last, 'rows_read'):,} rows read. Stored: {_n(last, 'posts'):,} posts with "
               f"{_n(last, 'images'):,} images ({_n(last, 'added'):,} new posts, {_n(last, 'already_present'):,} "
               "already present).")
    if last.get("encoding"):
        st.caption(f"Read as {encoding_label(last['encoding'])}.")
    if last.get("reasons"):
        st.caption("Rejected rows by reason: " + "; ".join(
            f"{reason} {count:,} ({ingest.REASONS.get(reason, '')})" for reason, count in last["reasons"].items()))
    for message in (last.get("warnings") or {}).values():
        st.warning(message)
    line = dates_line(last.get("dates"))
    if line:
        st.info(line, icon=":material/event:")
    blanks = {col: n for col, n in (last.get("blank_counts") or {}).items() if n}
    if blanks:
        st.caption("Blank counts, read as 0: " + ", ".join(f"{col} {n:,} rows" for col, n in blanks.items()))
    with st.expander("Details"):
        st.json(json.loads(json.dumps(last, default=str)))


empty = ui.post_count() == 0
if empty:
    ui.empty_notice()
tabs = ["Upload a file", "File on the server", "Demo dataset"]
st.date_input("Crawl date, for dates without a year (optional)", value=None, key="data_reference_date",
              help="A date written as MM-DD gets the latest year that puts it on or before this date. Left empty: "
                   "the latest full date in the file (else today). Relative dates (昨天, 3天前) count back from it.")
st.checkbox("Dates are day first (31/12/2023)", key="data_dayfirst",
            help="Read DD/MM/YYYY and DD.MM.YYYY dates as day, month, year. Unticked, they are rejected (bad_date).")
upload_tab, path_tab, demo_tab = st.tabs(tabs, default=st.session_state.get("data_tab") or tabs[2 if empty else 0])
with upload_tab:
    uploaded = st.file_uploader("Posts file", type=["csv", "json", "jsonl", "ndjson", "parquet"],
                                key="data_upload", help="Columns such as post_id, title, content, tags, "
                                "post_date, likes, collects, comments, image (file name or path).")
    zip_file = st.file_uploader("Images (optional zip)", type=["zip"], key="data_upload_zip",
                                help="Image and video names in the posts file are resolved inside this zip.")
    upload_images_dir = st.text_input("…or an images folder on the server", key="data_upload_images",
                                      placeholder="/path/to/images", help=_server.path_hint() or None)
    upload_folder, upload_refused = _server_path(upload_images_dir, "folder")
    upload_mapping = None
    if uploaded is not None:
        try:
            upload_mapping = _column_mapping("upload", _preview_bytes(uploaded.getvalue(), uploaded.name))
        except ValueError as exc:
            _preview_error(exc)
    if st.button("Import uploaded file", type="primary", disabled=upload_mapping is None or upload_refused,
                 key="data_upload_button"):
        images_dir = str(upload_folder) if upload_folder is not None else None
        if zip_file is None:
            _import(io.BytesIO(uploaded.getvalue()), uploaded.name, images_dir, upload_mapping, tabs[0])
        else:  # unpacked under size / ratio / count limits into a temporary folder, removed after the import
            from trend_core.archive import ArchiveRefused, extracted_images

            try:
                with extracted_images(zip_file) as folder:
                    _import(io.BytesIO(uploaded.getvalue()), uploaded.name, str(folder), upload_mapping, tabs[0])
            except ArchiveRefused as exc:
                st.session_state["data_last_import"] = {"file": zip_file.name, "error": str(exc)}

with path_tab:
    server_path = st.text_input("Posts file path", key="data_server_path", placeholder="/path/to/posts.csv",
                                help=_server.path_hint() or None)
    server_images = st.text_input("Images folder (optional)", key="data_server_images",
                                  placeholder="/path/to/images", help=_server.path_hint() or None)
    path, _ = _server_path(server_path, "file")  # server mode: inside the data roots, or None (refused)
    server_folder, server_refused = _server_path(server_images, "folder")
    server_mapping = None
    if path is not None and not path.is_file():
        st.error(f"No file at {path}")
    elif path is not None:
        try:
            stat = path.stat()
            server_mapping = _column_mapping("server", _preview_path(str(path), stat.st_mtime_ns, stat.st_size))
        except (ValueError, OSError) as exc:
            _preview_error(exc)
    if st.button("Import from path", type="primary", key="data_server_button",
                 disabled=server_mapping is None or server_refused):
        _import(str(path), path.name, str(server_folder) if server_folder is not None else None, server_mapping,
                tabs[1])

with demo_tab:
    st.write("Synthetic outfit posts with planted style trends (deterministic for a seed); the styles are "
             "computed right after.")
    cols = st.columns([1, 1, 2])
    demo_cap = _server.max_demo_posts()  # 20,000 here; a server's cap in server mode
    n_demo = cols[0].number_input("Posts", 100, demo_cap, min(ui.DEMO_POSTS, demo_cap), 100, key="data_demo_posts")
    seed = cols[1].number_input("Seed", 0, 10_000, 0, key="data_demo_seed")
    if st.button("Build the demo dataset", key="data_demo_button"):
        ui.build_demo_now(int(n_demo), int(seed))

last = st.session_state.get("data_last_import")
if last:
    st.subheader("Last import")
    _show_import(last)
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
    by_post = post_keys(frame)
    cols[0].metric("Posts", f"{by_post.nunique():,}", help=f"{len(frame):,} images (rows) in all")
    cols[1].metric("First post", f"{dates.min():%Y-%m-%d}")
    cols[2].metric("Last post", f"{dates.max():%Y-%m-%d}")
    cols[3].metric("With image", f"{has_image.groupby(by_post).any().mean():.0%}", help="share of posts")
    cols[4].metric("With text", f"{has_text.groupby(by_post).any().mean():.0%}", help="share of posts")
    cols[5].metric("Posters", f"{frame['poster_id'].nunique():,}")
    period = st.segmented_control("Count per", ["day", "week", "month"], default="month", key="data_period")
    st.plotly_chart(plots.posts_per_period(frame, period or "month"), key="data_counts_chart")
    quality_panel()

s = ui.store()
rejects = s.load_rejects()
imports = s.load_imports()
file_of = dict(zip(imports["source"].astype(str), imports["file_name"].fillna("").astype(str)))
st.subheader(f"Rejected rows ({len(rejects):,})")
st.caption("Current rejects only: a corrected re-import of a file replaces its earlier rejects, and a reject "
           "whose post is now stored is dropped.")
if rejects.empty:
    st.caption("No rejected rows.")
else:
    reasons = rejects["reason"].value_counts().rename_axis("reason").reset_index(name="rows")
    left, right = st.columns([1, 3])
    left.dataframe(reasons, hide_index=True, width="stretch")
    labels = {src: f"{file_of.get(src) or '?'} ({src[:8]})" for src in rejects["source"].dropna().astype(str)}
    sources = ["all"] + sorted(labels, key=labels.get)
    chosen = right.selectbox("Import", sources, key="data_rejects_source", format_func=lambda v: labels.get(v, v))
    shown = rejects if chosen == "all" else rejects[rejects["source"].astype(str) == chosen]
    shown = shown.assign(file=shown["source"].astype(str).map(file_of))[["file", *shown.columns]]
    # st.dataframe shows text as text: post content and raw rows are never rendered as HTML
    right.dataframe(shown, hide_index=True, width="stretch", height=320,
                    column_config={"source": st.column_config.TextColumn("source", width="small")})

st.subheader("Import history")
if imports.empty:
    st.caption("Nothing imported yet.")
else:
    table, balance = import_history(imports, rejects)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"source": st.column_config.TextColumn("source", width="small"),
                                "adds up": st.column_config.CheckboxColumn("adds up", width="small")})
    st.caption("Latest import of each file: accepted + current rejects = rows read.\n\n" + "\n\n".join(
        f"{'✓' if b['adds_up'] else '✗'} **{b['file']}**: {b['accepted']:,} accepted + {b['current']:,} "
        f"current rejects = {b['accepted'] + b['current']:,}; rows read {b['rows_read']:,}" for b in balance))
    for b in balance:
        if not b["adds_up"]:
            gone = b["rejected"] - b["current"]
            why = (f"{gone:,} of its {b['rejected']:,} rejects were dropped because a later import stored "
                   "their posts" if gone > 0 else "the rejects table and the import record disagree")
            st.warning(f"{b['file']}: accepted + current rejects ({b['accepted'] + b['current']:,}) does not "
                       f"add up to the {b['rows_read']:,} rows read: {why}.")
