"""Segmenter plug-ins: a person mask and a clothes mask per image, and the share of clothing pixels.

Every segmenter has `name`, `version`, `description` (one line for the UI), `weights_id` ("none" when it
needs no weights), `person_mask(image)` (the figure, before the clothing step), `segment(image)` and
`segment_batch(images)` (bool arrays (H, W), True on clothing). `SEGMENTERS` maps registry names to
classes; `get_segmenter(name, **params)` builds one, `segmenter_status(name)` says whether it can run
here and `segmenter_id(segmenter)` is the id cache keys record:

- ``none``: every pixel is foreground (no segmentation).
- ``border``: weights-free. The background colour model is learnt from the image border (a few
  CIELAB colour clusters; small clusters are figure parts touching the edge and are ignored). Every
  pixel's Lab distance to the nearest background colour is compared with an adaptive threshold (a
  multiple of the border's own colour spread, capped by Otsu's split); the foreground is cleaned with
  scipy.ndimage morphology (opening, closing), the largest connected component(s) are kept and holes
  filled.
- ``grabcut``: weights-free. OpenCV GrabCut at a small side, seeded with the border model's mask as
  probable foreground and the rest of the image border as sure background.
- ``deeplabv3_mobilenet`` / ``deeplabv3_resnet50``: torchvision's pretrained DeepLabV3, VOC class
  "person" (see `trend_core.segment_torch`; weights resolved offline through `trend_core.weights`).

The clothing step (`clothes_mask`) is the same for every segmenter but ``none``: skin-coloured pixels
(YCrCb rule) are removed from the person mask when they are a minority of it (when most of the figure
is skin-coloured, e.g. beige or nude clothes, nothing is removed), and so are faces found by OpenCV's
Haar frontal-face cascade (skipped when opencv or its cascade file is absent).
"""
from __future__ import annotations

import io
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from PIL import Image
from scipy import ndimage

from trend_core import segment_torch
from trend_core.weights import weights_id_for

__all__ = [
    "Segmenter", "NoSegmenter", "BorderSegmenter", "GrabCutSegmenter", "DeepLabV3MobileNetSegmenter",
    "DeepLabV3ResNet50Segmenter", "SEGMENTERS", "get_segmenter", "segmenter_status", "segmenter_id",
    "clothing_ratio", "encode_mask", "decode_mask", "rgb_to_lab", "skin_mask", "remove_skin",
    "detect_faces", "person_faces", "face_mask", "clothes_mask",
]


