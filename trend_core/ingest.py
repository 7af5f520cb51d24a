"""Bring-your-own-data import: read a posts file, validate every row, store posts, images and rejects.

Every input row is either accepted or stored in the `rejects` table with a short reason code, so
`accepted + rejected == rows_read`. See docs/DATA_FORMAT.md for the full reference.

Video posts (a `video` column, or a video file in the image column): the frame at 15 s, or the middle
of a shorter clip (trend_core.video), is stored as the post's image like a photo.

Date rule (rows with `MM-DD` dates and no year): the reference date is `reference_date` when given,
else the latest full date (with a year) in the file, else today; an `MM-DD` date gets the latest year
that puts it on or before the reference date.
"""
from __future__ import annotations

import ast
import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from trend_core import video
from trend_core.store import POST_COLUMNS, Store
from trend_core.text import extract_hashtags
from trend_core.video import VideoRejected, is_video_name

# -- limits ----------------------------------------------------------------------------------------
MAX_PIXELS = 60_000_000          # larger images are rejected as image_too_large (decompression bombs)
MAX_BYTES = 40 * 1024 * 1024     # larger image files are rejected as image_too_large
DATA_SIDE = 512                  # stored image: JPEG, longest side at most this
THUMB_SIDE = 128                 # stored thumbnail: JPEG, longest side at most this
JPEG_QUALITY = 90
THUMB_QUALITY = 85
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))  # epoch timestamps are read in China Standard Time

# -- columns ---------------------------------------------------------------------------------------
INPUT_COLUMNS = ("post_id", "poster_id", "title", "content", "tags", "post_date", "likes", "collects",
                 "comments", "image_source", "image_no", "video", "style_label")  # `video` is input only
REQUIRED_COLUMNS = ("post_date",)
CONTENT_COLUMNS = ("title", "content", "tags", "image_source", "video", "style_label")  # one must exist
COUNT_COLUMNS = ("likes", "collects", "comments")
TEXT_COLUMNS = ("title", "content", "tags")

# Xiaohongshu crawl exports (matched before the other aliases).
CRAWL_COLUMNS: dict[str, str] = {
    "post_id": "post_id", "poster_id": "poster_id", "post_title": "title", "post_content": "content",
    "post_tag": "tags", "post_date": "post_date", "post_like": "likes", "post_collect": "collects",
    "post_comments": "comments", "post_img": "image_source", "post_video": "video", "image_no": "image_no",
}

# Other common names (lower-case) -> canonical column.
DEFAULT_ALIASES: dict[str, str] = {
    **CRAWL_COLUMNS,
    "id": "post_id", "note_id": "post_id", "noteid": "post_id", "postid": "post_id", "帖子id": "post_id",
    "笔记id": "post_id", "编号": "post_id",
    "user_id": "poster_id", "userid": "poster_id", "uid": "poster_id", "author": "poster_id",
    "author_id": "poster_id", "user": "poster_id", "poster": "poster_id", "username": "poster_id",
    "nickname": "poster_id", "用户id": "poster_id", "作者": "poster_id",
    "note_title": "title", "标题": "title",
    "text": "content", "desc": "content", "description": "content", "body": "content",
    "note_content": "content", "内容": "content", "正文": "content",
    "post_tags": "tags", "tag": "tags", "tag_list": "tags", "hashtags": "tags", "标签": "tags", "话题": "tags",
    "date": "post_date", "time": "post_date", "created_at": "post_date", "create_time": "post_date",
    "publish_time": "post_date", "post_time": "post_date", "datetime": "post_date", "日期": "post_date",
    "发布时间": "post_date", "时间": "post_date",
    "like": "likes", "like_count": "likes", "likes_count": "likes", "liked_count": "likes",
    "post_likes": "likes", "点赞": "likes", "点赞数": "likes",
    "collect": "collects", "collect_count": "collects", "collected_count": "collects",
    "post_collects": "collects", "favorites": "collects", "favourites": "collects",
    "favorite_count": "collects", "收藏": "collects", "收藏数": "collects",
    "comment": "comments", "comment_count": "comments", "comments_count": "comments",
    "post_comment": "comments", "评论": "comments", "评论数": "comments",
    "image": "image_source", "img": "image_source", "image_path": "image_source",
    "image_url": "image_source", "images": "image_source", "img_path": "image_source",
    "picture": "image_source", "photo": "image_source", "image_file": "image_source", "图片": "image_source",
    "video_path": "video", "video_url": "video", "video_file": "video", "video_addr": "video",
    "videos": "video", "视频": "video", "视频地址": "video", "视频链接": "video",
    "img_no": "image_no", "image_index": "image_no", "img_index": "image_no", "image_number": "image_no",
    "图片序号": "image_no",
    "style": "style_label", "label": "style_label", "风格": "style_label",
}

