"""Many analysts at once (issue 11.9): the Map and Trends figures are built once and shared by every
session, a map render sends at most 2 MB (select mode and hover previews, also for a 3,000-look
dataset with long text and incompressible pictures), and a shared figure sends exactly the JSON of the
figure it was made from. Render times are measured by bench/load.py, never asserted here. That no
page makes a request outside the machine is checked in a real browser: tests/test_browser.py
(test_no_request_leaves_the_machine).
"""
from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_app_pages import charts, open_app, rerun

from trend_core import map_charts, map_hover, plots, trend_charts

MAX_RENDER_BYTES = 2_000_000
LOOKS = 3000


# -- what a render sends -----------------------------------------------------------------------------
def sent_by_page(at: AppTest) -> int:
    """Bytes of every element the last run put on the page (the protobufs the browser receives)."""
    total = 0

    def walk(node) -> None:
        nonlocal total
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize()
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return total


def test_map_page_sends_at_most_2_mb_per_render(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch, "app_pages/map.py")
    assert len(charts(at)) == 1
    assert sent_by_page(at) <= MAX_RENDER_BYTES
    at.radio(key="map_mode").set_value("Hover previews")
    rerun(at)
    hover = sent_by_page(at)
    assert hover <= MAX_RENDER_BYTES, f"the hover map sent {hover / 1e6:.1f} MB (plotly.js must not travel per render)"
    payload = next(a.bytes for el in at.get("component_instance") for a in el.proto.special_args if a.key == "payload")
    assert map_hover.read_payload(payload)["thumbs"], "with garment previews"


# -- a 3,000-look map with long Chinese text and incompressible pictures ------------------------------
@pytest.fixture(scope="module")
def looks() -> pd.DataFrame:
    rng = np.random.default_rng(0)

    def cjk(k: int) -> str:
        return "".join(chr(0x4E00 + int(c)) for c in rng.integers(0, 20000, k))

    frame = pd.DataFrame({
        "post_id": [f"post-{i:06d}#1" for i in range(LOOKS)], "style": rng.integers(0, 9, LOOKS),
        "x": rng.normal(size=LOOKS), "y": rng.normal(size=LOOKS),
        "title": [cjk(20) for _ in range(LOOKS)], "content": [cjk(200) for _ in range(LOOKS)], "tags": "",
        "post_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 600, LOOKS), unit="D"),
        "likes": rng.integers(0, 100_000, LOOKS), "collects": 7, "comments": 3,
        "poster_id": [f"u{i % 300}" for i in range(LOOKS)], "image_hash": [f"h{i}" for i in range(LOOKS)]})
    frame["style_name"] = frame["style"].map(lambda s: f"S{s} " + cjk(12))
    return map_charts.map_points(frame)


def noise(side: int, fmt: str = "JPEG", seed: int = 0) -> bytes:
    """A picture that no codec can shrink (the worst case for the bytes it costs)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    out = BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, quality=75)
    return out.getvalue()


def flat_picture(seed: int) -> bytes:
    """A garment on a light background: a few flat colours."""
    from PIL import ImageDraw

    img = Image.new("RGB", (96, 128), (245, 245, 245))
    ImageDraw.Draw(img).rectangle((24, 30, 72, 110), fill=((37 * seed) % 256, 90, 160))
    out = BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize("colour_by", list(map_charts.COLOUR_BY))
def test_map_of_3000_looks_sends_at_most_2_mb(looks, colour_by):
    wanted = plots.map_thumbnail_posts(looks, {}, per_style=6)  # the most thumbnails the page draws
    thumbs = map_charts.map_thumbnails({pid: noise(128, seed=i) for i, pid in enumerate(wanted)})
    assert thumbs, "pictures on the map"
    figure = map_charts.colour_map(looks, colour_by, thumbnails=thumbs)
    assert sum(len(t.x) for t in figure.data) == LOOKS
    assert len(pio.to_json(figure, validate=False).encode("utf-8")) <= MAX_RENDER_BYTES  # what st.plotly_chart sends


def test_hover_map_of_3000_looks_sends_at_most_2_mb(looks):
    from trend_core.shared_figure import FrozenFigure

    figure = FrozenFigure(map_charts.colour_map(looks, "style"))
    previews = {pid: noise(map_hover.THUMB_SIDE, "WEBP", seed=i)
                for i, pid in enumerate(looks["post_id"][:map_hover.MAX_PREVIEWS])}
    payload = map_hover.hover_payload(figure, previews, height=640)
    assert len(payload) <= MAX_RENDER_BYTES
    body = map_hover.read_payload(payload)
    assert 0 < len(body["thumbs"]) < len(previews), "as many previews as fit, not all"
    assert sum(len(t["x"]["bdata"]) > 0 for t in body["figure"]["data"]) == looks["style"].nunique()
    # ordinary garment pictures (flat colours, as the masked garments are) all fit
    smooth = {pid: map_hover.masked_thumbnail(flat_picture(i), None) for i, pid in enumerate(previews)}
    assert len(map_hover.read_payload(map_hover.hover_payload(figure, smooth))["thumbs"]) == len(smooth)


# -- one figure for every session --------------------------------------------------------------------
def test_frozen_figure_sends_the_same_json(looks):
    from trend_core.shared_figure import FrozenFigure, sent_bytes

    figure = map_charts.colour_map(looks.head(300), "engagement")
    frozen = FrozenFigure(figure)
    assert frozen.to_dict() is frozen.to_dict(), "no copy per render"
    assert pio.to_json(frozen.to_dict(), validate=False) == pio.to_json(figure, validate=False)
    assert sent_bytes(frozen) == sent_bytes(figure) == len(pio.to_json(figure, validate=False).encode("utf-8"))
    thawed = frozen.thaw()
    thawed.update_layout(title="changed")
    assert json.loads(pio.to_json(frozen, validate=False))["layout"]["title"]["text"] != "changed"


def _count_calls(monkeypatch, module, name: str) -> list[int]:
    calls = [0]
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_figures_are_built_once_for_every_session(demo_db_copy, monkeypatch):
    """Two sessions (two AppTests: two script runs with their own session state) on the same database
    and settings: each chart is built once, the second session gets the first one's figure."""
    built = {name: _count_calls(monkeypatch, module, name) for module, name in (
        (map_charts, "colour_map"), (trend_charts, "share_lines"), (trend_charts, "lifespan_chart"),
        (plots, "top_gallery"))}
    for page in ("app_pages/map.py", "app_pages/trends.py"):
        first = open_app(demo_db_copy, monkeypatch, page)
        second = open_app(demo_db_copy, monkeypatch, page)
        assert [c.to_json() for c in charts(first)] == [c.to_json() for c in charts(second)]
    assert {name: calls[0] for name, calls in built.items()} == {
        "colour_map": 1, "share_lines": 1, "lifespan_chart": 1, "top_gallery": 1}
