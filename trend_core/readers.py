"""Reading a posts file: bytes from a path, upload or buffer; CSV, JSON (an array of records), JSON Lines
or Parquet -> records by row number, plus the rows that could not be parsed or decoded (ingest rejects
them as bad_row / bad_encoding). Text encodings: BOM, UTF-8, UTF-16 / UTF-32 without BOM, GB18030, else
what charset-normalizer detects; in a line-based file (CSV, JSON Lines) a line that does not decode in the
file's encoding is one bad_encoding row, the others are kept."""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class RawTable:
    """What a reader returns: good records (row number -> dict) and unparseable rows."""

    records: dict[int, dict[str, Any]]
    columns: list[str]
    bad_rows: dict[int, tuple[str, str, str]]  # row number -> (raw text, detail, reason code)
    fmt: str
    encoding: str | None


MAX_CELL_CHARS = 1_048_576  # longest cell imported (characters); longer ones are text_too_long rejects
MAX_JSON_DEPTH = 64  # a posts file is an array of flat records; deeper nesting is refused
# The csv module's own cap (131,072 characters by default) would abort the whole import on one long
# cell: lift it so any cell is read; ingest rejects cells over MAX_CELL_CHARS as text_too_long.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
_BAD = "\ufdd0"  # noncharacter that marks a line that did not decode (never in real text after decoding)


def file_bytes(path_or_buffer: Any) -> tuple[bytes, str | None, Path | None]:
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


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_CHINESE = {"gb18030", "gbk", "gb2312", "hz"}


@dataclass
class Decoded:
    """A file's text; lines that did not decode are replaced by a marker `_BAD<k>_BAD`, and
    bad_lines[marker] = (the line decoded with replacement characters, why)."""

    text: str
    encoding: str
    bad_lines: dict[str, tuple[str, str]]


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _lines(data: bytes, codec: str) -> list[bytes]:
    """The file's physical lines split at "\n" (kept at the end of each line), in the code units of codec."""
    newline = "\n".encode(codec)
    width = len(newline)
    if width == 1:
        return [ln for ln in re.split(b"(?<=\n)", data) if ln]
    out, start, pos = [], 0, 0
    while (pos := data.find(newline, pos)) != -1:
        if pos % width:
            pos += 1
            continue
        out.append(data[start:pos + width])
        start = pos = pos + width
    out.append(data[start:])
    return [ln for ln in out if ln]


def _strict_lines(lines: list[bytes], codec: str) -> int:
    """How many lines decode in codec."""
    ok = 0
    for ln in lines:
        try:
            ln.decode(codec)
            ok += 1
        except UnicodeDecodeError:
            pass
    return ok


def _by_line(data: bytes, encoding: str) -> Decoded:
    """Decode line by line: a line that does not decode becomes a marker (see Decoded)."""
    codec = _codec(encoding)
    parts: list[str] = []
    bad: dict[str, tuple[str, str]] = {}
    for number, ln in enumerate(_lines(data, codec), start=1):
        try:
            parts.append(ln.decode(codec).replace(_BAD, ""))
        except UnicodeDecodeError as exc:
            marker = f"{_BAD}{len(bad)}{_BAD}"
            ending = "\n" if ln.endswith("\n".encode(codec)) else ""
            parts.append(marker + ending)
            bad[marker] = (ln.decode(codec, "replace").rstrip("\r\n"),
                           f"line {number} of the file does not decode as {encoding} "
                           f"({exc.reason} at byte {exc.start} of the line: {exc.object[exc.start:exc.start + 4]!r})")
    return Decoded("".join(parts), encoding, bad)


def _guesses(data: bytes) -> list[str]:
    """charset-normalizer's candidate encodings, best first (Python codec names)."""
    from charset_normalizer import from_bytes

    return [codecs.lookup(m.encoding).name for m in from_bytes(data)]


def _wide_by_zeros(data: bytes) -> list[str]:
    """UTF-16 / UTF-32 without BOM from where the zero bytes sit (ASCII characters such as digits,
    delimiters and newlines have zero high bytes) when charset-normalizer gives up, e.g. on a file
    with an undecodable code unit."""
    size = len(data) // 4 * 4
    if size < 8:
        return []
    zero = (np.frombuffer(data[:size], dtype=np.uint8).reshape(-1, 4) == 0).mean(axis=0)
    if zero[2] > 0.9 and zero[3] > 0.9:
        return ["utf-32-le"]
    if zero[0] > 0.9 and zero[1] > 0.9:
        return ["utf-32-be"]
    if min(zero[1], zero[3]) > 0.2 and max(zero[0], zero[2]) < 0.05:
        return ["utf-16-le"]
    if min(zero[0], zero[2]) > 0.2 and max(zero[1], zero[3]) < 0.05:
        return ["utf-16-be"]
    return []


