"""Segmenter plug-ins: a person / clothes mask per image and the share of clothing pixels.

A segmenter has `name`, `version` and `segment(image) -> bool array (H, W)` that is True on clothing.
`SEGMENTERS` maps registry names to classes so the UI can list them and tests can swap in fakes:

- ``none``: every pixel is foreground (no segmentation).
- ``border``: weights-free. The background colour model is learnt from the image border (a few
  CIELAB colour clusters; small clusters are figure parts touching the edge and are ignored). Every
  pixel's Lab distance to the nearest background colour is compared with an adaptive threshold (a
  multiple of the border's own colour spread, capped by Otsu's split); the foreground is cleaned with
  scipy.ndimage morphology (opening, closing), the largest connected component(s) are kept and holes
  filled. Skin-coloured pixels (YCrCb rule) are then removed from this person mask when they are a
  minority of it, so the mask is the clothing, not face, arms and legs; when most of the figure is
  skin-coloured (beige / nude clothes) nothing is removed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = [
    "Segmenter", "NoSegmenter", "BorderSegmenter", "SEGMENTERS", "get_segmenter",
    "clothing_ratio", "encode_mask", "decode_mask", "rgb_to_lab", "skin_mask",
]


@runtime_checkable
class Segmenter(Protocol):
    """What every segmenter offers."""

    name: str
    version: str

    def segment(self, image: Image.Image) -> np.ndarray:
        """Bool mask (H, W) of clothing pixels, same size as `image`."""
        ...


# -- colour helpers ------------------------------------------------------------------------------
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]], dtype=np.float32)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) -> CIELAB float32 (..., 3) under D65 (L in [0, 100])."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    lin = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = (lin @ _RGB_TO_XYZ.T) / _WHITE_D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels of an sRGB uint8 array (..., 3) by the classic YCrCb box rule.

    Cr in [135, 173] and Cb in [77, 127] (ITU-R BT.601 full range), and not too dark.
    """
    c = np.asarray(rgb, dtype=np.float32)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    return (cr >= 135) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (y > 60)


# -- mask helpers --------------------------------------------------------------------------------
def clothing_ratio(mask: np.ndarray | None) -> float:
    """Share of clothing pixels in the mask, in [0, 1] (1.0 for no mask)."""
    if mask is None:
        return 1.0
    m = np.asarray(mask, dtype=bool)
    return float(m.mean()) if m.size else 0.0


def encode_mask(mask: np.ndarray) -> bytes:
    """Bool mask (H, W) -> PNG bytes (1-bit)."""
    img = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255).convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def decode_mask(data: bytes) -> np.ndarray:
    """PNG bytes (1-bit or L) -> bool mask (H, W)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L")) > 127


def _as_rgb_array(image: Image.Image, max_side: int) -> np.ndarray:
    """RGB uint8 array, downscaled so the longest side is at most max_side."""
    img = image.convert("RGB")
    scale = max_side / max(img.size)
    if scale < 1.0:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(img)


def _border_pixels(arr: np.ndarray, frac: float) -> np.ndarray:
    """Pixels of a frame `frac` of the shorter side wide around the image, (m, C)."""
    h, w = arr.shape[:2]
    t = max(1, int(round(min(h, w) * frac)))
    ring = np.zeros((h, w), dtype=bool)
    ring[:t], ring[-t:], ring[:, :t], ring[:, -t:] = True, True, True, True
    return arr[ring]


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared euclidean distances (m, k) between rows of x (m, 3) and centres c (k, 3)."""
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans_colours(pixels: np.ndarray, k: int, iters: int, seed: int,
                    max_pixels: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Tiny Lloyd k-means on (m, 3) pixels (subsampled to max_pixels): centres (k', 3) and the share
    of pixels per centre."""
    rng = np.random.default_rng(seed)
    if len(pixels) > max_pixels:
        pixels = pixels[rng.choice(len(pixels), size=max_pixels, replace=False)]
    k = min(k, len(pixels))
    centres = pixels[rng.choice(len(pixels), size=k, replace=False)].copy()
    for _ in range(iters):
        assign = _sq_dist(pixels, centres).argmin(1)
        for j in range(k):
            members = pixels[assign == j]
            if len(members):
                centres[j] = members.mean(0)
    share = np.bincount(_sq_dist(pixels, centres).argmin(1), minlength=k) / len(pixels)
    return centres, share


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold of a 1-d sample."""
    hist, edges = np.histogram(values, bins=bins)
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * mids)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between)
    return float(mids[int(np.argmax(between))])


def _keep_largest(mask: np.ndarray, min_share: float) -> np.ndarray:
    """Keep the largest connected component and any others at least min_share of its size."""
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_share * sizes.max()) + 1
    return np.isin(labels, keep)


