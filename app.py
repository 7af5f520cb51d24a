"""Fashion-trend dashboard: the router. Run with `streamlit run app.py` (optionally `-- --db PATH`).

Sets the page config, draws the shared sidebar (database, post count, device) and runs the chosen
page from app_pages/ (not `pages/`: a folder of that name switches Streamlit into its legacy multipage
mode on a first run, which would run a page without this router). Pages hold widgets and layout; the work is done by trend_core.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # so `trend_core` and `app_pages._common` import from any working directory
    sys.path.insert(0, str(ROOT))

from app_pages import _common as ui  # noqa: E402
from app_pages import _server  # noqa: E402

# the tab icon is a file of the app (a ':material/...:' page icon is fetched from fonts.gstatic.com by the
# browser; the pages' own ':material/...:' icons come from the font Streamlit bundles)
st.set_page_config(page_title="Style trends", page_icon=str(ROOT / "app_pages" / "page_icon.png"), layout="wide",
                   initial_sidebar_state="expanded")
server = _server.gate()  # server mode: nothing below runs before the visitor has logged in

PAGES = [
    st.Page("app_pages/data.py", title="Data", icon=":material/database:", url_path="data"),
    st.Page("app_pages/segmentation.py", title="Segmentation", icon=":material/content_cut:",
            url_path="segmentation"),
    st.Page("app_pages/styles.py", title="Styles", icon=":material/palette:", url_path="styles", default=True),
    st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:", url_path="map"),
    st.Page("app_pages/trends.py", title="Trends", icon=":material/trending_up:", url_path="trends"),
    st.Page("app_pages/search.py", title="Search", icon=":material/search:", url_path="search"),
    st.Page("app_pages/forecast.py", title="Forecast", icon=":material/query_stats:", url_path="forecast"),
]
page = st.navigation(PAGES, position="sidebar")

with st.sidebar:
    if server.enabled:  # the server's database, fixed by its settings: no field a visitor could point elsewhere
        st.caption(f"Database: {ui.md(Path(ui.db_path()).name)} (set by the server)")
    else:
        if "db_path" not in st.session_state:
            st.session_state["db_path"] = ui.initial_db_path()
        st.text_input("Database file", key="db_path",
                      help="DuckDB file holding posts, images and results. Default: --db after `--` on the "
                           "streamlit command line, else $TREND_DB, else data/trend.duckdb.")
    try:
        n_posts = ui.post_count()
    except Exception as exc:  # unreadable / busy file: one line on the page (Retry when busy), app stays alive
        db_failure: Exception | None = exc
    else:
        db_failure = None
        cols = st.columns(2)
        cols[0].metric("Posts", f"{n_posts:,}")
        cols[1].metric("Device", ui.device_name().split(" ")[0],
                       help=ui.device_name() + ": segmentation, image embeddings and forecast training run here")

if db_failure is not None:
    ui.show_failure(db_failure, key="database")
    st.stop()
ui.run_guarded(page.run)  # any failure: one line and a collapsed Details box, never a raw traceback
