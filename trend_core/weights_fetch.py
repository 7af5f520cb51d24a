"""Fetching pretrained weights on request: `python -m trend_core weights get NAME` and the app's
"Download weights" button (the parts themselves only ever read local files).

Each fetchable part is a `WeightsSource` in `SOURCES` (registry name -> source) pairing `download`, the
part's own library call that fills the cache its resolver searches (torchvision's weights API -> torch
hub's checkpoints folder, honouring TORCH_HOME; open_clip / sentence-transformers -> the Hugging Face
cache), with `locate`, the project's resolver, called before (already here: nothing to do) and after
the download (the fetch counts only when the resolver now finds the weights).

`fetch(name, progress)` first checks within a few seconds that the download host can be reached (a
TCP connect, through the https proxy when one is configured); offline it raises `Offline` at once,
carrying the resolver's own how-to-copy-from-another-machine text. Progress is reported as
progress(fraction, message) from the calling thread (the library call runs in a worker thread while
the caller watches the bytes arriving in the cache folder), so the app can drive st.progress with it.
torch and the model libraries are imported only inside functions.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from trend_core.weights import WeightsMissing

__all__ = ["WeightsSource", "SOURCES", "Fetched", "FetchError", "UnknownWeights", "PackageMissing", "Offline",
           "DownloadFailed", "names", "source", "package_installed", "weights_status", "instructions",
           "reachable", "fetch"]

Progress = Callable[[float, str], None]
REACH_TIMEOUT = 3.0  # seconds for the reachability check (a TCP connect to the download host)


# -- errors ---------------------------------------------------------------------------------------
class FetchError(Exception):
    """A fetch that did not end with the weights here. `instructions`: how to get them another way
    (the resolver's WeightsMissing text: fetch on a connected machine, copy here). `exit_code` for the CLI."""

    exit_code = 1

    def __init__(self, message: str, instructions: str = ""):
        super().__init__(message)
        self.instructions = instructions


class UnknownWeights(FetchError):
    exit_code = 2  # CLI exit codes: 2 for what the user can fix here, 1 for a failed download


class PackageMissing(FetchError):
    exit_code = 2


class Offline(FetchError):
    """The download host cannot be reached (or the library failed to connect)."""
    exit_code = 2


class DownloadFailed(FetchError):
    """The library failed, or the resolver does not find what it wrote."""


# -- the registry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsSource:
    """One fetchable part. Every callable reads the environment when called (TORCH_HOME, HF cache, ...)."""

    name: str  # the part's registry name (--encoder, --segmenter, --text-method)
    kind: str  # "image encoder", "segmenter" or "text method"
    label: str  # what the user reads
    package: str  # the module the download needs (import name) ...
    pip: str  # ... and the pip package that provides it
    url: Callable[[], str]  # an address on the download host (its host is checked for reachability)
    locate: Callable[[], tuple[Path, str]]  # the project's resolver: (path, weights_id) or WeightsMissing
    download: Callable[[], object]  # the library call filling the cache `locate` searches (no output)
    watch: Callable[[], Path]  # the folder the download writes into: new bytes there are the progress
    expected_bytes: Callable[[], int | None] = lambda: None  # download size when known (progress fraction)
    offline_reason: Callable[[], str | None] = lambda: None  # why not to go online (HF_HUB_OFFLINE), else None
    remote: Callable[[], str] | None = None  # where a connected machine keeps them (copy command; "/": folder)


def _torchvision_weights(name: str):
    """The torchvision weights enum member whose checkpoint `name` resolves (same file name as its spec)."""
    from torchvision.models import ResNet50_Weights
    from torchvision.models.segmentation import (DeepLabV3_MobileNet_V3_Large_Weights,
                                                 DeepLabV3_ResNet50_Weights)

    return {"resnet50": ResNet50_Weights.IMAGENET1K_V2,
            "deeplabv3_mobilenet": DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
            "deeplabv3_resnet50": DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1}[name]


def _spec(name: str):
    if name == "resnet50":
        from trend_core.embed.resnet import RESNET50_WEIGHTS

        return RESNET50_WEIGHTS
    from trend_core.segment_torch import DEEPLAB_SPECS

    return DEEPLAB_SPECS[name]


def _torchvision_source(name: str, kind: str, label: str) -> WeightsSource:
    def download() -> None:
        # torchvision's own loader: downloads into torch hub's checkpoints folder, checks the sha256
        # prefix in the file name, and loads the file once (so a truncated file fails here)
        _torchvision_weights(name).get_state_dict(progress=False, check_hash=True)

    def locate() -> tuple[Path, str]:
        from trend_core.weights import resolve

        return resolve(_spec(name))

    def watch() -> Path:
        from trend_core.weights import hub_checkpoint

        return hub_checkpoint(_spec(name).filename).parent

    def expected() -> int | None:
        size = _torchvision_weights(name).meta.get("_file_size")  # MiB, in torchvision's metadata
        return int(size * 2**20) if size else None

    return WeightsSource(name, kind, label, "torchvision", "torchvision", lambda: _torchvision_weights(name).url,
                         locate, download, watch, expected,
                         remote=lambda: f"~/.cache/torch/hub/checkpoints/{_spec(name).filename}")


def _hf_url() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _hf_offline() -> str | None:
    from huggingface_hub import constants

    return "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else None


def _hf_repo_folder(repo_id: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))


