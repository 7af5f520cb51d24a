"""Segmenters: a drawn figure on a plain background is found; masks round-trip through PNG."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from trend_core import segment
from trend_core.segment import (
    SEGMENTERS,
    BorderSegmenter,
    GrabCutSegmenter,
    NoSegmenter,
    Segmenter,
    clothes_mask,
    clothing_ratio,
    decode_mask,
    detect_faces,
    encode_mask,
    get_segmenter,
    remove_skin,
    rgb_to_lab,
    segmenter_id,
    segmenter_status,
    skin_mask,
)

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


def draw_portrait(size=128, skin=SKIN, shirt=(40, 90, 160), bg=(236, 232, 224),
                  grey=False) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A head-and-shoulders portrait with a drawn face (brows, eyes, nose, mouth) that OpenCV's Haar
    cascade finds; `grey` makes it a black-and-white photo, where the skin colour rule finds nothing.
    Returns (image, face mask, shirt mask)."""
    s = size / 128

    def box(*v: float) -> list[int]:
        return [round(x * s) for x in v]

    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle(box(20, 92, 108, 118), radius=round(12 * s), fill=shirt)
    d.rectangle(box(56, 78, 72, 96), fill=skin)  # neck
    d.ellipse(box(38, 14, 90, 74), fill=(60, 40, 30))  # hair
    d.ellipse(box(42, 22, 86, 84), fill=skin)
    for x0 in (50, 68):
        d.rectangle(box(x0, 40, x0 + 10, 42), fill=(90, 60, 45))  # brows
        d.ellipse(box(x0 + 1, 45, x0 + 9, 50), fill=(40, 30, 30))  # eyes
    d.polygon([tuple(box(64, 50)), tuple(box(60, 62)), tuple(box(68, 62))], fill=tuple(int(c * 0.88) for c in skin))
    d.ellipse(box(57, 68, 71, 73), fill=(160, 70, 70))  # mouth
    img = img.filter(ImageFilter.GaussianBlur(0.8 * s))
    if grey:
        img = img.convert("L").convert("RGB")
    yy, xx = np.ogrid[:size, :size]
    face = ((xx - 64 * s) / (22 * s)) ** 2 + ((yy - 53 * s) / (31 * s)) ** 2 <= 1
    shirt_mask = np.zeros((size, size), dtype=bool)
    shirt_mask[round(96 * s):round(116 * s), round(24 * s):round(104 * s)] = True
    return img, face, shirt_mask


def with_gradient(img: Image.Image, amount: float = 30.0) -> Image.Image:
    """Horizontal lighting gradient of +-amount over the image."""
    arr = np.asarray(img).astype(float) + np.linspace(-amount, amount, img.width)[None, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def share(mask: np.ndarray, region: np.ndarray) -> float:
    """Share of `region` covered by `mask`."""
    return float((mask & region).sum() / max(region.sum(), 1))


def test_registry_and_protocol():
    assert set(SEGMENTERS) >= {"none", "border", "grabcut", "deeplabv3_mobilenet", "deeplabv3_resnet50"}
    for name, cls in SEGMENTERS.items():
        seg = get_segmenter(name)  # cheap for every plug-in: models load on first use
        assert isinstance(seg, Segmenter)
        assert cls.name == name and isinstance(cls.version, str) and cls.version
        assert isinstance(cls.description, str) and cls.description and "\n" not in cls.description
        assert segmenter_id(seg) == f"{name}@{cls.version}#{seg.weights_id}"
    with pytest.raises(ValueError):
        get_segmenter("nope")
    with pytest.raises(ValueError):
        segmenter_status("nope")


def test_weights_free_ids_and_status():
    for name in ("none", "border", "grabcut"):
        assert segmenter_status(name) is None
        assert get_segmenter(name).weights_id == "none"
    assert segmenter_id(BorderSegmenter()) == "border@3#none"
    assert segmenter_id(GrabCutSegmenter(iterations=5)) == "grabcut@1#none"


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


@pytest.mark.parametrize("bg,top,bottom,skin_stands_out", [
    ((236, 232, 224), (200, 30, 40), (30, 40, 120), False),  # light beige: skin barely differs from it
    ((110, 150, 200), (245, 245, 245), (25, 25, 25), True),
    ((40, 40, 44), (240, 200, 60), (90, 130, 180), True)])
def test_grabcut_finds_drawn_clothes(bg, top, bottom, skin_stands_out):
    img, truth, person = draw_figure(bg, top, bottom, noise=8.0, size=128)
    img = with_gradient(img)  # noisier than test_border_*, with uneven lighting
    seg = GrabCutSegmenter()
    mask = seg.segment(img)
    assert mask.shape == truth.shape and mask.dtype == bool
    assert iou(mask, truth) > 0.97  # skin (head, arms) removed by the shared clothing step
    assert iou(mask, truth) > iou(BorderSegmenter().segment(img), truth) + 0.02  # refines the border model
    if skin_stands_out:
        assert iou(seg.person_mask(img), person) > 0.97


def test_grabcut_batch_size_and_determinism():
    images = [draw_figure(seed=i, size=s)[0] for i, s in ((0, 96), (1, 200))]  # 200 px: run at 160, scaled back
    seg = GrabCutSegmenter()
    batch = seg.segment_batch(images)
    assert [m.shape for m in batch] == [(96, 96), (200, 200)]
    assert all(np.array_equal(a, seg.segment(img)) for a, img in zip(batch, images, strict=True))
    assert iou(batch[1], draw_figure(seed=1, size=200)[1]) > 0.9
    assert seg.segment(Image.new("RGB", (64, 64), (200, 200, 200))).all()  # no figure: whole frame


def test_remove_skin_is_shared():
    img, truth, person = draw_figure(size=128)
    rgb = np.asarray(img)
    assert iou(remove_skin(rgb, person), truth) > 0.9
    assert iou(clothes_mask(rgb, person, skin=False, faces=False), person) == 1.0
    beige, truth_beige, person_beige = draw_figure(top=SKIN, bottom=SKIN, size=128)
    assert np.array_equal(remove_skin(np.asarray(beige), person_beige), person_beige)  # mostly skin: kept


def test_face_detected_and_removed_by_every_segmenter():
    img, face, shirt = draw_portrait(grey=True)  # black-and-white: only the face detector finds the face
    boxes = detect_faces(np.asarray(img))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert face[y + h // 2, x + w // 2] and 0.7 < w / (44 * 128 / 128) < 1.6
    for cls in (BorderSegmenter, GrabCutSegmenter):
        kept = cls(remove_faces=False).segment(img)
        removed = cls().segment(img)
        assert share(kept, face) > 0.8  # not skin-coloured: without face removal it counts as clothing
        assert share(removed, face) < 0.05
        assert share(removed, shirt) > 0.9


def test_skin_coloured_face_removed_from_clothes():
    img, face, shirt = draw_portrait(size=96)
    for cls in (BorderSegmenter, GrabCutSegmenter):
        mask = cls().segment(img)
        assert share(cls().person_mask(img), face) > 0.95  # the person has a face ...
        assert share(mask, face) < 0.05                    # ... the clothes have none
        assert share(mask, shirt) > 0.9


def test_face_removal_skipped_without_cascade_file(monkeypatch, tmp_path):
    cv2 = pytest.importorskip("cv2")
    img, face, _ = draw_portrait(grey=True)
    segment._face_cascade()  # cached for this thread; monkeypatch restores it afterwards
    monkeypatch.delattr(segment._CASCADES, "cascade")
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    assert len(detect_faces(np.asarray(img))) == 0
    assert share(BorderSegmenter().segment(img), face) > 0.8