def _smooth(rgb: np.ndarray, max_std: float, size: int = 5) -> np.ndarray:
    """Pixels whose local lightness std (size x size window) is below max_std."""
    g = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) * (100.0 / 255.0)
    mean = ndimage.uniform_filter(g, size)
    var = ndimage.uniform_filter(g * g, size) - mean * mean
    return var < max_std ** 2


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions that do not touch the image edge (faster than binary_fill_holes)."""
    labels, n = ndimage.label(~mask)
    if n == 0:
        return mask
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return mask | ~np.isin(labels, edge[edge > 0]) & (labels > 0)


# -- segmenters ----------------------------------------------------------------------------------
@dataclass
class NoSegmenter:
    """Every pixel is clothing (segmentation switched off)."""

    name: str = "none"
    version: str = "1"

    def segment(self, image: Image.Image) -> np.ndarray:
        return np.ones((image.height, image.width), dtype=bool)


@dataclass
class BorderSegmenter:
    """Weights-free foreground from a border colour model, minus skin.

    border_frac: width of the border frame (share of the shorter side) the background is learnt from.
    n_colours: background colour clusters; clusters holding less than min_colour_share of the border
        are treated as foreground touching the edge and ignored.
    min_threshold: smallest Lab distance (Delta E) counted as foreground.
    remove_skin: subtract YCrCb skin pixels when they are less than max_skin_share of the person;
        skin grows from smooth skin-toned seeds (local lightness std over 5x5 below max_skin_texture)
        by up to 3 px through skin-toned pixels, so skin-toned bits of a print stay clothing.
    max_side: images are segmented at most this large; the mask is scaled back.
    """

    name: str = "border"
    version: str = "2"
    border_frac: float = 0.04
    n_colours: int = 4
    min_colour_share: float = 0.1
    min_threshold: float = 8.0
    min_component_share: float = 0.15
    remove_skin: bool = True
    max_skin_share: float = 0.6
    max_skin_texture: float = 6.0
    max_side: int = 256
    random_state: int = 0

    def person_mask(self, image: Image.Image) -> np.ndarray:
        """Foreground (person) mask at the segmentation resolution, before skin removal."""
        rgb = _as_rgb_array(image, self.max_side)
        return self._foreground(rgb_to_lab(rgb))

    def segment(self, image: Image.Image) -> np.ndarray:
        rgb = _as_rgb_array(image, self.max_side)
        person = self._foreground(rgb_to_lab(rgb))
        clothes = self._remove_skin(rgb, person) if self.remove_skin else person
        return _resize_mask(clothes, (image.height, image.width))

    def _background_distance(self, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel Lab distance to the nearest background colour, and the border pixels' distances."""
        border = _border_pixels(lab, self.border_frac)
        centres, share = _kmeans_colours(border, self.n_colours, iters=6, seed=self.random_state)
        centres = centres[share >= min(self.min_colour_share, share.max())]
        dist = np.sqrt(_sq_dist(lab.reshape(-1, 3), centres).min(1))
        border_dist = np.sqrt(_sq_dist(border, centres).min(1))
        return dist.reshape(lab.shape[:2]), border_dist

    def _threshold(self, dist: np.ndarray, border_dist: np.ndarray) -> float:
        """Adaptive threshold: well above the border's own colour spread (its 90th percentile).

        On a busy background that spread is large; Otsu's split of all distances then caps it, so a
        figure that stands out clearly is still found. Never below min_threshold.
        """
        noise = 2.5 * float(np.quantile(border_dist, 0.9))
        cap = max(self.min_threshold, _otsu(dist.ravel()))
        return float(np.clip(noise, self.min_threshold, cap))

    def _foreground(self, lab: np.ndarray) -> np.ndarray:
        dist, border_dist = self._background_distance(lab)
        fg = dist > self._threshold(dist, border_dist)
        fg = ndimage.binary_opening(fg, structure=np.ones((3, 3), bool))
        fg = ndimage.binary_closing(fg, structure=np.ones((5, 5), bool), border_value=0)
        fg = _keep_largest(fg, self.min_component_share)
        fg = _fill_holes(fg)
        if fg.mean() < 0.005:  # no distinct figure: the whole frame is the subject (e.g. a close-up)
            return np.ones_like(fg)
        return fg

    def _remove_skin(self, rgb: np.ndarray, person: np.ndarray) -> np.ndarray:
        toned = skin_mask(rgb) & person
        seeds = ndimage.binary_opening(toned & _smooth(rgb, self.max_skin_texture),
                                       structure=np.ones((3, 3), bool))
        skin = ndimage.binary_dilation(seeds, iterations=3, mask=toned)  # grow into skin edges only
        n_person = person.sum()
        if n_person == 0 or skin.sum() > self.max_skin_share * n_person:
            return person  # skin-coloured clothing (beige, nude): keep the person mask
        clothes = person & ~skin
        # thin blended slivers along the skin's edge are not clothing; elsewhere the mask is kept as is
        cross = ndimage.generate_binary_structure(2, 1)
        near_skin = ndimage.binary_dilation(skin, structure=cross, iterations=2)
        return ndimage.binary_opening(clothes, structure=cross) | (clothes & ~near_skin)


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a bool mask to (H, W)."""
    if mask.shape == shape:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.NEAREST)) > 127


SEGMENTERS: dict[str, type] = {"none": NoSegmenter, "border": BorderSegmenter}


def get_segmenter(name: str, **params) -> Segmenter:
    """Instantiate a registered segmenter by name."""
    try:
        return SEGMENTERS[name](**params)
    except KeyError:
        raise ValueError(f"unknown segmenter {name!r}; choose from {sorted(SEGMENTERS)}") from None
