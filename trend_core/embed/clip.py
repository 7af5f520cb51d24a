"""`ClipEmbedder`: L2-normalised CLIP image embeddings through open_clip (package `open_clip_torch`), and
`encode_text` into the same space.

The model is `model_name` (else $TREND_CLIP_MODEL, else ViT-B-32). Weights are never downloaded;
they are, in this order,
1. an explicit local file: the `weights_path` argument, else $TREND_CLIP_WEIGHTS (weights_id
   "<model>:file:<first 12 hex of its sha256>"), taken to hold the `pretrained` tag's weights when
   open_clip knows that tag for the model (its mean / std, interpolation and QuickGELU apply), else
   loaded into the model config as it is;
2. open_clip's pretrained tag `pretrained` (else $TREND_CLIP_PRETRAINED, else laion2b_s34b_b79k)
   taken from the local Hugging Face cache only (`huggingface_hub.try_to_load_from_cache`; tags
   served from a URL: open_clip's ~/.cache/clip), weights_id "<model>:<tag>".
When neither exists, `WeightsMissing` says how to fetch them on a connected machine and copy them to
an offline one. The model name is part of weights_id since one tag (e.g. "openai") names the weights
of several architectures.

Images are prepared like the ResNet's (mask to the mean colour, padded to a square, resized with
the tag's interpolation to the model's input size; no centre crop, so nothing of the figure is cut
off) and normalised with the tag's mean / std. open_clip and torch are imported only when a model is
loaded or its configuration read.
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from trend_core.embed.resnet import TorchImageEmbedder
from trend_core.weights import WeightsMissing, file_weights_id

if TYPE_CHECKING:
    import torch

__all__ = ["ClipEmbedder", "resolve_clip_weights", "ENV_WEIGHTS", "ENV_MODEL", "ENV_PRETRAINED",
           "DEFAULT_MODEL", "DEFAULT_PRETRAINED"]

ENV_WEIGHTS = "TREND_CLIP_WEIGHTS"
ENV_MODEL = "TREND_CLIP_MODEL"
ENV_PRETRAINED = "TREND_CLIP_PRETRAINED"
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
BATCH_SIZE = 64
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip.OPENAI_DATASET_MEAN / _STD
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
_HF_DEFAULT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}


def _pretrained_cfg(model_name: str, tag: str) -> dict[str, Any]:
    import open_clip

    return dict(open_clip.get_pretrained_cfg(model_name, tag) or {})


def _hf_candidates(hf_hub: str) -> tuple[str, list[str]]:
    """(repo id, file names to look for, safetensors first) of an open_clip `hf_hub` entry."""
    repo_id, filename = os.path.split(hf_hub)
    if not filename:
        return repo_id, list(_HF_DEFAULT_FILES)
    stem, ext = os.path.splitext(filename)
    return repo_id, ([stem + ".safetensors"] if ext in (".bin", ".pth") else []) + [filename]


def _missing_message(model_name: str, tag: str, looked_at: list[str], cfg: dict[str, Any]) -> str:
    fetch = (f"import open_clip; open_clip.create_model_and_transforms('{model_name}', "
             f"pretrained='{tag}')")
    if cfg.get("hf_hub"):
        repo_id, files = _hf_candidates(cfg["hf_hub"])
        folder = "models--" + repo_id.replace("/", "--")
        where = (f"the Hugging Face cache ($HF_HUB_CACHE, default $HF_HOME/hub = ~/.cache/huggingface/hub) "
                 f"with the folder {folder}; then copy that whole folder into this machine's Hugging Face "
                 f"cache, or copy its weights file ({folder}/snapshots/<revision>/{' or '.join(files)}) here")
        name = files[0]
    else:
        name = os.path.basename(cfg.get("url", "")) or "<weights file>"
        where = f"~/.cache/clip/ with {name}; then copy that file to this machine's ~/.cache/clip/, or here"
    return (
        f"CLIP weights {model_name}/{tag} not found (looked at: " + ", ".join(looked_at) + "); they are "
        "never downloaded at run time.\nTo get them: on a connected machine (pip install open_clip_torch) run\n"
        f"    python -c \"{fetch}\"\n"
        f"which fills {where} and point {ENV_WEIGHTS} at it (export {ENV_WEIGHTS}=/path/to/{name})."
    )


def resolve_clip_weights(model_name: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED,
                         weights_path: str | os.PathLike | None = None,
                         cache_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(weights file, weights_id) from local files only: the explicit file (argument, else
    $TREND_CLIP_WEIGHTS), else the tag's file in the Hugging Face cache (`cache_dir`: another hub
    cache folder) or open_clip's URL cache. Raises WeightsMissing, or ValueError for an unknown tag."""
    explicit = weights_path if weights_path is not None else (os.environ.get(ENV_WEIGHTS) or None)
    cfg = _pretrained_cfg(model_name, pretrained)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsMissing(_missing_message(model_name, pretrained, [str(path)], cfg))
        return path, f"{model_name}:{file_weights_id(path)}"
    if not cfg:
        import open_clip

        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise ValueError(f"open_clip has no pretrained tag {pretrained!r} for {model_name!r} "
                         f"(known: {', '.join(tags) or 'none'}); set {ENV_WEIGHTS} to a weights file instead")
    looked_at = [f"${ENV_WEIGHTS} (unset)"]
    if cfg.get("hf_hub"):
        from huggingface_hub import constants, try_to_load_from_cache

        repo_id, files = _hf_candidates(cfg["hf_hub"])
        for name in files:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found), f"{model_name}:{pretrained}"
        looked_at.append(f"Hugging Face cache {cache_dir or constants.HF_HUB_CACHE} for {repo_id} "
                         f"({' or '.join(files)})")
    elif cfg.get("url"):
        path = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        if path.is_file():
            return path, f"{model_name}:{pretrained}"
        looked_at.append(str(path))
    raise WeightsMissing(_missing_message(model_name, pretrained, looked_at, cfg))


