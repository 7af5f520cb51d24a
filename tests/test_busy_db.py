"""A database held by another process: store operations wait for the lock (and say so), give up with a
clear DatabaseBusy after the lock wait, and two CLI runs on one file both complete."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HOLDER = ("import duckdb, sys, time\n"
          "con = duckdb.connect(sys.argv[1])\n"
          "con.execute('SELECT 1').fetchall()\n"
          "print('held', flush=True)\n"
          "time.sleep(float(sys.argv[2]))\n"
          "con.close()\n")


def _hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that opens the DuckDB file (taking its lock) and keeps it for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def test_store_waits_for_a_lock_held_by_another_process(tmp_path, caplog):
    from trend_core.store import Store

    path = tmp_path / "busy.duckdb"
    notices: list[str] = []
    store = Store(path, lock_wait=30, on_wait=notices.append)
    holder = _hold(path, 3)
    try:
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="trend_core.store"):
            store.set_setting("written", "while busy")
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert waited > 1.0  # it really waited for the other process
    assert notices == ["database busy (held by another process): waiting up to 30 s"]
    assert any("database busy" in r.getMessage() for r in caplog.records)
    assert store.get_setting("written") == "while busy"


def test_lock_wait_from_the_environment(tmp_path, monkeypatch):
    from trend_core.store import DEFAULT_LOCK_WAIT, Store

    monkeypatch.delenv("TREND_LOCK_WAIT", raising=False)
    assert Store(tmp_path / "a.duckdb").lock_wait == DEFAULT_LOCK_WAIT == 60
    monkeypatch.setenv("TREND_LOCK_WAIT", "2.5")
    assert Store(tmp_path / "a.duckdb").lock_wait == 2.5
    monkeypatch.setenv("TREND_LOCK_WAIT", "soon")
    with pytest.raises(ValueError, match="TREND_LOCK_WAIT"):
        Store(tmp_path / "a.duckdb")


def test_gives_up_with_database_busy_after_the_lock_wait(tmp_path):
    from trend_core.store import DatabaseBusy, Store

    path = tmp_path / "busy.duckdb"
    store = Store(path, lock_wait=0.5)
    holder = _hold(path, 5)
    try:
        start = time.monotonic()
        with pytest.raises(DatabaseBusy) as caught:
            store.count_posts()
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert isinstance(caught.value, RuntimeError)
    message = str(caught.value)
    assert str(path) in message and "another process" in message and "close the other program" in message
    assert 0.4 < elapsed < 4


def test_cli_prints_one_line_and_exits_2_when_the_database_stays_busy(tmp_path):
    from trend_core.store import Store

    path = tmp_path / "busy.duckdb"
    Store(path)
    holder = _hold(path, 20)
    try:
        done = subprocess.run([sys.executable, "-m", "trend_core", "quality", "--db", str(path)], cwd=ROOT,
                              env=_env(TREND_LOCK_WAIT="1"), capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["database busy (held by another process): waiting up to 1 s",
                     lines[1]] and lines[1].startswith(f"error: database {path} is in use by another process")


def test_two_cli_runs_on_one_database_both_complete(tmp_path):
    """Two `demo` commands (posts + every stage) started together on one small database: they take turns
    on the file instead of crashing with DuckDB's 'Could not set lock'."""
    path = tmp_path / "shared.duckdb"
    cmd = [sys.executable, "-m", "trend_core", "demo", "--db", str(path), "--posts", "60", "--k-max", "4",
           "--quiet"]
    env = _env(TREND_LOCK_WAIT="120")
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        assert '"posts": 60' in out

    from trend_core.store import Store

    assert Store(path).count_posts() == 60
