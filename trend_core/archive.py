"""Zip archives of images (the Data page's upload, `ingest --images x.zip`): unpacked into a temporary
folder that is always removed afterwards, streaming each member in blocks under limits, so a small zip
cannot fill the disk or the memory (a decompression bomb).

Limits (an argument, else the environment variable, else the default):

* total uncompressed bytes: `max_bytes`, `$TREND_ZIP_MAX_BYTES`, default 2 GiB;
* compression ratio of one member (uncompressed / compressed; members under 1 MiB are not checked):
  `max_ratio`, `$TREND_ZIP_MAX_RATIO`, default 100;
* number of members (files and folders): `max_members`, `$TREND_ZIP_MAX_MEMBERS`, default 20,000.

A zip over a limit raises `ArchiveRefused` (a ValueError): first from the sizes the zip declares, before
anything is written, and again while unpacking from the bytes actually produced (declared sizes can lie),
stopping within one block. Members with unsafe names (absolute paths, drive letters, `..`) are skipped;
so are members that cannot be unpacked (encrypted, an unsupported method, a CRC error), which leaves
their images missing. Nothing else in a zip is trusted: names are only used under the temporary folder.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

DEFAULT_MAX_BYTES = 2 * 1024**3    # total uncompressed bytes of a zip
DEFAULT_MAX_RATIO = 100.0          # uncompressed / compressed bytes of one member
DEFAULT_MAX_MEMBERS = 20_000       # members (files and folders) of a zip
RATIO_FLOOR = 1024**2              # members up to this size are not held to the ratio
BLOCK = 1024**2                    # bytes unpacked at a time
ENV = {"max_bytes": "TREND_ZIP_MAX_BYTES", "max_ratio": "TREND_ZIP_MAX_RATIO",
       "max_members": "TREND_ZIP_MAX_MEMBERS"}


class ArchiveRefused(ValueError):
    """A zip that is not unpacked: over a limit (`reason` 'total_size', 'ratio' or 'members') or not a
    readable zip ('not_a_zip')."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_ratio: float = DEFAULT_MAX_RATIO
    max_members: int = DEFAULT_MAX_MEMBERS

    @classmethod
    def resolve(cls, max_bytes: int | None = None, max_ratio: float | None = None,
                max_members: int | None = None) -> ZipLimits:
        """Arguments first, then $TREND_ZIP_MAX_BYTES / _RATIO / _MEMBERS, then the defaults."""
        given = {"max_bytes": max_bytes, "max_ratio": max_ratio, "max_members": max_members}
        kinds = {"max_bytes": int, "max_ratio": float, "max_members": int}
        values: dict[str, Any] = {}
        for name, value in given.items():
            if value is None and os.environ.get(ENV[name], "").strip():
                text = os.environ[ENV[name]].strip().replace("_", "")
                try:
                    value = kinds[name](float(text)) if kinds[name] is int else float(text)
                except ValueError as exc:
                    raise ValueError(f"${ENV[name]} must be a number, got {text!r}") from exc
            if value is not None:
                if value <= 0:
                    raise ValueError(f"{name} (${ENV[name]}) must be positive, got {value}")
                values[name] = kinds[name](value)
        return cls(**values)


@dataclass
class Extracted:
    """What unpacking wrote: files written, bytes written, members skipped (name -> why)."""

    root: Path
    files: int = 0
    bytes: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is unsafe (absolute, a drive letter, `..`) or empty."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or not path.parts or ".." in path.parts or path.parts[0].endswith(":"):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB"


