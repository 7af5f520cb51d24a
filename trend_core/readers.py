"""Reading a posts file: bytes from a path, upload or buffer; CSV (UTF-8 with or without BOM, GB18030),
JSON (an array of records), JSON Lines or Parquet -> records by row number, plus the rows that could
not be parsed (ingest rejects them as bad_row)."""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class RawTable:
    """What a reader returns: good records (row number -> dict) and unparseable rows."""

    records: dict[int, dict[str, Any]]
    columns: list[str]
    bad_rows: dict[int, tuple[str, str]]  # row number -> (raw text, detail)
    fmt: str
    encoding: str | None



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


def _read_csv(text: str) -> RawTable:
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
    return RawTable(records, header or [], bad, "csv", None)


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


def _read_jsonl(text: str) -> RawTable:
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
    return RawTable(records, columns, bad, "jsonl", None)


def _read_json(text: str) -> RawTable:
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
    text, encoding = _decode(data)
    text = text.replace("\x00", "")
    raw = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl}[fmt](text)
    raw.encoding = encoding
    return raw
