"""The Map page's "Hover previews" component: the map drawn by plotly.js in an iframe, where hovering
a point shows its segmented garment and text (trend_core.map_hover's script).

A Streamlit custom component (components.v1.declare_component) instead of an HTML string: the page
(app_pages/hover_map_component/index.html) and the installed plotly package's plotly.min.js (4.8 MB,
1.5 MB gzipped) are served by the app itself as the component's static files, never from another
machine. The page keeps plotly.js in the browser's Cache Storage under a versioned name (the app serves
component files without a validator, so the browser alone would fetch it again each time the component
mounts); each render only sends the figure and the previews (`map_hover.hover_payload`: gzip-compressed
JSON, well under 2 MB), and the iframe stays in place between renders (a render with the same payload
digest redraws nothing).

The two files are copied into a folder of their own under the user's cache
($XDG_CACHE_HOME or ~/.cache, /trend_core/hover_map_<digest>; a private temporary folder when that
cannot be written), named by a digest of the page and the plotly version, so upgrades never mix.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import plotly
import streamlit.components.v1 as components

PAGE = Path(__file__).resolve().parent / "hover_map_component" / "index.html"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trend_core"


PLOTLY_NAME = f"plotly-{plotly.__version__}.min.js"  # versioned: the browser keeps it under this name


def asset_dir() -> Path:
    """The component's folder (index.html + plotly-<version>.min.js), made once per page / plotly version."""
    page = PAGE.read_bytes().replace(b"__PLOTLY_JS__", PLOTLY_NAME.encode("ascii"))
    tag = hashlib.sha256(page).hexdigest()[:12]
    name = f"hover_map_{tag}"
    for root in (_cache_root(), None):
        try:
            if root is None:  # private to this process
                root = Path(tempfile.mkdtemp(prefix="trend_core_"))
            folder = root / name
            if (folder / "index.html").is_file() and (folder / PLOTLY_NAME).is_file():
                return folder
            root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{name}_", dir=root))
            (work / "index.html").write_bytes(page)
            shutil.copyfile(PLOTLY_JS, work / PLOTLY_NAME)
            try:
                os.replace(work, folder)  # atomic; another process may have won the race
            except OSError:
                shutil.rmtree(work, ignore_errors=True)
            if (folder / "index.html").is_file() and (folder / PLOTLY_NAME).is_file():
                return folder
        except OSError:
            continue
    raise OSError("cannot write the hover map's files (no writable cache or temporary folder)")


_component = components.declare_component("hover_map", path=str(asset_dir()))


def hover_map(payload: bytes, digest: str, height: int, key: str | None = None) -> None:
    """Draw the hover map: `payload` from map_hover.hover_payload, `digest` names it (same digest,
    nothing redrawn), `height` in pixels."""
    _component(payload=payload, digest=digest, height=int(height), key=key, default=None)
