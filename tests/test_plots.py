"""Each chart function returns a Figure with the expected traces and points on small frames."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from trend_core import plots


@pytest.fixture
def sweep() -> pd.DataFrame:
    ks = np.arange(2, 9)
    return pd.DataFrame({"k": ks, "silhouette": [0.2, 0.3, 0.45, 0.4, 0.35, 0.3, 0.28],
                         "silhouette_std": [0.01] * 7, "calinski_harabasz": np.linspace(100, 50, 7),
                         "davies_bouldin": np.linspace(1.5, 0.9, 7), "seconds": [0.1] * 7})


@pytest.fixture
def posts() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    dates = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    style = np.repeat([0, 1, 2], n // 3)
    style[:3] = -1
    frame = pd.DataFrame({
        "post_id": [f"p{i:03d}" for i in range(n)], "title": ["<b>标题</b>"] * n,
        "content": ["今天穿搭 <script>alert(1)</script> 超好看"] * n, "post_date": dates,
        "likes": rng.integers(0, 100, n), "collects": rng.integers(0, 50, n), "comments": rng.integers(0, 10, n),
        "image_hash": [f"h{i}" for i in range(n)], "style": style,
        "style_name": [f"S{s} 名" if s >= 0 else "left out" for s in style],
        "x": rng.normal(size=n), "y": rng.normal(size=n)})
    frame.loc[frame["style"] < 0, ["x", "y"]] = np.nan
    return frame


def _shares(posts: pd.DataFrame) -> pd.DataFrame:
    kept = posts[posts["style"] >= 0].copy()
    kept["period"] = kept["post_date"].dt.to_period("M").dt.start_time
    counts = kept.groupby(["period", "style", "style_name"]).size().rename("count").reset_index()
    counts["total"] = counts.groupby("period")["count"].transform("sum")
    counts["share"] = counts["count"] / counts["total"]
    counts["engagement"] = counts["count"] * 10.0
    counts["engagement_share"] = counts["share"]
    return counts


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format="JPEG")
    return buf.getvalue()


def test_silhouette_curve_has_one_point_per_k(sweep):
    fig = plots.silhouette_curve(sweep, k=5, auto_k=4)
    assert isinstance(fig, go.Figure)
    sil = [t for t in fig.data if t.name == "silhouette"]
    assert len(sil) == 1 and list(sil[0].x) == list(range(2, 9))
    assert len(sil[0].y) == len(sweep)
    band = [t for t in fig.data if t.fill == "tonexty"]
    assert band and np.allclose(band[0].y, sweep["silhouette"] - sweep["silhouette_std"])
    second = [t for t in fig.data if t.yaxis == "y2"]
    assert len(second) == 1 and len(second[0].x) == len(sweep)
    assert fig.layout.yaxis2.overlaying == "y"
    names = " ".join(t.name or "" for t in fig.data)
    assert "auto K = 4" in names and "K in use = 5" in names
    assert any(shape.x0 == 5 for shape in fig.layout.shapes)


def test_silhouette_hover_shows_seconds_and_time_per_k_bars(sweep):
    fig = plots.silhouette_curve(sweep, k=5)
    sil = [t for t in fig.data if t.name == "silhouette"][0]
    assert np.allclose(np.asarray(sil.customdata)[:, 1], sweep.sort_values("k")["seconds"])
    assert "s<extra>" in sil.hovertemplate and fig.layout.xaxis.dtick == 1
    bars = plots.sweep_seconds(sweep, k=5)
    assert list(bars.data[0].x) == list(range(2, 9)) and np.allclose(bars.data[0].y, sweep["seconds"])
    assert bars.data[0].marker.color[3] != bars.data[0].marker.color[0]  # K = 5 stands out
    assert f"{sweep['seconds'].sum():.1f} s" in bars.layout.title.text
    wide = pd.DataFrame({"k": range(2, 101), "silhouette": 0.5, "silhouette_std": 0.01, "seconds": 0.1})
    assert plots.silhouette_curve(wide).layout.xaxis.dtick is None  # 99 K: no tick per K


def test_silhouette_curve_empty_sweep():
    fig = plots.silhouette_curve(pd.DataFrame(columns=["k", "silhouette", "silhouette_std"]))
    assert isinstance(fig, go.Figure) and len(fig.data) == 0


def test_style_map_one_webgl_trace_per_style_with_escaped_hover(posts):
    fig = plots.style_map(posts)
    assert len(fig.data) == 3 and all(isinstance(t, go.Scattergl) for t in fig.data)
    assert sum(len(t.x) for t in fig.data) == int((posts["style"] >= 0).sum())
    custom = fig.data[0].customdata
    assert custom[0][0].startswith("p")
    snippet = custom[0][2]
    assert "<script>" not in snippet and "&lt;script&gt;" in snippet
    assert "customdata[2]" in fig.data[0].hovertemplate


def test_style_map_places_thumbnails(posts):
    jpeg = _tiny_jpeg()
    ids = posts.loc[posts["style"] >= 0, "post_id"].head(4).tolist()
    fig = plots.style_map(posts, thumbnails={pid: jpeg for pid in ids} | {"p000": jpeg})
    assert len(fig.layout.images) == 4  # p000 is left out (no map position)
    assert fig.layout.images[0].source.startswith("data:image/jpeg;base64,")


def test_selected_post_ids_reads_customdata():
    event = {"selection": {"points": [{"customdata": ["p1", "S0"]}, {"customdata": ["p2", "S1"]},
                                      {"customdata": ["p1", "S0"]}, {"x": 1}], "point_indices": [0, 1]}}
    assert plots.selected_post_ids(event) == ["p1", "p2"]
    assert plots.selected_post_ids(None) == []


def test_share_lines_one_line_per_style(posts):
    shares = _shares(posts)
    fig = plots.share_lines(shares)
    assert len(fig.data) == 3
    assert all(len(t.x) == shares["period"].nunique() or len(t.x) <= shares["period"].nunique() for t in fig.data)
    fig2 = plots.share_lines(shares, styles=[1])
    assert len(fig2.data) == 1 and fig2.data[0].name == "S1 名"


def test_posts_per_period_counts_everything(posts):
    fig = plots.posts_per_period(posts, "month")
    assert len(fig.data) == 1 and int(sum(fig.data[0].y)) == len(posts)
    assert len(fig.data[0].x) == posts["post_date"].dt.to_period("M").nunique()
    week = plots.posts_per_period(posts, "week")
    assert int(sum(week.data[0].y)) == len(posts)


def test_top_gallery_prefers_exemplars(posts):
    shares = _shares(posts)
    top = (shares.sort_values(["period", "share"], ascending=[True, False])
           .assign(rank=lambda d: d.groupby("period").cumcount() + 1))
    top = top[top["rank"] <= 2][["period", "rank", "style", "style_name", "share"]]
    first = top.iloc[0]
    month_posts = posts[(posts["style"] == first["style"])
                        & (posts["post_date"].dt.to_period("M").dt.start_time == first["period"])]
    exemplar = month_posts["post_id"].iloc[-1]
    gallery = plots.top_gallery(posts, top, {int(first["style"]): [exemplar]}, per_style=2)
    assert len(gallery) == len(top)
    assert gallery.iloc[0]["post_ids"][0] == exemplar
    assert all(len(ids) <= 2 for ids in gallery["post_ids"])
    assert all(len(ids) == len(h) for ids, h in zip(gallery["post_ids"], gallery["image_hashes"]))


def test_loss_curve_two_lines():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]})
    fig = plots.loss_curve(history)
    assert [t.name for t in fig.data] == ["train", "validation"]
    assert len(fig.data[0].x) == 3


def test_forecast_chart_history_band_and_forecast(posts):
    shares = _shares(posts)
    last = shares["period"].max()
    periods = [last + pd.DateOffset(months=i) for i in (1, 2, 3)]
    forecasts = pd.DataFrame({"series": ["0"] * 3 + ["1"] * 3, "step": [1, 2, 3] * 2, "period": periods * 2,
                              "point": [0.3, 0.32, 0.35, 0.2, 0.2, 0.2], "lower": [0.2] * 6, "upper": [0.4] * 6,
                              "p_hot": [0.5] * 6, "trend_class": ["rising"] * 6, "model": ["lstm"] * 6})
    fig = plots.forecast_chart(shares, forecasts, [0])
    names = [t.name for t in fig.data if t.name]
    assert "S0 名 · history" in names and "S0 名 · forecast" in names and "S0 名 · interval" in names
    fc = next(t for t in fig.data if t.name == "S0 名 · forecast")
    assert len(fc.x) == 4  # joined to the last observed period + 3 horizon steps
    assert plots.forecast_chart(shares, forecasts, [0, 1]).data  # two styles
    assert len(plots.forecast_chart(shares, forecasts, []).data) == 0


def test_metrics_bars_highlight_lstm():
    metrics = pd.DataFrame({"model": ["lstm", "last_value", "majority"], "wape": [0.2, 0.3, np.nan]})
    fig = plots.metrics_bars(metrics, "wape")
    assert list(fig.data[0].x) == ["lstm", "last_value"]


def test_plots_module_does_not_import_streamlit():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(plots))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert "streamlit" not in imported


def test_map_thumbnail_posts_start_at_exemplar_and_spread(posts):
    exemplar = posts.loc[posts["style"] == 1, "post_id"].iloc[5]
    chosen = plots.map_thumbnail_posts(posts, {1: [exemplar]}, per_style=3)
    assert len(chosen) == 9 and len(set(chosen)) == 9
    style1 = posts.set_index("post_id").loc[[p for p in chosen if p in set(posts.loc[posts["style"] == 1, "post_id"])]]
    assert style1.index[0] == exemplar
    # the second pick is the style's post farthest from the exemplar
    group = posts[posts["style"] == 1].set_index("post_id")
    d = ((group[["x", "y"]] - group.loc[exemplar, ["x", "y"]]) ** 2).sum(axis=1)
    assert style1.index[1] == d.idxmax()
    assert plots.map_thumbnail_posts(posts, None, per_style=2, styles=[0]) and all(
        p in set(posts.loc[posts["style"] == 0, "post_id"]) for p in plots.map_thumbnail_posts(posts, None, 2, [0]))


def test_forecast_chart_clips_share_band_and_trims_history(posts):
    shares = _shares(posts)
    last = shares["period"].max()
    forecasts = pd.DataFrame({"series": ["0"], "step": [1], "period": [last + pd.DateOffset(months=1)],
                              "point": [0.3], "lower": [-0.4], "upper": [2.5], "p_hot": [0.5],
                              "trend_class": ["flat"], "model": ["lstm"]})
    fig = plots.forecast_chart(shares, forecasts, [0], history_periods=2)
    band = [t for t in fig.data if t.fill == "tonexty" or (t.showlegend is False and t.hoverinfo == "skip")]
    assert all(0.0 <= float(v) <= 1.0 for t in band for v in t.y)
    history = next(t for t in fig.data if t.name.endswith("· history"))
    assert len(history.x) == 2


def test_posts_per_period_counts_a_multi_image_post_once(posts):
    looks = pd.concat([posts.assign(post=posts["post_id"]), posts.head(5).assign(post=posts["post_id"].head(5))])
    fig = plots.posts_per_period(looks, "month")
    assert int(sum(fig.data[0].y)) == len(posts) < len(looks)
