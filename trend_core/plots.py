"""Pure chart functions: pandas frames in, plotly Figures out. Pages only call these.

No streamlit import here; every function works on plain frames so it can be used from a notebook and
tested on tiny inputs. Every user-supplied string (style names, author ids, post text, selection and
series names) goes through `safe` exactly once before it becomes a trace name, legend entry, axis or tick
text, title, annotation or hover customdata: plotly renders a subset of HTML (<a href>, <b style>, ...)
in all of those, and shows '&lt;' as '<', so escaping once shows the text as written.
"""
from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE: list[str] = list(qualitative.Plotly) + list(qualitative.D3) + list(qualitative.Dark24)
LEFT_OUT_COLOR = "#B0B0B0"
HOVER_TEXT_CHARS = 80


# -- helpers ---------------------------------------------------------------------------------------
def image_data_uri(blob: bytes) -> str:
    """data:image/webp|png|jpeg;base64,... for an image's bytes (the type read from its first bytes)."""
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        mime = "image/webp"
    elif blob[:8] == b"\x89PNG\r\n\x1a\n":
        mime = "image/png"
    else:
        mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(blob).decode("ascii")


def style_color(style: int) -> str:
    """A stable colour per style number (the same style has the same colour on every chart)."""
    if style is None or int(style) < 0:
        return LEFT_OUT_COLOR
    return PALETTE[int(style) % len(PALETTE)]


def _rgba(color: str, alpha: float) -> str:
    """'#RRGGBB' -> 'rgba(r,g,b,a)' (for translucent bands)."""
    if color.startswith("#") and len(color) == 7:
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r},{g},{b},{alpha})"
    return color


def safe(text: object) -> str:
    """A user string made inert for plotly's pseudo-HTML (names, legends, axes, titles, hovers).

    Escapes &, < and > only: plotly decodes &amp; &lt; &gt; and numeric entities, but shows &quot;
    literally, and quotes cannot open a tag once '<' is escaped. Apply once, to the raw string."""
    return html.escape("" if text is None else str(text), quote=False)


def _template_text(text: object) -> str:
    """`safe` text written into a hovertemplate itself: '%{' is also neutralised (plotly would read
    it as a field; '&#123;' renders as '{' after the substitution)."""
    return safe(text).replace("%{", "%&#123;")


