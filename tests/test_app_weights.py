"""The "Download weights" button beside a part listed as unavailable for missing weights (Styles and
Segmentation pages): offline it shows the copy commands; with a fake fetcher the part becomes available."""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from test_app_pages import open_app, rerun
from trend_core import weights_fetch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision missing")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    for var in ("TREND_RESNET50_WEIGHTS", "TREND_DEEPLABV3_MOBILENET_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)


def _offline(monkeypatch):
    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: False)


def test_styles_page_offers_the_download_and_shows_the_copy_commands_offline(demo_db, monkeypatch, no_weights):
    _offline(monkeypatch)
    at = open_app(demo_db, monkeypatch, "app_pages/styles.py")
    assert not [b for b in at.button if b.key == "styles_encoder_download"]  # handcrafted needs no weights
    at = rerun(at.selectbox(key="styles_encoder").set_value("resnet50"))
    button = at.button(key="styles_encoder_download")
    assert button.label == "Download ResNet-50 (IMAGENET1K_V2) weights"
    at = rerun(button.click())
    assert any("cannot be reached" in e.value for e in at.error), [e.value for e in at.error]
    code = "\n".join(c.value for c in at.code)
    assert "python -m trend_core weights get resnet50" in code and "rsync -a CONNECTED:" in code


def test_styles_download_with_a_fake_fetcher_makes_the_encoder_available(demo_db, monkeypatch, no_weights, tmp_path):
    from trend_core.weights import hub_checkpoint

    def fake_download():
        target = hub_checkpoint("resnet50-11ad3fa6.pth")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\0" * 100)

    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: True)
    monkeypatch.setitem(weights_fetch.SOURCES, "resnet50",
                        dataclasses.replace(weights_fetch.SOURCES["resnet50"], download=fake_download))
    at = open_app(demo_db, monkeypatch, "app_pages/styles.py")
    assert "resnet50 (unavailable here)" in at.selectbox(key="styles_encoder").options
    at = rerun(at.selectbox(key="styles_encoder").set_value("resnet50"))
    at = rerun(at.button(key="styles_encoder_download").click())
    assert any("ResNet-50 (IMAGENET1K_V2) weights are here now" in s.value for s in at.success)
    assert "resnet50" in at.selectbox(key="styles_encoder").options  # listed as available now
    assert not [b for b in at.button if b.key == "styles_encoder_download"]


def test_segmentation_page_offers_the_download_for_deeplab(demo_db, monkeypatch, no_weights):
    _offline(monkeypatch)
    at = open_app(demo_db, monkeypatch, "app_pages/segmentation.py")
    assert not [b for b in at.button if b.key == "seg_download"]
    at = rerun(at.selectbox(key="seg_method").set_value("deeplabv3_mobilenet"))
    assert any("cannot run here" in e.value for e in at.error)
    at = rerun(at.button(key="seg_download").click())
    assert any("cannot be reached" in e.value and "offline" in e.value for e in at.error)
    assert any("deeplabv3_mobilenet_v3_large-fc3c493d.pth" in c.value for c in at.code)
