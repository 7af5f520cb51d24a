"""Bring-your-own-data import: read a posts file, validate every row, store posts, images and rejects.

Every input row is either accepted or stored in the `rejects` table with a short reason code, so
`accepted + rejected == rows_read`. See docs/DATA_FORMAT.md for the full reference.

Video posts (a `video` column, or a video file in the image column): the frame at 15 s, or the middle
of a shorter clip (trend_core.video), is stored as the post's image like a photo.

Date rule (rows with `MM-DD` dates and no year, and relative dates such as `昨天` / `3天前`): the
reference (crawl) date is `reference_date` when given, else the latest full date (with a year) in the
file, else today; an `MM-DD` date gets the latest year that puts it on or before the reference date, a
relative date is counted back from it. `dayfirst=True` reads `DD/MM/YYYY` and `DD.MM.YYYY`.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trend_core import video
from trend_core.fields import (MonthDay, RelativeDate, as_text, image_number, infer_year, is_blank, normalise_tags,
                               parse_count, parse_date, post_id_text, row_media)
from trend_core.media import (MAX_BYTES, MAX_PIXELS, MEDIA_REJECTED, ImageRejected, Media, decode_in_threads,
                              is_url, load_media, normalise_image, resolve_image_path, resolve_media_path)
from trend_core.columns import (COUNT_COLUMNS, INPUT_COLUMNS, TEXT_COLUMNS, check_columns,
                                column_map, preview_columns, read_table)
from trend_core.readers import MAX_CELL_CHARS, RawFile, RawTable, open_source
from trend_core.store import POST_COLUMNS, Store

__all__ = ["INPUT_COLUMNS", "REASONS", "ImageRejected", "add_frame", "check_columns", "column_map",
           "infer_year", "ingest_file", "normalise_image", "normalise_tags", "parse_count", "parse_date",
           "preview_columns", "read_table", "resolve_image_path", "resolve_media_path"]

REASONS: dict[str, str] = {
    "bad_row": "the row could not be parsed (malformed JSON line, too many CSV fields, a CSV quote that is "
               "never closed, JSON nested too deep, not a record)",
    "bad_encoding": "the row's line does not decode in the file's encoding (e.g. a cut UTF-8 character); "
                    "the other rows are kept",
    "text_too_long": f"a cell is longer than {MAX_CELL_CHARS:,} characters",
    "missing_date": "post_date is blank",
    "bad_date": "post_date is not a date in an accepted format, or not a real day (e.g. 02-30)",
    "bad_count": "likes / collects / comments is negative or not a count",
    "bad_image_no": "image_no is not a whole number from 0 up",
    "empty_post": "no title, content, tags, image or style label",
    "duplicate_post_id": "an earlier row of the same file has this post_id and the same image "
                         "(the same image_no or image path, or no image at all)",
    "image_missing": "the image file does not exist (or no images folder to look in)",
    "image_outside_root": "the image path leaves the images folder",
    "image_corrupt": "the image cannot be decoded completely (corrupt or truncated)",
    "image_too_large": f"the image has more than {MAX_PIXELS:,} pixels or {MAX_BYTES // 2**20} MB",
    "video_missing": "the video file does not exist (or no images folder to look in)",
    "video_outside_root": "the video path leaves the images folder",
    "video_corrupt": "the video cannot be opened or decoded up to its still (corrupt, truncated, "
                     "no video stream, or not a supported container)",
    "video_too_large": f"the video file is larger than {video.MAX_VIDEO_BYTES // 2**20} MB, its frames have "
                       f"more than {MAX_PIXELS:,} pixels, or more than {video.MAX_DECODED_FRAMES:,} "
                       "frames must be decoded to reach the still",
}


# =================================================================================================
# ingest
# =================================================================================================
def _raw_json(record: dict[str, Any]) -> str:
    def plain(v: Any) -> Any:
        if is_blank(v) and not isinstance(v, str):
            return None
        if isinstance(v, np.ndarray):
            return [plain(x) for x in v.tolist()]
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (str, int, float, bool)):
            return v
        return str(v)
    return json.dumps({k: plain(v) for k, v in record.items()}, ensure_ascii=False)


def _clip(text: str, keep: int = 10_000) -> str:
    """Long raw text kept short in the rejects table."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text):,} characters)"


def _empty_posts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in POST_COLUMNS})


