"""The image side of the pipeline: full-photo and masked-clothing embedding sets, keys that follow the
encoder and its weights, re-imports that do no model work, and the fallback when weights are missing."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from trend_core import pipeline
from trend_core.__main__ import main
from trend_core.config import PipelineConfig
from trend_core.demo import generate_demo
from trend_core.image_stages import image_set_key, preview_segmentation, segmenter_key
from trend_core.ingest import add_frame
from trend_core.plugins import effective_config
from trend_core.store import Store

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

N_POSTS = 60
RESNET_ENV = "TREND_RESNET50_WEIGHTS"


def _config(encoder: str = "handcrafted", modalities: tuple[str, ...] = ("image", "mask", "text")) -> PipelineConfig:
    config = PipelineConfig()
    return replace(config, image=config.image.replace(encoder=encoder),
                   fusion=config.fusion.replace(modalities=modalities),
                   styles=config.styles.replace(k_min=2, k_max=4, n_neighbors=8))


@pytest.fixture(scope="module")
def demo():
    return generate_demo(n_posts=N_POSTS, seed=4)


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnet50_random.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    return path


@pytest.fixture
def no_torch_weights(monkeypatch, tmp_path):
    """No checkpoint anywhere: an empty TORCH_HOME and no explicit file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(RESNET_ENV, raising=False)


def _stages(result: pipeline.PipelineResult) -> dict[str, tuple[bool, str]]:
    return {r.stage: (r.cached, r.detail) for r in result.reports}


def test_full_and_masked_sets_differ_and_reimport_does_no_model_work(tmp_path, demo):
    store = Store(tmp_path / "a.duckdb")
    add_frame(store, demo.posts, demo.images, source="first")
    config = _config()
    first = pipeline.run_pipeline(store, config)
    stages = _stages(first)
    n_images = demo.posts["image_hash"].nunique()
    assert stages["image embedding"] == (False, f"{n_images} computed, 0 cached")
    assert stages["mask embedding"] == (False, f"{n_images} computed, 0 cached")
    hashes = sorted(demo.posts["image_hash"].unique())
    full = store.load_image_vectors(hashes, image_set_key(config, masked=False))
    masked = store.load_image_vectors(hashes, image_set_key(config, masked=True))
    assert len(full) == len(masked) == n_images
    assert not np.allclose(np.stack([full[h] for h in hashes]), np.stack([masked[h] for h in hashes]))

    # the same photos arrive again in new posts: nothing is segmented or embedded again
    again = demo.posts.copy()
    again["post_id"] = "re-" + again["post_id"].astype(str)
    add_frame(store, again, demo.images, source="second")
    second = _stages(pipeline.run_pipeline(store, config))
    for stage in ("segment", "image embedding", "mask embedding"):
        assert second[stage] == (True, f"0 computed, {n_images} cached"), (stage, second[stage])
    assert not second["fusion"][0]  # new posts: the fused matrix is new


def test_keys_follow_encoder_and_weights(monkeypatch, tmp_path, resnet_file):
    other = tmp_path / "other.pth"
    other.write_bytes(b"not the same weights")
    hand = _config()
    monkeypatch.setenv(RESNET_ENV, str(resnet_file))
    res_a = _config("resnet50")
    keys_a = pipeline.stage_keys("data", res_a)
    image_a = image_set_key(res_a, masked=False)
    monkeypatch.setenv(RESNET_ENV, str(other))
    keys_b = pipeline.stage_keys("data", res_a)
    assert image_set_key(res_a, masked=False) != image_a
    assert keys_a.image != keys_b.image and keys_a.mask != keys_b.mask and keys_a.fit != keys_b.fit
    keys_hand = pipeline.stage_keys("data", hand)
    assert keys_hand.image != keys_a.image and keys_hand.fusion != keys_a.fusion
    assert keys_hand.segmenter == keys_a.segmenter  # the masks do not depend on the encoder
    seg = replace(hand, segment=hand.segment.replace(method="none"))
    assert segmenter_key(seg) != segmenter_key(hand)
    assert pipeline.stage_keys("data", seg).mask != keys_hand.mask


