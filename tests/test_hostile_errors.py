"""Failures as a person sees them (issue 11, points 2 and 7): a page that fails shows one line and a collapsed
Details box without server paths, never a traceback; Streamlit's st.stop / st.rerun still work; the app's
reads give up on a database another process holds after a few seconds with a Retry button, and its jobs
wait with a notice; the CLI prints one line and exits 2 for any failure (130 for Ctrl-C); a disk that
fills up during a write leaves the database as it was."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from trend_core.store import Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
DATA_PAGE = "app_pages/data.py"
SECRET = "/home/alice/srv/private"  # a server folder that must never reach the page
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:home|srv|tmp|usr|work|root|var)/")

CSV = ("post_id,post_date,title,likes\n"
       "p1,2024-03-05,碎花裙,10\n"
       "p2,2024-03-06,西装,5\n"
       "p3,2024-03-07,牛仔裤,7\n")
MORE = ("post_id,post_date,title,likes\n"
        "q1,2024-04-05,风衣,3\n"
        "q2,2024-04-06,卫衣,4\n"
        "q2,2024-04-06,卫衣,4\n")  # a duplicate row: a reject is written too

HOLDER = ("import duckdb, sys, time\n"
          "con = duckdb.connect(sys.argv[1])\n"
          "con.execute('SELECT 1').fetchall()\n"
          "print('held', flush=True)\n"
          "time.sleep(float(sys.argv[2]))\n"
          "con.close()\n")


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that opens the DuckDB file (taking its lock) and keeps it for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def as_read(text: str) -> str:
    """Element text as a person reads it: markdown escapes and ui.md's word joiners removed."""
    return re.sub(r"\\(.)", r"\1", str(text)).replace("\u2060", "")


def visible_errors(at: AppTest) -> list[str]:
    return [as_read(e.value) for e in at.error]


def details_boxes(at: AppTest) -> list:
    return [e for e in at.expander if e.label == "Details"]


