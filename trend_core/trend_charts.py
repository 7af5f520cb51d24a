"""Plotly figures of the Trends page: share lines with confidence bands, a stacked share area and
style lifespans. Pure functions (frames in, figures out), no streamlit.

Style names come from post text: they enter labels escaped once (`plots.safe`) and reach hover text only through
customdata, never through a hovertemplate itself (where '%{...}' in a name would be read as a field).

Every share is hovered with its n (the images behind the period's shares, share_table's `n`); given a
minimum, periods with fewer images are shaded grey and their points drawn as open grey markers.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pandas.tseries.frequencies import to_offset

from trend_core.plots import _empty, _rgba, safe, style_color
from trend_core.trends import PERIOD_FREQ

VALUE_LABELS = {"share": "share of posts", "engagement_share": "engagement-weighted share"}
BAND_ALPHA = 0.15
AREA_ALPHA = 0.55
HOVER_FORMAT = {"day": "%Y-%m-%d", "week": "week of %Y-%m-%d", "month": "%Y-%m"}  # d3 time formats
SMALL_COLOR = "#9E9E9E"  # points of periods with too few images
SMALL_FILL = "rgba(158,158,158,0.16)"  # the shading behind those periods


# -- helpers ---------------------------------------------------------------------------------------

def period_end(starts: pd.Series | pd.DatetimeIndex, period: str) -> pd.DatetimeIndex:
    """The start of the period after each period start (the exclusive end of that period)."""
    return pd.DatetimeIndex(pd.to_datetime(starts)) + to_offset(PERIOD_FREQ[period])


def label(style: int, name: object) -> str:
    """A style's display name, escaped once with `plots.safe` (plotly renders a subset of HTML in labels)."""
    return safe(name if isinstance(name, str) and name else f"S{int(style)}")


def _selected(shares: pd.DataFrame, styles: Iterable[int] | None) -> pd.DataFrame:
    """Rows of the chosen styles, sorted; `_engagement_total` = the period's engagement over all styles."""
    frame = shares.sort_values(["style", "period"])
    if "engagement" in frame:
        frame = frame.assign(_engagement_total=frame.groupby("period")["engagement"].transform("sum"))
    if styles is not None:
        frame = frame[frame["style"].astype(int).isin({int(s) for s in styles})]
    return frame


def _by_style(frame: pd.DataFrame) -> Iterable[tuple[int, str, pd.DataFrame]]:
    for style, group in frame.groupby("style", sort=True):
        name = group["style_name"].iloc[0] if "style_name" in group else None
        yield int(style), label(int(style), name), group


def _number(value: float) -> str:
    """A count as text: whole numbers without decimals, split-post counts with one (12.5 posts)."""
    value = float(value)
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def _detail(group: pd.DataFrame, value: str, unit: str = "posts") -> np.ndarray:
    """'c of N posts' (or images) / 'engagement e of E' per row, for the hover text."""
    if value == "engagement_share" and "_engagement_total" in group:
        return np.array([f"engagement {_number(e)} of {_number(t)}" for e, t in
                         zip(group["engagement"], group["_engagement_total"])], dtype=object)
    return np.array([f"{_number(c)} of {_number(t)} {unit}" for c, t in zip(group["count"], group["total"])],
                    dtype=object)


def _is_small(group: pd.DataFrame, min_n: int | None) -> np.ndarray:
    """Per row: the period rests on fewer than min_n images (False without a minimum or an `n`)."""
    if not min_n or "n" not in group:
        return np.zeros(len(group), dtype=bool)
    sizes = pd.to_numeric(group["n"], errors="coerce").to_numpy(dtype=float)
    return np.nan_to_num(sizes, nan=np.inf) < float(min_n)


def _n_text(group: pd.DataFrame, min_n: int | None) -> np.ndarray:
    """' (n = 120)' per row, with ' · few images' where the period is small; '' without an `n`."""
    if "n" not in group:
        return np.full(len(group), "", dtype=object)
    small = _is_small(group, min_n)
    return np.array(["" if pd.isna(n) else f" (n = {int(n):,}" + (f", under {int(min_n)}: few images)" if s else ")")
                     for n, s in zip(group["n"], small)], dtype=object)