def _refuse_declared(members: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(members) > limits.max_members:
        raise ArchiveRefused("members", f"the zip has {len(members):,} members, more than the limit of "
                             f"{limits.max_members:,} (${ENV['max_members']})")
    total = sum(m.file_size for m in members)
    if total > limits.max_bytes:
        raise ArchiveRefused("total_size", f"the zip unpacks to {_gib(total)}, more than the limit of "
                             f"{_gib(limits.max_bytes)} (${ENV['max_bytes']})")
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > limits.max_ratio * max(m.compress_size, 1):
            raise ArchiveRefused("ratio", _ratio_message(m.filename, m.file_size, m.compress_size, limits))


def _ratio_message(name: str, size: int, compressed: int, limits: ZipLimits) -> str:
    return (f"zip member {name!r} unpacks to {_gib(size)} from {compressed:,} bytes (ratio "
            f"{size / max(compressed, 1):,.0f}:1), more than the limit of {limits.max_ratio:g}:1 "
            f"(${ENV['max_ratio']}); this looks like a decompression bomb")


def extract_zip(zip_source: Any, root: str | os.PathLike, *, max_bytes: int | None = None,
                max_ratio: float | None = None, max_members: int | None = None) -> Extracted:
    """Unpack a zip (a path, bytes or a binary file object) into the folder root, member by member in
    blocks of 1 MiB, under the limits (see the module). Raises ArchiveRefused; what was written before a
    refusal stays in root (the caller removes root: use `extracted_images`)."""
    limits = ZipLimits.resolve(max_bytes, max_ratio, max_members)
    base = Path(root).resolve()
    out = Extracted(base)
    try:
        archive = zipfile.ZipFile(_opened(zip_source))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise ArchiveRefused("not_a_zip", f"not a readable zip file ({exc})") from exc
    with archive:
        members = archive.infolist()
        _refuse_declared(members, limits)
        for member in members:
            name = _safe_name(member.filename)
            if member.is_dir():
                continue
            if name is None:
                out.skipped[member.filename] = "unsafe name"
                continue
            target = base.joinpath(*name.parts)
            if not target.resolve().is_relative_to(base):  # a folder of that name is a symlink: never
                out.skipped[member.filename] = "unsafe name"
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                written = _copy_member(archive, member, target, limits, limits.max_bytes - out.bytes)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                out.skipped[member.filename] = f"name clashes with another member: {exc}"
                continue
            except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError) as exc:
                target.unlink(missing_ok=True)
                out.skipped[member.filename] = f"cannot be unpacked: {exc}"
                continue
            out.files += 1
            out.bytes += written
    return out


def _opened(zip_source: Any) -> BinaryIO | str | os.PathLike:
    if isinstance(zip_source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(zip_source))
    if isinstance(zip_source, (str, os.PathLike)):
        return zip_source
    if hasattr(zip_source, "seek"):
        zip_source.seek(0)
    return zip_source


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, limits: ZipLimits,
                 room: int) -> int:
    """Stream one member into target; ArchiveRefused (with the partial file removed) as soon as the
    bytes produced pass the total that is left or the member's ratio."""
    written = 0
    try:
        with archive.open(member) as src, open(target, "wb") as dst:
            while block := src.read(BLOCK):
                written += len(block)
                if written > room:
                    raise ArchiveRefused("total_size", f"the zip unpacks to more than the limit of "
                                         f"{_gib(limits.max_bytes)} (${ENV['max_bytes']}); stopped at "
                                         f"{member.filename!r}")
                if written > RATIO_FLOOR and written > limits.max_ratio * max(member.compress_size, 1):
                    raise ArchiveRefused("ratio", _ratio_message(member.filename, written,
                                                                 member.compress_size, limits))
                dst.write(block)
    except BaseException:
        if target.is_file():
            target.unlink()
        raise
    return written


@contextmanager
def extracted_images(zip_source: Any, *, max_bytes: int | None = None, max_ratio: float | None = None,
                     max_members: int | None = None) -> Iterator[Path]:
    """A temporary folder holding the zip's files (see extract_zip), removed on exit, also after an
    error or a refusal. Use the folder as `images_dir` of ingest_file inside the `with` block."""
    root = Path(tempfile.mkdtemp(prefix="trend_images_"))
    try:
        extract_zip(zip_source, root, max_bytes=max_bytes, max_ratio=max_ratio, max_members=max_members)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
