"""Figures shared by every session of the app: built once, turned into JSON-ready data once.

`st.plotly_chart(figure)` calls `figure.to_dict()` on every render, and plotly's `to_dict` deep-copies
every array of the figure (about 0.1 s for a 3,000-point map, a second at 20,000) before the JSON
encoding. A page that caches a figure across sessions (st.cache_resource) hands Streamlit a
`FrozenFigure` instead: its `to_dict()` returns one JSON-ready dict (plain lists, strings and numbers;
numeric arrays already base64 as plotly sends them), made when the figure was frozen, so a render
costs one json.dumps. That dict is shared by every session and thread: nobody may change it
(Streamlit only reads it); `thaw()` gives a private, editable go.Figure. Pure plotly, no streamlit.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["FrozenFigure", "freeze", "sent_bytes"]


class FrozenFigure(go.Figure):
    """A figure for st.plotly_chart that many sessions share; see the module docstring.

    The plotly object itself stays empty (building it again would validate every point); read the
    figure through `to_dict()` (shared, read-only) or `thaw()` (a copy)."""

    def __init__(self, figure: go.Figure | dict):
        super().__init__()
        spec = figure if isinstance(figure, dict) else figure.to_dict()
        self._frozen_spec: dict[str, Any] = json.loads(pio.to_json(spec, validate=False))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready figure, the same object on every call: read it, never change it."""
        return self._frozen_spec

    def to_plotly_json(self) -> dict[str, Any]:
        return self._frozen_spec

    def thaw(self) -> go.Figure:
        """A private go.Figure with the same data and layout (safe to change)."""
        return go.Figure(copy.deepcopy(self._frozen_spec))


def freeze(figure: go.Figure | dict) -> FrozenFigure:
    """`figure` as a FrozenFigure (a FrozenFigure is returned as it is)."""
    return figure if isinstance(figure, FrozenFigure) else FrozenFigure(figure)


def sent_bytes(figure: go.Figure | dict) -> int:
    """Bytes of the JSON that st.plotly_chart sends for this figure (what one render costs the wire)."""
    spec = figure.to_dict() if isinstance(figure, go.Figure) else figure
    return len(pio.to_json(spec, validate=False).encode("utf-8"))