def escape_snippet(text: object, limit: int = HOVER_TEXT_CHARS) -> str:
    """Post text made safe for a plotly hover label: shortened, HTML-escaped, one line."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    return safe(value)


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": message, "showarrow": False, "xref": "paper",
                                    "yref": "paper", "x": 0.5, "y": 0.5}])
    return fig


def _style_label(style: int, name: object) -> str:
    return str(name) if isinstance(name, str) and name else f"S{int(style)}"


# -- styles: K sweep -------------------------------------------------------------------------------
SECOND_INDEX = {"calinski_harabasz": "Calinski-Harabasz (higher is better)",
                "davies_bouldin": "Davies-Bouldin (lower is better)"}


def silhouette_curve(sweep: pd.DataFrame, k: int | None = None, auto_k: int | None = None,
                     second: str = "davies_bouldin") -> go.Figure:
    """Silhouette over K (one marker per K tried) with a +-1 std band, a second index on a second
    y axis, and the K in use / the automatically chosen K marked."""
    if sweep is None or sweep.empty:
        return _empty("Silhouette over K", "no K sweep for these settings")
    sweep = sweep.sort_values("k")
    ks = sweep["k"].astype(int).to_numpy()
    sil = sweep["silhouette"].astype(float).to_numpy()
    std = sweep["silhouette_std"].astype(float).fillna(0.0).to_numpy() if "silhouette_std" in sweep else np.zeros_like(sil)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ks, y=sil + std, mode="lines", line={"width": 0}, hoverinfo="skip",
                             showlegend=False, name="silhouette +1 std"))
    fig.add_trace(go.Scatter(x=ks, y=sil - std, mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(99,110,250,0.18)", hoverinfo="skip",
                             name="±1 std (repeats)"))
    seconds = sweep["seconds"].astype(float).fillna(0.0).to_numpy() if "seconds" in sweep else np.zeros_like(sil)
    fig.add_trace(go.Scatter(x=ks, y=sil, mode="lines+markers", name="silhouette",
                             line={"color": PALETTE[0]}, marker={"size": 7 if len(ks) <= 60 else 4},
                             customdata=np.stack([std, seconds], axis=-1),
                             hovertemplate="K=%{x}<br>silhouette %{y:.3f} ± %{customdata[0]:.3f}"
                                           "<br>%{customdata[1]:.2f} s<extra></extra>"))
    if second in sweep.columns and sweep[second].notna().any():
        fig.add_trace(go.Scatter(x=ks, y=sweep[second].astype(float), mode="lines+markers",
                                 name=SECOND_INDEX.get(second, second), yaxis="y2",
                                 line={"color": PALETTE[1], "dash": "dot"}, marker={"size": 5, "symbol": "square"},
                                 hovertemplate="K=%{x}<br>" + second + " %{y:.3f}<extra></extra>"))
        fig.update_layout(yaxis2={"title": SECOND_INDEX.get(second, second), "overlaying": "y",
                                  "side": "right", "showgrid": False})
    lookup = dict(zip(ks, sil))
    if auto_k is not None and int(auto_k) in lookup:
        fig.add_trace(go.Scatter(x=[int(auto_k)], y=[lookup[int(auto_k)]], mode="markers",
                                 name=f"auto K = {int(auto_k)} (best silhouette)",
                                 marker={"symbol": "star", "size": 16, "color": "#FFA15A",
                                         "line": {"width": 1, "color": "black"}},
                                 hovertemplate="auto K=%{x}<extra></extra>"))
    if k is not None:
        fig.add_vline(x=int(k), line_dash="dash", line_color="#EF553B",
                      annotation_text=f"K in use = {int(k)}", annotation_position="top right")
        if int(k) in lookup:
            fig.add_trace(go.Scatter(x=[int(k)], y=[lookup[int(k)]], mode="markers", name=f"K in use = {int(k)}",
                                     marker={"symbol": "circle-open", "size": 18, "color": "#EF553B",
                                             "line": {"width": 3}},
                                     hovertemplate="K in use=%{x}<extra></extra>"))
    span = int(ks.max() - ks.min()) if len(ks) else 0
    fig.update_layout(title="Silhouette over K",
                      xaxis={"title": "K (number of styles)", "dtick": 1 if span <= 30 else None},
                      yaxis={"title": "silhouette (higher is better)"}, hovermode="closest",
                      legend={"orientation": "h", "y": -0.2}, margin={"r": 80})
    return fig


def sweep_seconds(sweep: pd.DataFrame, k: int | None = None) -> go.Figure:
    """Seconds each K of the sweep took (K-means fit + scores on every sample), the K in use marked."""
    if sweep is None or sweep.empty or "seconds" not in sweep:
        return _empty("Time per K", "no K sweep for these settings")
    sweep = sweep.sort_values("k")
    ks = sweep["k"].astype(int).to_numpy()
    colors = [PALETTE[1] if k is not None and int(x) == int(k) else PALETTE[0] for x in ks]
    fig = go.Figure(go.Bar(x=ks, y=sweep["seconds"].astype(float), marker_color=colors, name="seconds",
                           hovertemplate="K=%{x}: %{y:.2f} s<extra></extra>"))
    fig.update_layout(title=f"Time per K (total {float(sweep['seconds'].sum()):.1f} s)",
                      xaxis={"title": "K"}, yaxis={"title": "seconds"}, height=240, bargap=0.1,
                      margin={"t": 40, "b": 40})
    return fig


# -- map -------------------------------------------------------------------------------------------
MAP_CUSTOMDATA = ("post_id", "style", "snippet", "date", "likes")


def style_map(posts: pd.DataFrame, thumbnails: Mapping[str, bytes] | None = None,
              max_thumbnails: int = 120, thumb_size: float | None = None) -> go.Figure:
    """UMAP scatter, one WebGL trace per style (legend toggles a style).

    Hover shows the style, date, likes and the escaped post title/text; each point carries
    customdata = (post_id, style, snippet, date, likes) so a selection (click, box, lasso) can be
    resolved to posts and shown with thumbnails outside the chart. `thumbnails` (post_id ->
    JPEG bytes) places those images on the map itself at their posts' positions.
    """
    if posts is None or posts.empty or "x" not in posts:
        return _empty("Style map", "no map for these settings")
    placed = posts[posts["x"].notna() & posts["y"].notna()]
    if placed.empty:
        return _empty("Style map", "no posts were placed on the map")
    fig = go.Figure()
    for style, group in placed.groupby("style", sort=True):
        name = _style_label(style, group["style_name"].iloc[0] if "style_name" in group else None)
        title = group["title"] if "title" in group else pd.Series("", index=group.index)
        content = group["content"] if "content" in group else pd.Series("", index=group.index)
        snippet = [escape_snippet(f"{t or ''} — {c or ''}" if (t and c) else (t or c or ""))
                   for t, c in zip(title.fillna(""), content.fillna(""))]
        dates = (pd.to_datetime(group["post_date"]).dt.strftime("%Y-%m-%d") if "post_date" in group
                 else pd.Series("", index=group.index))
        likes = group["likes"].fillna(0).astype(int) if "likes" in group else pd.Series(0, index=group.index)
        custom = np.empty((len(group), len(MAP_CUSTOMDATA)), dtype=object)
        custom[:, 0] = group["post_id"].astype(str).to_numpy()
        custom[:, 1] = safe(name)
        custom[:, 2] = snippet
        custom[:, 3] = dates.to_numpy()
        custom[:, 4] = likes.to_numpy()
        fig.add_trace(go.Scattergl(
            x=group["x"].to_numpy(dtype=float), y=group["y"].to_numpy(dtype=float), mode="markers",
            name=safe(name), customdata=custom, marker={"size": 6, "color": style_color(int(style)), "opacity": 0.8},
            hovertemplate="<b>%{customdata[1]}</b> · %{customdata[3]} · ♥ %{customdata[4]}<br>"
                          "%{customdata[2]}<br><i>click / box / lasso to see thumbnails</i><extra></extra>"))
    if thumbnails:
        span_x = float(placed["x"].max() - placed["x"].min()) or 1.0
        span_y = float(placed["y"].max() - placed["y"].min()) or 1.0
        size = thumb_size or 0.06 * max(span_x, span_y)
        where = placed.set_index(placed["post_id"].astype(str))
        images = []
        for post_id, blob in list(thumbnails.items())[:max_thumbnails]:
            if post_id not in where.index or not blob:
                continue
            row = where.loc[post_id]
            if isinstance(row, pd.DataFrame):
                row = row.iloc[0]
            images.append({"source": image_data_uri(blob),
                           "xref": "x", "yref": "y", "x": float(row["x"]), "y": float(row["y"]),
                           "sizex": size, "sizey": size, "xanchor": "center", "yanchor": "middle",
                           "layer": "above", "opacity": 0.95})
        fig.update_layout(images=images)
    fig.update_layout(title="Style map (UMAP of fused image + text features)", clickmode="event+select",
                      xaxis={"title": "UMAP 1", "zeroline": False}, yaxis={"title": "UMAP 2", "zeroline": False},
                      hovermode="closest", legend={"itemsizing": "constant"}, height=620,
                      hoverlabel={"align": "left"})
    return fig


def map_thumbnail_posts(posts: pd.DataFrame, exemplars: Mapping[int, Sequence[str]] | None = None,
                        per_style: int = 3, styles: Iterable[int] | None = None) -> list[str]:
    """post_ids whose thumbnails are drawn on the map: per style its best exemplar, then posts spread
    over the style's region (greedy farthest point on the map coordinates), so pictures do not pile
    up at the cluster centre and show how a style varies across its area."""
    placed = posts[posts["x"].notna() & posts["y"].notna() & posts["image_hash"].notna() & (posts["style"] >= 0)]
    if styles is not None:
        placed = placed[placed["style"].isin([int(s) for s in styles])]
    chosen: list[str] = []
    for style, group in placed.groupby("style", sort=True):
        ids = group["post_id"].astype(str).to_numpy()
        xy = group[["x", "y"]].to_numpy(dtype=float)
        firsts = [p for p in map(str, (exemplars or {}).get(int(style), [])) if p in set(ids)]
        start = int(np.flatnonzero(ids == firsts[0])[0]) if firsts else int(
            np.argmin(((xy - xy.mean(axis=0)) ** 2).sum(axis=1)))
        picked = [start]
        dist = ((xy - xy[start]) ** 2).sum(axis=1)
        while len(picked) < min(per_style, len(ids)):
            nxt = int(np.argmax(dist))
            if dist[nxt] <= 0:
                break
            picked.append(nxt)
            dist = np.minimum(dist, ((xy - xy[nxt]) ** 2).sum(axis=1))
        chosen.extend(ids[i] for i in picked)
    return chosen


def selected_post_ids(selection: Mapping | None) -> list[str]:
    """post_ids of the points in a Streamlit plotly selection event (customdata[0])."""
    if not selection:
        return []
    sel = selection.get("selection", selection)
    points = sel.get("points", []) if hasattr(sel, "get") else []
    ids: list[str] = []
    for point in points or []:
        data = point.get("customdata") if hasattr(point, "get") else None
        if isinstance(data, (list, tuple)) and data:
            ids.append(str(data[0]))
        elif isinstance(data, str):
            ids.append(data)
    return list(dict.fromkeys(ids))


# -- trends ----------------------------------------------------------------------------------------
VALUE_LABELS = {"share": "share of posts", "engagement_share": "engagement-weighted share",
                "count": "posts", "engagement": "engagement (likes + collects + comments)"}


def share_lines(shares: pd.DataFrame, value: str = "share", styles: Iterable[int] | None = None,
                title: str | None = None) -> go.Figure:
    """One line per style over the periods of a long share table."""
    if shares is None or shares.empty:
        return _empty(safe(title) if title else "Style shares", "no share series")
    frame = shares
    if styles is not None:
        wanted = {int(s) for s in styles}
        frame = frame[frame["style"].astype(int).isin(wanted)]
    fig = go.Figure()
    is_share = value in ("share", "engagement_share")
    for style, group in frame.sort_values("period").groupby("style", sort=True):
        name = _style_label(style, group["style_name"].iloc[0] if "style_name" in group else None)
        fig.add_trace(go.Scatter(
            x=group["period"], y=group[value], mode="lines+markers", name=safe(name),
            line={"color": style_color(int(style))}, marker={"size": 4},
            hovertemplate=_template_text(name) + "<br>%{x|%Y-%m-%d}: %{y" + (":.1%" if is_share else ":,.0f")
                          + "}<extra></extra>"))
    fig.update_layout(title=safe(title) if title else f"{VALUE_LABELS.get(value, value)} per period",
                      xaxis={"title": "period"}, yaxis={"title": VALUE_LABELS.get(value, value),
                                                        "tickformat": ".0%" if is_share else ","},
                      hovermode="x unified", legend={"itemsizing": "constant"})
    return fig


def posts_per_period(posts: pd.DataFrame, period: str = "month") -> go.Figure:
    """Bar chart of how many posts fall in each period (the data-quality view); a post with several
    images (rows sharing `post`) counts once."""
    if posts is None or posts.empty:
        return _empty("Posts per period", "no posts")
    freq = {"day": "D", "week": "W-MON", "month": "MS"}[period]
    if "post" in posts:
        posts = posts.drop_duplicates("post")
    dates = pd.to_datetime(posts["post_date"]).dropna()
    counts = dates.dt.to_period({"day": "D", "week": "W", "month": "M"}[period]).dt.start_time.value_counts().sort_index()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=freq) if period != "week" else counts.index
    counts = counts.reindex(full, fill_value=0) if period != "week" else counts
    fig = go.Figure(go.Bar(x=counts.index, y=counts.to_numpy(), name="posts", marker_color=PALETTE[0],
                           hovertemplate="%{x|%Y-%m-%d}: %{y} posts<extra></extra>"))
    fig.update_layout(title=f"Posts per {period}", xaxis={"title": period}, yaxis={"title": "posts"},
                      bargap=0.1)
    return fig


def top_gallery(posts: pd.DataFrame, top: pd.DataFrame, exemplars: Mapping[int, Sequence[str]] | None = None,
                per_style: int = 3, period: str = "month") -> pd.DataFrame:
    """For each (period, rank, style) of a top-styles table, the posts to show as that style's
    pictures in that period: the style's global exemplars posted in the period first, then its most
    engaged posts of the period. Returns period, rank, style, style_name, share, post_ids (list),
    image_hashes (list)."""
    columns = ["period", "rank", "style", "style_name", "share", "post_ids", "image_hashes"]
    if top is None or top.empty or posts is None or posts.empty:
        return pd.DataFrame(columns=columns)
    frame = posts[(posts["style"] >= 0) & posts["image_hash"].notna()].copy()
    to_period = {"day": "D", "week": "W", "month": "M"}[period]
    frame["_period"] = pd.to_datetime(frame["post_date"]).dt.to_period(to_period).dt.start_time
    frame["_engagement"] = frame[["likes", "collects", "comments"]].fillna(0).sum(axis=1)
    groups = {key: g for key, g in frame.groupby(["_period", "style"], sort=False)}
    rows = []
    for rec in top.sort_values(["period", "rank"]).itertuples(index=False):
        start = pd.Timestamp(rec.period)
        group = groups.get((start, int(rec.style)))
        ids: list[str] = []
        hashes: list[str] = []
        if group is not None:
            wanted = set(map(str, (exemplars or {}).get(int(rec.style), [])))
            order = group.assign(_ex=group["post_id"].astype(str).isin(wanted)).sort_values(
                ["_ex", "_engagement", "post_id"], ascending=[False, False, True])
            chosen = order.head(per_style)
            ids = chosen["post_id"].astype(str).tolist()
            hashes = chosen["image_hash"].astype(str).tolist()
        rows.append({"period": start, "rank": int(rec.rank), "style": int(rec.style),
                     "style_name": getattr(rec, "style_name", f"S{int(rec.style)}"),
                     "share": float(rec.share), "post_ids": ids, "image_hashes": hashes})
    return pd.DataFrame(rows, columns=columns)


# -- forecasting -----------------------------------------------------------------------------------
def loss_curve(history: pd.DataFrame) -> go.Figure:
    """Training and validation loss per epoch."""
    if history is None or history.empty:
        return _empty("Training loss", "no training history")
    fig = go.Figure()
    for column, color, label in (("train_loss", PALETTE[0], "train"), ("val_loss", PALETTE[1], "validation")):
        if column in history and history[column].notna().any():
            fig.add_trace(go.Scatter(x=history["epoch"], y=history[column], mode="lines+markers", name=label,
                                     line={"color": color}, marker={"size": 4}))
    fig.update_layout(title="LSTM loss per epoch", xaxis={"title": "epoch"}, yaxis={"title": "loss"},
                      hovermode="x unified")
    return fig


def _series_mask(frame: pd.DataFrame, style: int, name: str | None) -> pd.Series:
    """Rows of a forecasts frame that belong to a style; 'series' may hold the style number or name."""
    series = frame["series"].astype(str)
    keys = {str(style), f"S{style}", f"style_{style}", f"style {style}"}
    if name:
        keys.add(str(name))
    return series.isin(keys)


def forecast_chart(shares: pd.DataFrame, forecasts: pd.DataFrame, styles: Iterable[int],
                   model: str | None = "lstm", value: str = "share",
                   test_predictions: pd.DataFrame | None = None, history_periods: int | None = None) -> go.Figure:
    """History (solid) and forecast (dashed) per selected style, with the forecast interval as a
    band; optional held-out test predictions (dotted) to show how the model did on known periods.
    history_periods keeps only the last periods of history; shares and their bands are drawn within
    [0, 1] (an interval wider than that says nothing beyond 'anything is possible')."""
    styles = [int(s) for s in styles]
    if shares is None or shares.empty or not styles:
        return _empty("Forecast", "pick a style to plot")
    if history_periods:
        keep = sorted(shares["period"].unique())[-int(history_periods):]
        shares = shares[shares["period"].isin(keep)]
    is_share = value.endswith("share")
    fig = go.Figure()
    names = (shares.drop_duplicates("style").set_index("style")["style_name"].to_dict()
             if "style_name" in shares else {})
    fc = forecasts if forecasts is not None else pd.DataFrame(columns=["series", "model"])
    if model is not None and "model" in fc and (fc["model"] == model).any():
        fc = fc[fc["model"] == model]
    for style in styles:
        raw = _style_label(style, names.get(style))
        name = safe(raw)  # escaped once; the legend names below are built from it
        color = style_color(style)
        hist = shares[shares["style"].astype(int) == style].sort_values("period")
        fig.add_trace(go.Scatter(x=hist["period"], y=hist[value], mode="lines", name=f"{name} · history",
                                 legendgroup=str(style), line={"color": color}))
        mine = fc[_series_mask(fc, style, names.get(style))].sort_values("step") if not fc.empty else fc
        if test_predictions is not None and not test_predictions.empty:
            tp = test_predictions[_series_mask(test_predictions, style, names.get(style))]
            if model is not None and "model" in tp:
                tp = tp[tp["model"] == model]
            if not tp.empty:
                tp = tp.groupby("period", as_index=False)["predicted"].mean().sort_values("period")
                fig.add_trace(go.Scatter(x=tp["period"], y=tp["predicted"], mode="lines", legendgroup=str(style),
                                         name=f"{name} · test predictions", line={"color": color, "dash": "dot"},
                                         opacity=0.7))
        if mine.empty:
            continue
        if {"lower", "upper"} <= set(mine.columns) and mine["lower"].notna().any():
            upper, lower = mine["upper"].astype(float), mine["lower"].astype(float)
            if is_share:
                upper, lower = upper.clip(0.0, 1.0), lower.clip(0.0, 1.0)
            fig.add_trace(go.Scatter(x=mine["period"], y=upper, mode="lines", line={"width": 0},
                                     legendgroup=str(style), showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=mine["period"], y=lower, mode="lines", line={"width": 0},
                                     fill="tonexty", fillcolor=_rgba(color, 0.2), legendgroup=str(style),
                                     name=f"{name} · interval"))
        # connect the last observed period to the first forecast
        x = list(mine["period"])
        y = list(mine["point"])
        if not hist.empty:
            x = [hist["period"].iloc[-1]] + x
            y = [float(hist[value].iloc[-1])] + y
        hover = "%{x|%Y-%m-%d}: %{y:.1%}" if is_share else "%{x|%Y-%m-%d}: %{y:.3g}"
        custom = None
        if "p_hot" in mine:
            custom = [None] + list(mine["p_hot"]) if not hist.empty else list(mine["p_hot"])
            hover += "<br>P(hot) %{customdata:.0%}"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{name} · forecast",
                                 legendgroup=str(style), line={"color": color, "dash": "dash"},
                                 marker={"size": 6}, customdata=custom,
                                 hovertemplate=hover + "<extra>" + _template_text(raw) + "</extra>"))
    fig.update_layout(title="History and forecast", xaxis={"title": "period"},
                      yaxis={"title": VALUE_LABELS.get(value, value), "tickformat": ".0%" if is_share else ",",
                             "rangemode": "tozero"},
                      hovermode="closest", legend={"itemsizing": "constant"})
    return fig


def metrics_bars(metrics: pd.DataFrame, metric: str = "wape", highlight: str = "lstm") -> go.Figure:
    """One bar per model for one metric, the LSTM highlighted, so skill is read against baselines."""
    if metrics is None or metrics.empty or metric not in metrics:
        return _empty(metric, "no metrics")
    frame = metrics[metrics[metric].notna()]
    colors = [PALETTE[1] if m == highlight else LEFT_OUT_COLOR for m in frame["model"]]
    fig = go.Figure(go.Bar(x=[safe(m) for m in frame["model"]], y=frame[metric], marker_color=colors,
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=f"{metric} by model (same test split)", xaxis={"title": "model"},
                      yaxis={"title": metric})
    return fig


def clothing_ratio_histogram(ratios: Sequence[float], threshold: float) -> go.Figure:
    """Histogram of clothing-area ratios with the exclusion threshold marked (images left of it are
    left out of style fitting)."""
    values = np.asarray(list(ratios), dtype=float)
    if values.size == 0:
        return _empty("Clothing area per image", "no images segmented with this segmenter yet")
    below = int((values < threshold).sum())
    fig = go.Figure(go.Histogram(x=values, xbins=dict(start=0.0, end=1.0, size=0.02), name="images",
                                 marker_color=PALETTE[0]))
    fig.add_vline(x=threshold, line_dash="dash", line_color="#C0392B",
                  annotation_text=f"threshold {threshold:.0%}: {below} left out", annotation_position="top right")
    fig.update_layout(title="Clothing area per image", xaxis_title="share of the image that is clothing",
                      yaxis_title="images", xaxis_tickformat=".0%", bargap=0.05, height=320,
                      margin=dict(l=40, r=20, t=50, b=40))
    return fig