def _hf_sizes(repo_id: str) -> dict[str, int]:
    """File name -> size of a Hub repository (one metadata request; {} when it fails)."""
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(repo_id, files_metadata=True, timeout=10)
        return {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    except Exception:  # noqa: BLE001 - the size only feeds the progress bar
        return {}


def _clip_settings() -> tuple[str, str]:
    from trend_core.embed.clip import DEFAULT_MODEL, DEFAULT_PRETRAINED, ENV_MODEL, ENV_PRETRAINED

    return (os.environ.get(ENV_MODEL) or DEFAULT_MODEL, os.environ.get(ENV_PRETRAINED) or DEFAULT_PRETRAINED)


def _clip_cfg() -> dict:
    import open_clip

    model, tag = _clip_settings()
    return dict(open_clip.get_pretrained_cfg(model, tag) or {})


def _clip_source() -> WeightsSource:
    def locate() -> tuple[Path, str]:
        from trend_core.embed.clip import resolve_clip_weights

        return resolve_clip_weights(*_clip_settings())

    def download() -> None:
        import open_clip

        cfg = _clip_cfg()
        if not cfg:
            raise ValueError("open_clip has no pretrained tag {1!r} for {0!r}".format(*_clip_settings()))
        open_clip.download_pretrained(cfg)  # Hugging Face cache (hf_hub tags) or ~/.cache/clip (url tags)

    def url() -> str:
        cfg = _clip_cfg()
        return _hf_url() if cfg.get("hf_hub") else (cfg.get("url") or _hf_url())

    def watch() -> Path:
        cfg = _clip_cfg()
        if cfg.get("hf_hub"):
            return _hf_repo_folder(os.path.split(cfg["hf_hub"])[0])
        return Path("~/.cache/clip").expanduser()

    def expected() -> int | None:
        from trend_core.embed.clip import _hf_candidates

        cfg = _clip_cfg()
        if not cfg.get("hf_hub"):
            return None
        repo_id, files = _hf_candidates(cfg["hf_hub"])
        sizes = _hf_sizes(repo_id)
        return next((sizes[f] for f in files if sizes.get(f)), None)  # open_clip takes safetensors first

    def offline() -> str | None:
        return _hf_offline() if _clip_cfg().get("hf_hub") else None

    def remote() -> str:
        cfg = _clip_cfg()
        if cfg.get("hf_hub"):
            return f"~/.cache/huggingface/hub/{_hf_repo_folder(os.path.split(cfg['hf_hub'])[0]).name}/"
        return f"~/.cache/clip/{os.path.basename(cfg.get('url', ''))}"

    return WeightsSource("clip", "image encoder", "CLIP (open_clip)", "open_clip", "open_clip_torch", url, locate,
                         download, watch, expected, offline, remote)


def _sentence_model() -> str:
    from trend_core.config import TextConfig

    return TextConfig().sentence_model


def _sentence_repo() -> str:
    from trend_core.embed.text import _repo_ids

    return _repo_ids(_sentence_model())[0]


def _sentence_source() -> WeightsSource:
    def locate() -> tuple[Path, str]:
        from trend_core.embed.text import resolve_sentence_model

        return resolve_sentence_model()

    def download() -> None:
        from sentence_transformers import SentenceTransformer

        SentenceTransformer(_sentence_repo(), device="cpu")  # fetches the files it needs into the HF cache

    def expected() -> int | None:
        sizes = _hf_sizes(_sentence_repo())
        weights = "model.safetensors" if "model.safetensors" in sizes else "pytorch_model.bin"
        wanted = [f for f in sizes if f == weights or ("/" not in f and f.endswith((".json", ".txt", ".model")))
                  or (f.split("/")[0][:1].isdigit() and f.endswith(".json"))]  # e.g. 1_Pooling/config.json
        return sum(sizes[f] for f in wanted) or None

    return WeightsSource("sentence", "text method", "sentence-transformers " + _sentence_model(),
                         "sentence_transformers", "sentence-transformers", _hf_url, locate, download,
                         lambda: _hf_repo_folder(_sentence_repo()), expected, _hf_offline,
                         lambda: f"~/.cache/huggingface/hub/{_hf_repo_folder(_sentence_repo()).name}/")


SOURCES: dict[str, WeightsSource] = {
    "resnet50": _torchvision_source("resnet50", "image encoder", "ResNet-50 (IMAGENET1K_V2)"),
    "clip": _clip_source(),
    "deeplabv3_mobilenet": _torchvision_source("deeplabv3_mobilenet", "segmenter", "DeepLabV3 MobileNetV3-Large"),
    "deeplabv3_resnet50": _torchvision_source("deeplabv3_resnet50", "segmenter", "DeepLabV3 ResNet-50"),
    "sentence": _sentence_source(),
}


def names() -> list[str]:
    return list(SOURCES)


def source(name: str) -> WeightsSource:
    if name not in SOURCES:
        raise UnknownWeights(f"no pretrained weights named {name!r}; valid names: {', '.join(SOURCES)}")
    return SOURCES[name]


def package_installed(src: WeightsSource) -> bool:
    return importlib.util.find_spec(src.package) is not None


def copy_commands(src: WeightsSource) -> str:
    """Shell lines: fetch on a connected machine (CONNECTED), copy into this machine's cache folder."""
    lines = [f"On a connected machine with this project: python -m trend_core weights get {src.name}",
             "then, on this machine (CONNECTED = that machine's ssh name):"]
    if src.remote is None:
        return "\n".join(lines[:1])
    remote, here = src.remote(), src.watch()
    # a file lands in the folder; a folder ("…/") has its content copied into the same folder here
    lines.append(f"    mkdir -p {here} && rsync -a CONNECTED:{remote} {here}/")
    return "\n".join(lines)


def instructions(src: WeightsSource) -> str:
    """How to get the weights without a connection here: the copy commands, then the resolver's own
    text (fetch on a connected machine, copy, or point the environment variable at a file). "" when
    the weights are here."""
    try:
        src.locate()
    except WeightsMissing as exc:
        return copy_commands(src) + "\n\n" + str(exc)
    except (ImportError, ValueError) as exc:
        return str(exc)
    return ""


def weights_status(name: str) -> dict:
    """{name, kind, label, package installed, present, path, weights_id, problem} without any network."""
    src = source(name)
    row = {"name": name, "kind": src.kind, "label": src.label, "package": src.pip,
           "package_installed": package_installed(src), "present": False, "path": None, "weights_id": None,
           "problem": None}
    if not row["package_installed"]:
        row["problem"] = f"package {src.pip} is not installed (pip install {src.pip})"
        return row
    try:
        path, weights_id = src.locate()
    except (WeightsMissing, ImportError, ValueError) as exc:
        row["problem"] = str(exc).splitlines()[0]
    else:
        row.update(present=True, path=str(path), weights_id=weights_id)
    return row


# -- reachability ---------------------------------------------------------------------------------
def _endpoint(url: str) -> tuple[str, int]:
    """(host, port) a connection to `url` first goes to: its proxy when one applies, else its host."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parsed.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        return p.hostname or host, p.port or 80
    return host, port


def reachable(url: str, timeout: float = REACH_TIMEOUT) -> bool:
    """Whether a TCP connection to `url`'s host (or its proxy) opens within `timeout` seconds. Name
    resolution is included in the bound (it runs in a thread that is abandoned when late)."""
    host, port = _endpoint(url)
    if not host:
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="weights-reachable")
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _is_connection_error(exc: BaseException | None) -> bool:
    """Whether an exception (or one in its chain) is a network failure rather than a bad file."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, urllib.error.URLError)):
            return True
        if any(word in type(exc).__name__ for word in ("Connect", "Timeout", "OfflineMode", "LocalEntryNotFound")):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# -- fetching -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    """A successful fetch: where the resolver now finds the weights, and whether anything was downloaded."""

    name: str
    path: Path
    weights_id: str
    downloaded: bool


def _new_bytes(folder: Path, before: set[str]) -> int:
    total = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink() and str(path) not in before:
                    total += path.stat().st_size
            except OSError:  # renamed or removed while we looked
                continue
    return total


def fetch(name: str, progress: Progress | None = None, *, timeout: float = REACH_TIMEOUT,
          poll: float = 0.25) -> Fetched:
    """Download part `name`'s weights through its library into the cache its resolver searches, then
    check that the resolver finds them. Returns at once when they are already here. Raises
    UnknownWeights, PackageMissing, Offline (host unreachable within `timeout` s) or DownloadFailed, each
    with `instructions` to get the weights another way."""
    src = source(name)
    report = progress or (lambda fraction, message: None)
    if not package_installed(src):
        raise PackageMissing(f"{src.label}: the package {src.pip} is not installed (pip install {src.pip})")
    try:
        path, weights_id = src.locate()
        return Fetched(name, path, weights_id, downloaded=False)
    except WeightsMissing:
        how = instructions(src)
    url = src.url()
    host = urlparse(url).hostname or url
    reason = src.offline_reason()
    if reason:
        raise Offline(f"{src.label}: not downloading because {reason}.", how)
    report(0.0, f"checking that {host} can be reached…")
    if not reachable(url, timeout):
        raise Offline(f"{src.label}: {host} cannot be reached (no connection opened within {timeout:g} s); "
                      "this machine looks offline.", how)

    folder = src.watch()
    before = {str(p) for p in folder.rglob("*")} if folder.is_dir() else set()
    try:
        total = src.expected_bytes()
    except Exception:  # noqa: BLE001 - only for the progress bar
        total = None
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            src.download()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True, name=f"weights-fetch-{name}")
    started = time.monotonic()
    worker.start()
    while worker.is_alive():
        worker.join(poll)
        done = _new_bytes(folder, before)
        mb = f"{done / 2**20:,.1f} MB"
        if total:
            report(min(done / total, 0.99), f"downloading {src.label} from {host}: {mb} of {total / 2**20:,.1f} MB")
        else:
            report(0.0, f"downloading {src.label} from {host}: {mb} ({time.monotonic() - started:.0f} s)")
    error = outcome[0] if outcome else RuntimeError("the download thread ended without a result")
    if error is not None:
        kind = Offline if _is_connection_error(error) else DownloadFailed
        raise kind(f"{src.label}: the download failed: {type(error).__name__}: {error}", how) from error
    report(0.99, "checking that the weights are found…")
    try:
        path, weights_id = src.locate()
    except (WeightsMissing, ValueError) as exc:
        raise DownloadFailed(f"{src.label}: downloaded, but the resolver still does not find the weights: "
                             f"{str(exc).splitlines()[0]}", instructions(src)) from exc
    report(1.0, f"{src.label}: weights at {path}")
    return Fetched(name, path, weights_id, downloaded=True)


