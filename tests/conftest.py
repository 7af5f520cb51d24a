"""Shared fixtures for the UI tests: a small demo database built once per test session.

Tests that change the database (apply a K, import a file, train a forecast) get their own copy of
it, so the order tests run in does not matter.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A failing page shows one line and a Details box (app_pages._common.show_failure); with TREND_DEBUG it also
# shows the traceback as st.exception, so the page tests' `assert not at.exception` still catch failures.
# tests/test_hostile_errors.py unsets it to test what a person sees. (The CLI's traceback switch is --debug.)
os.environ.setdefault("TREND_DEBUG", "1")

UI_DEMO_POSTS = 480  # small enough for a 2-core machine, large enough for several styles and months
UI_DEMO_SEED = 0


def _copy_db(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    wal = src.with_name(src.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, dst.with_name(dst.name + ".wal"))
    return dst


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """Path of a demo database (posts + styles computed with the app's default settings).
    Treat it as read-only; use `demo_db_copy` to change things."""
    from trend_core import pipeline
    from trend_core.store import Store

    path = tmp_path_factory.mktemp("ui_demo") / "demo.duckdb"
    store = Store(path)
    result = pipeline.build_demo(store, n_posts=UI_DEMO_POSTS, seed=UI_DEMO_SEED)
    assert result.view is not None and len(result.view.styles) >= 2
    return path


@pytest.fixture(scope="session")
def copy_db():
    """copy_db(src, dst) -> dst: copies a DuckDB file (and its WAL, if any)."""
    return _copy_db


@pytest.fixture
def demo_db_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database for a test that writes to it."""
    return _copy_db(demo_db, tmp_path / "demo_copy.duckdb")


REAL_DIR = ROOT.parent / "shared" / "real"  # the real crawl: ../shared/real beside the checkout


@pytest.fixture(scope="session")
def real_image_rows() -> Path:
    """../shared/real/xhs_image_rows.csv (one row per image); the test is skipped with the reason when absent."""
    path = REAL_DIR / "xhs_image_rows.csv"
    if not path.is_file():
        pytest.skip(f"the shared real crawl is missing ({path} not found)")
    return path


@pytest.fixture(scope="session")
def real_crawl_db(tmp_path_factory, real_image_rows: Path) -> Path:
    """The real crawl imported as the README says (image_style mapped to style_label). Read-only."""
    from trend_core.ingest import ingest_file
    from trend_core.store import Store

    db = tmp_path_factory.mktemp("real_crawl") / "real.duckdb"
    ingest_file(Store(db), real_image_rows, mapping={"image_style": "style_label"})
    return db


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module's small networks (faster and steadier on a busy 2-core machine)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