def open_data_page(db: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TREND_DB", str(db))
    monkeypatch.delenv("TREND_DEBUG", raising=False)  # what a person sees, not the developer's traceback
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(DATA_PAGE).run()
    return at


def assert_one_clean_failure(at: AppTest, expected: str) -> str:
    """One error line holding `expected`, without a path or a traceback; a collapsed Details box whose
    traceback names module-relative files only. Returns the details text."""
    assert not at.exception, [e.value for e in at.exception]
    errors = visible_errors(at)
    assert len(errors) == 1, errors
    line = errors[0]
    assert expected in line, line
    assert "\n" not in line.strip() and "Traceback" not in line and not ABSOLUTE.search(line), line
    boxes = details_boxes(at)
    assert len(boxes) == 1 and not boxes[0].proto.expanded
    code = "\n".join(str(c.value) for c in boxes[0].code)
    assert code and not ABSOLUTE.search(code) and str(ROOT) not in code and SECRET not in code, code
    assert "site-packages" not in code and "Traceback" not in code
    return code


# -- the app --------------------------------------------------------------------------------------
def test_a_page_that_fails_shows_one_line_and_collapsed_details(tmp_path, monkeypatch):
    """A bad upload whose reader fails unexpectedly (message with a server path): one line, no traceback."""
    from trend_core import ingest

    def crash(*args, **kwargs):
        raise RuntimeError(f"parser crashed reading {SECRET}/uploads/posts.csv at byte 7")

    at = open_data_page(tmp_path / "fail.duckdb", monkeypatch)
    monkeypatch.setattr(ingest, "preview_columns", crash)
    at.file_uploader(key="data_upload").set_value(("posts.csv", b"post_id\nfails-uniquely-1\n", "text/csv"))
    at.run()
    code = assert_one_clean_failure(at, "Unexpected error (RuntimeError): parser crashed reading posts.csv at byte 7")
    assert "RuntimeError: parser crashed reading posts.csv" in code
    assert "app_pages/data.py" in code and "in crash" in code  # frames by module-relative file


@pytest.mark.parametrize("failure, expected", [
    (MemoryError(), "Out of memory"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (StoreError(f"database {SECRET}/trend.duckdb: IO Error: Could not write file: No space left on device"),
     "The disk is full"),
    (StoreError(f"database {SECRET}/trend.duckdb: IO Error: Could not read from file: Input/output error"),
     "The database could not be read or written: database trend.duckdb: IO Error: Could not read from file: "
     "Input/output error"),
    (PermissionError(13, "Permission denied", f"{SECRET}/rejects.parquet"), "Permission denied: rejects.parquet"),
])
def test_known_failures_get_their_own_line(tmp_path, monkeypatch, failure, expected):
    at = open_data_page(tmp_path / "known.duckdb", monkeypatch)

    def fail(self):
        raise failure

    monkeypatch.setattr(Store, "load_rejects", fail)
    at.run()
    assert_one_clean_failure(at, expected)


def test_st_stop_and_st_rerun_pass_through_the_page_guard():
    def script():
        import streamlit as st

        from app_pages import _common as ui

        def stops():
            st.write("before stop")
            st.stop()

        def reruns():
            st.session_state["runs"] = st.session_state.get("runs", 0) + 1
            if st.session_state["runs"] == 1:
                st.rerun()
            st.write(f"runs {st.session_state['runs']}")

        ui.run_guarded(reruns)
        ui.run_guarded(stops)
        st.write("after stop")

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    shown = [m.value for m in at.markdown]
    assert "runs 2" in shown and "before stop" in shown and "after stop" not in shown


def test_the_app_gives_up_on_a_busy_database_after_a_few_seconds_with_retry(tmp_path, monkeypatch):
    """Reads wait a few seconds (not $TREND_LOCK_WAIT's 60) for a database a CLI run holds, then say so in
    one line with a Retry button; Retry after the other process is done shows the page."""
    db = tmp_path / "busy.duckdb"
    Store(db)
    monkeypatch.setenv("TREND_DB", str(db))
    monkeypatch.delenv("TREND_DEBUG", raising=False)
    monkeypatch.delenv("TREND_LOCK_WAIT", raising=False)
    holder = _hold(db, 60)
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        start = time.monotonic()
        at.run()
        waited = time.monotonic() - start
        assert waited < 20
        assert_one_clean_failure(at, "The database is busy with another job")
        assert "try again in a minute" in visible_errors(at)[0]
        retry = [b for b in at.button if b.label == "Retry"]
        assert len(retry) == 1
    finally:
        holder.kill()
        holder.wait(timeout=30)
    retry[0].click()
    at.run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.sidebar.metric}["Posts"] == "0"


def test_a_job_waits_for_the_busy_database_with_a_notice(tmp_path, monkeypatch):
    """A job (import, demo, pipeline run) keeps the full lock wait and says that it is waiting."""
    def script():
        import os

        import streamlit as st

        from app_pages import _common as ui

        st.session_state["db_path"] = os.environ["TREND_DB"]
        if st.session_state.get("go"):
            st.write(f"posts {ui.job_store().count_posts()}")
        else:
            ui.store()  # opened (and kept) while the file is free

    db = tmp_path / "job.duckdb"
    Store(db)
    monkeypatch.setenv("TREND_DB", str(db))
    monkeypatch.delenv("TREND_LOCK_WAIT", raising=False)
    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    holder = _hold(db, 4)  # longer than a page's read wait: only the job's wait outlasts it
    try:
        at.session_state["go"] = True
        at.run()
    finally:
        holder.wait(timeout=30)
    assert not at.exception and not at.error
    assert "posts 0" in [m.value for m in at.markdown]
    assert [t.value for t in at.toast] == ["Database busy (held by another process): waiting up to 60 s…"]


def test_the_import_result_says_which_encoding_was_read(tmp_path, monkeypatch):
    at = open_data_page(tmp_path / "gb.duckdb", monkeypatch)
    at.file_uploader(key="data_upload").set_value(("gb.csv", CSV.encode("gb18030"), "text/csv"))
    at.run()
    at.button(key="data_upload_button").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [as_read(c.value) for c in at.main.caption]
    assert "Read as GB18030." in captions, captions


# -- the CLI --------------------------------------------------------------------------------------
def _cli(capsys, argv: list[str]) -> tuple[int, list[str]]:
    from trend_core.__main__ import main

    code = main(argv)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("failure, expected", [
    (RecursionError("maximum recursion depth exceeded while decoding a JSON array"),
     "error: The data is nested too deeply to process"),
    (MemoryError(), "error: Out of memory"),
    (OSError(28, "No space left on device", "/data/trend.duckdb.wal"), "error: The disk is full"),
    (KeyError("post_id"), "error: Unexpected error (KeyError): 'post_id' (run again with --debug for the traceback)"),
    (ZeroDivisionError("division by zero\nsecond line"), "error: Unexpected error (ZeroDivisionError): division by "
                                                          "zero second line"),
])
def test_cli_prints_one_line_and_exits_2_for_any_failure(tmp_path, monkeypatch, capsys, failure, expected):
    from trend_core import ingest

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(ingest, "ingest_file", fail)
    posts = tmp_path / "posts.csv"
    posts.write_text(CSV, encoding="utf-8")
    code, lines = _cli(capsys, ["ingest", "--db", str(tmp_path / "t.duckdb"), "--posts", str(posts)])
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_cli_debug_shows_the_traceback_and_ctrl_c_exits_130(tmp_path, monkeypatch, capsys):
    from trend_core import ingest

    def fail(*args, **kwargs):
        raise KeyError("post_id")

    monkeypatch.setattr(ingest, "ingest_file", fail)
    argv = ["ingest", "--db", str(tmp_path / "t.duckdb"), "--posts", str(tmp_path / "p.csv")]
    code, lines = _cli(capsys, [*argv, "--debug"])
    assert code == 2 and lines[0].startswith("Traceback") and lines[-1] == "error: Unexpected error (KeyError): 'post_id'"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "ingest_file", interrupted)
    assert _cli(capsys, argv) == (130, ["error: interrupted"])


