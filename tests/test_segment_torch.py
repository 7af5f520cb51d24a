"""DeepLabV3 segmenters: offline weight resolution, strict loading, the person class, batching, cache ids.

No pretrained weights are needed: randomly initialised torchvision state dicts are saved to temporary
files and loaded through the same resolution code ($TREND_DEEPLABV3_*_WEIGHTS, torch hub's cache).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from test_segment import SKIN, draw_figure, share  # noqa: E402

from trend_core.segment import (  # noqa: E402
    SEGMENTERS,
    DeepLabV3MobileNetSegmenter,
    DeepLabV3ResNet50Segmenter,
    Segmenter,
    get_segmenter,
    segmenter_id,
    segmenter_status,
)
from trend_core.segment_torch import (  # noqa: E402
    DEEPLAB_BUILDERS,
    DEEPLAB_SPECS,
    PERSON_CLASS,
    _person_score,
    load_deeplab,
    net_size,
    person_masks,
)
from trend_core.weights import WeightsMissing, resolve  # noqa: E402

MOBILENET = "deeplabv3_mobilenet"
ENV = DEEPLAB_SPECS[MOBILENET].env_var
HEAD = "classifier.4"  # DeepLabHead's last 1x1 conv: 21 class logits


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny inputs: one intra-op thread is faster, and avoids OpenMP spinning on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def state():
    """A random deeplabv3_mobilenet_v3_large state dict shaped like torchvision's checkpoint (with aux head)."""
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, aux_loss=True)
    return model.state_dict()


def _save(state: dict, path) -> str:
    torch.save(state, path)
    return str(path)


def _winner(state: dict, cls: int) -> dict:
    """The state with the classifier rewired so class `cls` wins at every pixel."""
    out = dict(state)
    out[f"{HEAD}.weight"] = torch.zeros_like(state[f"{HEAD}.weight"])
    bias = torch.full_like(state[f"{HEAD}.bias"], -1.0)
    bias[cls] = 1.0
    out[f"{HEAD}.bias"] = bias
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory, state):
    """Weight files: random, everything-is-person, nothing-is-person, without the aux head."""
    d = tmp_path_factory.mktemp("deeplab")
    return {"random": _save(state, d / "random.pth"),
            "person": _save(_winner(state, PERSON_CLASS), d / "person.pth"),
            "background": _save(_winner(state, 0), d / "background.pth"),
            "no_aux": _save({k: v for k, v in state.items() if not k.startswith("aux_classifier.")},
                            d / "no_aux.pth")}


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """No explicit weights and an empty torch hub cache."""
    for spec in DEEPLAB_SPECS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_specs_match_torchvision():
    from torchvision.models import segmentation

    enums = {MOBILENET: segmentation.DeepLabV3_MobileNet_V3_Large_Weights,
             "deeplabv3_resnet50": segmentation.DeepLabV3_ResNet50_Weights}
    for arch, enum in enums.items():
        spec, weights = DEEPLAB_SPECS[arch], enum.COCO_WITH_VOC_LABELS_V1
        assert spec.filename == os.path.basename(weights.url)
        assert weights.meta["categories"][PERSON_CLASS] == "person"
        assert DEEPLAB_BUILDERS[arch] in spec.fetch_code and "COCO_WITH_VOC_LABELS_V1" in spec.fetch_code
        assert spec.weights_id == "coco_with_voc_labels_v1" and spec.env_var.startswith("TREND_DEEPLABV3_")
        assert SEGMENTERS[arch].arch == arch


def test_registered_and_cheap_to_construct(no_weights):
    for name, cls in (("deeplabv3_mobilenet", DeepLabV3MobileNetSegmenter),
                      ("deeplabv3_resnet50", DeepLabV3ResNet50Segmenter)):
        seg = get_segmenter(name, short_side=256)  # no weights anywhere: construction still works
        assert isinstance(seg, cls) and isinstance(seg, Segmenter) and seg._model is None
        assert seg.batched and seg.input_side == 256
        assert seg.weights_id == "coco_with_voc_labels_v1"
        assert segmenter_id(seg) == f"{name}@1#coco_with_voc_labels_v1"


def test_loads_explicit_weights_from_env(monkeypatch, state, files):
    monkeypatch.setenv(ENV, files["random"])
    seg = get_segmenter(MOBILENET, short_side=64, device="cpu")
    assert seg.weights_id == resolve(DEEPLAB_SPECS[MOBILENET])[1]
    assert seg.weights_id.startswith("file:")
    model = seg.load()
    assert model.aux_classifier is None and not model.training
    loaded = model.state_dict()
    expected = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())
    assert seg.load() is model  # loaded once

    images = [draw_figure(size=96)[0], draw_figure(size=80, seed=1)[0].resize((120, 80))]
    masks = seg.segment_batch(images)
    assert [(m.shape, m.dtype) for m in masks] == [((96, 96), np.dtype(bool)), ((80, 120), np.dtype(bool))]
    person = seg.person_mask(images[1])
    assert person.shape == (80, 120) and person.dtype == bool
    assert seg.segment_batch([]) == []


