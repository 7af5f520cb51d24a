"""Hover previews for the map: the segmented garment of a post shown next to the cursor.

Plotly hover labels cannot show images, so the map is drawn by plotly.js with a small script that,
on 'plotly_hover', shows a floating <img> of the post's masked garment (a small WebP as a data URI,
built by `masked_thumbnail`) and its text, and hides it on 'plotly_unhover'. Two ways to ship it:
- `hover_payload`: what the app's hover-map component (app_pages/_hover_map.py) receives on each
  render: the figure and the previews as gzip-compressed JSON, no plotly.js (the component loads
  the installed package's plotly.min.js once, from the app server itself);
- `hover_html`: one self-contained offline HTML page (plotly.js inlined, about 4.6 MB) for export.
Only a bounded number of posts carry an image (`preview_posts`, at most MAX_PREVIEWS, and in
`hover_payload` only as many as fit with the figure in HOVER_BYTES: `within_budget`), the rest show
their text only, so a render stays light (under 2 MB). Pure: no streamlit.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from io import BytesIO

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image

from trend_core.image_stages import masked_image
from trend_core.plots import image_data_uri
from trend_core.segment import decode_mask
from trend_core.store import Store

__all__ = [
    "BACKGROUND",
    "MAX_PREVIEWS",
    "THUMB_SIDE",
    "TIP_ID",
    "TIP_IMG_ID",
    "hover_html",
    "hover_payload",
    "hover_spec",
    "load_masked_thumbnails",
    "masked_thumbnail",
    "masked_thumbnails",
    "preview_posts",
    "read_payload",
    "within_budget",
]

MAX_PREVIEWS = 1500
HOVER_BYTES = 1_900_000  # one hover render at most: the figure and as many previews as fit (hover_payload)
THUMB_SIDE = 80
BACKGROUND = (245, 245, 245)  # same as image_stages.masked_image: what the "mask" modality sees
PREVIEW_FORMAT = "WEBP"  # about half the bytes of a JPEG of the same quality
PREVIEW_QUALITY = 70
JPEG_QUALITY = 75
TIP_ID = "garment-tip"
TIP_IMG_ID = "garment-img"


def preview_posts(posts: pd.DataFrame, limit: int = MAX_PREVIEWS, seed: int = 0) -> pd.DataFrame:
    """The posts (with an image) that get a hover image: all of them when at most `limit`, else a
    deterministic random sample of `limit` (spread over the whole map), in the input order."""
    if posts is None or posts.empty or "image_hash" not in posts:
        return pd.DataFrame(columns=["post_id", "image_hash"])
    with_image = posts[posts["image_hash"].map(lambda h: isinstance(h, str) and bool(h))]
    limit = max(int(limit), 0)
    if len(with_image) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(with_image), size=limit, replace=False))
        with_image = with_image.iloc[keep]
    return with_image[["post_id", "image_hash"]].assign(post_id=with_image["post_id"].astype(str))


def masked_thumbnail(image: bytes | Image.Image, mask: np.ndarray | bytes | None, side: int = THUMB_SIDE,
                     background: tuple[int, int, int] = BACKGROUND, quality: int = PREVIEW_QUALITY,
                     fmt: str = PREVIEW_FORMAT) -> bytes:
    """WebP (or `fmt`: 'JPEG') bytes, at most side x side px, of the image with everything outside the
    clothing mask painted `background`; the whole image when mask is None."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        with Image.open(BytesIO(bytes(image))) as img:
            rgb = img.convert("RGB")
    else:
        rgb = image.convert("RGB")
    if mask is not None:
        m = decode_mask(bytes(mask)) if isinstance(mask, (bytes, bytearray, memoryview)) else np.asarray(mask)
        rgb = masked_image(rgb, m, background)
    rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = BytesIO()
    if fmt.upper() == "WEBP":
        rgb.save(out, format="WEBP", quality=quality, method=4)
    else:
        rgb.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def within_budget(thumbnails: Mapping[str, bytes], max_bytes: int) -> dict[str, bytes]:
    """The first thumbnails (in the given order) whose bytes add up to at most max_bytes."""
    out: dict[str, bytes] = {}
    total = 0
    for post_id, blob in thumbnails.items():
        if not blob:
            continue
        if total + len(blob) > max_bytes:
            break
        out[post_id] = blob
        total += len(blob)
    return out