def _posts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        frame = _empty_posts()
    else:
        frame = pd.DataFrame(rows, columns=POST_COLUMNS)
    frame["post_date"] = pd.to_datetime(frame["post_date"]).astype("datetime64[ns]")
    for col in (*COUNT_COLUMNS, "row_number", "image_no"):
        frame[col] = frame[col].astype("int64")
    for col in ("image_hash", "style_label", "true_style"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _rejects_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["source", "row_number", "post_id", "reason", "detail", "raw"]
    frame = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame({c: [] for c in cols})
    frame["row_number"] = frame["row_number"].astype("int64")
    return frame


def _reference_date(latest: dt.date | None, reference_date: Any, dayfirst: bool = False) -> tuple[dt.date, str]:
    """(the reference date, where it came from: "crawl_date", "latest_full_date" or "today"); latest is
    the latest full date (with a year) in the file."""
    if reference_date is not None:
        ref = parse_date(reference_date, dayfirst=dayfirst)
        if isinstance(ref, (MonthDay, RelativeDate)):
            raise ValueError("reference_date (the crawl date) needs a full date with a year")
        return ref, "crawl_date"
    return (latest, "latest_full_date") if latest is not None else (dt.date.today(), "today")


def _summary(name: str, source: str, rows_read: int, accepted: int, reasons: Counter[str], added: int,
             already: int, **extra: Any) -> dict[str, Any]:
    return {"file": name, "source": source, "rows_read": rows_read, "accepted": accepted,
            "rejected": sum(reasons.values()), "added": added, "already_present": already,
            "reasons": dict(sorted(reasons.items())), **extra}


def _store(store: Store, summary: dict, posts: pd.DataFrame | list[Path], images: dict,
           rejects: pd.DataFrame | list[Path]) -> dict:
    """Write everything in one transaction (posts and rejects: a frame, or Parquet files of chunks). A
    repeat import that adds nothing keeps the first import's record in the imports table."""
    if summary["added"] == 0 and summary["source"] in set(store.load_imports()["source"]):
        summary["added"] = store.add_posts(posts, images, rejects, None)
        return summary
    import_row = {"source": summary["source"], "file_name": summary["file"], "rows_read": summary["rows_read"],
                  "accepted": summary["accepted"], "rejected": summary["rejected"], "summary": summary}
    summary["added"] = store.add_posts(posts, images, rejects, import_row)
    return summary


@dataclass
class _Look:
    """One image of an accepted row (or the row itself when it has no local picture)."""

    image_no: int
    kind: str | None = None      # "image" / "video" for a local file, None without a picture
    written: str = ""            # the path or URL as the posts file wrote it
    media: Media | None = None  # resolved local file


@dataclass
class _Row:
    """An input row that passed the field checks, with its looks."""

    row_number: int
    record: dict[str, Any]
    post: dict[str, Any]
    looks: list[_Look]


class _PostImages:
    """Per post id: the image numbers and paths used so far, so only true duplicates are rejected (kept
    compactly: a file has many posts with an image or two each, and a single number or path is kept
    without a tuple around it)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[Any, Any]] = {}

    def looks(self, pid: str, explicit: int | None, local: list[tuple[str, str]],
              display: str) -> list[_Look] | None:
        """The row's looks with their numbers, or None when the row repeats an image of its post."""
        used_before, paths_before = (_unpack(v) for v in self.seen.get(pid, ((), ())))
        used, paths = set(used_before), set(paths_before)
        if explicit is not None:
            numbers = [explicit + i for i in range(max(1, len(local)))]
        elif not local:
            numbers = [0] if not used else []  # a second picture-less row of a post repeats it
        else:
            start = max(used, default=0) + 1
            numbers = list(range(start, start + len(local)))
        keys = [e.replace("\\", "/") for _, e in local]
        if not numbers or used & set(numbers) or paths & set(keys) or len(set(keys)) < len(keys):
            return None
        self.seen[pid] = (_pack(used_before + tuple(numbers)), _pack(paths_before + tuple(keys)))
        if not local:
            return [_Look(numbers[0], None, display)]
        return [_Look(n, kind, entry) for n, (kind, entry) in zip(numbers, local)]


def _pack(items: tuple) -> Any:
    return items[0] if len(items) == 1 else items


def _unpack(packed: Any) -> tuple:
    return packed if isinstance(packed, tuple) else (packed,)


def _date_inference(years: Counter[str], relative: int, reference: dt.date,
                    reference_from: str = "") -> dict[str, Any]:
    """How `MM-DD` dates got their year: the reference date, the rows and the years given (years: year ->
    rows); when the file has relative dates ('昨天', '3天前'), also `relative_rows` and `reference_from`
    (crawl_date / latest_full_date / today), the date they were counted back from."""
    out = {"reference_date": reference.isoformat(), "month_day_rows": int(sum(years.values())),
           "years": dict(sorted(years.items()))}
    if relative:
        out.update(relative_rows=int(relative), reference_from=reference_from)
    return out


def _long_cells(rec: dict[str, Any]) -> list[tuple[str, int]]:
    """(column, length) of the record's cells longer than MAX_CELL_CHARS."""
    return [(k, len(v)) for k, v in rec.items() if isinstance(v, str) and len(v) > MAX_CELL_CHARS]


MISSING_WARN_SHARE = 0.20  # warn when more of the declared local images than this are not found


def ingest_file(store: Store, path_or_buffer: Any, images_dir: str | Path | None = None,
                file_name: str | None = None, mapping: dict | None = None,
                reference_date: Any = None, dayfirst: bool = False, chunk_rows: int | None = None) -> dict:
    """Import a posts file: validate every row, store accepted posts (new ids only), their images and
    the rejects. `source` is a short sha256 of the file bytes, so importing a file twice adds nothing.

    Multi-image posts: rows sharing a post_id are the images of one post (one row per image, as crawls
    export them, numbered by an `image_no` column or in file order), and an image cell may list several
    paths (`,` `;` `|` or a JSON list); a video's still is one more image. Only a row that repeats an
    image of its post (same image_no or path, or no image at all) is a duplicate_post_id reject. The
    post's text, date, counts and author come from its first accepted row; a style label is per row.

    Image paths: a relative path is looked up under images_dir, then under the posts file's folder (when
    path_or_buffer is a real path); a path that starts with the images folder's own name is found too.
    URLs are not fetched. MM-DD dates take the latest year that puts them on or before the reference
    date (reference_date = the crawl date, else the latest full date in the file, else today); relative
    dates ('昨天', '3天前', '5小时前') are counted back from it. `dayfirst` reads DD/MM/YYYY and
    DD.MM.YYYY (else they are bad_date). Returns {"file", "source",
    "rows_read", "accepted", "rejected", "posts", "images", "added", "already_present", "reasons",
    "reference_date", "dates", "blank_counts", "encoding" (the text encoding read; None for Parquet),
    "warnings" (code -> message)}.

    The file is read in chunks of `chunk_rows` rows (readers.CHUNK_ROWS): a path is never held in
    memory whole, only one chunk's parsed rows are, and each chunk's accepted rows and rejects go to
    temporary Parquet files until everything is written in one transaction; the result does not depend
    on the chunk size. When a date needs the reference date and no reference_date is given, a first
    pass over the file finds its latest full date and the import starts again."""
    src, name, folder = open_source(path_or_buffer)
    name = file_name or name or "upload"
    source = src.sha256()[:16]
    raw = RawFile(src, name)
    cmap = column_map(raw.columns, mapping)
    check_columns(raw.columns, cmap)
    if images_dir is not None and not Path(images_dir).is_dir():
        raise ValueError(f"images_dir {str(images_dir)!r} is not a folder")
    roots = [Path(images_dir)] if images_dir is not None else []
    roots += [folder] if folder is not None else []
    reference, reference_from = (None, "") if reference_date is None else _reference_date(None, reference_date, dayfirst)
    while True:
        job = _Import(store, source, cmap, roots, reference, reference_from, dayfirst)
        try:
            for chunk in raw.chunks(chunk_rows):
                job.add(chunk)
            return job.finish(name, raw.encoding)
        except _NeedReference:  # an MM-DD or relative date: the latest full date in the whole file first
            reference, reference_from = _reference_date(_latest_full_date(raw, cmap, dayfirst, chunk_rows), None)
        finally:
            job.close()


class _NeedReference(Exception):
    """A date needs the reference date, which is not known yet."""


def _latest_full_date(raw: RawFile, cmap: dict[str, str], dayfirst: bool, chunk_rows: int | None) -> dt.date | None:
    """The latest full date (with a year) in the file's date column, rows with a too long cell left out."""
    latest = None
    column = cmap["post_date"]
    for chunk in raw.chunks(chunk_rows):
        for rec in chunk.records.values():
            value = rec.get(column)
            if is_blank(value) or _long_cells(rec):
                continue
            try:
                date = parse_date(value, dayfirst=dayfirst)
            except ValueError:
                continue
            if isinstance(date, dt.date) and (latest is None or date > latest):
                latest = date
    return latest


class _Import:
    """One import, fed a chunk of the file at a time. What is carried across chunks is small: post ids
    with their image numbers and paths, where each post's first accepted row is, counters and the
    decoded images. Each chunk's accepted rows and rejects are written to Parquet files in a temporary
    folder (removed by close), which the final transaction inserts."""

    def __init__(self, store: Store, source: str, cmap: dict[str, str], roots: list[Path],
                 reference: dt.date | None, reference_from: str, dayfirst: bool) -> None:
        self.store, self.source, self.cmap, self.roots = store, source, cmap, roots
        self.reference, self.reference_from, self.dayfirst = reference, reference_from, dayfirst
        self.latest: dt.date | None = None  # the latest full date so far (the reference when none is needed)
        self.rows_read = self.accepted = self.image_rows = self.declared = self.relative = 0
        self.reasons: Counter[str] = Counter()
        self.years: Counter[str] = Counter()
        self.urls: Counter[str] = Counter()
        self.missing: list[str] = []  # the first missing path (and how many, by count_missing)
        self.count_missing = 0
        self.blank = {col: (0 if col in cmap else None) for col in COUNT_COLUMNS}
        self.numbering = _PostImages()
        self.decoded: dict[tuple[str, Path], Any] = {}
        self.images: dict[str, tuple[bytes, bytes, int, int]] = {}
        self.first_at: dict[str, int] = {}  # post id -> its first accepted look (counted over all chunks)
        self.frame_starts: list[int] = []  # the first look of each chunk's posts file
        self.looks = 0
        self.folder: Path | None = None  # the temporary folder of the chunks' Parquet files
        self.post_files: list[Path] = []
        self.reject_files: list[Path] = []
        self.last_frame: pd.DataFrame | None = None  # the latest chunk's posts (a post often runs on into the next)

    def _spill(self, frame: pd.DataFrame, files: list[Path], kind: str) -> None:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="trend_import_"))
        path = self.folder / f"{kind}-{len(files):06d}.parquet"
        frame.to_parquet(path, index=False)
        files.append(path)

    def close(self) -> None:
        """Remove the chunks' temporary files."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def get(self, rec: dict[str, Any], canon: str) -> Any:
        return rec.get(self.cmap[canon]) if canon in self.cmap else None

    def add(self, chunk: RawTable) -> None:
        """Check, resolve and decode one chunk's rows; write its accepted looks and rejects to Parquet files."""
        source = self.source
        rejects: list[dict[str, Any]] = []

        def reject(row_number: int, post_id: str | None, reason: str, detail: str, raw_text: str) -> None:
            rejects.append({"source": source, "row_number": row_number, "post_id": post_id or None,
                            "reason": reason, "detail": detail, "raw": raw_text})

        self.rows_read += len(chunk.records) + len(chunk.bad_rows)
        for row_number, (raw_text, detail, reason) in chunk.bad_rows.items():
            reject(row_number, None, reason, detail, _clip(raw_text))
        records = chunk.records
        for row_number, rec in list(records.items()):
            long = _long_cells(rec)
            if long:
                del records[row_number]
                reject(row_number, None, "text_too_long", ", ".join(
                    f"{k}: {n:,} characters (the limit is {MAX_CELL_CHARS:,})" for k, n in long),
                    _clip(_raw_json({k: _clip(v) if isinstance(v, str) else v for k, v in rec.items()})))
        for col in COUNT_COLUMNS:
            if col in self.cmap:
                self.blank[col] += sum(is_blank(rec.get(self.cmap[col])) for rec in records.values())

        get = self.get
        dates: dict[int, Any] = {}
        for row_number, rec in records.items():
            value = get(rec, "post_date")
            if is_blank(value):
                continue
            try:
                dates[row_number] = parse_date(value, dayfirst=self.dayfirst)
            except ValueError as exc:
                dates[row_number] = exc
        for value in dates.values():
            if isinstance(value, dt.date):
                self.latest = value if self.latest is None or value > self.latest else self.latest
            elif isinstance(value, (MonthDay, RelativeDate)) and self.reference is None:
                raise _NeedReference
        for value in dates.values():
            if isinstance(value, MonthDay):
                try:
                    self.years[str(infer_year(value, self.reference).year)] += 1
                except ValueError:
                    continue
            elif isinstance(value, RelativeDate):
                self.relative += 1

        rows: list[_Row] = []
        for row_number, rec in sorted(records.items()):
            media = row_media(get(rec, "image_source"), get(rec, "video"))
            post, reason, detail = _check_row(rec, get, row_number, source, dates.get(row_number), self.reference,
                                              media)
            pid = post.get("post_id")
            explicit = None
            if reason is None:
                try:
                    explicit = image_number(get(rec, "image_no"))
                except ValueError as exc:
                    reason, detail = "bad_image_no", str(exc)
            if reason is not None:
                reject(row_number, pid, reason, detail, _raw_json(rec))
                continue
            local = [(kind, entry) for kind, entry in media if not is_url(entry)]
            self.urls.update(f"{kind}_url_not_fetched" for kind, entry in media if is_url(entry))
            looks = self.numbering.looks(pid, explicit, local, post["image_source"])
            if looks is None:
                reject(row_number, pid, "duplicate_post_id",
                       f"post_id {pid!r} with the same image appeared in an earlier row", _raw_json(rec))
                continue
            rows.append(_Row(row_number, rec, post, looks))

        for row in rows:  # resolve every local path; the first that cannot be used rejects the row
            for look in row.looks:
                if look.kind is None or "_reject" in row.post:
                    continue
                try:
                    look.media = Media(look.kind, look.written, resolve_media_path(look.written, self.roots, look.kind))
                except MEDIA_REJECTED as exc:
                    row.post["_reject"] = exc
                    if exc.reason.endswith("_missing"):
                        self.count_missing += 1
                        self.missing = self.missing or [look.written]
        self.declared += sum(1 for r in rows for lk in r.looks if lk.kind)
        items = sorted({(lk.media.kind, lk.media.path) for r in rows for lk in r.looks if lk.media} - set(self.decoded),
                       key=lambda i: (i[0] != "video", i[1]))
        self.decoded.update(decode_in_threads(load_media, items))  # videos first: they take longest
        decoded = self.decoded

        accepted: list[_Row] = []
        for row in rows:
            failure = row.post.pop("_reject", None) or next(
                (decoded[(lk.media.kind, lk.media.path)] for lk in row.looks
                 if lk.media and isinstance(decoded[(lk.media.kind, lk.media.path)], MEDIA_REJECTED)), None)
            if failure is not None:
                reject(row.row_number, row.post["post_id"], failure.reason, failure.detail, _raw_json(row.record))
                continue
            has_picture = any(lk.media for lk in row.looks)
            if not has_picture and not row.post["style_label"] and not any(
                    row.post[c].strip() for c in TEXT_COLUMNS):
                reject(row.row_number, row.post["post_id"], "empty_post",
                       "no text or style label; image / video URLs are not downloaded", _raw_json(row.record))
                continue
            accepted.append(row)

        looks = self._look_rows(accepted)
        self.accepted += len(accepted)
        self.image_rows += sum(1 for lk in looks if lk["image_hash"])
        if looks:
            self.frame_starts.append(self.looks)
            self.last_frame = _posts_frame(looks)
            self._spill(self.last_frame, self.post_files, "posts")
            self.looks += len(looks)
        if rejects:
            rejects.sort(key=lambda r: r["row_number"])
            self.reasons.update(r["reason"] for r in rejects)
            self._spill(_rejects_frame(rejects), self.reject_files, "rejects")

    def _look_rows(self, accepted: list[_Row]) -> list[dict[str, Any]]:
        """One stored row per look; the post's fields come from its first accepted row (the label stays
        per row, falling back to the post's), which may lie in an earlier chunk. Fills `images`."""
        first = self._earlier_posts({row.post["post_id"] for row in accepted})
        out: list[dict[str, Any]] = []
        for row in accepted:
            pid = row.post["post_id"]
            post = first.get(pid)
            if post is None:
                self.first_at[pid] = self.looks + len(out)
                post = first[pid] = row.post
            for look in row.looks:
                rec = dict(post, image_no=look.image_no, image_hash=None, image_source=look.written,
                           style_label=row.post["style_label"] or post["style_label"], row_number=row.row_number)
                if look.media is not None:
                    (digest, jpeg, thumb, w, h), seconds = self.decoded[(look.media.kind, look.media.path)]
                    rec["image_hash"] = digest
                    self.images[digest] = (jpeg, thumb, w, h)
                    if seconds is not None:
                        rec["image_source"] = f"{look.written}#t={seconds}"
                out.append(rec)
        return out

    def _earlier_posts(self, pids: set[str]) -> dict[str, dict[str, Any]]:
        """The first accepted rows (as posts) of those posts that began in an earlier chunk, read from the
        latest chunk's frame or that chunk's file (each file once)."""
        wanted: dict[int, dict[str, int]] = {}
        for pid in pids:
            if pid in self.first_at:
                at = self.first_at[pid]
                wanted.setdefault(bisect.bisect_right(self.frame_starts, at) - 1, {})[pid] = at
        out: dict[str, dict[str, Any]] = {}
        for number, looks in wanted.items():
            last = number == len(self.frame_starts) - 1
            frame = self.last_frame if last else pd.read_parquet(self.post_files[number])
            for pid, at in looks.items():
                rec = frame.iloc[at - self.frame_starts[number]].to_dict()
                out[pid] = {k: (None if is_blank(v) else v) if k in ("style_label", "true_style") else v
                            for k, v in rec.items()}
        return out

    def finish(self, name: str, encoding: str | None) -> dict:
        """The summary, after writing every chunk's posts, the images and the rejects in one transaction."""
        reference, reference_from = ((self.reference, self.reference_from) if self.reference is not None
                                     else _reference_date(self.latest, None))
        existing = self.store.existing_post_ids(self.first_at)
        warnings = {code: f"{n:,} {code.split('_')[0]} URL(s) were not downloaded (URLs are not fetched): "
                          "those posts are kept without that picture" for code, n in sorted(self.urls.items())}
        missing, declared = self.count_missing, self.declared
        if declared and missing > MISSING_WARN_SHARE * declared:
            warnings["images_missing"] = (
                f"{missing:,} of {declared:,} declared images ({missing / declared:.0%}) were not found; "
                f"first missing: {self.missing[0]!r}; folders searched: "
                f"{', '.join(str(r.resolve()) for r in self.roots) or 'none (give the images folder)'}")
        summary = _summary(name, self.source, self.rows_read, self.accepted, self.reasons,
                           len(self.first_at) - len(existing), len(existing), posts=len(self.first_at),
                           images=self.image_rows, reference_date=reference.isoformat(),
                           dates=_date_inference(self.years, self.relative, reference, reference_from),
                           blank_counts=self.blank, encoding=encoding, warnings=warnings)
        self.last_frame = None
        return _store(self.store, summary, self.post_files, self.images, self.reject_files)


