"""The Data page's data quality panel: figures from trend_core.quality and its warnings, each naming
the pages it affects. Layout only; the numbers are the same as `python -m trend_core quality`."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app_pages import _common as ui
from trend_core import quality


@st.cache_data(max_entries=4, show_spinner=False)
def _report(db: str, dataset: str, imports: str, _posts: pd.DataFrame) -> dict:
    return quality.report(_posts, quality.import_summaries(pd.DataFrame({"summary": json.loads(imports)})))


def current_report() -> dict:
    """The quality report of the database the sidebar points at (cached per dataset and imports)."""
    summaries = ui.store().load_imports()
    imports = json.dumps(summaries["summary"].tolist() if "summary" in summaries else [], default=str)
    return _report(ui.db_path(), ui.dataset_key(), imports, ui.posts())


def _years_line(dates: dict) -> str:
    if not dates["month_day_rows"]:
        return "Every date carried its year (no `MM-DD` dates)."
    placed = ", ".join(f"{y}: {n:,}" for y, n in dates["years"].items())
    refs = ", ".join(dates["reference_dates"]) or "unknown"
    return (f"Dates without a year (`MM-DD`): {dates['month_day_rows']:,} rows, given the latest year on or "
            f"before the reference date {refs}: {placed}.")


def quality_panel() -> None:
    """Metrics, the MM-DD year line, warnings with the pages they affect, and the report as JSON."""
    report = current_report()
    st.subheader("Data quality")
    span, busiest, images = report["date_range"], report["busiest_day"], report["images"]
    shared, blanks = report["shared_images"], report["blank_counts"]
    cols = st.columns(5)
    cols[0].metric("Date range", f"{span['first']} – {span['last']}" if span["first"] else "–",
                   help=f"{span['days']:,} days, {span['days_with_posts']:,} of them with posts")
    cols[1].metric("Busiest day", f"{busiest['share']:.1%}",
                   help=f"{busiest['date']}: {busiest['posts']:,} of {report['posts']:,} posts "
                        f"(warning above {busiest['limit']:.0%})")
    cols[2].metric("Posts without image", f"{images['posts_without_image']:,}",
                   help=f"{images['posts_without_image_share']:.1%} of {report['posts']:,} posts; "
                        f"{images['image_rows_without_picture']:,} image rows have no stored picture")
    cols[3].metric("Blank counts", f"{sum(n or 0 for n in blanks.values()):,}",
                   help=" · ".join(f"{c}: {'no column' if n is None else f'{n:,}'}" for c, n in blanks.items())
                        + " (blank cells stored as 0)")
    cols[4].metric("Images in several posts", f"{shared['images']:,}",
                   help=f"{shared['posts']:,} posts, {shared['rows']:,} rows")
    st.caption(f"{report['rows']:,} rows (one per image) from {report['posts']:,} posts. {_years_line(report['dates'])}")
    for item in report["warnings"]:
        text = f"{item['message']}  \n**Affects:** {', '.join(item['pages'])}"
        if item["level"] == "warning":
            st.warning(text, icon=":material/warning:")
        else:
            st.info(text, icon=":material/info:")
    if not report["warnings"]:
        st.success("No data quality warnings.", icon=":material/check:")
    with st.expander("Quality figures as JSON (`python -m trend_core quality`)"):
        st.json(report, expanded=False)
