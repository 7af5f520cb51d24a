"""Offline resolution of pretrained weights, shared by every model plug-in (ResNet-50, DeepLabV3, ...).

Weights are never downloaded at run time. A `WeightsSpec` names where a checkpoint may lie, and
`resolve(spec, explicit)` looks, in this order, at
1. an explicit local file: the `explicit` argument, else the spec's environment variable
   (weights_id "file:<first 12 hex of the file's sha256>");
2. torchvision's checkpoint in torch hub's cache, `torch.hub.get_dir()/checkpoints/<file name>`
   (honours `TORCH_HOME`; weights_id the spec's `weights_id`, e.g. "imagenet1k_v2").
When neither exists, `WeightsMissing` (a FileNotFoundError) says exactly how to get them on a
connected machine and how to copy them to an offline one.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WeightsSpec", "WeightsMissing", "resolve", "file_weights_id", "hub_checkpoint", "weights_id_for"]

_HASH_CACHE: dict[tuple[str, int, int], str] = {}  # (resolved path, mtime_ns, size) -> "file:<sha12>"


class WeightsMissing(FileNotFoundError):
    """Pretrained weights are not available locally (they are never downloaded at run time)."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where one model's checkpoint may be found.

    label: what the user reads ("ResNet-50").
    env_var: environment variable that may point at an explicit checkpoint file.
    filename: basename of torchvision's checkpoint (the last part of its weights URL).
    weights_id: id recorded in cache keys when the torchvision checkpoint is used.
    fetch_code: Python that fills torch hub's cache on a connected machine.
    """

    label: str
    env_var: str
    filename: str
    weights_id: str
    fetch_code: str

    def missing_message(self, looked_at: list[str]) -> str:
        return (
            f"{self.label} weights not found (looked at: " + ", ".join(looked_at) + "); they are never "
            "downloaded at run time.\nTo get them: on a connected machine run\n"
            f"    python -c \"{self.fetch_code}\"\n"
            f"which fills $TORCH_HOME/hub/checkpoints/ (default ~/.cache/torch/hub/checkpoints/) with "
            f"{self.filename}; then copy that file to this machine's $TORCH_HOME/hub/checkpoints/, "
            f"or point {self.env_var} at it (export {self.env_var}=/path/to/{self.filename})."
        )


def hub_checkpoint(filename: str) -> Path:
    """Where torch hub keeps a torchvision checkpoint (honours TORCH_HOME)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def file_weights_id(path: Path) -> str:
    """"file:<sha256[:12]>", cached per (path, mtime, size) so a 100 MB file is hashed once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASH_CACHE[key] = "file:" + h.hexdigest()[:12]
    return _HASH_CACHE[key]


def _explicit(spec: WeightsSpec, explicit: str | os.PathLike | None) -> Path | None:
    value = explicit if explicit is not None else (os.environ.get(spec.env_var) or None)
    return Path(value).expanduser() if value is not None else None


def resolve(spec: WeightsSpec, explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(checkpoint path, weights_id): explicit file (argument, else $env_var), else torchvision's
    checkpoint in torch hub's cache. Raises WeightsMissing with instructions."""
    path = _explicit(spec, explicit)
    if path is not None:
        if not path.is_file():
            raise WeightsMissing(spec.missing_message([str(path)]))
        return path, file_weights_id(path)
    path = hub_checkpoint(spec.filename)
    if not path.is_file():
        raise WeightsMissing(spec.missing_message([f"${spec.env_var} (unset)", str(path)]))
    return path, spec.weights_id


def weights_id_for(spec: WeightsSpec, explicit: str | os.PathLike | None = None) -> str:
    """The weights_id that `resolve` would give, without needing the torchvision checkpoint to exist
    (an explicit file must exist: its id is its hash)."""
    path = _explicit(spec, explicit)
    if path is None:
        return spec.weights_id
    if not path.is_file():
        raise WeightsMissing(spec.missing_message([str(path)]))
    return file_weights_id(path)