# -- the CLI's `weights get` ----------------------------------------------------------------------
def _cli_progress(stream) -> Progress:
    """Progress lines for a terminal (one line rewritten in place) or a log (a line per 10 %)."""
    tty = stream.isatty()
    last = {"step": -1, "message": ""}

    def report(fraction: float, message: str) -> None:
        if tty:
            stream.write(f"\r[{fraction:4.0%}] {message}\033[K")
            stream.flush()
            return
        step = int(fraction * 10)
        phase = message.split(":")[0]
        if step != last["step"] or phase != last["message"]:
            last.update(step=step, message=phase)
            print(f"[{fraction:4.0%}] {message}", file=stream, flush=True)
    return report


def get_command(name: str | None, quiet: bool = False, stdout=None, stderr=None) -> int:
    """`python -m trend_core weights get NAME`: fetch, print where the resolver finds the weights; exit
    code 0, 2 (unknown name, package missing, offline: with the copy commands) or 1 (download failed)."""
    import sys

    out, err = stdout or sys.stdout, stderr or sys.stderr
    if not name:
        print(f"error: name the weights to get; valid names: {', '.join(SOURCES)}", file=err)
        return 2
    progress = None if quiet else _cli_progress(err)
    try:
        result = fetch(name, progress)
    except FetchError as exc:
        if progress is not None and err.isatty():
            err.write("\n")
        print(f"error: {exc}", file=err)
        if exc.instructions:
            print("\nTo get them without a connection here:\n" + exc.instructions, file=err)
        return exc.exit_code
    if progress is not None and err.isatty():
        err.write("\n")
    verb = "downloaded; the resolver finds them" if result.downloaded else "already here (nothing downloaded)"
    print(f"{name}: {verb} at {result.path} (weights id {result.weights_id})", file=out)
    return 0