REASONS: dict[str, str] = {
    "bad_row": "the row could not be parsed (malformed JSON line, too many CSV fields, not a record)",
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

_BLANK = frozenset({"", "nan", "none", "null", "na", "n/a", "<na>", "nat"})
_ZERO_LABELS = frozenset({"赞", "点赞", "收藏", "评论", "喜欢"})  # button labels crawled when the count is 0
_COUNT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|w|千|k|亿)?\s*\+?$", re.IGNORECASE)
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?")
_UNITS = {None: 1, "万": 10_000, "w": 10_000, "千": 1_000, "k": 1_000, "亿": 100_000_000}
_TIME = r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?"
_FULL_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?" + _TIME + "$")
_SHORT_DATE_RE = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?" + _TIME + "$")
_DATE_PREFIX_RE = re.compile(r"^(?:编辑于|发布于|发表于)\s*")
_DATE_PLACE_RE = re.compile(r"\s+[\u4e00-\u9fff]{1,12}$")  # "07-15 广东": Xiaohongshu adds the IP region
_IMAGE_SPLIT_RE = re.compile(r"[,;|\n，；]")


class ImageRejected(Exception):
    """An image that cannot be stored; `reason` is a REASONS code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


_REJECTED = (ImageRejected, VideoRejected)  # what resolving or decoding a post's media raises


@dataclass(frozen=True)
class _Media:
    """The local file whose picture becomes a post's image."""

    kind: str      # "image" or "video"
    written: str   # the path as the posts file wrote it
    path: Path     # resolved, inside the images folder


@dataclass
class _Raw:
    """What a reader returns: good records (row number -> dict) and unparseable rows."""

    records: dict[int, dict[str, Any]]
    columns: list[str]
    bad_rows: dict[int, tuple[str, str]]  # row number -> (raw text, detail)
    fmt: str
    encoding: str | None


# =================================================================================================
# reading
# =================================================================================================
def _file_bytes(path_or_buffer: Any) -> tuple[bytes, str | None, Path | None]:
    """(bytes, file name, folder of the file when it is a real path)."""
    if isinstance(path_or_buffer, (str, os.PathLike)):
        path = Path(path_or_buffer)
        return path.read_bytes(), path.name, path.resolve().parent
    if isinstance(path_or_buffer, (bytes, bytearray, memoryview)):
        return bytes(path_or_buffer), None, None
    if hasattr(path_or_buffer, "read"):
        if hasattr(path_or_buffer, "seek"):
            try:
                path_or_buffer.seek(0)
            except (OSError, ValueError):
                pass
        data = path_or_buffer.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = getattr(path_or_buffer, "name", None)
        return bytes(data), (Path(str(name)).name if name else None), None
    raise TypeError(f"expected a path, bytes or a file object, got {type(path_or_buffer).__name__}")