class ClipEmbedder(TorchImageEmbedder):
    """open_clip CLIP image embeddings (embed_dim, L2-normalised float32), optionally masked.

    size: recorded only (the model has its own input size). model_name / pretrained / weights_path:
    see the module doc (env vars read when constructed). device: "cuda" / "cpu" / None (auto).
    cache_dir: a Hugging Face hub cache folder other than the default. Nothing heavy happens in the
    constructor; the model is built on first use.
    """

    name = "clip"
    version = "1"
    description: ClassVar[str] = "CLIP image features via open_clip (needs its weights on this machine)"
    channels_last = False

    def __init__(self, size: int = 224, *, model_name: str | None = None, pretrained: str | None = None,
                 weights_path: str | os.PathLike | None = None, device: str | None = None,
                 batch_size: int = BATCH_SIZE, cache_dir: str | os.PathLike | None = None) -> None:
        self.size = size
        self.model_name = model_name or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
        self.pretrained = pretrained or os.environ.get(ENV_PRETRAINED) or DEFAULT_PRETRAINED
        explicit = weights_path if weights_path is not None else (os.environ.get(ENV_WEIGHTS) or None)
        self.weights_path = Path(explicit).expanduser() if explicit is not None else None
        self.device = device
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self._model = None

    # -- configuration (no model built) ------------------------------------------------------------
    @cached_property
    def _config(self) -> dict[str, Any]:
        import open_clip

        cfg = open_clip.get_model_config(self.model_name)
        if cfg is None:
            raise ValueError(f"unknown open_clip model {self.model_name!r}")
        return cfg

    @cached_property
    def _preprocess_cfg(self) -> dict[str, Any]:
        """mean / std / interpolation / quick_gelu: the tag's when open_clip knows it, else the model
        config's."""
        cfg = dict(self._config.get("preprocess_cfg", {}))
        cfg.update(_pretrained_cfg(self.model_name, self.pretrained))
        return cfg

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self._config["embed_dim"])

    @property
    def input_size(self) -> int:  # type: ignore[override]
        size = self._config["vision_cfg"].get("image_size", 224)
        return int(size if isinstance(size, int) else max(size))

    @property
    def mean(self) -> tuple[float, float, float]:  # type: ignore[override]
        return tuple(self._preprocess_cfg.get("mean", OPENAI_MEAN))  # type: ignore[return-value]

    @property
    def std(self) -> tuple[float, float, float]:  # type: ignore[override]
        return tuple(self._preprocess_cfg.get("std", OPENAI_STD))  # type: ignore[return-value]

    @property
    def resample(self) -> Image.Resampling:  # type: ignore[override]
        return _RESAMPLE.get(self._preprocess_cfg.get("interpolation", "bicubic"), Image.Resampling.BICUBIC)

    def resolve(self) -> tuple[Path, str]:
        """(weights file, weights_id); raises WeightsMissing / ValueError."""
        return resolve_clip_weights(self.model_name, self.pretrained, self.weights_path, self.cache_dir)

    @property
    def weights_id(self) -> str:
        if self.weights_path is None:
            return f"{self.model_name}:{self.pretrained}"
        return self.resolve()[1]

    def check(self) -> None:
        """Raise WeightsMissing / ValueError unless the model and its weights can be found."""
        _ = self._config
        self.resolve()

    # -- model -------------------------------------------------------------------------------------
    def _build(self) -> torch.nn.Module:
        import open_clip

        path, _ = self.resolve()
        quick_gelu = bool(self._preprocess_cfg.get("quick_gelu", False))
        return open_clip.create_model(self.model_name, pretrained=str(path), force_quick_gelu=quick_gelu,
                                      device="cpu")

    def _encode(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.normalize(model.encode_image(x).float(), dim=-1)

    @cached_property
    def _tokenizer(self) -> Any:
        import open_clip

        return open_clip.get_tokenizer(self.model_name)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 L2-normalised text embeddings in the image embeddings' space."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch
        import torch.nn.functional as F

        model = self.load()
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self._tokenizer(list(texts[start:start + self.batch_size])).to(self._device)
                if self._device.type == "cuda":
                    with torch.autocast("cuda", dtype=torch.float16):
                        feats = model.encode_text(tokens)
                else:
                    feats = model.encode_text(tokens)
                out.append(F.normalize(feats.float(), dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)