def masked_thumbnails(pairs: Mapping[str, str], images: Mapping[str, bytes],
                      masks: Mapping[str, np.ndarray | bytes], side: int = THUMB_SIDE,
                      limit: int = MAX_PREVIEWS) -> dict[str, bytes]:
    """post_id -> masked garment JPEG for posts (post_id -> image_hash) whose image and mask are
    known; at most `limit` of them (the first ones). Posts without a stored mask get none."""
    out: dict[str, bytes] = {}
    for post_id, h in pairs.items():
        if len(out) >= limit:
            break
        if h in images and h in masks:
            try:
                out[str(post_id)] = masked_thumbnail(images[h], masks[h], side)
            except (OSError, ValueError):  # an unreadable image or mask: text only for that post
                continue
    return out


def load_masked_thumbnails(store: Store, posts: pd.DataFrame, segmenter: str, limit: int = MAX_PREVIEWS,
                           side: int = THUMB_SIDE, column: str = "thumb") -> dict[str, bytes]:
    """post_id -> masked garment JPEG for up to `limit` of `posts` (see preview_posts), from the stored
    image (`column`: 'thumb' or 'data') and the stored mask of `segmenter` (image_stages.segmenter_key)."""
    chosen = preview_posts(posts, limit)
    pairs = dict(zip(chosen["post_id"], chosen["image_hash"]))
    hashes = sorted(set(pairs.values()))
    masks = {h: blob for h, (_, blob) in store.load_masks(hashes, segmenter).items()}
    images = store.load_image_bytes([h for h in hashes if h in masks], column)
    return masked_thumbnails(pairs, images, masks, side, limit)


_SCRIPT = """
(function () {
  var gd = document.getElementById('{plot_id}');
  var THUMBS = __THUMBS__;
  var tip = document.createElement('div');
  tip.id = '__TIP__';
  tip.style.cssText = 'position:fixed;display:none;pointer-events:none;z-index:1000;max-width:260px;' +
    'background:rgba(255,255,255,0.97);border:1px solid #bbb;border-radius:6px;padding:6px;' +
    'box-shadow:0 2px 8px rgba(0,0,0,0.25);font:12px sans-serif;color:#222;';
  var img = document.createElement('img');
  img.id = '__IMG__';
  img.alt = 'segmented garment';
  img.style.cssText = 'display:none;width:__SIDE__px;height:auto;margin-bottom:4px;border-radius:4px;';
  var head = document.createElement('div');
  head.style.fontWeight = 'bold';
  var body = document.createElement('div');
  tip.appendChild(img); tip.appendChild(head); tip.appendChild(body);
  document.body.appendChild(tip);
  function plain(s) {  // customdata is HTML-escaped: decode it, then insert as text only
    var t = document.createElement('textarea'); t.innerHTML = String(s == null ? '' : s); return t.value;
  }
  function place(ev) {
    var x = (ev && ev.clientX) || 0, y = (ev && ev.clientY) || 0;
    var w = tip.offsetWidth || 200, h = tip.offsetHeight || 120;
    var left = x + 16, top = y + 16;
    if (left + w > window.innerWidth) left = Math.max(0, x - w - 16);
    if (top + h > window.innerHeight) top = Math.max(0, y - h - 16);
    tip.style.left = left + 'px'; tip.style.top = top + 'px';
  }
  gd.on('plotly_hover', function (data) {
    var p = data && data.points && data.points[0];
    if (!p || !p.customdata) return;
    var cd = p.customdata, src = THUMBS[String(cd[0])];
    if (src) { img.src = src; img.style.display = 'block'; } else { img.removeAttribute('src'); img.style.display = 'none'; }
    head.textContent = plain(cd[1]) + ' \\u00b7 ' + plain(cd[3]) + ' \\u00b7 \\u2665 ' + plain(cd[4]);
    body.textContent = plain(cd[2]);
    tip.style.display = 'block';
    place(data.event);
  });
  gd.on('plotly_unhover', function () { tip.style.display = 'none'; });
})();
"""


