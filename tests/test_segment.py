"""Segmenters: a drawn figure on a plain background is found; masks round-trip through PNG."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trend_core.segment import (SEGMENTERS, BorderSegmenter, NoSegmenter, Segmenter, clothing_ratio,
                                decode_mask, encode_mask, get_segmenter, rgb_to_lab, skin_mask)

SKIN = (225, 185, 155)


def draw_figure(bg=(236, 232, 224), top=(200, 30, 40), bottom=(30, 40, 120), noise=4.0, seed=0,
                size=192) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A simple person: skin head and arms, a top and two trouser legs on a plain noisy background.
    Returns (image, clothing mask, person mask)."""
    s = size / 256
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    clothes = [(90, 70, 166, 150), (95, 150, 125, 240), (131, 150, 161, 240)]
    skin = [(70, 75, 89, 140), (167, 75, 186, 140), (120, 60, 136, 69)]
    d.ellipse([round(v * s) for v in (108, 20, 148, 64)], fill=SKIN)
    for box in skin:
        d.rectangle([round(v * s) for v in box], fill=SKIN)
    d.rectangle([round(v * s) for v in clothes[0]], fill=top)
    for box in clothes[1:]:
        d.rectangle([round(v * s) for v in box], fill=bottom)
    rng = np.random.default_rng(seed)
    arr = np.clip(np.asarray(img, dtype=float) + rng.normal(0, noise, (size, size, 3)), 0, 255)
    truth = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in clothes:
        truth[round(y0 * s):round(y1 * s) + 1, round(x0 * s):round(x1 * s) + 1] = True
    person = np.all(np.abs(np.asarray(img, dtype=int) - np.asarray(bg)) > 0, axis=2) | truth
    return Image.fromarray(arr.astype(np.uint8)), truth, person


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_registry_and_protocol():
    assert set(SEGMENTERS) >= {"none", "border"}
    for name, cls in SEGMENTERS.items():
        seg = get_segmenter(name)
        assert isinstance(seg, Segmenter)
        assert cls.name == name and isinstance(cls.version, str)
    with pytest.raises(ValueError):
        get_segmenter("nope")


def test_none_is_all_foreground():
    img = Image.new("RGB", (40, 30), (10, 20, 30))
    mask = NoSegmenter().segment(img)
    assert mask.shape == (30, 40) and mask.dtype == bool and mask.all()
    assert clothing_ratio(mask) == 1.0


@pytest.mark.parametrize("bg,top,bottom", [((236, 232, 224), (200, 30, 40), (30, 40, 120)),
                                           ((110, 150, 200), (245, 245, 245), (25, 25, 25)),
                                           ((40, 40, 44), (240, 200, 60), (90, 130, 180))])
def test_border_finds_drawn_clothes(bg, top, bottom):
    img, truth, person = draw_figure(bg, top, bottom)
    seg = BorderSegmenter()
    mask = seg.segment(img)
    assert mask.shape == truth.shape and mask.dtype == bool
    assert iou(mask, truth) > 0.9            # skin (head, arms) removed, clothes kept
    assert iou(seg.person_mask(img), person) > 0.9
    assert 0.0 <= clothing_ratio(mask) <= 1.0
    assert abs(clothing_ratio(mask) - truth.mean()) < 0.03


def test_border_on_gradient_background_and_resized_input():
    img, truth, _ = draw_figure(size=384)
    arr = np.asarray(img).astype(float)
    arr += np.linspace(-25, 25, 384)[:, None, None]  # vertical lighting gradient
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    mask = BorderSegmenter(max_side=128).segment(img)  # segmented small, mask scaled back
    assert mask.shape == (384, 384)
    assert iou(mask, truth) > 0.85


def test_blank_image_gives_full_frame():
    mask = BorderSegmenter().segment(Image.new("RGB", (64, 64), (200, 200, 200)))
    assert mask.all()


def test_skin_coloured_clothes_are_kept():
    img, truth, _ = draw_figure(top=SKIN, bottom=SKIN)
    mask = BorderSegmenter().segment(img)
    assert (mask & truth).sum() / truth.sum() > 0.9


def test_mask_png_roundtrip():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.5
    data = encode_mask(mask)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_mask(data), mask)
    grey = Image.fromarray(mask.astype(np.uint8) * 255)  # an 8-bit L mask decodes too
    import io
    buf = io.BytesIO()
    grey.save(buf, format="PNG")
    assert np.array_equal(decode_mask(buf.getvalue()), mask)


def test_colour_helpers():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], dtype=np.uint8))
    assert np.allclose(lab[0], [100, 0, 0], atol=0.5)
    assert np.allclose(lab[1], [0, 0, 0], atol=0.5)
    assert np.allclose(lab[2], [53.2, 80.1, 67.2], atol=0.5)
    assert skin_mask(np.array([SKIN, (30, 40, 120)], dtype=np.uint8)).tolist() == [True, False]