def _decode(data: bytes) -> tuple[str, str]:
    """Text and encoding: UTF-8 (with or without BOM), else GB18030."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("the file is neither UTF-8 nor GB18030 text; save it as UTF-8")


def _detect_format(data: bytes, name: str | None) -> str:
    suffix = Path(name).suffix.lower() if name else ""
    by_suffix = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    if data[:4] == b"PAR1":
        return "parquet"
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for i, name in enumerate(names):
        name = str(name).strip().lstrip("\ufeff") or f"column_{i + 1}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


def _read_csv(text: str) -> _Raw:
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in (",", "\t", ";", "|") if d in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str]] = {}
    row_number = 0
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue  # blank lines are not rows
        if header is None:
            header = _unique_names(fields)
            continue
        row_number += 1
        if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
            bad[row_number] = (delimiter.join(fields), f"{len(fields)} fields, header has {len(header)}")
            continue
        fields = (fields + [""] * len(header))[: len(header)]
        records[row_number] = dict(zip(header, fields))
    return _Raw(records, header or [], bad, "csv", None)


def _records_from(items: list[Any], raw_lines: list[str] | None = None) -> tuple[dict, dict, list[str]]:
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str]] = {}
    columns: dict[str, None] = {}
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rec = {str(k).strip(): v for k, v in item.items()}
            records[i] = rec
            columns.update(dict.fromkeys(rec))
        else:
            raw = raw_lines[i - 1] if raw_lines else json.dumps(item, ensure_ascii=False, default=str)
            bad[i] = (raw, "not a JSON object")
    return records, bad, list(columns)


class _BadLine:
    def __init__(self, error: str):
        self.error = error


def _read_jsonl(text: str) -> _Raw:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    items: list[Any] = []
    for ln in lines:
        try:
            items.append(json.loads(ln))
        except json.JSONDecodeError as exc:
            items.append(_BadLine(f"invalid JSON: {exc.msg}"))
    records, bad, columns = _records_from(items, lines)
    for i, item in enumerate(items, start=1):
        if isinstance(item, _BadLine):
            bad[i] = (lines[i - 1], item.error)
    return _Raw(records, columns, bad, "jsonl", None)


def _read_json(text: str) -> _Raw:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n" in text.strip():
            return _read_jsonl(text)
        raise ValueError(f"not valid JSON ({exc.msg}, line {exc.lineno}); expected an array of records") from exc
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        obj = lists[0] if lists else [obj]
    if not isinstance(obj, list):
        raise ValueError("JSON must be an array of records (objects)")
    records, bad, columns = _records_from(obj)
    return _Raw(records, columns, bad, "json", None)


def _read_parquet(data: bytes) -> _Raw:
    frame = pd.read_parquet(io.BytesIO(data))
    frame.columns = _unique_names(list(frame.columns))
    rows = frame.astype(object).to_dict(orient="records")
    return _Raw({i: r for i, r in enumerate(rows, start=1)}, list(frame.columns), {}, "parquet", None)


def _read_raw(data: bytes, name: str | None) -> _Raw:
    fmt = _detect_format(data, name)
    if fmt == "parquet":
        return _read_parquet(data)
    text, encoding = _decode(data)
    text = text.replace("\x00", "")
    raw = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl}[fmt](text)
    raw.encoding = encoding
    return raw


def _canonical_target(name: str) -> str:
    key = name.strip().lower()
    target = key if key in INPUT_COLUMNS else DEFAULT_ALIASES.get(key)
    if target is None:
        raise ValueError(f"mapping target {name!r} is not a column; use one of {list(INPUT_COLUMNS)}")
    return target


def column_map(columns: list[str], mapping: dict | None = None) -> dict[str, str]:
    """canonical column -> the file's column: user mapping first, then exact canonical names,
    then Xiaohongshu crawl names, then DEFAULT_ALIASES (case-insensitive). First match wins.
    A mapping target of None or "" ignores that column (no alias picks it)."""
    assigned: dict[str, str] = {}
    used: set[str] = set()
    lower = {c.strip().lower(): c for c in reversed(columns)}
    for theirs, target in (mapping or {}).items():
        col = theirs if theirs in columns else lower.get(str(theirs).strip().lower())
        if col is None:
            raise ValueError(f"mapping names column {theirs!r}, which the file lacks; available columns: {columns}")
        if target is None or not str(target).strip():
            used.add(col)
            continue
        canon = _canonical_target(str(target))
        if canon not in assigned:
            assigned[canon] = col
            used.add(col)
    passes: list[Callable[[str], str | None]] = [
        lambda k: k if k in INPUT_COLUMNS else None,
        lambda k: CRAWL_COLUMNS.get(k),
        lambda k: DEFAULT_ALIASES.get(k),
    ]
    for find in passes:
        for col in columns:
            canon = find(col.strip().lower())
            if canon and canon not in assigned and col not in used:
                assigned[canon] = col
                used.add(col)
    return assigned


def read_table(path_or_buffer: Any, file_name: str | None = None, mapping: dict | None = None) -> pd.DataFrame:
    """Read CSV (UTF-8 / UTF-8 with BOM / GB18030), JSON (array of records), JSON Lines or Parquet
    and rename columns to canonical names through `mapping` ({their column: canonical}) and
    DEFAULT_ALIASES. Values are left as read (CSV: strings). Index = 1-based data row number;
    rows that could not be parsed are left out (ingest_file rejects them as bad_row)."""
    data, name, _ = _file_bytes(path_or_buffer)
    raw = _read_raw(data, file_name or name)
    return _frame(raw, column_map(raw.columns, mapping))


def preview_columns(path_or_buffer: Any, file_name: str | None = None, mapping: dict | None = None
                    ) -> tuple[list[str], dict[str, str | None], dict[str, str]]:
    """What an import would make of a file's columns, before importing: (the file's columns, column ->
    the canonical column it would be used as (None: ignored) under `mapping` and the aliases, column ->
    its first non-blank value, at most 60 characters)."""
    data, name, _ = _file_bytes(path_or_buffer)
    raw = _read_raw(data, file_name or name)
    use = {theirs: canon for canon, theirs in column_map(raw.columns, mapping).items()}
    examples: dict[str, str] = {}
    for rec in raw.records.values():
        for col in raw.columns:
            if col not in examples and not _is_blank(rec.get(col)):
                examples[col] = _text(rec.get(col)).strip()[:60]
        if len(examples) == len(raw.columns):
            break
    return list(raw.columns), {c: use.get(c) for c in raw.columns}, examples


def _frame(raw: _Raw, cmap: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(raw.records, orient="index", columns=raw.columns, dtype=object)
    frame = frame.rename(columns={theirs: canon for canon, theirs in cmap.items()})
    frame.index.name = "row_number"
    frame.attrs["column_map"] = dict(cmap)
    frame.attrs["format"] = raw.fmt
    frame.attrs["encoding"] = raw.encoding
    return frame


def check_columns(columns: list[str], cmap: dict[str, str]) -> None:
    """ValueError naming the missing column(s) and the available ones."""
    if not columns:
        raise ValueError("the file has no header row or no columns (is it empty?)")
    for col in REQUIRED_COLUMNS:
        if col not in cmap:
            aliases = sorted(k for k, v in DEFAULT_ALIASES.items() if v == col)
            raise ValueError(
                f"missing required column {col!r} (or one of {aliases}); available columns: {columns}. "
                f"Pass mapping={{'<your column>': {col!r}}}.")
    if not any(c in cmap for c in CONTENT_COLUMNS):
        raise ValueError(f"no text or image column: need one of {list(CONTENT_COLUMNS)} (or their aliases); "
                         f"available columns: {columns}")


# =================================================================================================
# values
# =================================================================================================
def _is_blank(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _BLANK


def _text(value: Any) -> str:
    """A text field kept raw: NUL characters stripped; None / NaN / 'nan' -> ''."""
    if _is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\x00", "")


def parse_count(value: Any) -> int:
    """'1万' -> 10000, '1.2w' -> 12000, '10万+' -> 100000, '1,234' -> 1234, '3k' -> 3000;
    blank / NaN / a button label ('赞') -> 0. Raises ValueError when negative or not a count."""
    if _is_blank(value):
        return 0
    if isinstance(value, bool):
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise ValueError(f"negative count: {value}")
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value < 0 or not float(value).is_integer():
            raise ValueError(f"not a count: {value!r}")
        return int(value)
    s = str(value).strip().replace("\x00", "")
    if s in _ZERO_LABELS:
        return 0
    if s.startswith("-") and s[1:].strip()[:1].isdigit():
        raise ValueError(f"negative count: {value!r}")
    if _THOUSANDS_RE.match(s):
        s = s.replace(",", "").replace("，", "")
    match = _COUNT_RE.match(s)
    if not match:
        raise ValueError(f"not a count: {value!r}")
    number, unit = match.group(1), match.group(2)
    if unit is None and "." in number:
        raise ValueError(f"not a whole count: {value!r}")
    try:
        result = Decimal(number) * _UNITS[unit.lower() if unit else None]
    except InvalidOperation as exc:
        raise ValueError(f"not a count: {value!r}") from exc
    count = int(result.to_integral_value())
    if count > 2**62:
        raise ValueError(f"count too large: {value!r}")
    return count


@dataclass(frozen=True)
class _MonthDay:
    """A date without a year (MM-DD); the year comes from the reference date."""

    month: int
    day: int


def _valid_time(groups: tuple[str | None, ...]) -> bool:
    hh, mm, ss = (int(g) if g else 0 for g in groups)
    return hh < 24 and mm < 60 and ss < 61


def parse_date(value: Any) -> dt.date | _MonthDay:
    """A full date, or a _MonthDay for 'MM-DD' forms. Raises ValueError on anything else.

    Accepted: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYY-MM-DD HH:MM[:SS] (ISO 'T' too), YYYY年M月D日,
    YYYYMMDD, Unix epoch seconds / milliseconds (China time), MM-DD, M月D日; a trailing region
    ('07-15 广东') and a leading '编辑于' are ignored."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(f"not a date: {value!r}")
        value = str(int(value))
    s = _DATE_PLACE_RE.sub("", _DATE_PREFIX_RE.sub("", str(value).strip()))
    if s.isdigit() and len(s) in (10, 13):
        seconds = int(s) / (1000 if len(s) == 13 else 1)
        return dt.datetime.fromtimestamp(seconds, CHINA_TZ).date()
    if s.isdigit() and len(s) == 8:
        return _checked_date(int(s[:4]), int(s[4:6]), int(s[6:]), value)
    match = _FULL_DATE_RE.match(s)
    if match:
        if not _valid_time(match.groups()[3:6]):
            raise ValueError(f"bad time in {value!r}")
        return _checked_date(int(match[1]), int(match[2]), int(match[3]), value)
    match = _SHORT_DATE_RE.match(s)
    if match:
        if not _valid_time(match.groups()[2:5]):
            raise ValueError(f"bad time in {value!r}")
        month, day = int(match[1]), int(match[2])
        _checked_date(2000, month, day, value)  # 2000 is a leap year: 02-29 passes, 02-30 fails
        return _MonthDay(month, day)
    raise ValueError(f"not a date in an accepted format: {value!r}")