@runtime_checkable
class Segmenter(Protocol):
    """What every segmenter offers."""

    name: str
    version: str
    description: str

    @property
    def weights_id(self) -> str:
        """Id of the weights in use ("none" for weights-free segmenters)."""
        ...

    def person_mask(self, image: Image.Image) -> np.ndarray:
        """Bool mask (H, W) of the figure, before skin and faces are removed."""
        ...

    def segment(self, image: Image.Image) -> np.ndarray:
        """Bool mask (H, W) of clothing pixels, same size as `image`."""
        ...

    def segment_batch(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """`segment` for several images."""
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


def _ring(shape: tuple[int, int], frac: float) -> np.ndarray:
    """Bool (H, W) frame `frac` of the shorter side wide (at least 1 px) around the image."""
    h, w = shape[:2]
    t = max(1, int(round(min(h, w) * frac)))
    ring = np.zeros((h, w), dtype=bool)
    ring[:t], ring[-t:], ring[:, :t], ring[:, -t:] = True, True, True, True
    return ring


def _border_pixels(arr: np.ndarray, frac: float) -> np.ndarray:
    """Pixels of a frame `frac` of the shorter side wide around the image, (m, C)."""
    return arr[_ring(arr.shape[:2], frac)]


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


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask resized to (H, W): bilinear on 0/255 then thresholded, so upscaled edges stay smooth."""
    if mask.shape == shape:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)) > 127


# -- clothing step: person minus skin and faces ---------------------------------------------------
FACE_CASCADE = "haarcascade_frontalface_default.xml"
_CASCADES = threading.local()  # one classifier per thread: detectMultiScale is not re-entrant


def remove_skin(rgb: np.ndarray, person: np.ndarray, max_skin_share: float = 0.6,
                max_skin_texture: float = 6.0) -> np.ndarray:
    """The person mask without exposed skin.

    Skin grows from smooth skin-toned seeds (local lightness std over 5x5 below max_skin_texture) by up
    to 3 px through skin-toned pixels, so skin-toned bits of a print stay clothing. When skin would be
    more than max_skin_share of the person (beige / nude clothes) the person mask is returned as is.
    """
    toned = skin_mask(rgb) & person
    seeds = ndimage.binary_opening(toned & _smooth(rgb, max_skin_texture), structure=np.ones((3, 3), bool))
    skin = ndimage.binary_dilation(seeds, iterations=3, mask=toned)  # grow into skin edges only
    n_person = person.sum()
    if n_person == 0 or skin.sum() > max_skin_share * n_person:
        return person
    clothes = person & ~skin
    # thin blended slivers along the skin's edge are not clothing; elsewhere the mask is kept as is
    cross = ndimage.generate_binary_structure(2, 1)
    near_skin = ndimage.binary_dilation(skin, structure=cross, iterations=2)
    return ndimage.binary_opening(clothes, structure=cross) | (clothes & ~near_skin)


def _face_cascade() -> Any | None:
    """This thread's Haar frontal-face classifier; None when opencv or its cascade file is absent."""
    if not hasattr(_CASCADES, "cascade"):
        _CASCADES.cascade = None
        try:
            import cv2
        except ImportError:
            return None
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if folder and hasattr(cv2, "CascadeClassifier") and (Path(folder) / FACE_CASCADE).is_file():
            cascade = cv2.CascadeClassifier(str(Path(folder) / FACE_CASCADE))
            _CASCADES.cascade = None if cascade.empty() else cascade
    return _CASCADES.cascade


def detect_faces(rgb: np.ndarray, min_neighbors: int = 5, scale_factor: float = 1.1) -> np.ndarray:
    """Frontal faces (at least 24 px) in an RGB uint8 image as (k, 4) int boxes x, y, w, h; empty
    without opencv or its cascade file."""
    cascade = _face_cascade()
    if cascade is None or min(rgb.shape[:2]) < 24:
        return np.zeros((0, 4), dtype=int)
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    boxes = cascade.detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(24, 24))
    return np.asarray(boxes, dtype=int).reshape(-1, 4)


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """Row and column slices of the mask's bounding box grown by pad px (None for an empty mask)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    h, w = mask.shape
    return (slice(max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)),
            slice(max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)))


def person_faces(rgb: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Faces within the person's bounding box (faster than the whole image), boxes in image coordinates."""
    box = _bbox(person, pad=max(2, min(person.shape) // 32))
    if box is None:
        return np.zeros((0, 4), dtype=int)
    faces = detect_faces(rgb[box])
    return faces + np.array([box[1].start, box[0].start, 0, 0]) if len(faces) else faces


def face_mask(shape: tuple[int, int], boxes: np.ndarray) -> np.ndarray:
    """Bool (H, W) mask of the faces: an ellipse per detector box, 1.2x its height (forehead to chin)."""
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    out = np.zeros(shape, dtype=bool)
    for x, y, w, h in np.asarray(boxes, dtype=float).reshape(-1, 4):
        cx, cy, ax, ay = x + w / 2, y + 0.5 * h, 0.5 * w, 0.6 * h  # box: brows to mouth, cheek to cheek
        out |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    return out


def clothes_mask(rgb: np.ndarray, person: np.ndarray, *, skin: bool = True, faces: bool = True,
                 max_skin_share: float = 0.6, max_skin_texture: float = 6.0) -> np.ndarray:
    """The clothing step shared by every segmenter: the person mask minus skin and faces."""
    clothes = remove_skin(rgb, person, max_skin_share, max_skin_texture) if skin else person
    if faces:
        boxes = person_faces(rgb, person)
        if len(boxes):
            clothes = clothes & ~face_mask(person.shape, boxes)
    return clothes


# -- segmenters ----------------------------------------------------------------------------------
@dataclass
class NoSegmenter:
    """Every pixel is clothing (segmentation switched off)."""

    name: ClassVar[str] = "none"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "No segmentation: the whole image counts as clothing."

    @property
    def weights_id(self) -> str:
        return "none"

    @classmethod
    def status(cls) -> str | None:
        """Always runs."""
        return None

    def person_mask(self, image: Image.Image) -> np.ndarray:
        return np.ones((image.height, image.width), dtype=bool)

    def segment(self, image: Image.Image) -> np.ndarray:
        return self.person_mask(image)

    def segment_batch(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        return [self.segment(img) for img in images]


@dataclass
class _ClothesSegmenter(ABC):
    """A person mask at a working size (longest side at most max_side), the clothing step
    (`clothes_mask`: skin removed when remove_skin, faces when remove_faces) and masks scaled back."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    batched: ClassVar[bool] = False  # True when segment_batch is faster than a loop over segment

    max_side: int = 256
    remove_skin: bool = True
    remove_faces: bool = True
    max_skin_share: float = 0.6
    max_skin_texture: float = 6.0

    @property
    def weights_id(self) -> str:
        return "none"

    @classmethod
    def status(cls) -> str | None:
        """None when this segmenter can run here, else a one-line reason."""
        return None

    def _persons(self, images: Sequence[Image.Image], rgbs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Person masks at the working size (rgbs[i]'s shape) for images[i]; one `foreground` call
        per image unless a plug-in works on batches."""
        return [self.foreground(rgb) for rgb in rgbs]

    @abstractmethod
    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """Person mask of one RGB uint8 array at the working size."""

    def person_mask(self, image: Image.Image) -> np.ndarray:
        """Bool mask (H, W) of the figure, before the clothing step."""
        rgb = _as_rgb_array(image, self.max_side)
        return _resize_mask(self._persons([image], [rgb])[0], (image.height, image.width))

    def segment(self, image: Image.Image) -> np.ndarray:
        """Bool mask (H, W) of clothing pixels."""
        return self.segment_batch([image])[0]

    def segment_batch(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """Clothing masks, each the size of its image."""
        images = list(images)
        rgbs = [_as_rgb_array(img, self.max_side) for img in images]
        persons = self._persons(images, rgbs)
        return [_resize_mask(self._clothes(rgb, person), (img.height, img.width))
                for img, rgb, person in zip(images, rgbs, persons, strict=True)]

    def _clothes(self, rgb: np.ndarray, person: np.ndarray) -> np.ndarray:
        return clothes_mask(rgb, person, skin=self.remove_skin, faces=self.remove_faces,
                            max_skin_share=self.max_skin_share, max_skin_texture=self.max_skin_texture)


@dataclass
class BorderSegmenter(_ClothesSegmenter):
    """Weights-free foreground from a border colour model, then the clothing step.

    border_frac: width of the border frame (share of the shorter side) the background is learnt from.
    n_colours: background colour clusters; clusters holding less than min_colour_share of the border
        are treated as foreground touching the edge and ignored.
    min_threshold: smallest Lab distance (Delta E) counted as foreground.
    min_component_share: other components at least this share of the largest one are kept.
    """

    name: ClassVar[str] = "border"
    version: ClassVar[str] = "3"
    description: ClassVar[str] = ("Weights-free: background colours learnt from the image border; "
                                  "skin and faces removed.")

    border_frac: float = 0.04
    n_colours: int = 4
    min_colour_share: float = 0.1
    min_threshold: float = 8.0
    min_component_share: float = 0.15
    random_state: int = 0

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """Person mask of an RGB uint8 array, at its size (all True when no distinct figure stands out)."""
        lab = rgb_to_lab(rgb)
        dist, border_dist = self._background_distance(lab)
        fg = dist > self._threshold(dist, border_dist)
        fg = ndimage.binary_opening(fg, structure=np.ones((3, 3), bool))
        fg = ndimage.binary_closing(fg, structure=np.ones((5, 5), bool), border_value=0)
        fg = _keep_largest(fg, self.min_component_share)
        fg = _fill_holes(fg)
        if fg.mean() < 0.005:  # no distinct figure: the whole frame is the subject (e.g. a close-up)
            return np.ones_like(fg)
        return fg

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


def _opencv_status() -> str | None:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "opencv not installed (pip install opencv-python-headless)"
    return None


@dataclass
class GrabCutSegmenter(_ClothesSegmenter):
    """Weights-free: OpenCV GrabCut refining the border model's figure, then the clothing step.

    Seeds: the border segmenter's mask is probable foreground, the rest of a border_frac frame around
    the image sure background, everything else probable background. iterations: GrabCut rounds.
    When the border model finds no distinct figure the whole frame is the figure, as with ``border``.
    """

    name: ClassVar[str] = "grabcut"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ("Weights-free: OpenCV GrabCut seeded by the border colour model; "
                                  "skin and faces removed.")

    max_side: int = 160
    iterations: int = 3
    border_frac: float = 0.04
    min_component_share: float = 0.15
    random_state: int = 0

    @classmethod
    def status(cls) -> str | None:
        return _opencv_status()

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """Person mask of an RGB uint8 array, at its size."""
        import cv2

        prior = BorderSegmenter(border_frac=self.border_frac, random_state=self.random_state).foreground(rgb)
        labels = self._seeds(prior)
        fg_seeds = (labels == cv2.GC_PR_FGD).sum()
        if prior.all() or fg_seeds < 32 or (labels != cv2.GC_PR_FGD).sum() < 32:
            return prior  # no figure to refine, or too few samples for GrabCut's colour models
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.random_state)  # GrabCut's k-means initialisation draws from OpenCV's RNG
        cv2.grabCut(np.ascontiguousarray(rgb), labels, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        fg = _fill_holes(_keep_largest(fg, self.min_component_share))
        return fg if fg.any() else prior

    def _seeds(self, prior: np.ndarray) -> np.ndarray:
        """GrabCut label map: prior -> probable fg, border frame outside it -> sure bg, else probable bg."""
        import cv2

        labels = np.where(prior, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[_ring(prior.shape, self.border_frac) & ~prior] = cv2.GC_BGD
        return labels


@dataclass
class _DeepLabSegmenter(_ClothesSegmenter):
    """torchvision DeepLabV3 person masks (see `trend_core.segment_torch`), then the clothing step.

    short_side: the network sees images resized so their shorter side is this long.
    batch_size: images per forward pass. device: "cpu" / "cuda" / None (auto, $TREND_DEVICE).
    weights_path: explicit checkpoint; default the model's env var, else torch hub's cache.
    max_side: side the clothing step works at. The network is loaded on first use.
    """

    arch: ClassVar[str]
    batched: ClassVar[bool] = True

    short_side: int = 320
    batch_size: int = 8
    device: str | None = None
    weights_path: str | os.PathLike | None = None
    _model: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def input_side(self) -> int:
        """Side images may be downscaled to before they are given to this segmenter."""
        return self.short_side

    @property
    def weights_id(self) -> str:
        return weights_id_for(segment_torch.DEEPLAB_SPECS[self.arch], self.weights_path)

    @classmethod
    def status(cls) -> str | None:
        return segment_torch.deeplab_status(cls.arch)

    def load(self) -> Any:
        """The network (built and loaded once). Raises WeightsMissing when no checkpoint is found."""
        if self._model is None:
            self._model = segment_torch.load_deeplab(self.arch, self.weights_path, self.device)
        return self._model

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        return self._persons([Image.fromarray(rgb)], [rgb])[0]

    def _persons(self, images: Sequence[Image.Image], rgbs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not images:
            return []
        return segment_torch.person_masks(self.load(), images, [rgb.shape[:2] for rgb in rgbs],
                                          short_side=self.short_side, batch_size=self.batch_size)


@dataclass
class DeepLabV3MobileNetSegmenter(_DeepLabSegmenter):
    """Pretrained DeepLabV3 with a MobileNetV3-Large backbone (fast)."""

    name: ClassVar[str] = "deeplabv3_mobilenet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ("Pretrained DeepLabV3 MobileNetV3 (torchvision, person class; fast); "
                                  "skin and faces removed.")
    arch: ClassVar[str] = "deeplabv3_mobilenet"


@dataclass
class DeepLabV3ResNet50Segmenter(_DeepLabSegmenter):
    """Pretrained DeepLabV3 with a ResNet-50 backbone (more accurate, slower)."""

    name: ClassVar[str] = "deeplabv3_resnet50"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ("Pretrained DeepLabV3 ResNet-50 (torchvision, person class; accurate, "
                                  "slower); skin and faces removed.")
    arch: ClassVar[str] = "deeplabv3_resnet50"


SEGMENTERS: dict[str, type[Any]] = {cls.name: cls for cls in (
    NoSegmenter, BorderSegmenter, GrabCutSegmenter, DeepLabV3MobileNetSegmenter, DeepLabV3ResNet50Segmenter)}


def _registered(name: str) -> type[Any]:
    try:
        return SEGMENTERS[name]
    except KeyError:
        raise ValueError(f"unknown segmenter {name!r}; choose from {sorted(SEGMENTERS)}") from None


def get_segmenter(name: str, **params: Any) -> Segmenter:
    """Instantiate a registered segmenter by name (cheap: models load on first use)."""
    return _registered(name)(**params)


def segmenter_status(name: str) -> str | None:
    """None when the segmenter `name` can run here; else a one-line reason for the UI."""
    return _registered(name).status()


def segmenter_id(segmenter: Segmenter) -> str:
    """"name@version#weights_id": what a mask cache key records about the segmenter."""
    return f"{segmenter.name}@{segmenter.version}#{segmenter.weights_id}"
