"""Reading a posts file in chunks of rows: bytes from a path (read in blocks, never held whole), an upload
or a buffer; CSV, JSON (an array of records), JSON Lines or Parquet -> records by row number, plus the rows
that could not be parsed or decoded (ingest rejects them as bad_row / bad_encoding). Text encodings: BOM,
UTF-8, UTF-16 / UTF-32 without BOM, GB18030, else what charset-normalizer detects; in a line-based file
(CSV, JSON Lines) a line that does not decode in the file's encoding is one bad_encoding row, the others
are kept.

`RawFile(source, name)` reads a file chunk by chunk (`chunks(rows)`), so an import holds one chunk of
parsed rows at a time; `read_raw(data, name)` reads everything at once (small files, previews). Reading in
chunks gives exactly the rows of a whole-file read: CSV records that span lines (quoted cells, an unclosed
quote) are read across chunk boundaries, and row numbers count from the start of the file."""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


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
CHUNK_ROWS = 10_000  # rows (records and unparseable rows) an import handles at a time
CHUNK_CHARS = 32_000_000  # ... and at most about this many characters of cells per chunk
BLOCK_BYTES = 1024 * 1024  # bytes read from a file at a time (a multiple of 4: UTF-32 code units)
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


class Source:
    """The bytes of a posts file: a path, read in blocks each time they are needed (held whole only to
    guess an encoding other than UTF-8), or bytes already in memory."""

    def __init__(self, path: Path | None = None, data: bytes | None = None) -> None:
        self.path = path
        self.data = data

    def blocks(self, start: int = 0, size: int | None = None) -> Iterator[bytes]:
        size = size or BLOCK_BYTES
        if self.data is not None:
            view = memoryview(self.data)
            for at in range(start, len(self.data), size):
                yield bytes(view[at:at + size])
            return
        with open(self.path, "rb") as fh:
            fh.seek(start)
            while block := fh.read(size):
                yield block

    def head(self, n: int) -> bytes:
        return next(self.blocks(0, n), b"")

    def whole(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()

    def sha256(self) -> str:
        if self.data is not None:
            return hashlib.sha256(self.data).hexdigest()
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.hexdigest()


def open_source(path_or_buffer: Any) -> tuple[Source, str | None, Path | None]:
    """(Source, file name, folder of the file when it is a real path). A path is opened once here, so a
    missing file raises FileNotFoundError now; its bytes are read later, in blocks."""
    if isinstance(path_or_buffer, (str, os.PathLike)):
        path = Path(path_or_buffer)
        with open(path, "rb"):
            pass
        return Source(path=path), path.name, path.resolve().parent
    data, name, folder = file_bytes(path_or_buffer)
    return Source(data=data), name, folder


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_CHINESE = {"gb18030", "gbk", "gb2312", "hz"}


@dataclass(frozen=True)
class Encoding:
    """How a file's text is decoded: `name` (reported), `skip` (BOM bytes before the text) and `whole`
    (the text decodes completely; else it is decoded line by line, see _pieces)."""

    name: str
    skip: int
    whole: bool


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _lines(data: bytes, codec: str) -> list[bytes]:
    """The file's physical lines split at "\n" (kept at the end of each line), in the code units of codec."""
    return list(_split_lines([data], codec))


def _split_lines(blocks: Iterable[bytes], codec: str) -> Iterator[bytes]:
    """Physical lines of a byte stream split at "\n" in codec's code units (kept at the end of each line).
    Block boundaries must fall on code-unit boundaries (Source.blocks' size is a multiple of 4)."""
    newline = "\n".encode(codec)
    width = len(newline)
    pending: list[bytes] = []
    for block in blocks:
        start = pos = 0
        while (pos := block.find(newline, pos)) != -1:
            if pos % width:
                pos += 1
                continue
            end = pos + width
            if pending:
                pending.append(block[start:end])
                yield b"".join(pending)
                pending = []
            else:
                yield block[start:end]
            start = pos = end
        if start < len(block):
            pending.append(block[start:])
    last = b"".join(pending)
    if last:
        yield last


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


def _decodes(blocks: Iterable[bytes], codec: str) -> bool:
    """Whether the whole byte stream decodes in codec (decoded block by block, nothing kept)."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        for block in blocks:
            decoder.decode(block)
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


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


def choose_encoding(src: Source) -> Encoding:
    """The file's encoding. A BOM decides; else UTF-16 / UTF-32 when charset-normalizer finds them or the
    zero bytes' positions show them (files with NUL bytes); else UTF-8 when the file decodes as UTF-8 or
    most of its non-ASCII lines do (the others are bad lines); else GB18030 when the whole file decodes as
    GB18030 and charset-normalizer counts it as a candidate (short Chinese texts are often also "valid"
    Big5 or CP949); else charset-normalizer's best guess; else GB18030. UTF-8 files (and files with a BOM)
    are checked block by block; only the other cases read the whole file into memory."""
    head = src.head(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return Encoding(encoding, len(bom), _decodes(src.blocks(len(bom)), _codec(encoding)))
    if any(b"\x00" in block for block in src.blocks()):
        return _choose_in_memory(src.whole())
    if _decodes(src.blocks(), "utf-8"):
        return Encoding("utf-8", 0, True)
    wide = ok = 0
    for line in _split_lines(src.blocks(), "utf-8"):
        if not line.isascii():
            wide += 1
            ok += _strict_lines([line], "utf-8")
    if 2 * ok >= wide:
        return Encoding("utf-8", 0, False)
    return _choose_in_memory(src.whole())


def _choose_in_memory(data: bytes) -> Encoding:
    """choose_encoding for a file without BOM that is not (mostly) UTF-8 or holds NUL bytes."""
    guesses: list[str] | None = None
    if b"\x00" in data:
        guesses = _guesses(data)
        wide = [g for g in guesses[:1] if g.startswith(("utf-16", "utf-32"))] or _wide_by_zeros(data)
        if wide:
            return Encoding(wide[0], 0, _decodes([data], _codec(wide[0])))
    if _decodes([data], "utf-8"):
        return Encoding("utf-8", 0, True)
    wide_lines = [ln for ln in _lines(data, "utf-8") if not ln.isascii()]
    if 2 * _strict_lines(wide_lines, "utf-8") >= len(wide_lines):
        return Encoding("utf-8", 0, False)
    guesses = _guesses(data) if guesses is None else guesses
    whole_gb = _decodes([data], "gb18030")
    if whole_gb and (not guesses or _CHINESE & set(guesses)):
        return Encoding("gb18030", 0, True)
    for guess in guesses[:1]:
        if _decodes([data], _codec(guess)):
            return Encoding(guess, 0, True)
        lines = _lines(data, _codec(guess))
        if _strict_lines(lines, _codec(guess)) == len(lines):
            return Encoding(guess, 0, False)  # every line decodes on its own: no bad lines
    if whole_gb:
        return Encoding("gb18030", 0, True)
    best = max(["gb18030", *guesses[:1]], key=lambda e: _strict_lines(_lines(data, e), e))
    return Encoding(best, 0, False)


def _pieces(src: Source, enc: Encoding, bad_lines: dict[str, tuple[str, str]], lines: bool = True) -> Iterator[str]:
    """The file's text in pieces that each end at a newline (the last one may not), NUL characters
    removed. A file that decodes completely is decoded block by block (`lines=False`: the blocks' text
    as it comes, not split at newlines, for a JSON document on one line); otherwise line by line, and a
    line that does not decode becomes a marker `_BAD<k>_BAD` with bad_lines[marker] = (the line decoded
    with replacement characters, why)."""
    codec = _codec(enc.name)
    if enc.whole and not lines:
        decoder = codecs.getincrementaldecoder(codec)("strict")
        for block in src.blocks(enc.skip):
            if text := _clean(decoder.decode(block)):
                yield text
        if text := _clean(decoder.decode(b"", True)):
            yield text
        return
    if enc.whole:
        decoder = codecs.getincrementaldecoder(codec)("strict")
        pending: list[str] = []
        for block in src.blocks(enc.skip):
            yield from _split_text(decoder.decode(block), pending)
        yield from _split_text(decoder.decode(b"", True), pending)
        last = _clean("".join(pending))
        if last:
            yield last
        return
    newline = "\n".encode(codec)
    for number, line in enumerate(_split_lines(src.blocks(enc.skip), codec), start=1):
        try:
            text = _clean(line.decode(codec))
        except UnicodeDecodeError as exc:
            marker = f"{_BAD}{len(bad_lines)}{_BAD}"
            bad_lines[marker] = (line.decode(codec, "replace").rstrip("\r\n"),
                                 f"line {number} of the file does not decode as {enc.name} "
                                 f"({exc.reason} at byte {exc.start} of the line: {exc.object[exc.start:exc.start + 4]!r})")
            text = marker + ("\n" if line.endswith(newline) else "")
        if text:
            yield text


def _clean(text: str) -> str:
    return text.replace(_BAD, "").replace("\x00", "")


def _split_text(text: str, pending: list[str]) -> Iterator[str]:
    if "\n" not in text:
        if text:
            pending.append(text)
        return
    parts = text.split("\n")
    if pending:
        parts[0] = "".join(pending) + parts[0]
        pending.clear()
    for part in parts[:-1]:
        piece = _clean(part + "\n")
        if piece:
            yield piece
    if parts[-1]:
        pending.append(parts[-1])


def _text_pieces(text: str) -> list[str]:
    """A text split after each newline (the pieces _pieces yields)."""
    return [p for p in re.split("(?<=\n)", text) if p]


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


# ---- CSV ---------------------------------------------------------------------------------------
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
    if not bad_lines:
        return []
    found = re.findall(f"{_BAD}\\d+{_BAD}", "\x1f".join(fields))
    return [bad_lines[m] for m in found if m in bad_lines]


class _Lines:
    """A text's physical lines (split as io.StringIO(text, newline="").readlines() splits them: at "\n",
    "\r\n" and "\r") by index from the start of the file, read from its pieces on demand; lines before the
    record being read are dropped as reading moves on."""

    def __init__(self, pieces: Iterable[str]) -> None:
        self._pieces = iter(pieces)
        self._buf: list[str] = []
        self._base = 0  # index of _buf[0]

    def get(self, i: int) -> str | None:
        while i - self._base >= len(self._buf):
            piece = next(self._pieces, None)
            if piece is None:
                return None
            if "\r" in piece:
                self._buf.extend(io.StringIO(piece, newline="").readlines())
            else:
                self._buf.append(piece)
        return self._buf[i - self._base]

    def span(self, i: int, j: int) -> list[str]:
        """Lines i .. j-1 (already read)."""
        return self._buf[i - self._base:j - self._base]

    def drop_before(self, i: int) -> None:
        if i - self._base > 4096:
            del self._buf[:i - self._base]
            self._base = i

    def feed(self, i: int) -> Iterator[str]:
        while (line := self.get(i)) is not None:
            yield line
            i += 1


def _csv_rows(pieces: Iterable[str], bad_lines: dict[str, tuple[str, str]]) -> Iterator[tuple[int, Any]]:
    """(0, header) and then (row number, record or (raw text, detail, reason)) of a CSV text. A record
    whose quoted field never closes properly (strict parsing fails, or it spans several lines, has the
    wrong field count and swallowed lines that are rows on their own) is a bad_row for its first line
    only; the reader restarts on the next line, so the lines the quote swallowed are read again as rows
    of their own (an undecodable line among them too). A row holding an undecodable line is bad_encoding."""
    lines = _Lines(pieces)
    first = lines.get(0) or ""
    delimiter = next((d for d in (",", "\t", ";", "|") if d in first), ",")
    header: list[str] | None = None
    row_number = 0
    start = 0  # index of the line the current reader started on
    while lines.get(start) is not None:
        reader = csv.reader(lines.feed(start), delimiter=delimiter)
        consumed, restart = 0, None
        for fields in reader:
            first_line, last_line = start + consumed + 1, start + reader.line_num  # 1-based, inclusive
            consumed = reader.line_num
            lines.drop_before(first_line - 1)
            if not fields or all(not f.strip() for f in fields):
                continue  # blank lines are not rows
            undecodable = _marked(fields, bad_lines)
            if header is None:
                if undecodable:
                    raise ValueError(f"the header does not decode: {undecodable[0][1]}")
                header = _unique_names(fields)
                yield 0, header
                continue
            row_number += 1
            at_end = lines.get(last_line) is None
            if last_line > first_line or at_end:
                raw_text = "".join(lines.span(first_line - 1, last_line))
                error = _strict_error(raw_text, delimiter)
                swallowed = last_line > first_line and len(fields) != len(header) and any(
                    _fields_alone(ln, delimiter) == len(header) for ln in lines.span(first_line, last_line))
                if error or swallowed:
                    end = "the end of the file" if at_end else f"line {last_line}"
                    again = (f"; lines {first_line + 1}-{last_line} it swallowed are read as rows of their own"
                             if last_line > first_line else "")
                    yield row_number, (lines.get(first_line - 1).rstrip("\r\n"),
                                       f"unclosed quote: a quoted field opened on line {first_line} runs to "
                                       f"{end} ({error or 'wrong field count'}){again}", "bad_row")
                    restart = first_line
                    break
            if undecodable:  # after the quote check: an unclosed quote must not swallow a bad line's rows
                yield row_number, ("\n".join(r for r, _ in undecodable), undecodable[0][1], "bad_encoding")
                continue
            if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
                yield row_number, (delimiter.join(fields), f"{len(fields)} fields, header has {len(header)}",
                                   "bad_row")
                continue
            fields = (fields + [""] * len(header))[: len(header)]
            yield row_number, dict(zip(header, fields))
        if restart is None:
            break
        start = restart


# ---- JSON and JSON Lines ------------------------------------------------------------------------
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _bracket_steps(text: str) -> np.ndarray:
    """+1 per opening and -1 per closing bracket / brace of JSON text, outside strings."""
    brackets = re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text)).encode("ascii")
    return np.where(np.isin(np.frombuffer(brackets, dtype=np.uint8), list(b"[{")), 1, -1)


def _json_depth(text: str) -> int:
    """How deeply arrays / objects nest in JSON text (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than the limit
    return int(np.cumsum(_bracket_steps(text)).max(initial=0))


def _too_deep(depth: int, at_least: bool = False) -> str:
    return (f"JSON nested deeper than {MAX_JSON_DEPTH} levels ({'at least ' if at_least else ''}{depth:,} levels); "
            "a posts file holds flat records (a list of tags or images is one level)")


def _load_json(text: str) -> Any:
    """json.loads that refuses nesting deeper than MAX_JSON_DEPTH with a ValueError (not RecursionError)."""
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(_too_deep(depth))
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError(_too_deep(depth)) from exc


def _record_or_bad(item: Any, raw: str | None = None) -> Any:
    """A JSON element as a record ({key stripped: value}) or a bad_row (raw text, detail, reason)."""
    if isinstance(item, dict):
        return {str(k).strip(): v for k, v in item.items()}
    raw = raw if raw is not None else json.dumps(item, ensure_ascii=False, default=str)
    return raw, "not a JSON object", "bad_row"


def _jsonl_rows(pieces: Iterable[str], bad_lines: dict[str, tuple[str, str]]) -> Iterator[tuple[int, Any]]:
    """(row number, record or (raw text, detail, reason)) per non-blank line of a JSON Lines text."""
    number = 0
    for piece in pieces:
        line = piece[:-1] if piece.endswith("\n") else piece
        if not line.strip():
            continue
        line = line.rstrip("\r")
        number += 1
        if line.strip() in bad_lines:
            raw, detail = bad_lines[line.strip()]
            yield number, (raw, detail, "bad_encoding")
            continue
        try:
            item = _load_json(line)
        except json.JSONDecodeError as exc:
            yield number, (line, f"invalid JSON: {exc.msg}", "bad_row")
            continue
        except ValueError as exc:  # nested too deep
            yield number, (line, str(exc), "bad_row")
            continue
        yield number, _record_or_bad(item, line)


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.msg
    return ""


_TRAILING_COMMA = _json_error("[0,]")  # what this Python's json module says about "[0,]"


def _invalid(msg: str, line: int) -> ValueError:
    return ValueError(f"not valid JSON ({msg}, line {line}); expected an array of records")


def _json_array(pieces: Iterator[str]) -> Iterator[Any]:
    """The elements of a JSON array, parsed one at a time from the text's pieces (the text starts with
    `[` after whitespace): only about a block of text beyond the element being parsed is held. Raises
    ValueError for nesting deeper than MAX_JSON_DEPTH or for invalid JSON (with its line)."""
    decoder = json.JSONDecoder()
    buf, pos, lines_before = "", 0, 0
    exhausted = False

    def extend() -> bool:
        nonlocal buf, pos, lines_before, exhausted
        if exhausted:
            return False
        added, size = [], 0
        for piece in pieces:
            added.append(piece)
            size += len(piece)
            if size >= max(BLOCK_BYTES, len(buf) - pos):
                break
        else:
            exhausted = True
        text = "".join(added)
        lines_before += buf.count("\n", 0, pos)
        buf, pos = buf[pos:] + text, 0
        return bool(text)

    def line_at(at: int) -> int:
        return lines_before + buf.count("\n", 0, at) + 1

    def skip_space() -> bool:
        """Move pos to the next non-space character; False at the end of the text."""
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return True
            if not extend():
                return False

    extend()
    skip_space()
    pos += 1  # the opening bracket (the caller checked it is there)
    first = True
    while True:
        if not skip_space():
            raise _invalid("Expecting value" if first else "Expecting ',' delimiter", line_at(pos))
        if buf[pos] == "]" and first:
            break
        if not first:
            if buf[pos] == "]":
                break
            if buf[pos] != ",":
                raise _invalid("Expecting ',' delimiter", line_at(pos))
            pos += 1
            if not skip_space():
                raise _invalid("Expecting value", line_at(pos))
            if buf[pos] == "]":
                raise _invalid(_TRAILING_COMMA, line_at(pos))
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if extend():
                    continue
                raise _invalid(exc.msg, lines_before + exc.lineno) from exc
            except RecursionError as exc:  # far deeper than the limit
                depth = 1 + int(np.cumsum(_bracket_steps(buf[pos:])).max(initial=0))
                raise ValueError(_too_deep(depth, at_least=not exhausted)) from exc
            if (end >= len(buf) or buf[end] not in ",] \t\r\n") and extend():
                continue  # a number or literal may go on in the next piece ("2.5" of "2.5e3")
            break
        depth = 1 + _json_depth(buf[pos:end])  # the array holding the element is one level
        if depth > MAX_JSON_DEPTH:
            raise ValueError(_too_deep(depth))
        yield item
        pos, first = end, False
    pos += 1  # the closing bracket
    while skip_space():
        raise _invalid("Extra data", line_at(pos))


def _read_json(text: str) -> RawTable:
    """A JSON document read whole (an object holding a list of records, or anything but an array)."""
    try:
        obj = _load_json(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n" in text.strip():
            rows = list(_jsonl_rows(_text_pieces(text), {}))
            return _table(rows, "jsonl", _union(rows))
        raise _invalid(exc.msg, exc.lineno) from exc
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        obj = lists[0] if lists else [obj]
    if not isinstance(obj, list):
        raise ValueError("JSON must be an array of records (objects)")
    rows = [(i, _record_or_bad(item)) for i, item in enumerate(obj, start=1)]
    return _table(rows, "json", _union(rows))


def _union(rows: Iterable[tuple[int, Any]]) -> list[str]:
    """Every record's keys, in the order they first appear."""
    columns: dict[str, None] = {}
    for _, item in rows:
        if isinstance(item, dict):
            columns.update(dict.fromkeys(item))
    return list(columns)


def _table(rows: Iterable[tuple[int, Any]], fmt: str, columns: list[str], encoding: str | None = None) -> RawTable:
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str, str]] = {}
    for number, item in rows:
        if isinstance(item, dict):
            records[number] = item
        else:
            bad[number] = item
    return RawTable(records, columns, bad, fmt, encoding)