def _checked_date(year: int, month: int, day: int, original: Any) -> dt.date:
    if not 1900 <= year <= 2100:
        raise ValueError(f"year out of range in {original!r}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"no such day: {original!r}") from exc


def infer_year(md: _MonthDay, reference: dt.date) -> dt.date:
    """The latest date with this month and day that is on or before the reference date."""
    for year in range(reference.year, reference.year - 9, -1):
        try:
            candidate = dt.date(year, md.month, md.day)
        except ValueError:  # 02-29 in a common year
            continue
        if candidate <= reference:
            return candidate
    raise ValueError(f"no year found for {md.month:02d}-{md.day:02d}")


def normalise_tags(value: Any) -> str:
    """Hashtags joined by a space, each with its leading '#'. Accepts '#a #b', '#a[话题]#',
    'a,b' / 'a b', JSON / Python lists."""
    items: list[str]
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_text(v) for v in value]
    else:
        s = _text(value).strip()
        parsed = _literal_list(s)
        if parsed is not None:
            items = [_text(v) for v in parsed]
        elif "#" in s or "＃" in s:
            items = extract_hashtags(s)
        else:
            items = re.split(r"[,，、;；|\s]+", s)
    out: dict[str, None] = {}
    for item in items:
        tag = re.sub(r"\[[^\]]{1,10}\]", "", item).strip().strip("#＃").strip()
        tag = re.sub(r"\s+", "_", tag)
        if tag:
            out.setdefault("#" + tag, None)
    return " ".join(out)


