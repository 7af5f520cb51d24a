"""Data roots: the folders a server-mode dashboard may read from (posts files, images folders, series
CSVs). `DataRoots.confine(path)` resolves `~`, `..` and symlinks first and refuses anything that does
not end up inside a root, before the file is opened, so nothing outside the roots is ever read or shown.
Pure logic, no streamlit; the app decides when to use it (app_pages/_server.py)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KINDS = ("file", "folder", "any")


class PathRefused(ValueError):
    """A path outside the data roots (or a setting naming no usable root). The message names the path as
    it was given and the roots, never what the file holds, and says the same whether or not it exists."""


def _absolute(root: str | os.PathLike) -> Path:
    """A root as the absolute, symlink-free folder it names; `/` (every file) is refused."""
    text = str(root).strip()
    if not text:
        raise PathRefused("an empty data root")
    path = Path(text).expanduser().resolve()
    if path == Path(path.anchor):
        raise PathRefused(f"{text!r} as a data root would open every file of the server; name a data folder")
    return path


@dataclass(frozen=True)
class DataRoots:
    """Folders a visitor may name files in. Build with `DataRoots.parse(setting)` or `DataRoots.of(paths)`;
    an empty DataRoots refuses every path."""

    roots: tuple[Path, ...] = ()

    @classmethod
    def of(cls, roots: Iterable[str | os.PathLike]) -> DataRoots:
        """Roots from paths: each made absolute with symlinks resolved; `/` raises PathRefused."""
        return cls(tuple(dict.fromkeys(_absolute(r) for r in roots if str(r).strip())))

    @classmethod
    def parse(cls, setting: str | Iterable[str] | None) -> DataRoots:
        """Roots from a setting: a list, or one string of paths separated by os.pathsep (':' on Linux)."""
        if setting is None:
            return cls()
        parts = setting.split(os.pathsep) if isinstance(setting, str) else list(setting)
        return cls.of(parts)

    def __bool__(self) -> bool:
        return bool(self.roots)

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none configured"

    def contains(self, path: Path) -> bool:
        """Whether an already resolved path lies inside (or is) one of the roots."""
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def confine(self, path: str | os.PathLike, kind: str = "any") -> Path:
        """The absolute, symlink-free path for `path`, which must lie inside a root.

        `~` is expanded; a relative path is taken inside the first root where it exists (else the first
        root). `..` and every symlink on the way are resolved before the check, so a link inside a root
        that points out of it is refused. kind 'file' / 'folder' also asks for an existing file / folder
        (checked only after the path is known to be inside a root, so a refusal tells nothing about the
        rest of the server). Raises PathRefused."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        given = str(path).strip()
        if not given:
            raise PathRefused("no path given")
        if "\x00" in given:
            raise PathRefused("the path contains a NUL character")
        if not self.roots:
            raise PathRefused(f"{given!r} refused: no data roots are configured on this server, so no server "
                              "path can be read; upload the file instead")
        candidate = Path(given).expanduser()
        if not candidate.is_absolute():
            tries = [root / candidate for root in self.roots]
            candidate = next((t for t in tries if t.exists()), tries[0])
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise PathRefused(f"{given!r} cannot be resolved ({type(exc).__name__})") from None
        if not self.contains(resolved):
            raise PathRefused(f"{given!r} is outside the data roots of this server ({self.describe()})")
        if kind == "file" and not resolved.is_file():
            raise PathRefused(f"no file at {given!r} inside the data roots")
        if kind == "folder" and not resolved.is_dir():
            raise PathRefused(f"{given!r} is not a folder inside the data roots")
        return resolved
