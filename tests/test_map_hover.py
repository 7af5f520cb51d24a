"""trend_core.map_hover: masked garment thumbnails for the map's hover previews and the offline HTML."""
from __future__ import annotations

import base64
import re
from io import BytesIO

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from trend_core import map_hover
from trend_core.segment import encode_mask


def _photo(side: int = 96) -> bytes:
    """A saturated red/blue picture: every pixel far from the light grey background."""
    rgb = np.zeros((side, side, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[:, side // 2:, 2] = 180
    out = BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _mask(side: int = 32) -> np.ndarray:
    """A centred square of clothing (the middle half), at a smaller side than the photo."""
    m = np.zeros((side, side), dtype=bool)
    m[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = True
    return m


def _decode(blob: bytes) -> np.ndarray:
    with Image.open(BytesIO(blob)) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def test_thumbnail_is_the_masked_garment():
    blob = map_hover.masked_thumbnail(_photo(), encode_mask(_mask()), side=64)
    px = _decode(blob)
    assert max(px.shape[:2]) == 64
    background = np.array(map_hover.BACKGROUND)
    # outside the mask (the border, away from the JPEG-blurred edge): the background colour
    for y, x in [(2, 2), (2, 61), (61, 2), (61, 61), (32, 3), (3, 32)]:
        assert np.abs(px[y, x] - background).max() <= 12, (y, x, px[y, x])
    # inside the mask: the garment (red), not the background
    assert px[32, 20, 0] > 150 and px[32, 20, 1] < 80
    # a numpy mask works the same; no mask gives the whole photo
    same = _decode(map_hover.masked_thumbnail(_photo(), _mask(), side=64))
    assert np.abs(same - px).max() <= 2
    whole = _decode(map_hover.masked_thumbnail(_photo(), None, side=64))
    assert whole[2, 2, 0] > 150


def test_thumbnails_are_bounded_and_need_a_mask():
    n = 30
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(n)], "image_hash": [f"h{i}" for i in range(n)]})
    chosen = map_hover.preview_posts(posts, limit=10)
    assert len(chosen) == 10 and chosen["post_id"].is_unique
    assert chosen.equals(map_hover.preview_posts(posts, limit=10)), "deterministic"
    assert len(map_hover.preview_posts(posts, limit=100)) == n
    no_image = posts.assign(image_hash=[None] * n)
    assert map_hover.preview_posts(no_image).empty

    photo, mask = _photo(), encode_mask(_mask())
    images = {f"h{i}": photo for i in range(n)}
    masks = {f"h{i}": mask for i in range(n) if i % 2 == 0}  # odd posts have no stored mask
    pairs = dict(zip(posts["post_id"], posts["image_hash"]))
    thumbs = map_hover.masked_thumbnails(pairs, images, masks, side=48, limit=n)
    assert set(thumbs) == {f"p{i}" for i in range(0, n, 2)}
    assert len(map_hover.masked_thumbnails(pairs, images, masks, side=48, limit=5)) == 5


def test_load_from_the_store(demo_db):
    from trend_core import image_stages, pipeline
    from trend_core.plugins import effective_config
    from trend_core.store import Store

    store = Store(demo_db)
    view = pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0])
    key = image_stages.segmenter_key(view.config)
    thumbs = map_hover.load_masked_thumbnails(store, view.posts, key, limit=7)
    assert len(thumbs) == 7
    for blob in thumbs.values():
        assert max(_decode(blob).shape[:2]) <= map_hover.THUMB_SIDE
    assert map_hover.load_masked_thumbnails(store, view.posts, "no-such-segmenter", limit=7) == {}


def test_html_is_offline_and_has_the_handler():
    fig = go.Figure(go.Scattergl(x=[0.0, 1.0], y=[0.0, 1.0], mode="markers",
                                 customdata=[["p0", "Style", "a &lt;b&gt;", "2024-01-01", 3],
                                             ["p1", "Style", "</script><script>alert(1)</script>", "2024-01-02", 1]],
                                 hovertemplate="%{customdata[2]}"))
    blob = map_hover.masked_thumbnail(_photo(), _mask(), side=32)
    page = map_hover.hover_html(fig, {"p0": blob, "</script>": blob}, height=500)
    assert page.lstrip().lower().startswith("<html") or "<!doctype" in page[:200].lower() or "<html" in page[:200]
    assert not re.search(r"""src\s*=\s*["']?\s*(https?:)?//""", page, flags=re.IGNORECASE), "nothing from the network"
    assert not re.search(r"""<link[^>]+href\s*=\s*["']?https?:""", page, flags=re.IGNORECASE)
    assert "plotly_hover" in page and "plotly_unhover" in page
    assert map_hover.TIP_ID in page and map_hover.TIP_IMG_ID in page
    assert "data:image/webp;base64," + base64.b64encode(blob).decode("ascii") in page
    assert page.count("</script>") == page.lower().count("<script"), "the data never closes a script early"
    assert "<script>alert(1)" not in page
    # plotly's own hover label is off (the tip replaces it), the events still fire
    assert '"hoverinfo":"none"' in page.replace(" ", "")