def hover_spec(figure: go.Figure | Mapping, height: int | None = None) -> dict:
    """The figure as the hover map draws it, as a fresh JSON-ready dict: plotly's own hover label is
    off on the points that carry customdata (the floating tip replaces it; the events still fire),
    dragging pans, and the given height. `figure` is not changed (a FrozenFigure's shared dict neither)."""
    spec = json.loads(pio.to_json(figure if isinstance(figure, go.Figure) else dict(figure), validate=False))
    for trace in spec.get("data", []):
        if trace.get("hoverinfo") != "skip" and trace.get("customdata") is not None:
            trace["hoverinfo"] = "none"
            trace.pop("hovertemplate", None)
    layout = spec.setdefault("layout", {})
    layout.update(dragmode="pan", autosize=True, margin={"l": 50, "r": 20, "t": 50, "b": 40})
    if height:
        layout["height"] = int(height)
    return spec


def hover_payload(figure: go.Figure | Mapping, thumbnails: Mapping[str, bytes], side: int = THUMB_SIDE,
                  height: int | None = None, max_bytes: int = HOVER_BYTES) -> bytes:
    """What the app's hover-map component gets on a render: gzip-compressed UTF-8 JSON
    {"figure": hover_spec(figure, height), "thumbs": {post_id: data URI}, "side": side}, at most
    max_bytes: the previews (in the given order) stop where the room left by the compressed figure is
    used up (counted as base64, which compression hardly shrinks for WebP). No plotly.js: the
    component has its own copy, served by the app. Deterministic for the same inputs."""
    figure_text = json.dumps(hover_spec(figure, height), ensure_ascii=False, separators=(",", ":"))
    room = max_bytes - len(gzip.compress(figure_text.encode("utf-8"), compresslevel=6)) - 4096
    uris = {str(k): image_data_uri(v) for k, v in within_budget(thumbnails, max(room, 0) * 3 // 4).items()}
    text = ('{"figure":' + figure_text + ',"thumbs":' + json.dumps(uris, separators=(",", ":"))
            + f',"side":{int(side)}}}')
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def read_payload(payload: bytes) -> dict:
    """hover_payload's JSON back (for tests and tools)."""
    return json.loads(gzip.decompress(payload).decode("utf-8"))


def hover_html(figure: go.Figure, thumbnails: Mapping[str, bytes], side: int = THUMB_SIDE,
               height: int | None = None) -> str:
    """A full, offline HTML page of `figure` (plotly.js inlined) whose points show their masked
    garment thumbnail (post_id -> image bytes; customdata[0] is the post_id) and text on hover.
    Plotly's own hover label is switched off (the floating tip replaces it; events still fire)."""
    spec = hover_spec(figure, height)
    uris = {str(k): image_data_uri(v) for k, v in thumbnails.items() if v}
    thumbs_js = json.dumps(uris).replace("</", "<\\/")  # never close the <script> early
    script = (_SCRIPT.replace("__THUMBS__", thumbs_js).replace("__TIP__", TIP_ID).replace("__IMG__", TIP_IMG_ID)
              .replace("__SIDE__", str(int(side))))
    return pio.to_html(spec, include_plotlyjs=True, full_html=True, post_script=script, validate=False,
                       config={"displaylogo": False, "responsive": True},
                       default_width="100%", default_height=f"{height}px" if height else "100%")
