"""ClipEmbedder: offline weight resolution (explicit file, Hugging Face cache), a tiny open_clip model
loaded from a local file, normalised masked embeddings, text embeddings, registration."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from test_segment import draw_figure  # noqa: E402
from trend_core.embed.clip import (DEFAULT_MODEL, DEFAULT_PRETRAINED, ENV_WEIGHTS, OPENAI_MEAN,  # noqa: E402
                                   ClipEmbedder, resolve_clip_weights)
from trend_core.embed.image import IMAGE_EMBEDDERS, ImageEmbedder, encoder_id, encoder_status  # noqa: E402
from trend_core.weights import WeightsMissing  # noqa: E402

TINY = "trend-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny config registered with open_clip, and its random-init state dict saved to a file."""
    folder = tmp_path_factory.mktemp("clip")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    state = open_clip.create_model(TINY).state_dict()
    path = folder / "tiny_clip.pt"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def embedder(tiny_weights) -> ClipEmbedder:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_WEIGHTS, str(tiny_weights[0]))
        return ClipEmbedder(model_name=TINY, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def figures():
    pairs = [draw_figure(top=(200, 30, 40), bottom=(30, 40, 120), seed=0, size=96),
             draw_figure(top=(240, 240, 240), bottom=(20, 20, 20), seed=1, size=128),
             draw_figure(top=(60, 140, 70), bottom=(200, 180, 140), seed=2, size=80)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_registered_without_importing_torch():
    assert IMAGE_EMBEDDERS["clip"] is ClipEmbedder
    code = "import sys, trend_core.embed.image as m; print('clip' in m.IMAGE_EMBEDDERS, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_loads_weights_file_from_env(tiny_weights, embedder):
    path, state = tiny_weights
    assert isinstance(embedder, ImageEmbedder) and embedder.dim == 32 and embedder.input_size == 64
    wid = embedder.weights_id
    assert wid.startswith(f"{TINY}:file:") and len(wid) == len(f"{TINY}:file:") + 12
    assert encoder_id(embedder) == f"clip@{embedder.version}#{wid}"
    loaded = embedder.load().state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k].cpu(), v) for k, v in state.items())


def test_image_embeddings_normalised_and_masked(figures, embedder):
    images, masks = figures
    full = embedder.embed(images, [None] * 3)
    masked = embedder.embed(images, masks)
    for X in (full, masked):
        assert X.shape == (3, 32) and X.dtype == np.float32 and np.isfinite(X).all()
        assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(full, masked, atol=1e-3)
    assert np.allclose(embedder.embed(images[2:], masks[2:])[0], masked[2], atol=1e-5)  # batch-independent
    batch = np.stack([embedder.preprocess(img, m) for img, m in zip(images, masks)])
    assert batch.shape == (3, 64, 64, 3) and batch.dtype == np.uint8
    assert tuple(batch[1, 0, 0]) == tuple(round(m * 255) for m in OPENAI_MEAN)  # masked-out corner
    assert np.array_equal(embedder.forward(batch), masked)
    assert embedder.embed([], []).shape == (0, 32)


def test_text_embeddings(embedder, figures):
    T = embedder.encode_text(["a red top with navy trousers", "白色衬衫 黑色长裤", "a floral dress"])
    assert T.shape == (3, 32) and T.dtype == np.float32
    assert np.allclose(np.linalg.norm(T, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(T[0], T[2])
    assert embedder.encode_text([]).shape == (0, 32)
    assert np.allclose(embedder.encode_text(["a floral dress"])[0], T[2], atol=1e-5)


def _fake_hub_cache(root: Path, repo_id: str, filename: str) -> Path:
    """A Hugging Face hub cache holding one file of `repo_id` at revision 'main'."""
    folder = root / ("models--" + repo_id.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    snapshot = folder / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_bytes(b"weights")
    return snapshot / filename


def test_pretrained_tag_found_in_hub_cache_only(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    repo = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    bin_file = _fake_hub_cache(tmp_path / "a", repo, "open_clip_pytorch_model.bin")
    assert resolve_clip_weights(DEFAULT_MODEL, DEFAULT_PRETRAINED, cache_dir=tmp_path / "a") == (
        bin_file, f"{DEFAULT_MODEL}:{DEFAULT_PRETRAINED}")
    safe = _fake_hub_cache(tmp_path / "b", repo, "open_clip_model.safetensors")
    assert resolve_clip_weights(cache_dir=tmp_path / "b")[0] == safe
    emb = ClipEmbedder(cache_dir=tmp_path / "b")
    assert emb.weights_id == "ViT-B-32:laion2b_s34b_b79k" and emb.dim == 512 and emb.input_size == 224
    assert encoder_status("clip", cache_dir=tmp_path / "b") is None


def test_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    emb = ClipEmbedder(cache_dir=tmp_path)
    assert emb.weights_id == "ViT-B-32:laion2b_s34b_b79k"  # no weights needed for the id
    with pytest.raises(WeightsMissing) as err:
        emb.embed(*[[img] for img in draw_figure(size=64)[:2]])
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError) and str(tmp_path) in msg
    for part in (ENV_WEIGHTS, "create_model_and_transforms('ViT-B-32', pretrained='laion2b_s34b_b79k')",
                 "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K", "never downloaded"):
        assert part in msg
    problem = encoder_status("clip", cache_dir=tmp_path)
    assert problem == msg.splitlines()[0] and problem.startswith("CLIP weights ViT-B-32/laion2b_s34b_b79k")
    monkeypatch.setenv(ENV_WEIGHTS, str(tmp_path / "nope.pt"))
    with pytest.raises(WeightsMissing, match="nope.pt"):
        ClipEmbedder().check()
    monkeypatch.delenv(ENV_WEIGHTS)
    with pytest.raises(ValueError, match="no pretrained tag"):
        resolve_clip_weights(DEFAULT_MODEL, "no-such-tag")
    assert "unknown open_clip model" in encoder_status("clip", model_name="no-such-model")
