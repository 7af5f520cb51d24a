"""`python -m trend_core weights get NAME` / `weights list`: unknown names, offline failure with the copy
commands, and fake fetchers that write into a temporary torch hub / Hugging Face cache (nothing is
ever downloaded here)."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trend_core import weights_fetch
from trend_core.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
needs_torchvision = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision missing")


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty TORCH_HOME and no explicit ResNet-50 file: the resolver finds nothing."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("TREND_RESNET50_WEIGHTS", raising=False)
    return home


def _never(*_args):
    raise AssertionError("the download must not be attempted")


def _with(monkeypatch, name: str, **changes) -> weights_fetch.WeightsSource:
    src = dataclasses.replace(weights_fetch.SOURCES[name], **changes)
    monkeypatch.setitem(weights_fetch.SOURCES, name, src)
    return src


def test_unknown_name_exits_2_and_lists_the_valid_names(capsys):
    assert main(["weights", "get", "resnet51"]) == 2
    err = capsys.readouterr().err
    assert "resnet51" in err and "Traceback" not in err
    for name in ("resnet50", "clip", "deeplabv3_mobilenet", "deeplabv3_resnet50", "sentence"):
        assert name in err
    assert main(["weights", "get"]) == 2
    assert "valid names: resnet50" in capsys.readouterr().err


@needs_torchvision
def test_offline_fails_at_once_with_the_copy_commands(torch_home, monkeypatch, capsys):
    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: False)
    _with(monkeypatch, "resnet50", download=_never)
    weights_fetch.SOURCES["resnet50"].url()  # imports torchvision.models outside the timing
    started = time.monotonic()
    assert main(["weights", "get", "resnet50"]) == 2
    assert time.monotonic() - started < 2
    captured = capsys.readouterr()
    err = captured.err
    assert "download.pytorch.org cannot be reached" in err and "offline" in err
    assert "python -m trend_core weights get resnet50" in err  # what to run on the connected machine
    assert f"rsync -a CONNECTED:~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth {torch_home}/hub/checkpoints/" in err
    assert "TREND_RESNET50_WEIGHTS" in err  # the resolver's own how-to follows
    assert "Traceback" not in err and captured.out == ""


def test_the_real_reachability_check_is_bounded():
    started = time.monotonic()
    assert weights_fetch.reachable("https://192.0.2.1/weights.pth", timeout=0.5) is False  # TEST-NET-1: no route
    assert weights_fetch.reachable("http://127.0.0.1:9/", timeout=0.5) is False  # discard port: refused
    assert time.monotonic() - started < 3


@needs_torchvision
def test_real_command_offline_here_exits_2_quickly_without_traceback(tmp_path):
    if weights_fetch.reachable("https://download.pytorch.org/models/", timeout=3):
        pytest.skip("this machine is online: the command would really download")
    env = {k: v for k, v in os.environ.items() if k != "TREND_RESNET50_WEIGHTS"} | {"TORCH_HOME": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "trend_core", "weights", "get", "deeplabv3_mobilenet"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "cannot be reached" in done.stderr and "rsync -a CONNECTED:" in done.stderr
    assert "Traceback" not in done.stderr
    reach = [line for line in done.stderr.splitlines() if "checking that" in line]
    assert reach, done.stderr
    assert seconds < 60, seconds  # python + torch imports on a slow machine; the check itself is <= 3.5 s


@needs_torchvision
def test_a_library_connection_error_counts_as_offline(torch_home, monkeypatch, capsys):
    def refused():
        raise ConnectionError("connection refused")

    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: True)
    _with(monkeypatch, "resnet50", download=refused)
    assert main(["weights", "get", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "ConnectionError" in err and "rsync -a CONNECTED:" in err and "Traceback" not in err


@needs_torchvision
def test_fake_fetcher_fills_torch_hub_and_the_resolver_finds_it(torch_home, monkeypatch, capsys):
    from trend_core.weights import hub_checkpoint

    target = hub_checkpoint("resnet50-11ad3fa6.pth")
    assert str(target).startswith(str(torch_home))

    def fake_download():  # writes in chunks, like a real download, so progress is seen
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".abc.partial")
        with open(partial, "wb") as f:
            for _ in range(3):
                f.write(b"\0" * 1000)
                f.flush()
                time.sleep(0.3)
        partial.rename(target)

    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: True)
    _with(monkeypatch, "resnet50", download=fake_download, expected_bytes=lambda: 3000)
    assert main(["weights", "get", "resnet50"]) == 0
    captured = capsys.readouterr()
    assert f"resnet50: downloaded; the resolver finds them at {target}" in captured.out
    assert "weights id imagenet1k_v2" in captured.out
    assert "downloading ResNet-50" in captured.err and "MB of" in captured.err  # progress lines

    from trend_core.plugins import encoder_choices

    assert {c.name: c for c in encoder_choices()}["resnet50"].available  # the app's list agrees
    assert main(["weights", "list"]) == 0
    import json

    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["resnet50"]["present"] and rows["resnet50"]["path"] == str(target)
    assert not rows["deeplabv3_mobilenet"]["present"] and "not found" in rows["deeplabv3_mobilenet"]["problem"]

    _with(monkeypatch, "resnet50", download=_never)  # present now: nothing is downloaded
    assert main(["weights", "get", "resnet50", "--quiet"]) == 0
    assert "already here" in capsys.readouterr().out


@needs_torchvision
def test_a_download_the_resolver_does_not_find_fails(torch_home, monkeypatch, capsys):
    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: True)
    _with(monkeypatch, "deeplabv3_mobilenet", download=lambda: None)
    monkeypatch.delenv("TREND_DEEPLABV3_MOBILENET_WEIGHTS", raising=False)
    assert main(["weights", "get", "deeplabv3_mobilenet", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "resolver still does not find" in err and "Traceback" not in err


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="sentence-transformers missing")
def test_fake_sentence_fetch_into_the_hugging_face_cache(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    cache = tmp_path / "hf_hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("TREND_SENTENCE_MODEL", raising=False)
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    commit = "0123456789abcdef0123456789abcdef01234567"

    def fake_download():  # the layout huggingface_hub writes
        repo = cache / "models--sentence-transformers--paraphrase-multilingual-MiniLM-L12-v2"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True)
        (snapshot / "modules.json").write_text("[]")
        (snapshot / "config.json").write_text("{}")

    monkeypatch.setattr(weights_fetch, "reachable", lambda url, timeout=3.0: True)
    _with(monkeypatch, "sentence", download=fake_download, offline_reason=lambda: None)
    assert main(["weights", "get", "sentence", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"snapshots/{commit}" in out and "weights id hf:0123456789ab" in out


@needs_torchvision
@pytest.mark.parametrize("name", ["resnet50", "deeplabv3_mobilenet", "deeplabv3_resnet50"])
def test_torchvision_downloads_the_file_the_resolver_looks_for(name):
    """The weights API's URL (metadata only, no download) ends in the file name weights.py looks for."""
    src = weights_fetch.SOURCES[name]
    assert src.url().rsplit("/", 1)[-1] == weights_fetch._spec(name).filename
    assert src.watch().name == "checkpoints"
    assert src.expected_bytes() > 10 * 2**20