# ---- Parquet ----------------------------------------------------------------------------------------
def _parquet_file(src: Source) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(str(src.path) if src.path is not None else pa.BufferReader(src.data))


def _arrow_frame(table: Any) -> Any:
    """A pyarrow table as pandas.read_parquet makes it a frame."""
    try:
        from pandas.io._util import arrow_table_to_pandas
    except ImportError:  # another pandas version
        return table.to_pandas()
    return arrow_table_to_pandas(table)


def _parquet_rows(src: Source, batch_rows: int) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa

    pf = _parquet_file(src)
    number = 0
    for batch in pf.iter_batches(batch_size=batch_rows, use_pandas_metadata=True):
        frame = _arrow_frame(pa.Table.from_batches([batch]).replace_schema_metadata(pf.schema_arrow.metadata))
        frame.columns = _unique_names(list(frame.columns))
        for rec in frame.astype(object).to_dict(orient="records"):
            number += 1
            yield number, rec


def _parquet_columns(src: Source) -> list[str]:
    frame = _arrow_frame(_parquet_file(src).schema_arrow.empty_table())
    return _unique_names(list(frame.columns))


# ---- files --------------------------------------------------------------------------------------
class RawFile:
    """A posts file opened for reading in chunks: `fmt`, `encoding` (None for Parquet), `columns` (a CSV's
    header, the union of JSON records' keys, Parquet's columns) and `chunks(rows)`. Each pass over the
    file reads it again from its Source, so nothing but the current chunk is held."""

    def __init__(self, source: Source, name: str | None) -> None:
        self.source = source
        self.fmt = _detect_format(source.head(4), name)
        self.encoding: str | None = None
        self._enc: Encoding | None = None
        self._columns: list[str] | None = None
        if self.fmt != "parquet":
            self._enc = choose_encoding(source)
            self.encoding = self._enc.name
            self._settle_format()

    def _text(self, bad_lines: dict[str, tuple[str, str]] | None = None, lines: bool = True) -> Iterator[str]:
        return _pieces(self.source, self._enc, {} if bad_lines is None else bad_lines, lines)

    def _settle_format(self) -> None:
        """The format of a file without a telling suffix, from its first characters; a JSON array with an
        undecodable line cannot be read, a JSON file starting with `{` is then read as JSON Lines."""
        if self.fmt not in (None, "json"):
            return
        head, first = "", ""
        for piece in self._text(lines=False):
            if len(head) < 64:
                head += piece[:64 - len(head)]
            first = first or piece.lstrip()[:1]
            if first and len(head) >= 64:
                break
        if self.fmt is None:
            head = head.lstrip("\ufeff \t\r\n")
            self.fmt = "json" if head.startswith("[") else "jsonl" if head.startswith("{") else "csv"
        if self.fmt == "json" and not self._enc.whole:
            bad: dict[str, tuple[str, str]] = {}
            for _ in self._text(bad):
                if bad:
                    break
            if bad:
                if first != "{":
                    raise ValueError(f"{next(iter(bad.values()))[1]}; a JSON array is one document, so the file "
                                     "cannot be read: save it again as UTF-8 (or as JSON Lines, where only the "
                                     "undecodable lines are rejected)")
                self.fmt = "jsonl"

    def _rows(self, chunk_rows: int) -> Iterator[tuple[int, Any]]:
        """(0, header) for CSV, then (row number, record or (raw text, detail, reason)) of every row."""
        if self.fmt == "parquet":
            yield from _parquet_rows(self.source, chunk_rows)
            return
        bad: dict[str, tuple[str, str]] = {}
        if self.fmt == "csv":
            yield from _csv_rows(self._text(bad), bad)
        elif self.fmt == "jsonl":
            yield from _jsonl_rows(self._text(bad), bad)
        else:
            yield from self._json_rows()

    def _json_rows(self) -> Iterator[tuple[int, Any]]:
        pieces = self._text(lines=False)
        head: list[str] = []
        for piece in pieces:
            head.append(piece)
            if piece.strip(" \t\r\n"):
                break
        if "".join(head).lstrip(" \t\r\n").startswith("["):  # an array: element by element
            for number, item in enumerate(_json_array(_chain(head, pieces)), start=1):
                yield number, _record_or_bad(item)
            return
        whole = _read_json("".join(head) + "".join(pieces))  # an object holding the records: read whole
        if whole.fmt == "jsonl":
            self.fmt = "jsonl"
        yield from sorted([*whole.records.items(), *whole.bad_rows.items()], key=lambda kv: kv[0])

    @property
    def columns(self) -> list[str]:
        """The file's columns (one pass over a JSON / JSON Lines file, which have no header)."""
        if self._columns is None:
            if self.fmt == "parquet":
                self._columns = _parquet_columns(self.source)
            elif self.fmt == "csv":
                self._columns = next((item for number, item in self._rows(CHUNK_ROWS) if number == 0), [])
            else:
                self._columns = _union(self._rows(CHUNK_ROWS))
        return self._columns

    def chunks(self, rows: int | None = None) -> Iterator[RawTable]:
        """The file's rows in RawTables of at most `rows` rows (CHUNK_ROWS) and about CHUNK_CHARS
        characters; row numbers count from the start of the file. Yields at least one table."""
        rows = max(1, int(rows or CHUNK_ROWS))
        columns = self.columns
        records: dict[int, dict[str, Any]] = {}
        bad: dict[int, tuple[str, str, str]] = {}
        chars, sent = 0, False
        for number, item in self._rows(rows):
            if number == 0:
                continue
            if isinstance(item, dict):
                records[number] = item
                chars += sum(len(v) for v in item.values() if isinstance(v, str))
            else:
                bad[number] = item
                chars += len(item[0])
            if len(records) + len(bad) >= rows or chars >= CHUNK_CHARS:
                yield RawTable(records, columns, bad, self.fmt, self.encoding)
                records, bad, chars, sent = {}, {}, 0, True
        if records or bad or not sent:
            yield RawTable(records, columns, bad, self.fmt, self.encoding)


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest


def read_raw(data: bytes, name: str | None) -> RawTable:
    """The whole file at once (see RawFile for reading in chunks)."""
    raw = RawFile(Source(data=data), name)
    records: dict[int, dict[str, Any]] = {}
    bad: dict[int, tuple[str, str, str]] = {}
    for chunk in raw.chunks():
        records.update(chunk.records)
        bad.update(chunk.bad_rows)
    return RawTable(records, raw.columns, bad, raw.fmt, raw.encoding)