def _literal_list(s: str) -> list | None:
    if not (s.startswith("[") and s.endswith("]")):
        return None
    for loader in (json.loads, ast.literal_eval):
        try:
            obj = loader(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(obj, list):
            return obj
    return None


def _media_entries(value: Any) -> list[str]:
    """Every path or URL of an image / video cell: a JSON or Python list, or text separated by
    `,` `;` `|` or new lines (full-width separators too); quotes around entries are dropped."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_text(v) for v in value]
    else:
        s = _text(value).strip()
        parsed = _literal_list(s)
        items = [_text(v) for v in parsed] if parsed is not None else _IMAGE_SPLIT_RE.split(s)
    return [i.strip().strip("'\"").strip() for i in items if i.strip().strip("'\"").strip()]


def _row_media(image_value: Any, video_value: Any) -> list[tuple[str, str]]:
    """(kind, path or URL) of every image of a row, in order: the image cell's entries (an entry with
    a video extension is a video), then the video cell's (a video's still is one more image)."""
    images = [("video" if is_video_name(e) else "image", e) for e in _media_entries(image_value)]
    return images + [("video", e) for e in _media_entries(video_value)]


def _image_no(value: Any) -> int | None:
    """The image number a row declares (None when blank). Raises ValueError when not a whole number >= 0."""
    if _is_blank(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"image_no {value!r} is not a number") from exc
    if not number.is_integer() or number < 0:
        raise ValueError(f"image_no {value!r} is not a whole number from 0 up")
    return int(number)


def _post_id(value: Any) -> str:
    return _text(value).strip()


# =================================================================================================
# images
# =================================================================================================
def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB; transparency composited on white; 16-bit / float greys scaled to 8 bits."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        scale = 1 / 257 if im.mode.startswith("I;16") else (255.0 / top if top > 255 else 1.0)
        im = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def normalise_image(raw: bytes) -> tuple[str, bytes, bytes, int, int]:
    """(sha256 of raw bytes, JPEG q90 with longest side <= 512, JPEG thumbnail <= 128, width, height).

    The image must decode completely (truncated files are rejected, LOAD_TRUNCATED_IMAGES is not
    used). EXIF orientation is applied, transparency composited on white, CMYK / L / P made RGB.
    Raises ImageRejected('image_corrupt' | 'image_too_large', detail)."""
    if len(raw) > MAX_BYTES:
        raise ImageRejected("image_too_large", f"{len(raw):,} bytes > {MAX_BYTES:,}")
    if not raw:
        raise ImageRejected("image_corrupt", "empty file")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        im = Image.open(io.BytesIO(raw))
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise ImageRejected("image_too_large", f"{width}x{height} > {MAX_PIXELS:,} pixels")
        if im.format == "JPEG" and im.mode in ("RGB", "L"):
            im.draft(im.mode, (DATA_SIDE, DATA_SIDE))  # DCT scaling: faster, still reads every byte
        im.load()
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("image_too_large", str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 (Pillow raises many types on bad data)
        raise ImageRejected("image_corrupt", f"{type(exc).__name__}: {exc}") from exc
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 (a broken EXIF block must not reject the picture)
        pass
    try:
        rgb = _to_rgb(im)
    except Exception as exc:  # noqa: BLE001
        raise ImageRejected("image_corrupt", f"cannot convert mode {im.mode}: {exc}") from exc
    rgb.thumbnail((DATA_SIDE, DATA_SIDE), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return digest, _jpeg(rgb, JPEG_QUALITY), _jpeg(thumb, THUMB_QUALITY), rgb.width, rgb.height


def _is_url(s: str) -> bool:
    return bool(re.match(r"^(?:https?:)?//", s, re.IGNORECASE))


def resolve_image_path(candidate: str, root: Path | list[Path] | None) -> Path:
    """The image file for a path from the posts file, checked to lie inside a root.
    Raises ImageRejected('image_missing' | 'image_outside_root' | 'image_too_large')."""
    return resolve_media_path(candidate, root, "image")


def _tries(path: Path, base: Path) -> list[Path]:
    """Where a relative path may be under base: base/path, and base/rest when the path starts with the
    folder's own name (`images/a.jpg` with the images folder itself given as base)."""
    tries = [base / path]
    if len(path.parts) > 1 and path.parts[0] == base.name:
        tries.append(base.joinpath(*path.parts[1:]))
    return tries


def resolve_media_path(candidate: str, roots: Path | list[Path] | None, kind: str = "image") -> Path:
    """The image or video file (kind) for a path from the posts file. A relative path is looked up under
    each root in order (the images folder, then the posts file's folder); the file must lie inside the
    root it is found in; an absolute path must lie inside the first root. Raises ImageRejected / VideoRejected with reason '<kind>_missing' |
    '<kind>_outside_root' | '<kind>_too_large' (MAX_BYTES for images, video.MAX_VIDEO_BYTES for videos)."""
    error = VideoRejected if kind == "video" else ImageRejected
    max_bytes = video.MAX_VIDEO_BYTES if kind == "video" else MAX_BYTES
    s = candidate.replace("\\", "/")
    if s.lower().startswith("file://"):
        s = s[7:]
    if "\x00" in s:
        raise error(f"{kind}_missing", "path contains a NUL character")
    bases = list(dict.fromkeys(r.resolve() for r in ([roots] if isinstance(roots, Path) else roots or [])))
    if not bases:
        raise error(f"{kind}_missing", f"{candidate!r}: no images folder given (pass images_dir)")
    path = Path(s)
    if path.is_absolute():
        bases = bases[:1]  # an absolute path must lie in the images folder (the posts file's without one)
    stays_inside, leaves_to_a_file = False, False
    for base in bases:
        for full in ([path.resolve()] if path.is_absolute() else [t.resolve() for t in _tries(path, base)]):
            if not full.is_relative_to(base):
                leaves_to_a_file |= full.is_file()
                continue
            stays_inside = True
            if full.is_file():
                size = full.stat().st_size
                if size > max_bytes:
                    raise error(f"{kind}_too_large", f"{size:,} bytes > {max_bytes:,}")
                return full
    if leaves_to_a_file or not stays_inside:
        raise error(f"{kind}_outside_root", f"{candidate!r} is outside {', '.join(map(str, bases))}")
    raise error(f"{kind}_missing", f"{candidate!r} not found under {' or '.join(map(str, bases))}")


