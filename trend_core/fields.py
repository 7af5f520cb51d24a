"""Reading one cell: blanks, counts ('1万', '1.2w', '10万+', integral decimals '1.00'), dates (full,
`MM-DD` without a year, relative '昨天' / '3天前', day-first 'DD/MM/YYYY' on request, epoch, Chinese
forms), hashtags, image / video lists and image numbers. Pure functions, no I/O."""
from __future__ import annotations

import ast
import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from trend_core.text import extract_hashtags
from trend_core.video import is_video_name

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))  # epoch timestamps are read in China Standard Time

_BLANK = frozenset({"", "nan", "none", "null", "na", "n/a", "<na>", "nat"})
_ZERO_LABELS = frozenset({"赞", "点赞", "收藏", "评论", "喜欢"})  # button labels crawled when the count is 0
_COUNT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|w|千|k|亿)?\s*\+?$", re.IGNORECASE)
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?")
_UNITS = {None: 1, "万": 10_000, "w": 10_000, "千": 1_000, "k": 1_000, "亿": 100_000_000}
_TIME = r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?"
_FULL_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?" + _TIME + "$")
_SHORT_DATE_RE = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?" + _TIME + "$")
_DAY_FIRST_RE = re.compile(r"^(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})" + _TIME + "$")
_CLOCK = r"(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
_NAMED_DAY_RE = re.compile(r"^(今天|昨天|前天)" + _CLOCK + "$")
_NAMED_DAYS = {"今天": 0, "昨天": 1, "前天": 2}
_AGO_RE = re.compile(r"^(\d{1,6})\s*(秒|分钟|分|小时|天|周|星期)\s*前$")
_AGO_SECONDS = {"秒": 1, "分钟": 60, "分": 60, "小时": 3_600, "天": 86_400, "周": 7 * 86_400, "星期": 7 * 86_400}
_JUST_NOW = frozenset({"刚刚", "刚才"})
_DATE_PREFIX_RE = re.compile(r"^(?:编辑于|发布于|发表于)\s*")
_DATE_PLACE_RE = re.compile(r"\s+[\u4e00-\u9fff]{1,12}$")  # "07-15 广东": Xiaohongshu adds the IP region
_IMAGE_SPLIT_RE = re.compile(r"[,;|\n，；]")


