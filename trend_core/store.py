"""DuckDB storage: schema, put/get and cache look-ups. The only module that writes SQL.

Connections are short-lived (one per call) so the app and a CLI run can take turns on one file,
and every write runs in a transaction, so a crash leaves no half-written stage. DuckDB lets one process
hold a file at a time: opening a connection while another process holds it retries with backoff for
`lock_wait` seconds ($TREND_LOCK_WAIT, default 60), says once that it is waiting, then raises
DatabaseBusy. Other I/O failures (disk full, unreadable file) raise StoreError.
"""
from __future__ import annotations

import io
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

REJECT_COLUMNS = ["source", "row_number", "post_id", "reason", "detail", "raw"]
POST_COLUMNS = [
    "post_id", "image_no", "poster_id", "title", "content", "tags", "post_date",
    "likes", "collects", "comments", "image_hash", "image_source",
    "style_label", "true_style", "source", "row_number",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts(
    post_id VARCHAR NOT NULL, image_no INTEGER NOT NULL, poster_id VARCHAR, title VARCHAR, content VARCHAR,
    tags VARCHAR, post_date DATE NOT NULL, likes BIGINT, collects BIGINT, comments BIGINT,
    image_hash VARCHAR, image_source VARCHAR, style_label VARCHAR, true_style VARCHAR,
    source VARCHAR, row_number BIGINT, imported_at TIMESTAMP, PRIMARY KEY(post_id, image_no));
CREATE TABLE IF NOT EXISTS rejects(
    source VARCHAR, row_number BIGINT, post_id VARCHAR, reason VARCHAR, detail VARCHAR, raw VARCHAR,
    imported_at TIMESTAMP, PRIMARY KEY(source, row_number, reason));
CREATE TABLE IF NOT EXISTS imports(
    source VARCHAR PRIMARY KEY, file_name VARCHAR, rows_read BIGINT, accepted BIGINT, rejected BIGINT,
    added BIGINT, summary VARCHAR, imported_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS images(
    image_hash VARCHAR PRIMARY KEY, width INTEGER, height INTEGER, data BLOB, thumb BLOB);
CREATE TABLE IF NOT EXISTS masks(
    image_hash VARCHAR, segmenter VARCHAR, ratio DOUBLE, mask BLOB, PRIMARY KEY(image_hash, segmenter));
CREATE TABLE IF NOT EXISTS image_vectors(
    image_hash VARCHAR, encoder VARCHAR, vec BLOB, PRIMARY KEY(image_hash, encoder));
CREATE TABLE IF NOT EXISTS artifacts(
    key VARCHAR PRIMARY KEY, stage VARCHAR, created_at TIMESTAMP, meta VARCHAR, payload BLOB);
CREATE TABLE IF NOT EXISTS settings(name VARCHAR PRIMARY KEY, value VARCHAR);
"""

_write_lock = threading.RLock()

log = logging.getLogger(__name__)

LOCK_WAIT_ENV = "TREND_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 60.0
_BACKOFF_FIRST = 0.02  # seconds; doubles on each try up to _BACKOFF_MAX, with jitter
_BACKOFF_MAX = 1.0
_NOTICE_AFTER = 0.25  # a lock released within this time (normal turn-taking) is not announced


class StoreError(RuntimeError):
    """The database file could not be read or written (disk full, I/O error, ...); the failed
    transaction was rolled back."""


class DatabaseBusy(StoreError):
    """Another process kept the database file locked for longer than the lock wait."""


def lock_wait_from_env() -> float:
    """Seconds to wait for a locked database: $TREND_LOCK_WAIT, else 60."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${LOCK_WAIT_ENV} must be a number of seconds, not {raw!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"${LOCK_WAIT_ENV} must be a number of seconds >= 0, not {raw!r}")
    return value


def _is_lock_error(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, duckdb.IOException) and ("Could not set lock" in text or "Conflicting lock" in text)


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str],
                 rows: pd.DataFrame | Sequence[str | Path], now: datetime) -> None:
    """INSERT ... ON CONFLICT DO NOTHING the rows of a frame, or of Parquet files (one statement each:
    DuckDB reads them in batches), with imported_at = now."""
    if isinstance(rows, pd.DataFrame):
        if rows.empty and table == "rejects":
            return
        frame = rows.reindex(columns=columns).copy()
        frame["imported_at"] = now
        con.register(f"new_{table}", frame)
        con.execute(f"INSERT INTO {table} SELECT * FROM new_{table} ON CONFLICT DO NOTHING")
        return
    listed = ", ".join(f'"{c}"' for c in columns)
    for path in rows:
        con.execute(f"INSERT INTO {table} SELECT {listed}, ?::TIMESTAMP FROM read_parquet(?) ON CONFLICT DO NOTHING",
                    [now, str(path)])


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise named numpy arrays (no pickles) to bytes."""
    buf = io.BytesIO()
    np.savez(buf, **{name: np.asarray(value) for name, value in arrays.items()})
    return buf.getvalue()


def bytes_to_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def post_keys(posts: pd.DataFrame) -> pd.Series:
    """The post each row (look) of a posts frame belongs to: `post` from Store.load_posts, else the
    row's post_id (frames built by hand, one row per post)."""
    return posts["post"] if "post" in posts else posts["post_id"]