def _check_row(rec: dict[str, Any], get: Callable[[dict, str], Any], row_number: int, source: str,
               date: Any, reference: dt.date, media: list[tuple[str, str]]) -> tuple[dict[str, Any], str | None, str]:
    """The canonical post for one record (media: its row_media), or (partial post, reason, detail)
    when it is rejected."""
    pid = post_id_text(get(rec, "post_id")) or f"{source}-{row_number}"
    post: dict[str, Any] = {"post_id": pid}
    if date is None:
        return post, "missing_date", "post_date is blank"
    if isinstance(date, ValueError):
        return post, "bad_date", str(date)
    if isinstance(date, MonthDay):
        try:
            date = infer_year(date, reference)
        except ValueError as exc:
            return post, "bad_date", str(exc)
    if isinstance(date, RelativeDate):
        date = date.resolve(reference)
    counts = {}
    for col in COUNT_COLUMNS:
        try:
            counts[col] = parse_count(get(rec, col))
        except ValueError as exc:
            return post, "bad_count", f"{col}: {exc}"
    post.update(
        poster_id=as_text(get(rec, "poster_id")).strip(), title=as_text(get(rec, "title")),
        content=as_text(get(rec, "content")), tags=normalise_tags(get(rec, "tags")), post_date=date,
        **counts, image_hash=None, image_source=", ".join(entry for _, entry in media),
        style_label=as_text(get(rec, "style_label")).strip() or None, true_style=None, source=source,
        row_number=row_number)
    if not any(post[c].strip() for c in TEXT_COLUMNS) and not media and not post["style_label"]:
        return post, "empty_post", "no title, content, tags, image, video or style label"
    return post, None, ""