def _decode(data: bytes) -> Decoded:
    """The file's text and encoding. A BOM decides; else UTF-16 / UTF-32 when charset-normalizer finds
    them or the zero bytes' positions show them (files with NUL bytes); else UTF-8 when the file decodes as UTF-8 or most of its non-ASCII
    lines do (the others are bad lines); else GB18030 when the whole file decodes as GB18030 and
    charset-normalizer counts it as a candidate (short Chinese texts are often also "valid" Big5 or
    CP949); else charset-normalizer's best guess; else GB18030. When the whole file does not decode in
    the chosen encoding, it is decoded line by line (see _by_line)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _whole_or_lines(data[len(bom):], encoding)
    guesses: list[str] | None = None
    if b"\x00" in data:
        guesses = _guesses(data)
        wide = [g for g in guesses[:1] if g.startswith(("utf-16", "utf-32"))] or _wide_by_zeros(data)
        if wide:
            return _whole_or_lines(data, wide[0])
    try:
        return Decoded(data.decode("utf-8").replace(_BAD, ""), "utf-8", {})
    except UnicodeDecodeError:
        pass
    wide_lines = [ln for ln in _lines(data, "utf-8") if not ln.isascii()]
    if 2 * _strict_lines(wide_lines, "utf-8") >= len(wide_lines):
        return _by_line(data, "utf-8")
    guesses = _guesses(data) if guesses is None else guesses
    whole_gb = _strict_lines([data], "gb18030") == 1
    if whole_gb and (not guesses or _CHINESE & set(guesses)):
        return Decoded(data.decode("gb18030").replace(_BAD, ""), "gb18030", {})
    for guess in guesses[:1]:
        decoded = _whole_or_lines(data, guess)
        if not decoded.bad_lines:
            return decoded
    if whole_gb:
        return Decoded(data.decode("gb18030").replace(_BAD, ""), "gb18030", {})
    best = max(["gb18030", *guesses[:1]], key=lambda e: _strict_lines(_lines(data, e), e))
    return _by_line(data, best)


def _whole_or_lines(data: bytes, encoding: str) -> Decoded:
    try:
        return Decoded(data.decode(_codec(encoding)).replace(_BAD, ""), encoding, {})
    except UnicodeDecodeError:
        return _by_line(data, encoding)


def _detect_format(data: bytes, name: str | None) -> str | None:
    suffix = Path(name).suffix.lower() if name else ""
    by_suffix = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    if data[:4] == b"PAR1":
        return "parquet"
    return None  # chosen from the decoded text


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for i, name in enumerate(names):
        name = str(name).strip().lstrip("\ufeff") or f"column_{i + 1}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


def _strict_error(text: str, delimiter: str) -> str | None:
    """The csv module's complaint about text under strict quoting (e.g. "unexpected end of data" for a
    quote that is never closed), or None."""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _fields_alone(line: str, delimiter: str) -> int:
    try:
        return max((len(f) for f in csv.reader(io.StringIO(line, newline=""), delimiter=delimiter)), default=0)
    except csv.Error:
        return 0


def _marked(fields: list[str], bad_lines: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """The undecodable lines (raw, detail) a record contains."""
    found = re.findall(f"{_BAD}\\d+{_BAD}", "\x1f".join(fields))
    return [bad_lines[m] for m in found if m in bad_lines]


def _read_csv(text: str, bad_lines: dict[str, tuple[str, str]] | None = None) -> RawTable:
    """Rows of a CSV text. A record whose quoted field never closes properly (strict parsing fails, or
    it spans several lines, has the wrong field count and swallowed lines that are rows on their own)
    is a bad_row for its first line only; the reader restarts on the next line, so the lines the quote
    swallowed are read again as rows of their own. A row holding an undecodable line is bad_encoding."""
    bad_lines = bad_lines or {}
    lines = io.StringIO(text, newline="").readlines()
    first = lines[0] if lines else ""
    delimiter = next((d for d in (",", "\t", ";", "|") if d in first), ",")
    header: list[str] | None = None
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str, str]] = {}
    row_number = 0
    start = 0  # index of the line the current reader started on
    while start < len(lines):
        reader = csv.reader(iter(lines[start:]), delimiter=delimiter)
        consumed, restart = 0, None
        for fields in reader:
            first_line, last_line = start + consumed + 1, start + reader.line_num  # 1-based, inclusive
            consumed = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue  # blank lines are not rows
            undecodable = _marked(fields, bad_lines)
            if header is None:
                if undecodable:
                    raise ValueError(f"the header does not decode: {undecodable[0][1]}")
                header = _unique_names(fields)
                continue
            row_number += 1
            if undecodable:
                bad[row_number] = ("\n".join(r for r, _ in undecodable), undecodable[0][1], "bad_encoding")
                continue
            raw_text = "".join(lines[first_line - 1:last_line])
            if last_line > first_line or last_line == len(lines):
                error = _strict_error(raw_text, delimiter)
                swallowed = last_line > first_line and len(fields) != len(header) and any(
                    _fields_alone(ln, delimiter) == len(header) for ln in lines[first_line:last_line])
                if error or swallowed:
                    end = "the end of the file" if last_line == len(lines) else f"line {last_line}"
                    again = (f"; lines {first_line + 1}-{last_line} it swallowed are read as rows of their own"
                             if last_line > first_line else "")
                    bad[row_number] = (lines[first_line - 1].rstrip("\r\n"),
                                       f"unclosed quote: a quoted field opened on line {first_line} runs to "
                                       f"{end} ({error or 'wrong field count'}){again}", "bad_row")
                    restart = first_line
                    break
            if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
                bad[row_number] = (delimiter.join(fields), f"{len(fields)} fields, header has {len(header)}",
                                   "bad_row")
                continue
            fields = (fields + [""] * len(header))[: len(header)]
            records[row_number] = dict(zip(header, fields))
        if restart is None:
            break
        start = restart
    return RawTable(records, header or [], bad, "csv", None)


def _records_from(items: list[Any], raw_lines: list[str] | None = None) -> tuple[dict, dict, list[str]]:
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str, str]] = {}
    columns: dict[str, None] = {}
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rec = {str(k).strip(): v for k, v in item.items()}
            records[i] = rec
            columns.update(dict.fromkeys(rec))
        else:
            raw = raw_lines[i - 1] if raw_lines else json.dumps(item, ensure_ascii=False, default=str)
            bad[i] = (raw, "not a JSON object", "bad_row")
    return records, bad, list(columns)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _json_depth(text: str) -> int:
    """How deeply arrays / objects nest in JSON text (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than the limit
    brackets = re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text)).encode("ascii")
    steps = np.where(np.isin(np.frombuffer(brackets, dtype=np.uint8), list(b"[{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def _too_deep(depth: int) -> str:
    return (f"JSON nested deeper than {MAX_JSON_DEPTH} levels ({depth:,} levels); a posts file holds flat "
            "records (a list of tags or images is one level)")


def _load_json(text: str) -> Any:
    """json.loads that refuses nesting deeper than MAX_JSON_DEPTH with a ValueError (not RecursionError)."""
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(_too_deep(depth))
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError(_too_deep(depth)) from exc


class _BadLine:
    def __init__(self, error: str, reason: str = "bad_row"):
        self.error = error
        self.reason = reason


def _read_jsonl(text: str, bad_lines: dict[str, tuple[str, str]] | None = None) -> RawTable:
    bad_lines = bad_lines or {}
    lines = [ln.rstrip("\r") for ln in text.split("\n") if ln.strip()]
    items: list[Any] = []
    for i, ln in enumerate(lines):
        if ln.strip() in bad_lines:
            lines[i], detail = bad_lines[ln.strip()]
            items.append(_BadLine(detail, "bad_encoding"))
            continue
        try:
            items.append(_load_json(ln))
        except json.JSONDecodeError as exc:
            items.append(_BadLine(f"invalid JSON: {exc.msg}"))
        except ValueError as exc:  # nested too deep
            items.append(_BadLine(str(exc)))
    records, bad, columns = _records_from(items, lines)
    for i, item in enumerate(items, start=1):
        if isinstance(item, _BadLine):
            bad[i] = (lines[i - 1], item.error, item.reason)
    return RawTable(records, columns, bad, "jsonl", None)


def _read_json(text: str) -> RawTable:
    try:
        obj = _load_json(text)
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
    return RawTable(records, columns, bad, "json", None)


def _read_parquet(data: bytes) -> RawTable:
    frame = pd.read_parquet(io.BytesIO(data))
    frame.columns = _unique_names(list(frame.columns))
    rows = frame.astype(object).to_dict(orient="records")
    return RawTable({i: r for i, r in enumerate(rows, start=1)}, list(frame.columns), {}, "parquet", None)


def read_raw(data: bytes, name: str | None) -> RawTable:
    fmt = _detect_format(data, name)
    if fmt == "parquet":
        return _read_parquet(data)
    decoded = _decode(data)
    text = decoded.text.replace("\x00", "")
    if fmt is None:
        head = text[:64].lstrip("\ufeff \t\r\n")
        fmt = "json" if head.startswith("[") else "jsonl" if head.startswith("{") else "csv"
    if fmt == "json" and decoded.bad_lines:
        if not text.lstrip().startswith("{"):
            raise ValueError(f"{next(iter(decoded.bad_lines.values()))[1]}; a JSON array is one document, so "
                             "the file cannot be read: save it again as UTF-8 (or as JSON Lines, where only "
                             "the undecodable lines are rejected)")
        fmt = "jsonl"
    if fmt == "csv":
        raw = _read_csv(text, decoded.bad_lines)
    elif fmt == "jsonl":
        raw = _read_jsonl(text, decoded.bad_lines)
    else:
        raw = _read_json(text)
    raw.encoding = decoded.encoding
    return raw