def _migrate_posts(con: duckdb.DuckDBPyConnection) -> None:
    """Databases written before multi-image posts keyed posts by post_id alone: rebuild the table with
    image_no (1 for a post with an image, 0 without) and the (post_id, image_no) key, in one transaction."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'posts'").fetchall()}
    if not columns or "image_no" in columns:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("ALTER TABLE posts RENAME TO posts_before_images")
        con.execute(SCHEMA)
        con.execute(f"INSERT INTO posts SELECT post_id, CASE WHEN image_hash IS NULL THEN 0 ELSE 1 END, "
                    f"{', '.join(c for c in POST_COLUMNS if c not in ('post_id', 'image_no'))}, imported_at "
                    "FROM posts_before_images")
        con.execute("DROP TABLE posts_before_images")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class Store:
    """A DuckDB file holding posts, images, caches and results.

    The posts table holds one row per *look*: each image of a post (image_no 1, 2, ...; a video's still
    is one more image), or one row with image_no 0 for a post without any image. Post-level fields
    (text, date, counts, author) repeat on every row of a post."""

    def __init__(self, path: str | Path, lock_wait: float | None = None,
                 on_wait: Callable[[str], None] | None = None):
        """lock_wait: seconds to keep retrying while another process holds the file (default
        $TREND_LOCK_WAIT or 60); on_wait: called with the "waiting" notice (also logged as a warning)."""
        self.path = Path(path)
        self.lock_wait = lock_wait_from_env() if lock_wait is None else max(0.0, float(lock_wait))
        self.on_wait = on_wait
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            _migrate_posts(con)
            con.execute(SCHEMA)

    # -- connections -------------------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        """duckdb.connect, retried while another process holds the file's lock."""
        start = time.monotonic()
        delay = _BACKOFF_FIRST
        announced = False
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as err:
                if not _is_lock_error(err):
                    raise StoreError(f"cannot open database {self.path}: {err}") from err
                waited = time.monotonic() - start
                if waited >= self.lock_wait:
                    raise DatabaseBusy(
                        f"database {self.path} is in use by another process (waited {waited:.0f} s): close the "
                        "other program using it (the app, another CLI run) or raise $TREND_LOCK_WAIT, "
                        "then try again") from err
                if not announced and (waited >= _NOTICE_AFTER or self.lock_wait <= _NOTICE_AFTER):
                    announced = True
                    message = f"database busy (held by another process): waiting up to {self.lock_wait:g} s"
                    log.warning(message)
                    if self.on_wait is not None:
                        self.on_wait(message)
                time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, self.lock_wait - waited)))
                delay = min(delay * 2, _BACKOFF_MAX)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits for a lock held by another process (see _open). DuckDB I/O
        and fatal errors (disk full, ...) come out as StoreError."""
        con = self._open()
        try:
            yield con
        except (duckdb.IOException, duckdb.FatalException) as err:
            raise StoreError(f"database {self.path}: {err}") from err
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT; rolled back on any error."""
        with _write_lock, self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:  # the failed COMMIT (disk full, ...) already ended the transaction
                    pass
                raise

    def query_df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    # -- posts ---------------------------------------------------------------------------------
    def count_posts(self) -> int:
        """Distinct posts (a post with several images counts once)."""
        with self.connect() as con:
            return int(con.execute("SELECT count(DISTINCT post_id) FROM posts").fetchall()[0][0])

    def count_looks(self) -> int:
        """Rows of the posts table: one per image (or per post without an image)."""
        with self.connect() as con:
            return int(con.execute("SELECT count(*) FROM posts").fetchall()[0][0])

    def existing_post_ids(self, post_ids: Iterable[str]) -> set[str]:
        ids = pd.DataFrame({"post_id": list(post_ids)})
        if ids.empty:
            return set()
        with self.connect() as con:
            con.register("incoming_ids", ids)
            rows = con.execute(
                "SELECT p.post_id FROM posts p JOIN incoming_ids i USING (post_id)").fetchall()
        return {r[0] for r in rows}

    def add_posts(self, posts: pd.DataFrame | Sequence[str | Path], images: dict[str, tuple[bytes, bytes, int, int]],
                  rejects: pd.DataFrame | Sequence[str | Path], import_row: dict[str, Any] | None = None) -> int:
        """Insert new posts, their images (hash -> (data, thumb, width, height)), rejects and the
        import record in one transaction. Posts and rejects are a frame, or Parquet files holding it
        in chunks (an import read in chunks writes them, so it never holds all its rows in memory).
        Posts whose id exists already are skipped; returns the number of posts added."""
        now = _now()
        image_rows = pd.DataFrame(
            [(h, w, hh, d, t) for h, (d, t, w, hh) in images.items()],
            columns=["image_hash", "width", "height", "data", "thumb"])
        with self.transaction() as con:
            before = con.execute("SELECT count(DISTINCT post_id) FROM posts").fetchall()[0][0]
            _insert_rows(con, "posts", POST_COLUMNS, posts, now)
            added = con.execute("SELECT count(DISTINCT post_id) FROM posts").fetchall()[0][0] - before
            if not image_rows.empty:
                con.register("new_images", image_rows)
                con.execute("INSERT INTO images SELECT * FROM new_images ON CONFLICT DO NOTHING")
            if import_row is not None:
                self._supersede_rejects(con, import_row)
            _insert_rows(con, "rejects", REJECT_COLUMNS, rejects, now)
            if import_row is not None:
                row = dict(import_row, added=int(added), imported_at=_now())
                con.execute(
                    "INSERT OR REPLACE INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [row["source"], row.get("file_name"), row["rows_read"], row["accepted"],
                     row["rejected"], row["added"], json.dumps(row.get("summary", {}), ensure_ascii=False),
                     row["imported_at"]])
        return int(added)

    @staticmethod
    def _supersede_rejects(con: duckdb.DuckDBPyConnection, import_row: dict[str, Any]) -> None:
        """A re-import replaces what earlier imports rejected: the rejects of earlier imports of a file
        with the same name, and any reject (other than a duplicate row) whose post is now stored, are no
        longer current. The imports table keeps every import's own counts."""
        con.execute("DELETE FROM rejects WHERE source IN (SELECT source FROM imports WHERE file_name = ? "
                    "AND source <> ?)", [import_row.get("file_name"), import_row["source"]])
        con.execute("DELETE FROM rejects WHERE source <> ? AND reason <> 'duplicate_post_id' "
                    "AND post_id IN (SELECT post_id FROM posts)", [import_row["source"]])

    def load_posts(self) -> pd.DataFrame:
        """One row per look (image) in the order every feature matrix follows: by post, then image.

        `post` is the post's id; `post_id` identifies the row: the post's id, with `#<image_no>` appended
        when the post has several rows (a single-image post keeps its plain id); `images` is the number
        of rows of the post."""
        with self.connect() as con:
            df = con.execute(
                "SELECT * EXCLUDE (imported_at, post_id), post_id AS post, "
                "count(*) OVER (PARTITION BY post_id) AS images, "
                "CASE WHEN count(*) OVER (PARTITION BY post_id) > 1 THEN post_id || '#' || image_no "
                "ELSE post_id END AS post_id FROM posts ORDER BY post, image_no").df()
        df["post_date"] = pd.to_datetime(df["post_date"])
        return df

    def dataset_key(self) -> str:
        """Hash of every look's identity and content: changes whenever a post or image is added or edited."""
        with self.connect() as con:
            row = con.execute(
                "SELECT count(*), coalesce(md5(string_agg(concat_ws('|', post_id, image_no, poster_id, title, "
                "content, tags, post_date, likes, collects, comments, image_hash, style_label), '\n' "
                "ORDER BY post_id, image_no)), '') FROM posts").fetchall()[0]
        return f"{row[0]}-{row[1][:16]}"

    def load_rejects(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM rejects ORDER BY imported_at, source, row_number")

    def load_imports(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM imports ORDER BY imported_at")

    # -- images --------------------------------------------------------------------------------
    def load_image_bytes(self, hashes: Iterable[str], column: str = "data") -> dict[str, bytes]:
        """hash -> stored JPEG/PNG bytes; column is 'data' (normalised image) or 'thumb'."""
        if column not in ("data", "thumb"):
            raise ValueError(f"unknown image column {column!r}")
        wanted = pd.DataFrame({"image_hash": sorted({h for h in hashes if h})})
        if wanted.empty:
            return {}
        with self.connect() as con:
            con.register("wanted", wanted)
            rows = con.execute(
                f"SELECT i.image_hash, i.{column} FROM images i JOIN wanted w USING (image_hash)").fetchall()
        return {h: bytes(b) for h, b in rows}

    # -- masks ---------------------------------------------------------------------------------
    def load_masks(self, hashes: Iterable[str], segmenter: str) -> dict[str, tuple[float, bytes]]:
        wanted = pd.DataFrame({"image_hash": sorted({h for h in hashes if h})})
        if wanted.empty:
            return {}
        with self.connect() as con:
            con.register("wanted", wanted)
            rows = con.execute(
                "SELECT m.image_hash, m.ratio, m.mask FROM masks m JOIN wanted w USING (image_hash)"
                " WHERE m.segmenter = ?", [segmenter]).fetchall()
        return {h: (float(r), bytes(m)) for h, r, m in rows}

    def put_masks(self, segmenter: str, rows: dict[str, tuple[float, bytes]]) -> None:
        if not rows:
            return
        df = pd.DataFrame([(h, segmenter, r, m) for h, (r, m) in rows.items()],
                          columns=["image_hash", "segmenter", "ratio", "mask"])
        with self.transaction() as con:
            con.register("new_masks", df)
            con.execute("INSERT INTO masks SELECT * FROM new_masks ON CONFLICT DO NOTHING")

    # -- per-image vectors ---------------------------------------------------------------------
    def load_image_vectors(self, hashes: Iterable[str], encoder: str) -> dict[str, np.ndarray]:
        wanted = pd.DataFrame({"image_hash": sorted({h for h in hashes if h})})
        if wanted.empty:
            return {}
        with self.connect() as con:
            con.register("wanted", wanted)
            rows = con.execute(
                "SELECT v.image_hash, v.vec FROM image_vectors v JOIN wanted w USING (image_hash)"
                " WHERE v.encoder = ?", [encoder]).fetchall()
        return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}

    def put_image_vectors(self, encoder: str, hashes: list[str], matrix: np.ndarray) -> None:
        if not hashes:
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        df = pd.DataFrame({"image_hash": hashes, "encoder": encoder,
                           "vec": [row.tobytes() for row in matrix]})
        with self.transaction() as con:
            con.register("new_vectors", df)
            con.execute("INSERT INTO image_vectors SELECT * FROM new_vectors ON CONFLICT DO NOTHING")

    # -- keyed artifacts (stage results) -------------------------------------------------------
    def has_artifact(self, key: str) -> bool:
        with self.connect() as con:
            return bool(con.execute("SELECT 1 FROM artifacts WHERE key = ?", [key]).fetchall())

    def put_artifact(self, key: str, stage: str, arrays: dict[str, np.ndarray],
                     meta: dict[str, Any] | None = None) -> None:
        blob = arrays_to_bytes(arrays)
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?)",
                        [key, stage, _now(), json.dumps(meta or {}, ensure_ascii=False, default=str), blob])

    def get_artifact(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        with self.connect() as con:
            rows = con.execute("SELECT payload, meta FROM artifacts WHERE key = ?", [key]).fetchall()
        if not rows:
            return None
        row = rows[0]
        return bytes_to_arrays(bytes(row[0])), json.loads(row[1])

    def list_artifacts(self, stage: str | None = None) -> pd.DataFrame:
        sql = "SELECT key, stage, created_at, meta FROM artifacts"
        params: list[Any] = []
        if stage:
            sql += " WHERE stage = ?"
            params.append(stage)
        return self.query_df(sql + " ORDER BY created_at", params)

    # -- settings ------------------------------------------------------------------------------
    def get_setting(self, name: str, default: str | None = None) -> str | None:
        with self.connect() as con:
            rows = con.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchall()
        return default if not rows else rows[0][0]

    def set_setting(self, name: str, value: str) -> None:
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [name, value])