def add_frame(store: Store, frame: pd.DataFrame, images: dict[str, bytes], source: str) -> dict:
    """Store an already-clean canonical frame (the demo): images are raw bytes per hash, normalised
    like imported ones. Rows are still checked (date, counts, duplicate ids, image present and
    decodable); posts whose id exists are skipped. Returns the ingest_file summary shape."""
    if "post_id" not in frame.columns or "post_date" not in frame.columns:
        raise ValueError(f"add_frame needs post_id and post_date; available columns: {list(frame.columns)}")
    frame = frame.reindex(columns=POST_COLUMNS).reset_index(drop=True)
    rows_read = len(frame)
    rejects: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
        row_number = int(rec["row_number"]) if not is_blank(rec["row_number"]) else i
        post, reason, detail = _clean_frame_row(rec, row_number, source, seen)
        if reason:
            rejects.append({"source": source, "row_number": row_number, "post_id": post["post_id"],
                            "reason": reason, "detail": detail, "raw": _raw_json(rec)})
            continue
        seen.add(post["post_id"])
        candidates.append(post)

    existing = store.existing_post_ids(p["post_id"] for p in candidates)
    wanted = {p["image_hash"] for p in candidates if p["image_hash"] and p["post_id"] not in existing}
    stored = set(store.load_image_bytes(wanted, "thumb"))
    results = decode_in_threads(lambda h: normalise_image(images[h]), sorted(h for h in wanted - stored if h in images))
    accepted: list[dict[str, Any]] = []
    image_rows: dict[str, tuple[bytes, bytes, int, int]] = {}
    for post in candidates:
        h = post["image_hash"]
        if post["post_id"] in existing or not h or h in stored:
            accepted.append(post)
            continue
        result = results.get(h, ImageRejected("image_missing", f"no image bytes for hash {h}"))
        if isinstance(result, ImageRejected):
            rejects.append({"source": source, "row_number": post["row_number"], "post_id": post["post_id"],
                            "reason": result.reason, "detail": result.detail, "raw": _raw_json(post)})
            continue
        digest, jpeg, thumb, width, height = result
        post["image_hash"] = digest
        image_rows[digest] = (jpeg, thumb, width, height)
        accepted.append(post)
    rejects.sort(key=lambda r: r["row_number"])
    summary = _summary(source, source, rows_read, len(accepted), Counter(r["reason"] for r in rejects),
                       sum(p["post_id"] not in existing for p in accepted), len(existing), warnings={})
    return _store(store, summary, _posts_frame(accepted), image_rows, _rejects_frame(rejects))