def test_resnet_pipeline_from_a_local_weights_file(monkeypatch, tmp_path, demo, resnet_file):
    monkeypatch.setenv(RESNET_ENV, str(resnet_file))
    store = Store(tmp_path / "r.duckdb")
    small = demo.posts.head(24)
    add_frame(store, small, {h: demo.images[h] for h in small["image_hash"]}, source="resnet")
    config = _config("resnet50", ("image", "mask"))
    result = pipeline.run_pipeline(store, config)
    assert result.notices == [] and result.config.image.encoder == "resnet50"
    hashes = sorted(small["image_hash"].unique())
    vectors = store.load_image_vectors(hashes, image_set_key(config, masked=True))
    assert np.stack(list(vectors.values())).shape == (len(hashes), 2048)
    assert result.view is not None and result.view.k >= 2


def test_missing_weights_fall_back_or_stop_with_instructions(no_torch_weights, tmp_path, demo):
    config = _config("resnet50")
    used, notices = effective_config(config, fallback=True)
    assert used.image.encoder == "handcrafted"
    assert len(notices) == 1 and "resnet50" in notices[0] and "handcrafted" in notices[0]
    with pytest.raises(FileNotFoundError, match="TREND_RESNET50_WEIGHTS"):
        effective_config(config, fallback=False)
    text_only = replace(config, fusion=config.fusion.replace(modalities=("text",)))
    assert effective_config(text_only, fallback=False) == (text_only, [])  # images unused: no check

    store = Store(tmp_path / "f.duckdb")
    small = demo.posts.head(30)
    add_frame(store, small, {h: demo.images[h] for h in small["image_hash"]}, source="fallback")
    result = pipeline.run_pipeline(store, config, fallback=True)
    assert result.notices == notices and result.config.image.encoder == "handcrafted"
    assert result.view is not None


def test_cli_plugins_and_encoder_flag(no_torch_weights, tmp_path, capsys):
    assert main(["plugins"]) == 0
    listed = json.loads(capsys.readouterr().out)
    encoders = {e["name"]: e for e in listed["image_encoders"]}
    assert encoders["handcrafted"]["available"] and not encoders["resnet50"]["available"]
    assert "TREND_RESNET50_WEIGHTS" in encoders["resnet50"]["problem"] or "weights" in encoders["resnet50"]["problem"]
    assert {s["name"] for s in listed["segmenters"]} >= {"none", "border", "grabcut"}
    assert listed["device"].startswith(("cpu", "cuda"))
    db = str(tmp_path / "cli.duckdb")
    args = ["demo", "--db", db, "--posts", "80", "--quiet", "--k", "3", "--encoder", "resnet50"]
    assert main(args) == 2
    assert "TREND_RESNET50_WEIGHTS" in capsys.readouterr().err
    assert main(args + ["--fallback"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 3 and "handcrafted" in out["notices"][0]


def test_preview_shows_person_and_clothing_masks(tmp_path, demo):
    store = Store(tmp_path / "p.duckdb")
    add_frame(store, demo.posts.head(5), {h: demo.images[h] for h in demo.posts.head(5)["image_hash"]}, source="p")
    hashes = sorted(demo.posts.head(5)["image_hash"].unique())[:3]
    rows = preview_segmentation(store, hashes, "border")
    assert [r["image_hash"] for r in rows] == hashes
    for row in rows:
        person = np.asarray(row["person"]) > 0
        clothes = np.asarray(row["clothes"]) > 0
        assert person.shape == clothes.shape == np.asarray(row["original"]).shape[:2]
        assert clothes.sum() <= person.sum() and 0.0 < row["ratio"] < 1.0
        masked = np.asarray(row["masked"])
        assert (masked[~clothes] == 245).all()  # outside the clothing is painted out


def test_unavailable_text_method_falls_back_to_tfidf(monkeypatch):
    from trend_core.embed.text import text_method_status

    monkeypatch.delenv("TREND_SENTENCE_MODEL", raising=False)
    config = PipelineConfig()
    config = replace(config, text=config.text.replace(method="sentence"),
                     fusion=config.fusion.replace(modalities=("mask",)))  # text not fused: still checked
    if text_method_status("sentence", config.text) is None:
        pytest.skip("a sentence-transformers model is available on this machine")
    used, notices = effective_config(config, fallback=True)
    assert used.text.method == "tfidf" and len(notices) == 1 and "'sentence'" in notices[0]
    with pytest.raises(FileNotFoundError, match="TREND_SENTENCE_MODEL"):
        effective_config(config, fallback=False)
