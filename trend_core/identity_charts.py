"""The Sankey of posts flowing from the previous clustering's styles to the current ones.

Frames in, a plotly Figure out (no streamlit). Style names can be given by the analyst, so they are
HTML-escaped before they become node labels (plotly renders a subset of HTML in labels and hovers).
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb

from trend_core.plots import LEFT_OUT_COLOR, escape_snippet, style_color

NAME_CHARS = 40  # node labels are shortened to this many characters
TITLE = "Posts moving from the previous styles (left) to the current ones (right)"


def _translucent(color: str, alpha: float = 0.35) -> str:
    """'#RRGGBB' -> 'rgba(r,g,b,alpha)' for the links."""
    r, g, b = hex_to_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def _label(style: int, names: Mapping[int, str]) -> str:
    """'S3 name' (escaped, shortened) or 'S3' when the style has no name."""
    name = names.get(int(style), "")
    short = escape_snippet(name, NAME_CHARS)
    return short if short.startswith(f"S{int(style)}") else f"S{int(style)} {short}".strip()


def _previous_colors(prev_styles: list[int], matches: pd.DataFrame | None) -> list[str]:
    """A previous style takes the colour of the current style it is matched to, else grey."""
    partner: dict[int, int] = {}
    if matches is not None and len(matches):
        matched = matches[matches["matched"].astype(bool)]
        partner = dict(zip(matched["prev"].astype(int), matched["new"].astype(int)))
    return [style_color(partner[s]) if s in partner else LEFT_OUT_COLOR for s in prev_styles]


def flow_sankey(flows: pd.DataFrame, prev_names: Mapping[int, str], new_names: Mapping[int, str],
                matches: pd.DataFrame | None = None) -> go.Figure:
    """Sankey with the previous styles on the left, the current ones on the right and one link per
    non-zero flow (columns prev, new, posts): splits fan out, merges fan in. Matched previous styles
    share their partner's colour."""
    if flows is None or flows.empty:
        fig = go.Figure()
        fig.update_layout(title=TITLE, xaxis={"visible": False}, yaxis={"visible": False},
                          annotations=[{"text": "the two clusterings share no posts", "showarrow": False}])
        return fig
    prev_styles = sorted(int(s) for s in flows["prev"].unique())
    new_styles = sorted(int(s) for s in flows["new"].unique())
    prev_index = {s: i for i, s in enumerate(prev_styles)}
    new_index = {s: len(prev_styles) + i for i, s in enumerate(new_styles)}
    labels = [f"before · {_label(s, prev_names)}" for s in prev_styles] + [_label(s, new_names) for s in new_styles]
    colors = _previous_colors(prev_styles, matches) + [style_color(s) for s in new_styles]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colors, "pad": 12, "thickness": 14,
              "hovertemplate": "%{label}<br>%{value} posts<extra></extra>"},
        link={"source": [prev_index[int(p)] for p in flows["prev"]],
              "target": [new_index[int(n)] for n in flows["new"]],
              "value": [int(v) for v in flows["posts"]],
              "color": [_translucent(style_color(int(n))) for n in flows["new"]],
              "hovertemplate": "%{source.label} → %{target.label}<br>%{value} posts<extra></extra>"}))
    fig.update_layout(title=TITLE,
                      height=max(320, 34 * max(len(prev_styles), len(new_styles))),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