def _clean_frame_row(rec: dict[str, Any], row_number: int, source: str,
                     seen: set[str]) -> tuple[dict[str, Any], str | None, str]:
    pid = post_id_text(rec["post_id"]) or f"{source}-{row_number}"
    post = {"post_id": pid}
    if is_blank(rec["post_date"]):
        return post, "missing_date", "post_date is blank"
    try:
        date = parse_date(rec["post_date"])
    except ValueError as exc:
        return post, "bad_date", str(exc)
    if isinstance(date, (MonthDay, RelativeDate)):
        return post, "bad_date", "post_date needs a full date with a year"
    counts = {}
    for col in COUNT_COLUMNS:
        try:
            counts[col] = parse_count(rec[col])
        except ValueError as exc:
            return post, "bad_count", f"{col}: {exc}"
    if pid in seen:
        return post, "duplicate_post_id", f"post_id {pid!r} appeared in an earlier row"
    h = as_text(rec["image_hash"]).strip() or None
    post.update(image_no=1 if h else 0, poster_id=as_text(rec["poster_id"]).strip(), title=as_text(rec["title"]),
                content=as_text(rec["content"]), tags=normalise_tags(rec["tags"]), post_date=date, **counts,
                image_hash=h, image_source=as_text(rec["image_source"]),
                style_label=as_text(rec["style_label"]).strip() or None,
                true_style=as_text(rec["true_style"]).strip() or None, source=source, row_number=row_number)
    if not h and not any(post[c].strip() for c in TEXT_COLUMNS):
        return post, "empty_post", "no title, content, tags or image"
    return post, None, ""