def test_cli_recursion_error_in_a_subprocess_is_one_line(tmp_path):
    """The real entry point (python -m trend_core): a failure deep in a command is one line, exit 2."""
    code = ("import sys, runpy\n"
            "import trend_core.ingest as ingest\n"
            "def deep(*a, **k):\n"
            "    return deep(*a, **k)\n"
            "ingest.ingest_file = deep\n"
            "sys.argv = ['trend_core', 'ingest', '--db', sys.argv[1], '--posts', sys.argv[2]]\n"
            "runpy.run_module('trend_core', run_name='__main__')\n")
    posts = tmp_path / "posts.csv"
    posts.write_text(CSV, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.duckdb"), str(posts)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr[-2000:]
    assert lines == [lines[0]] and lines[0].startswith("error: The data is nested too deeply"), lines


# -- disk full during a write ---------------------------------------------------------------------
class _DiskFills:
    """A DuckDB connection whose write fails the way a full disk does, at the statement starting with `at`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, at: str):
        self._con, self._at = con, at

    def execute(self, sql: str, *args, **kwargs):
        if sql.lstrip().upper().startswith(self._at):
            raise duckdb.IOException('IO Error: Could not write all bytes to file "/srv/db/t.duckdb.wal": '
                                     "No space left on device")
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _snapshot(db: Path) -> dict:
    store = Store(db)
    return {"posts": store.load_posts().drop(columns=["source"]).to_dict("records"),
            "imports": store.load_imports()[["file_name", "rows_read", "accepted"]].to_dict("records"),
            "rejects": len(store.load_rejects()), "looks": store.count_looks()}


@pytest.mark.parametrize("fails_at", ["INSERT OR REPLACE INTO IMPORTS", "COMMIT"])
def test_disk_full_during_an_import_prints_one_line_and_leaves_the_database_as_it_was(tmp_path, monkeypatch,
                                                                                     capsys, fails_at):
    from trend_core import store as store_module
    from trend_core.ingest import ingest_file

    db = tmp_path / "t.duckdb"
    first = tmp_path / "first.csv"
    first.write_text(CSV, encoding="utf-8")
    ingest_file(Store(db), first)
    before = _snapshot(db)
    assert before["looks"] == 3 and len(before["imports"]) == 1

    more = tmp_path / "more.csv"
    more.write_text(MORE, encoding="utf-8")
    real_connect = duckdb.connect
    monkeypatch.setattr(store_module.duckdb, "connect", lambda *a, **k: _DiskFills(real_connect(*a, **k), fails_at))
    code, lines = _cli(capsys, ["ingest", "--db", str(db), "--posts", str(more)])
    monkeypatch.setattr(store_module.duckdb, "connect", real_connect)

    assert code == 2
    assert lines == ["error: The disk is full (no space left on device): nothing was saved by this step and the "
                     "database is as it was; free some space and try again."]
    assert _snapshot(db) == before
    # the same import works once there is space again
    assert _cli(capsys, ["ingest", "--db", str(db), "--posts", str(more)])[0] == 0
    assert Store(db).count_posts() == 5
