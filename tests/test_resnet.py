"""ResNet50Embedder: offline weight resolution, loading, masked embeddings, cache identity."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from test_segment import draw_figure  # noqa: E402
from trend_core.embed.batching import embed_batches  # noqa: E402
from trend_core.embed.image import IMAGE_EMBEDDERS, ImageEmbedder, encoder_id, encoder_status  # noqa: E402
from trend_core.embed.resnet import (ENV_WEIGHTS, IMAGENET_MEAN, RESNET50_WEIGHTS, ResNet50Embedder,  # noqa: E402
                                     WeightsMissing, resolve_weights)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A randomly initialised torchvision resnet50 state dict saved to disk, and that state dict."""
    torch.manual_seed(0)
    state = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path_factory.mktemp("resnet") / "random_resnet50.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def figures():
    pairs = [draw_figure(top=(200, 30, 40), bottom=(30, 40, 120), seed=0, size=96),
             draw_figure(top=(240, 240, 240), bottom=(20, 20, 20), seed=1, size=128)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.fixture(scope="module")
def embedder(weights_file):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_WEIGHTS, str(weights_file[0]))
        emb = IMAGE_EMBEDDERS["resnet50"](size=128, device="cpu")
    return emb


def test_registered_and_cheap_to_construct(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no weights anywhere: construction still works
    emb = IMAGE_EMBEDDERS["resnet50"](size=128)
    assert isinstance(emb, ImageEmbedder) and emb.dim == 2048 and emb.size == 128
    assert emb.weights_id == "imagenet1k_v2" and emb._model is None
    assert encoder_id(emb) == emb.encoder_id() == "resnet50@1#imagenet1k_v2"


def test_loads_explicit_weights_from_env(monkeypatch, weights_file, embedder):
    path, state = weights_file
    monkeypatch.setenv(ENV_WEIGHTS, str(path))
    resolved, wid = resolve_weights()
    assert resolved == path and wid.startswith("file:") and len(wid) == len("file:") + 12
    assert embedder.weights_id == wid
    loaded = embedder.load().state_dict()
    expected = {k: v for k, v in state.items() if not k.startswith("fc.")}  # fc is Identity
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k].cpu(), v) for k, v in expected.items())


def test_torch_hub_cache_is_found(monkeypatch, tmp_path, weights_file):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.symlink_to(weights_file[0])
    assert resolve_weights() == (ckpt, "imagenet1k_v2")


def test_embeddings_shape_and_mask(figures, embedder):
    images, masks = figures
    full = embedder.embed(images, [None, None])
    assert full.shape == (2, 2048) and full.dtype == np.float32 and np.isfinite(full).all()
    masked = embedder.embed(images, masks)
    assert masked.shape == (2, 2048) and np.isfinite(masked).all()
    assert not np.allclose(masked, full)
    assert np.allclose(embedder.embed(images[1:], masks[1:])[0], masked[1], atol=1e-4)  # batch-independent
    assert embedder.embed([], []).shape == (0, 2048)


def test_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    emb = ResNet50Embedder(size=128)
    with pytest.raises(WeightsMissing) as err:
        emb.embed(*[[img] for img in draw_figure(size=64)[:2]])
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "TORCH_HOME" in msg and ENV_WEIGHTS in msg and "IMAGENET1K_V2" in msg
    assert str(tmp_path) in msg  # says where it looked
    monkeypatch.setenv(ENV_WEIGHTS, str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsMissing, match=ENV_WEIGHTS):
        resolve_weights()


def test_encoder_id_follows_weights_file(monkeypatch, tmp_path, weights_file):
    other = tmp_path / "other.pth"
    other.write_bytes(b"different weights")
    a = ResNet50Embedder(weights_path=weights_file[0])
    b = ResNet50Embedder(weights_path=other)
    monkeypatch.setenv(ENV_WEIGHTS, str(other))
    c = ResNet50Embedder()
    assert encoder_id(a) != encoder_id(b) == encoder_id(c)
    assert encoder_id(a) == encoder_id(ResNet50Embedder(weights_path=weights_file[0]))  # stable


def test_spec_matches_torchvision():
    from torchvision.models import ResNet50_Weights

    assert RESNET50_WEIGHTS.filename == ResNet50_Weights.IMAGENET1K_V2.url.rsplit("/", 1)[-1]


def test_preprocess_masks_and_pads_with_the_mean_colour(embedder):
    fill = tuple(round(m * 255) for m in IMAGENET_MEAN)
    img = Image.new("RGB", (200, 100), (250, 10, 10))
    x = embedder.preprocess(img, None)
    assert x.shape == (224, 224, 3) and x.dtype == np.uint8
    assert tuple(x[5, 112]) == fill and tuple(x[112, 112]) == (250, 10, 10)  # padded above, image centre
    mask = np.zeros((100, 200), dtype=bool)
    mask[:, 100:] = True                                    # right half is foreground
    y = embedder.preprocess(img, mask)
    assert tuple(y[112, 50]) == fill and tuple(y[112, 170]) == (250, 10, 10)
    assert np.array_equal(embedder.preprocess(img, np.zeros((100, 200), bool)), x)  # empty mask: whole image


def test_forward_of_preprocessed_equals_embed_and_batches(figures, embedder):
    images, masks = figures
    batch = np.stack([embedder.preprocess(img, m) for img, m in zip(images, masks)])
    assert np.array_equal(embedder.forward(batch), embedder.embed(images, masks))
    assert embedder.forward(batch[:0]).shape == (0, 2048)
    blobs = {}
    for i, img in enumerate(images):
        buf = io.BytesIO()
        img.save(buf, format="PNG")  # lossless: the decoded image equals the in-memory one
        blobs[f"h{i}"] = buf.getvalue()
    got = list(embed_batches(embedder, ["h0", "gone", "h1"], lambda c: {h: blobs[h] for h in c if h in blobs},
                             lambda c: {f"h{i}": m for i, m in enumerate(masks)}, workers=2))
    hashes = [h for chunk, _ in got for h in chunk]
    assert hashes == ["h0", "h1"]
    assert np.allclose(np.concatenate([v for _, v in got]), embedder.embed(images, masks), atol=1e-5)


def test_encoder_status(monkeypatch, tmp_path, weights_file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv(ENV_WEIGHTS, str(weights_file[0]))
    assert encoder_status("resnet50") is None
    monkeypatch.delenv(ENV_WEIGHTS)
    problem = encoder_status("resnet50")
    assert problem is not None and "\n" not in problem
    assert problem.startswith("ResNet-50") and str(tmp_path) in problem
    assert encoder_status("handcrafted") is None
    assert "unknown" in encoder_status("no-such-encoder")
