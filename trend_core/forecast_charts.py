"""Plotly figures of the Forecast page beyond plots.forecast_chart: loss curves (live, per fold), the
modality ablation and the long form that lets imported series use the style forecast chart.
Pure functions, no streamlit."""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from trend_core.plots import LEFT_OUT_COLOR, PALETTE, _empty

LOWER_IS_BETTER = ("mae", "wape", "mase")


def loss_curves(history: pd.DataFrame | list[dict], title: str = "Loss per epoch") -> go.Figure:
    """Training and validation loss per epoch; one pair of lines per fold when rows carry a fold.
    Accepts the rows as they arrive during training (a list of dicts) or a finished history."""
    frame = pd.DataFrame(history)
    if frame.empty or "epoch" not in frame:
        return _empty(title, "no epochs yet")
    if "fold" not in frame:
        frame["fold"] = 1
    folds = sorted(frame["fold"].unique())
    fig = go.Figure()
    for i, fold in enumerate(folds):
        part = frame[frame["fold"] == fold]
        suffix = f" · fold {fold}" if len(folds) > 1 else ""
        last = i == len(folds) - 1
        for column, color, label, dash in (("train_loss", PALETTE[0], "train", "solid"),
                                           ("val_loss", PALETTE[1], "validation", "dash")):
            if column in part and part[column].notna().any():
                fig.add_trace(go.Scatter(x=part["epoch"], y=part[column], mode="lines+markers",
                                         name=label + suffix, line={"color": color, "dash": dash},
                                         marker={"size": 4}, opacity=1.0 if last else 0.35))
    fig.update_layout(title=title, xaxis={"title": "epoch"}, yaxis={"title": "loss"}, hovermode="x unified")
    return fig


def ablation_chart(table: pd.DataFrame, metric: str = "mase") -> go.Figure:
    """The neural model's metric for every input subset (bars) with each baseline on the same split
    as a dotted line, like the original notes' modality ablation tables."""
    if table is None or table.empty or metric not in table:
        return _empty("Modality ablation", "no ablation yet")
    neural = table[table["inputs"] != "(baseline)"]
    base = table[(table["inputs"] == "(baseline)") & table[metric].notna()]
    best = neural[metric].min() if metric in LOWER_IS_BETTER else neural[metric].max()
    colors = [PALETTE[1] if v == best else LEFT_OUT_COLOR for v in neural[metric]]
    fig = go.Figure(go.Bar(x=neural["inputs"].astype(str), y=neural[metric], marker_color=colors,
                           name=str(neural["model"].iloc[0]) if len(neural) else "model",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    for i, row in enumerate(base.itertuples(index=False)):
        value = float(getattr(row, metric))
        fig.add_hline(y=value, line={"dash": "dot", "color": PALETTE[(i + 2) % len(PALETTE)]},
                      annotation_text=html.escape(f"{row.model} {value:.3f}"), annotation_position="top left")
    better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    fig.update_layout(title=f"Modality ablation: {metric} ({better}; dotted: baselines, same split)",
                      xaxis={"title": "inputs"}, yaxis={"title": metric})
    return fig


def wide_to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """Imported series (dates x series) as the style share table forecast_chart draws: period,
    style (position), style_name (the series name), share."""
    if wide is None or wide.empty:
        return pd.DataFrame(columns=["period", "style", "style_name", "share"])
    names = [str(c) for c in wide.columns]
    frame = wide.copy()
    frame.columns = range(len(names))
    long = frame.rename_axis("period").reset_index().melt(id_vars="period", var_name="style", value_name="share")
    long["style"] = long["style"].astype(int)
    long["style_name"] = long["style"].map(dict(enumerate(names)))
    return long[["period", "style", "style_name", "share"]]