def is_blank(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _BLANK


def as_text(value: Any) -> str:
    """A text field kept raw: NUL characters stripped; None / NaN / 'nan' -> ''."""
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\x00", "")


def parse_count(value: Any) -> int:
    """'1万' -> 10000, '1.2w' -> 12000, '10万+' -> 100000, '1,234' -> 1234, '3k' -> 3000;
    blank / NaN / a button label ('赞') -> 0. Raises ValueError when negative or not a count."""
    if is_blank(value):
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
    if isinstance(value, Decimal):  # Parquet decimal columns: Decimal('1.00') is the count 1
        if not value.is_finite() or value < 0 or value != value.to_integral_value():
            raise ValueError(f"not a whole count: {value!r}")
        if value > 2**62:
            raise ValueError(f"count too large: {value!r}")
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
    if unit is None and "." in number and Decimal(number) != Decimal(number).to_integral_value():
        raise ValueError(f"not a whole count: {value!r}")  # '2.5'; an integral decimal '1.00' is 1
    try:
        result = Decimal(number) * _UNITS[unit.lower() if unit else None]
    except InvalidOperation as exc:
        raise ValueError(f"not a count: {value!r}") from exc
    count = int(result.to_integral_value())
    if count > 2**62:
        raise ValueError(f"count too large: {value!r}")
    return count


@dataclass(frozen=True)
class MonthDay:
    """A date without a year (MM-DD); the year comes from the reference date."""

    month: int
    day: int


@dataclass(frozen=True)
class RelativeDate:
    """A date relative to the crawl ('刚刚', '3小时前', '今天 12:30', '昨天', '前天', '3天前', '2周前'):
    `days_before` whole days before the reference (crawl) date. Hours and minutes only count in whole
    days ('5小时前' is the crawl day, '30小时前' the day before): the crawl's time of day is not known."""

    days_before: int

    def resolve(self, reference: dt.date) -> dt.date:
        return reference - dt.timedelta(days=self.days_before)


def _relative_date(s: str, original: Any) -> RelativeDate | None:
    if s in _JUST_NOW:
        return RelativeDate(0)
    match = _NAMED_DAY_RE.match(s)
    if match:
        if not _valid_time(match.groups()[1:4]):
            raise ValueError(f"bad time in {original!r}")
        return RelativeDate(_NAMED_DAYS[match[1]])
    match = _AGO_RE.match(s)
    if match:
        days = int(match[1]) * _AGO_SECONDS[match[2]] // 86_400
        if days > 36_500:
            raise ValueError(f"too far in the past: {original!r}")
        return RelativeDate(days)
    return None


def _valid_time(groups: tuple[str | None, ...]) -> bool:
    hh, mm, ss = (int(g) if g else 0 for g in groups)
    return hh < 24 and mm < 60 and ss < 61


def parse_date(value: Any, dayfirst: bool = False) -> dt.date | MonthDay | RelativeDate:
    """A full date, a MonthDay for 'MM-DD' forms, or a RelativeDate for '昨天' / '3天前' forms. Raises
    ValueError on anything else.

    Accepted: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYY-MM-DD HH:MM[:SS] (ISO 'T' too), YYYY年M月D日,
    YYYYMMDD, Unix epoch seconds / milliseconds (China time), MM-DD, M月D日, 刚刚, N秒前 / N分钟前 /
    N小时前 / N天前 / N周前, 今天 / 昨天 / 前天 (with an optional HH:MM), and with `dayfirst` DD/MM/YYYY,
    DD.MM.YYYY, DD-MM-YYYY (without it those are rejected: the order of day and month is not known);
    a trailing region ('07-15 广东') and a leading '编辑于' are ignored."""
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
    s = _DATE_PREFIX_RE.sub("", str(value).strip())
    relative = _relative_date(s, value)  # before the region is dropped: '3 天前' is not '3' + a region
    if relative is not None:
        return relative
    s = _DATE_PLACE_RE.sub("", s)
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
    match = _DAY_FIRST_RE.match(s)
    if match:
        if not dayfirst:
            raise ValueError(f"{value!r} has the year last (DD/MM/YYYY?): import with --dayfirst (Data page: "
                             "'Dates are day first') to read it as day, month, year")
        if not _valid_time(match.groups()[3:6]):
            raise ValueError(f"bad time in {value!r}")
        return _checked_date(int(match[3]), int(match[2]), int(match[1]), value)
    relative = _relative_date(s, value)
    if relative is not None:
        return relative
    match = _SHORT_DATE_RE.match(s)
    if match:
        if not _valid_time(match.groups()[2:5]):
            raise ValueError(f"bad time in {value!r}")
        month, day = int(match[1]), int(match[2])
        _checked_date(2000, month, day, value)  # 2000 is a leap year: 02-29 passes, 02-30 fails
        return MonthDay(month, day)
    raise ValueError(f"not a date in an accepted format: {value!r}")


def _checked_date(year: int, month: int, day: int, original: Any) -> dt.date:
    if not 1900 <= year <= 2100:
        raise ValueError(f"year out of range in {original!r}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"no such day: {original!r}") from exc


def infer_year(md: MonthDay, reference: dt.date) -> dt.date:
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
        items = [as_text(v) for v in value]
    else:
        s = as_text(value).strip()
        parsed = _literal_list(s)
        if parsed is not None:
            items = [as_text(v) for v in parsed]
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


def media_entries(value: Any) -> list[str]:
    """Every path or URL of an image / video cell: a JSON or Python list, or text separated by
    `,` `;` `|` or new lines (full-width separators too); quotes around entries are dropped."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [as_text(v) for v in value]
    else:
        s = as_text(value).strip()
        parsed = _literal_list(s)
        items = [as_text(v) for v in parsed] if parsed is not None else _IMAGE_SPLIT_RE.split(s)
    return [i.strip().strip("'\"").strip() for i in items if i.strip().strip("'\"").strip()]


def row_media(image_value: Any, video_value: Any) -> list[tuple[str, str]]:
    """(kind, path or URL) of every image of a row, in order: the image cell's entries (an entry with
    a video extension is a video), then the video cell's (a video's still is one more image)."""
    images = [("video" if is_video_name(e) else "image", e) for e in media_entries(image_value)]
    return images + [("video", e) for e in media_entries(video_value)]


def image_number(value: Any) -> int | None:
    """The image number a row declares (None when blank). Raises ValueError when not a whole number >= 0."""
    if is_blank(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"image_no {value!r} is not a number") from exc
    if not number.is_integer() or number < 0:
        raise ValueError(f"image_no {value!r} is not a whole number from 0 up")
    return int(number)


def post_id_text(value: Any) -> str:
    return as_text(value).strip()
