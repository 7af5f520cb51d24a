"""What the Map and Trends pages share across sessions, so many analysts at once cost little more
than one (issue 11.9):

- figures: a page builds each figure once per database, clustering, style names and settings in a
  `st.cache_resource` function and gets a `trend_core.shared_figure.FrozenFigure` back, the same object
  for every session (never changed after it is made: st.plotly_chart only reads it);
- `view_names_key`: the part of a cache key that changes when a style is renamed (the clustering
  key alone does not);
- `settle_memory`: once per page and process, after the page's first render, moves every object
  alive then (the imported libraries, ~600,000 objects) out of the garbage collector's reach
  (`gc.freeze`), so the full collections that a busy server runs every few renders no longer walk
  them (each walk took ~0.5 s, holding every session's thread).
"""
from __future__ import annotations

import gc
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence


from trend_core import pipeline

_settled: set[str] = set()
_settle_lock = threading.Lock()


def settle_memory(page: str) -> None:
    """After the first render of `page` in this process: collect, then freeze what is alive (see the
    module docstring). Later calls return at once."""
    if page in _settled:
        return
    with _settle_lock:
        if page in _settled:
            return
        gc.collect()
        gc.freeze()
        _settled.add(page)


def view_names_key(view: pipeline.StylesView) -> str:
    """A short digest of the clustering's style names (ids and names in order)."""
    pairs = list(zip(view.styles["style"].astype(int).tolist(), view.styles["name"].astype(str).tolist()))
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def selections_key(saved: Mapping[str, Sequence[str]]) -> str:
    """A short digest of the saved selections (names and their post ids)."""
    body = json.dumps({str(k): [str(p) for p in v] for k, v in saved.items()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

