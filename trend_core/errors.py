"""Failures as a person reads them: one line saying what went wrong, for the app and the CLI.

`reason(exc)` gives the line: known failure classes (a busy or unwritable database, a full disk, out of
memory, data nested too deeply, a bad file) get a plain sentence; anything else its type and message.
`scrub_paths` reduces absolute paths to their file names and `details(exc)` is a traceback whose frames
name module-relative files (trend_core/store.py, duckdb/...), so nothing shown in the app reveals the
server's folders.
"""
from __future__ import annotations

import errno
import re
import traceback
from pathlib import Path, PurePath

from trend_core.store import DatabaseBusy, StoreError

_ROOT = Path(__file__).resolve().parent.parent
_MAX_LINE = 400
# an absolute POSIX path (/a/b, ~/a/b) or a Windows one (C:\a\b); not a relative path, not a URL's //host
_PATH_STOP = r"\s'\"`<>|:;,()\[\]{}"
_ABS_PATH = re.compile(
    rf"(?<![\w/\\.:~-])(?:~/|/(?!/)|[A-Za-z]:[\\/])(?:[^{_PATH_STOP}/\\]+[\\/])*[^{_PATH_STOP}/\\]*")
_QUOTED_PATH = re.compile(r"""(['"])((?:~/|/|[A-Za-z]:[\\/])[^'"\n]*)\1""")  # may hold spaces
_PACKAGE_DIRS = ("site-packages", "dist-packages")


def scrub_paths(text: object) -> str:
    """The text with every absolute path replaced by its last part (/srv/data/posts.csv -> posts.csv)."""
    def last_part(path: str) -> str:
        parts = [p for p in re.split(r"[\\/]", path) if p and p != "~" and not p.endswith(":")]
        return parts[-1] if parts else "…"

    quoted = _QUOTED_PATH.sub(lambda m: m.group(1) + last_part(m.group(2)) + m.group(1), str(text))
    return _ABS_PATH.sub(lambda m: last_part(m.group(0)), quoted)


def module_path(filename: str) -> str:
    """A traceback frame's file as a module-relative name: trend_core/store.py for the project's files,
    duckdb/__init__.py for installed packages, json/decoder.py for the standard library, else the name."""
    path = PurePath(filename)
    parts = path.parts
    for marker in _PACKAGE_DIRS:
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1:])
    try:
        return Path(filename).resolve().relative_to(_ROOT).as_posix()
    except (ValueError, OSError):
        pass
    for i, part in enumerate(parts):
        if re.fullmatch(r"python\d+(\.\d+)?", part) and i + 1 < len(parts):
            return "/".join(parts[i + 1:])
    return path.name or "?"


def _flat(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_LINE else line[:_MAX_LINE - 1] + "…"


def _disk_full(exc: BaseException) -> bool:
    for err in (exc, exc.__cause__, exc.__context__):
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        if err is not None and "no space left on device" in str(err).lower():
            return True
    return False


def reason(exc: BaseException, app: bool = False) -> str:
    """One line saying what went wrong. app=True: worded for the dashboard and without absolute paths
    (a busy database says to try again); else for the CLI, whose user gave the paths."""
    clean = scrub_paths if app else str
    message = _flat(clean(exc))
    if isinstance(exc, DatabaseBusy):
        if app:
            return ("The database is busy with another job (another process, such as a command-line run, "
                    "holds it); try again in a minute.")
        return message
    if _disk_full(exc):
        return ("The disk is full (no space left on device): nothing was saved by this step and the database "
                "is as it was; free some space and try again.")
    if isinstance(exc, StoreError):
        return f"The database could not be read or written: {message}" if app else message
    if isinstance(exc, MemoryError):
        return ("Out of memory: the data is too large for this machine's memory; try a smaller file or "
                "fewer images.")
    if isinstance(exc, RecursionError):
        return ("The data is nested too deeply to process (maximum recursion depth exceeded); flatten the "
                "file's nested values.")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, UnicodeError):
        return f"The file's text could not be decoded: {message}"
    if isinstance(exc, OSError) and exc.strerror:
        name = PurePath(str(exc.filename)).name if app and exc.filename else exc.filename
        return f"{exc.strerror}: {name}" if name else str(exc.strerror)
    if isinstance(exc, (ValueError, FileNotFoundError, LookupError)) and not isinstance(exc, KeyError):
        return message or type(exc).__name__
    return _flat(f"Unexpected error ({type(exc).__name__}): {message}" if message else
                 f"Unexpected error ({type(exc).__name__})")


def details(exc: BaseException, limit: int = 40) -> str:
    """The exception's type, message and traceback (innermost `limit` frames), causes included, with file
    names made module-relative and absolute paths removed from messages and source lines."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines = [f"{type(current).__name__}: {scrub_paths(current)}"]
        frames = traceback.extract_tb(current.__traceback__)[-limit:]
        for frame in frames:
            lines.append(f"  {module_path(frame.filename)}:{frame.lineno} in {frame.name}")
            if frame.line:
                lines.append(f"    {scrub_paths(frame.line.strip())}")
        blocks.append("\n".join(lines))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n\ncaused by ".join(blocks)