def small_runs(frame: pd.DataFrame, min_n: int | None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(first, last) period of every run of consecutive periods with fewer than min_n images."""
    if not min_n or frame is None or "n" not in frame or frame.empty:
        return []
    sizes = frame.dropna(subset=["n"]).groupby("period", sort=True)["n"].first()
    small = (sizes < min_n).to_numpy()
    edges = np.diff(np.concatenate([[0], small.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(pd.Timestamp(sizes.index[a]), pd.Timestamp(sizes.index[b])) for a, b in zip(starts, stops)]


def _shade_small(fig: go.Figure, frame: pd.DataFrame, min_n: int | None, period: str) -> None:
    """Grey shading behind the periods with fewer than min_n images, labelled once."""
    for i, (first, last) in enumerate(small_runs(frame, min_n)):
        end = period_end(pd.DatetimeIndex([last]), period)[0]
        fig.add_vrect(x0=first, x1=end, fillcolor=SMALL_FILL, line_width=0, layer="below",
                      annotation_text=f"n < {int(min_n)}" if i == 0 else None,
                      annotation_position="top left", annotation_font_color="#757575")


def value_label(value: str, unit: str = "posts") -> str:
    """'share of images' / 'share of posts' (what the shares count), or the engagement-weighted share."""
    return f"share of {unit}" if value == "share" else VALUE_LABELS.get(value, value)


def _layout(fig: go.Figure, title: str, value: str, period: str, unit: str = "posts") -> go.Figure:
    fig.update_layout(title=title, hovermode="x unified", hoverlabel={"align": "left"},
                      xaxis={"title": period, "hoverformat": HOVER_FORMAT[period]},
                      yaxis={"title": value_label(value, unit), "tickformat": ".0%", "rangemode": "tozero"},
                      legend={"itemsizing": "constant"})
    return fig


# -- share over time -------------------------------------------------------------------------------
def _band_traces(group: pd.DataFrame, style: int, name: str) -> list[go.Scatter]:
    """The upper edge (invisible) and the lower edge filled up to it: a translucent band."""
    common = {"x": group["period"], "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip",
              "legendgroup": str(style), "showlegend": False}
    return [go.Scatter(y=group["upper"], name=f"{name} upper", **common),
            go.Scatter(y=group["lower"], name=f"{name} band", fill="tonexty",
                       fillcolor=_rgba(style_color(style), BAND_ALPHA), **common)]


def share_lines(shares: pd.DataFrame, value: str = "share", styles: Iterable[int] | None = None,
                period: str = "month", level: float = 0.95, title: str | None = None,
                min_n: int | None = None, unit: str = "posts") -> go.Figure:
    """One line per style of `value` over the periods; where the frame has `lower` / `upper` columns
    (trends.binomial_bands / engagement_bands) each line gets its band as a translucent fill.
    Hover: the value with its n, the band and how many posts / images (`unit`; or how much engagement)
    it rests on. With `min_n`, periods with fewer images (n) are shaded and drawn as open grey points."""
    frame = _selected(shares, styles) if shares is not None else None
    if frame is None or frame.empty:
        return _empty(safe(title) if title else "Style shares", "no share series")
    banded = {"lower", "upper"} <= set(frame.columns)
    band_text = f" ({level:.0%} band %{{customdata[2]:.1%}}–%{{customdata[3]:.1%}})" if banded else ""
    fig = go.Figure()
    for style, name, group in _by_style(frame):
        if banded:
            fig.add_traces(_band_traces(group, style, name))
        bounds = (group[["lower", "upper"]].to_numpy(dtype=float) if banded
                  else np.zeros((len(group), 2)))
        custom = np.column_stack([np.full(len(group), name, dtype=object), _detail(group, value, unit), bounds,
                                  _n_text(group, min_n)])
        small = _is_small(group, min_n)
        marker = ({"size": np.where(small, 7, 4).tolist(), "symbol": np.where(small, "circle-open", "circle").tolist(),
                   "color": np.where(small, SMALL_COLOR, style_color(style)).tolist()} if small.any()
                  else {"size": 4})
        fig.add_trace(go.Scatter(
            x=group["period"], y=group[value], mode="lines+markers", name=name, legendgroup=str(style),
            line={"color": style_color(style)}, marker=marker, customdata=custom,
            hovertemplate="%{customdata[0]}: %{y:.1%}%{customdata[4]}" + band_text
                          + " · %{customdata[1]}<extra></extra>"))
    _shade_small(fig, frame, min_n, period)
    heading = safe(title) if title else (f"{value_label(value, unit)} per {period}"
                        + (f", with {level:.0%} confidence bands" if banded else ""))
    return _layout(fig, heading, value, period, unit)


def share_area(shares: pd.DataFrame, value: str = "share", styles: Iterable[int] | None = None,
               period: str = "month", title: str | None = None, min_n: int | None = None,
               unit: str = "posts") -> go.Figure:
    """The styles' shares stacked on top of each other per period (no bands): with every style
    shown, a period with posts fills up to 100 %. Hover with n; periods with fewer than `min_n`
    images are shaded grey."""
    frame = _selected(shares, styles) if shares is not None else None
    if frame is None or frame.empty:
        return _empty(safe(title) if title else "Style shares", "no share series")
    fig = go.Figure()
    for style, name, group in _by_style(frame):
        custom = np.column_stack([np.full(len(group), name, dtype=object), _detail(group, value, unit),
                                  _n_text(group, min_n)])
        fig.add_trace(go.Scatter(
            x=group["period"], y=group[value], mode="lines", name=name, stackgroup="shares", legendgroup=str(style),
            line={"color": style_color(style), "width": 0.5}, fillcolor=_rgba(style_color(style), AREA_ALPHA),
            customdata=custom,
            hovertemplate="%{customdata[0]}: %{y:.1%}%{customdata[2]} · %{customdata[1]}<extra></extra>"))
    _shade_small(fig, frame, min_n, period)
    return _layout(fig, safe(title) if title else f"{value_label(value, unit)} per {period}, stacked", value, period, unit)


# -- lifespans -------------------------------------------------------------------------------------
def _span_custom(spans: pd.DataFrame, name: str, period: str) -> np.ndarray:
    """Hover fields per span: name, start, end, duration, peak share, peak period, 'still above'."""
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    unit = {"day": "day", "week": "week", "month": "month"}[period]
    return np.column_stack([
        np.full(len(spans), name, dtype=object),
        pd.to_datetime(spans["start"]).dt.strftime(fmt).to_numpy(dtype=object),
        pd.to_datetime(spans["end"]).dt.strftime(fmt).to_numpy(dtype=object),
        np.array([f"{int(n)} {unit}{'s' if int(n) != 1 else ''}" for n in spans["periods"]], dtype=object),
        spans["peak_share"].to_numpy(dtype=float),
        pd.to_datetime(spans["peak_period"]).dt.strftime(fmt).to_numpy(dtype=object),
        np.where(spans["ongoing"].to_numpy(dtype=bool), " · still above", "").astype(object),
        np.array(["" if pd.isna(n) else f" (n = {int(n):,})"
                  for n in (spans["peak_n"] if "peak_n" in spans else [np.nan] * len(spans))], dtype=object)])


def _row_keeper(rows: list[str], at: object) -> go.Scatter:
    """An invisible point per row, so styles without any span still get their (empty) row."""
    return go.Scatter(x=[at] * len(rows), y=rows, mode="markers", marker={"opacity": 0}, hoverinfo="skip",
                      showlegend=False, name="rows")


def _span_bars(group: pd.DataFrame, style: int, name: str, period: str) -> go.Bar:
    starts = pd.DatetimeIndex(pd.to_datetime(group["start"]))
    widths = (period_end(group["end"], period) - starts).total_seconds() * 1000.0  # ms on a date axis
    return go.Bar(
        y=[name] * len(group), base=starts.strftime("%Y-%m-%d").tolist(), x=np.asarray(widths, dtype=float),
        orientation="h", name=name, legendgroup=str(style), showlegend=False,
        marker={"color": style_color(style)}, customdata=_span_custom(group, name, period),
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]} – %{customdata[2]} (%{customdata[3]})"
                      "%{customdata[6]}<br>peak %{customdata[4]:.1%}%{customdata[7]} in %{customdata[5]}<extra></extra>")


def lifespan_chart(spans: pd.DataFrame, period: str = "month", threshold: float | None = None,
                   names: Mapping[int, str] | None = None, extent: tuple[object, object] | None = None,
                   value: str = "share") -> go.Figure:
    """Gantt-like chart of trends.lifespans: one row per style (`names` lists every style to show, in
    order, also those that never rise above the threshold), one bar per span from the start of its first
    period to the end of its last; `extent` (first, last period) fixes the time axis to the whole series.
    Hover: start, end, duration and peak share."""
    noun = VALUE_LABELS.get(value, value)
    fig = go.Figure()
    rows = [label(s, n) for s, n in (names or {}).items()]
    if rows and extent is not None:
        fig.add_trace(_row_keeper(rows, pd.Timestamp(extent[0])))
    has_spans = spans is not None and not spans.empty
    for style, name, group in _by_style(spans) if has_spans else []:
        fig.add_trace(_span_bars(group, style, name, period))
    if not has_spans:
        message = f"no style's {noun} rises above {threshold:.0%}" if threshold is not None else "no spans"
        fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    xaxis: dict = {"type": "date", "title": period}
    if extent is not None:
        xaxis["range"] = [pd.Timestamp(extent[0]), period_end(pd.DatetimeIndex([extent[1]]), period)[0]]
    yaxis: dict = {"autorange": "reversed", "title": None, "type": "category"}
    if rows:
        yaxis.update(categoryorder="array", categoryarray=rows)
    n_rows = max(len(rows), spans["style"].nunique() if has_spans else 0)
    heading = f"Style lifespans: spans with {noun} above {threshold:.0%}" if threshold is not None \
        else "Style lifespans"
    fig.update_layout(title=heading, barmode="overlay", xaxis=xaxis, yaxis=yaxis, hovermode="closest",
                      height=max(260, 90 + 32 * n_rows))
    return fig