def test_checkpoint_without_aux_head_and_strict_loading(tmp_path, state, files):
    model = load_deeplab(MOBILENET, files["no_aux"], device="cpu")
    assert torch.equal(model.state_dict()[f"{HEAD}.bias"], state[f"{HEAD}.bias"])
    broken = {k: v for k, v in state.items() if not k.startswith(HEAD)}
    with pytest.raises(RuntimeError, match="Missing key"):
        load_deeplab(MOBILENET, _save(broken, tmp_path / "broken.pth"), device="cpu")


def test_person_class_and_clothing_step(files):
    img, truth, _ = draw_figure(size=128)
    skin = np.all(np.abs(np.asarray(img).astype(int) - SKIN) < 20, axis=2)  # drawn head and arms
    everyone = DeepLabV3MobileNetSegmenter(weights_path=files["person"], short_side=64, device="cpu")
    assert everyone.person_mask(img).all()  # class 15 wins everywhere: all person
    clothes = everyone.segment(img)
    assert share(clothes, truth) > 0.95 and share(clothes, skin) < 0.05  # skin removed from the person
    nobody = DeepLabV3MobileNetSegmenter(weights_path=files["background"], short_side=64, device="cpu")
    assert not nobody.person_mask(img).any() and not nobody.segment(img).any()


def test_batches_match_single_images(files):
    model = load_deeplab(MOBILENET, files["random"], device="cpu")
    arrays = np.stack([np.asarray(draw_figure(size=64, seed=i)[0]) for i in range(3)])
    with torch.inference_mode():
        together = _person_score(model, arrays)
        alone = torch.cat([_person_score(model, arrays[i:i + 1]) for i in range(3)])
    assert together.shape == (3, 64, 64) and together.std() > 0
    assert torch.allclose(together, alone, atol=1e-4)  # an image's mask does not depend on its batch
    # mixed input sizes are batched per size; masks come back in input order at the asked shapes
    images = [draw_figure(size=s, seed=i)[0] for i, s in enumerate((64, 96, 64))] + [Image.new("RGB", (50, 100))]
    shapes = [(32, 32), (40, 60), (64, 64), (100, 50)]
    masks = person_masks(model, images, shapes, short_side=64, batch_size=2)
    assert [m.shape for m in masks] == shapes and all(m.dtype == bool for m in masks)
    assert net_size((96, 64), 64) == (96, 64) and net_size((50, 100), 64) == (64, 128)


def test_missing_weights_message(no_weights):
    seg = get_segmenter(MOBILENET, device="cpu")
    with pytest.raises(WeightsMissing) as err:
        seg.segment(draw_figure(size=64)[0])
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert ENV in msg and "TORCH_HOME" in msg and str(no_weights) in msg
    assert "torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights='COCO_WITH_VOC_LABELS_V1')" in msg
    for name in ("deeplabv3_mobilenet", "deeplabv3_resnet50"):
        status = segmenter_status(name)
        assert status is not None and "\n" not in status and "weights not found" in status
        assert DEEPLAB_SPECS[name].env_var in status and "To get them" not in status


def test_status_and_hub_cache(no_weights, monkeypatch, files):
    ckpt = no_weights / "hub" / "checkpoints" / DEEPLAB_SPECS[MOBILENET].filename
    ckpt.parent.mkdir(parents=True)
    ckpt.symlink_to(files["random"])
    assert segmenter_status(MOBILENET) is None
    assert resolve(DEEPLAB_SPECS[MOBILENET]) == (ckpt, "coco_with_voc_labels_v1")
    assert segmenter_status("deeplabv3_resnet50") is not None
    monkeypatch.setenv(ENV, str(no_weights / "nope.pth"))  # an explicit file that is missing wins
    assert "nope.pth" in segmenter_status(MOBILENET)


def test_resnet50_spec_resolves_a_file(monkeypatch, no_weights, files):
    spec = DEEPLAB_SPECS["deeplabv3_resnet50"]
    monkeypatch.setenv(spec.env_var, files["random"])
    assert str(resolve(spec)[0]) == files["random"]
    assert segmenter_status("deeplabv3_resnet50") is None
    assert DeepLabV3ResNet50Segmenter().weights_id.startswith("file:")


def test_segmenter_id_follows_weights_file(monkeypatch, tmp_path, files):
    other = tmp_path / "other.pth"
    other.write_bytes(b"different weights")
    a = DeepLabV3MobileNetSegmenter(weights_path=files["random"])
    b = DeepLabV3MobileNetSegmenter(weights_path=other)
    monkeypatch.setenv(ENV, str(other))
    c = DeepLabV3MobileNetSegmenter()
    assert segmenter_id(a) != segmenter_id(b) == segmenter_id(c)
    assert segmenter_id(a) == segmenter_id(DeepLabV3MobileNetSegmenter(weights_path=files["random"]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_matches_shapes(files):
    seg = DeepLabV3MobileNetSegmenter(weights_path=files["person"], short_side=64, device="cuda")
    img, truth, _ = draw_figure(size=96)
    masks = seg.segment_batch([img, img])
    assert next(seg.load().parameters()).device.type == "cuda"
    assert all(m.shape == (96, 96) and m.dtype == bool for m in masks)
    assert share(masks[0], truth) > 0.95