def _load_path(path: Path) -> tuple[str, bytes, bytes, int, int]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageRejected("image_missing", f"cannot read {path.name}: {exc}") from exc
    return normalise_image(raw)


def _load_video(path: Path) -> tuple[tuple[str, bytes, bytes, int, int], float]:
    """The video's still (video.grab_still) normalised like a photo, and its time in seconds.
    The still is handed to normalise_image as PNG bytes, so image_hash is the sha256 of that PNG."""
    still = video.grab_still(path, max_pixels=MAX_PIXELS)
    buf = io.BytesIO()
    still.image.save(buf, format="PNG", compress_level=1)
    try:
        return normalise_image(buf.getvalue()), still.seconds
    except ImageRejected as exc:
        reason = "video_too_large" if exc.reason == "image_too_large" else "video_corrupt"
        raise VideoRejected(reason, f"still at {still.seconds} s: {exc.detail}") from exc


def _load_media(item: tuple[str, Path]) -> tuple[tuple[str, bytes, bytes, int, int], float | None]:
    """(normalised image, still time for a video else None) for a (kind, path) item."""
    kind, path = item
    return _load_video(path) if kind == "video" else (_load_path(path), None)


def _parallel(func: Callable[[Any], Any], items: list[Any]) -> dict[Any, Any]:
    """item -> func(item) or the ImageRejected / VideoRejected it raised, decoded in threads
    (Pillow and FFmpeg drop the GIL while decoding)."""
    def safe(item: Any) -> Any:
        try:
            return func(item)
        except _REJECTED as exc:
            return exc

    if not items:
        return {}
    workers = max(1, min(8, os.cpu_count() or 2, len(items)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(items, pool.map(safe, items)))


# =================================================================================================
# ingest
# =================================================================================================
def _raw_json(record: dict[str, Any]) -> str:
    def plain(v: Any) -> Any:
        if _is_blank(v) and not isinstance(v, str):
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


def _reference_date(dates: dict[int, Any], reference_date: Any) -> dt.date:
    if reference_date is not None:
        ref = parse_date(reference_date)
        if isinstance(ref, _MonthDay):
            raise ValueError("reference_date needs a year")
        return ref
    full = [d for d in dates.values() if isinstance(d, dt.date)]
    return max(full) if full else dt.date.today()


def _summary(name: str, source: str, rows_read: int, accepted: int, rejects: list[dict], added: int,
             already: int, **extra: Any) -> dict[str, Any]:
    reasons = Counter(r["reason"] for r in rejects)
    return {"file": name, "source": source, "rows_read": rows_read, "accepted": accepted,
            "rejected": len(rejects), "added": added, "already_present": already,
            "reasons": dict(sorted(reasons.items())), **extra}


def _store(store: Store, summary: dict, posts: pd.DataFrame, images: dict, rejects: pd.DataFrame) -> dict:
    """Write everything in one transaction. A repeat import that adds nothing keeps the first
    import's record in the imports table."""
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
    media: _Media | None = None  # resolved local file


@dataclass
class _Row:
    """An input row that passed the field checks, with its looks."""

    row_number: int
    record: dict[str, Any]
    post: dict[str, Any]
    looks: list[_Look]


class _PostImages:
    """Per post id: the image numbers and paths used so far, so only true duplicates are rejected."""

    def __init__(self) -> None:
        self.numbers: dict[str, set[int]] = {}
        self.paths: dict[str, set[str]] = {}

    def looks(self, pid: str, explicit: int | None, local: list[tuple[str, str]],
              display: str) -> list[_Look] | None:
        """The row's looks with their numbers, or None when the row repeats an image of its post."""
        used, paths = self.numbers.setdefault(pid, set()), self.paths.setdefault(pid, set())
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
        used.update(numbers)
        paths.update(keys)
        if not local:
            return [_Look(numbers[0], None, display)]
        return [_Look(n, kind, entry) for n, (kind, entry) in zip(numbers, local)]


def _date_inference(dates: dict[int, Any], reference: dt.date) -> dict[str, Any]:
    """How `MM-DD` dates got their year: the reference date, the rows and the years given."""
    years: Counter[str] = Counter()
    for value in dates.values():
        if isinstance(value, _MonthDay):
            try:
                years[str(infer_year(value, reference).year)] += 1
            except ValueError:
                continue
    return {"reference_date": reference.isoformat(), "month_day_rows": int(sum(years.values())),
            "years": dict(sorted(years.items()))}


def _blank_counts(records: dict[int, dict[str, Any]], cmap: dict[str, str]) -> dict[str, int | None]:
    """Per count column, the rows whose cell is blank (stored as 0); None when the file lacks the column."""
    return {col: (sum(_is_blank(rec.get(cmap[col])) for rec in records.values()) if col in cmap else None)
            for col in COUNT_COLUMNS}


MISSING_WARN_SHARE = 0.20  # warn when more of the declared local images than this are not found


def ingest_file(store: Store, path_or_buffer: Any, images_dir: str | Path | None = None,
                file_name: str | None = None, mapping: dict | None = None,
                reference_date: Any = None) -> dict:
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
    date (reference_date, else the latest full date in the file, else today). Returns {"file", "source",
    "rows_read", "accepted", "rejected", "posts", "images", "added", "already_present", "reasons",
    "reference_date", "dates", "blank_counts", "warnings" (code -> message)}."""
    data, name, folder = _file_bytes(path_or_buffer)
    name = file_name or name or "upload"
    source = hashlib.sha256(data).hexdigest()[:16]
    raw = _read_raw(data, name)
    cmap = column_map(raw.columns, mapping)
    check_columns(raw.columns, cmap)
    if images_dir is not None and not Path(images_dir).is_dir():
        raise ValueError(f"images_dir {str(images_dir)!r} is not a folder")
    roots = [Path(images_dir)] if images_dir is not None else []
    roots += [folder] if folder is not None else []
    rows_read = len(raw.records) + len(raw.bad_rows)

    rejects: list[dict[str, Any]] = []

    def reject(row_number: int, post_id: str | None, reason: str, detail: str, raw_text: str) -> None:
        rejects.append({"source": source, "row_number": row_number, "post_id": post_id or None,
                        "reason": reason, "detail": detail, "raw": raw_text})

    for row_number, (raw_text, detail) in raw.bad_rows.items():
        reject(row_number, None, "bad_row", detail, raw_text)

    def get(rec: dict[str, Any], canon: str) -> Any:
        return rec.get(cmap[canon]) if canon in cmap else None

    dates: dict[int, Any] = {}
    for row_number, rec in raw.records.items():
        value = get(rec, "post_date")
        if _is_blank(value):
            continue
        try:
            dates[row_number] = parse_date(value)
        except ValueError as exc:
            dates[row_number] = exc
    reference = _reference_date(dates, reference_date)

    rows: list[_Row] = []
    numbering = _PostImages()
    urls: Counter[str] = Counter()
    for row_number, rec in sorted(raw.records.items()):
        post, reason, detail = _check_row(rec, get, row_number, source, dates.get(row_number), reference)
        pid = post.get("post_id")
        explicit = None
        if reason is None:
            try:
                explicit = _image_no(get(rec, "image_no"))
            except ValueError as exc:
                reason, detail = "bad_image_no", str(exc)
        if reason is not None:
            reject(row_number, pid, reason, detail, _raw_json(rec))
            continue
        media = _row_media(get(rec, "image_source"), get(rec, "video"))
        local = [(kind, entry) for kind, entry in media if not _is_url(entry)]
        urls.update(f"{kind}_url_not_fetched" for kind, entry in media if _is_url(entry))
        looks = numbering.looks(pid, explicit, local, post["image_source"])
        if looks is None:
            reject(row_number, pid, "duplicate_post_id",
                   f"post_id {pid!r} with the same image appeared in an earlier row", _raw_json(rec))
            continue
        rows.append(_Row(row_number, rec, post, looks))

    missing: list[str] = []
    for row in rows:  # resolve every local path; the first that cannot be used rejects the row
        for look in row.looks:
            if look.kind is None or "_reject" in row.post:
                continue
            try:
                look.media = _Media(look.kind, look.written, resolve_media_path(look.written, roots, look.kind))
            except _REJECTED as exc:
                row.post["_reject"] = exc
                missing += [look.written] if exc.reason.endswith("_missing") else []
    items = sorted({(lk.media.kind, lk.media.path) for r in rows for lk in r.looks if lk.media},
                   key=lambda i: (i[0] != "video", i[1]))
    decoded = _parallel(_load_media, items)  # videos first: they take longest

    accepted: list[_Row] = []
    images: dict[str, tuple[bytes, bytes, int, int]] = {}
    for row in rows:
        failure = row.post.pop("_reject", None) or next(
            (decoded[(lk.media.kind, lk.media.path)] for lk in row.looks
             if lk.media and isinstance(decoded[(lk.media.kind, lk.media.path)], _REJECTED)), None)
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

    looks = _look_rows(accepted, decoded, images)
    post_ids = list(dict.fromkeys(row.post["post_id"] for row in accepted))
    existing = store.existing_post_ids(post_ids)
    declared = sum(1 for r in rows for lk in r.looks if lk.kind)
    warnings = {code: f"{n:,} {code.split('_')[0]} URL(s) were not downloaded (URLs are not fetched): "
                      "those posts are kept without that picture" for code, n in sorted(urls.items())}
    if declared and len(missing) > MISSING_WARN_SHARE * declared:
        warnings["images_missing"] = (
            f"{len(missing):,} of {declared:,} declared images ({len(missing) / declared:.0%}) were not found; "
            f"first missing: {missing[0]!r}; folders searched: "
            f"{', '.join(str(r.resolve()) for r in roots) or 'none (give the images folder)'}")
    rejects.sort(key=lambda r: r["row_number"])
    summary = _summary(name, source, rows_read, len(accepted), rejects, len(post_ids) - len(existing),
                       len(existing), posts=len(post_ids), images=sum(1 for lk in looks if lk["image_hash"]),
                       reference_date=reference.isoformat(), dates=_date_inference(dates, reference),
                       blank_counts=_blank_counts(raw.records, cmap), warnings=warnings)
    return _store(store, summary, _posts_frame(looks), images, _rejects_frame(rejects))


def _look_rows(accepted: list[_Row], decoded: dict[Any, Any],
               images: dict[str, tuple[bytes, bytes, int, int]]) -> list[dict[str, Any]]:
    """One stored row per look; the post's fields come from its first accepted row (the label stays
    per row, falling back to the post's). Fills `images` (hash -> stored bytes)."""
    first: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for row in accepted:
        post = first.setdefault(row.post["post_id"], row.post)
        for look in row.looks:
            rec = dict(post, image_no=look.image_no, image_hash=None, image_source=look.written,
                       style_label=row.post["style_label"] or post["style_label"], row_number=row.row_number)
            if look.media is not None:
                (digest, jpeg, thumb, w, h), seconds = decoded[(look.media.kind, look.media.path)]
                rec["image_hash"] = digest
                images[digest] = (jpeg, thumb, w, h)
                if seconds is not None:
                    rec["image_source"] = f"{look.written}#t={seconds}"
            out.append(rec)
    return out


def _check_row(rec: dict[str, Any], get: Callable[[dict, str], Any], row_number: int, source: str,
               date: Any, reference: dt.date) -> tuple[dict[str, Any], str | None, str]:
    """The canonical post for one record, or (partial post, reason, detail) when it is rejected."""
    pid = _post_id(get(rec, "post_id")) or f"{source}-{row_number}"
    post: dict[str, Any] = {"post_id": pid}
    if date is None:
        return post, "missing_date", "post_date is blank"
    if isinstance(date, ValueError):
        return post, "bad_date", str(date)
    if isinstance(date, _MonthDay):
        try:
            date = infer_year(date, reference)
        except ValueError as exc:
            return post, "bad_date", str(exc)
    counts = {}
    for col in COUNT_COLUMNS:
        try:
            counts[col] = parse_count(get(rec, col))
        except ValueError as exc:
            return post, "bad_count", f"{col}: {exc}"
    media = _row_media(get(rec, "image_source"), get(rec, "video"))
    post.update(
        poster_id=_text(get(rec, "poster_id")).strip(), title=_text(get(rec, "title")),
        content=_text(get(rec, "content")), tags=normalise_tags(get(rec, "tags")), post_date=date,
        **counts, image_hash=None, image_source=", ".join(entry for _, entry in media),
        style_label=_text(get(rec, "style_label")).strip() or None, true_style=None, source=source,
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
        row_number = int(rec["row_number"]) if not _is_blank(rec["row_number"]) else i
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
    results = _parallel(lambda h: normalise_image(images[h]), sorted(h for h in wanted - stored if h in images))
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
    summary = _summary(source, source, rows_read, len(accepted), rejects,
                       sum(p["post_id"] not in existing for p in accepted), len(existing), warnings={})
    return _store(store, summary, _posts_frame(accepted), image_rows, _rejects_frame(rejects))


def _clean_frame_row(rec: dict[str, Any], row_number: int, source: str,
                     seen: set[str]) -> tuple[dict[str, Any], str | None, str]:
    pid = _post_id(rec["post_id"]) or f"{source}-{row_number}"
    post = {"post_id": pid}
    if _is_blank(rec["post_date"]):
        return post, "missing_date", "post_date is blank"
    try:
        date = parse_date(rec["post_date"])
    except ValueError as exc:
        return post, "bad_date", str(exc)
    if isinstance(date, _MonthDay):
        return post, "bad_date", "post_date needs a year"
    counts = {}
    for col in COUNT_COLUMNS:
        try:
            counts[col] = parse_count(rec[col])
        except ValueError as exc:
            return post, "bad_count", f"{col}: {exc}"
    if pid in seen:
        return post, "duplicate_post_id", f"post_id {pid!r} appeared in an earlier row"
    h = _text(rec["image_hash"]).strip() or None
    post.update(image_no=1 if h else 0, poster_id=_text(rec["poster_id"]).strip(), title=_text(rec["title"]),
                content=_text(rec["content"]), tags=normalise_tags(rec["tags"]), post_date=date, **counts,
                image_hash=h, image_source=_text(rec["image_source"]),
                style_label=_text(rec["style_label"]).strip() or None,
                true_style=_text(rec["true_style"]).strip() or None, source=source, row_number=row_number)
    if not h and not any(post[c].strip() for c in TEXT_COLUMNS):
        return post, "empty_post", "no title, content, tags or image"
    return post, None, ""
