"""`ResNet50Embedder`: 2048-d pooled features of torchvision's ImageNet ResNet-50 (fc = Identity).

Weights are never downloaded at run time. They are resolved, in this order, from
1. an explicit local file: the `weights_path` argument, else the `TREND_RESNET50_WEIGHTS` env var
   (weights_id "file:<first 12 hex of the file's sha256>");
2. torchvision's `ResNet50_Weights.IMAGENET1K_V2` checkpoint in torch hub's cache,
   `torch.hub.get_dir()/checkpoints/resnet50-11ad3fa6.pth` (honours `TORCH_HOME`; weights_id
   "imagenet1k_v2").
When neither exists, `WeightsMissing` (a FileNotFoundError) says how to get them.

Preprocessing: with a mask, pixels outside it are set to the ImageNet mean colour (so they normalise
to 0); the image is padded to a square with the same colour (no distortion, nothing cropped off the
figure), resized to 224 x 224 and ImageNet-normalised. torch is imported only when weights are
resolved or images embedded, so importing this module (and registering it) stays cheap.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ResNet50Embedder", "WeightsMissing", "resolve_weights", "ENV_WEIGHTS", "INPUT_SIZE"]

ENV_WEIGHTS = "TREND_RESNET50_WEIGHTS"
INPUT_SIZE = 224
BATCH_SIZE = 32
TORCHVISION_WEIGHTS_ID = "imagenet1k_v2"
_FALLBACK_FILENAME = "resnet50-11ad3fa6.pth"  # basename of ResNet50_Weights.IMAGENET1K_V2.url
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN_RGB = tuple(int(round(m * 255)) for m in IMAGENET_MEAN)  # fill colour for masked-out / padding

_HASH_CACHE: dict[tuple[str, int, int], str] = {}  # (resolved path, mtime_ns, size) -> "file:<sha12>"


class WeightsMissing(FileNotFoundError):
    """The ResNet-50 weights are not available locally (they are never downloaded at run time)."""


def _missing_message(looked_at: list[str]) -> str:
    return (
        "ResNet-50 weights not found (looked at: " + ", ".join(looked_at) + "). They are never downloaded "
        "at run time. To get them: on a connected machine run\n"
        "    python -c \"import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V2')\"\n"
        f"which fills $TORCH_HOME/hub/checkpoints/ (default ~/.cache/torch/hub/checkpoints/) with "
        f"{_FALLBACK_FILENAME}; then copy that file to this machine's $TORCH_HOME/hub/checkpoints/, "
        f"or point {ENV_WEIGHTS} at it (export {ENV_WEIGHTS}=/path/to/{_FALLBACK_FILENAME})."
    )


def _torchvision_checkpoint() -> Path:
    """Where torch hub keeps the IMAGENET1K_V2 checkpoint (honours TORCH_HOME)."""
    import torch

    try:
        from torchvision.models import ResNet50_Weights

        filename = os.path.basename(ResNet50_Weights.IMAGENET1K_V2.url)
    except ImportError:  # pragma: no cover - torchvision is a dependency of the model anyway
        filename = _FALLBACK_FILENAME
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _file_weights_id(path: Path) -> str:
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


def resolve_weights(weights_path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(checkpoint path, weights_id): explicit file (argument, else $TREND_RESNET50_WEIGHTS), else the
    torchvision IMAGENET1K_V2 checkpoint in torch hub's cache. Raises WeightsMissing."""
    explicit = weights_path if weights_path is not None else (os.environ.get(ENV_WEIGHTS) or None)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsMissing(_missing_message([str(path)]))
        return path, _file_weights_id(path)
    path = _torchvision_checkpoint()
    if not path.is_file():
        raise WeightsMissing(_missing_message([f"${ENV_WEIGHTS} (unset)", str(path)]))
    return path, TORCHVISION_WEIGHTS_ID


class ResNet50Embedder:
    """ImageNet ResNet-50 global-average-pooled features (2048-d float32), optionally masked.

    size: recorded only (the network always sees 224 x 224). weights_path: explicit checkpoint (a
    torchvision resnet50 state dict); default $TREND_RESNET50_WEIGHTS, else torch hub's cache.
    device: "cuda" / "cpu" / None (auto). The constructor does no heavy work; the model is built on
    the first `embed`. `weights_id` needs no weights for the default (torchvision) source and hashes
    an explicit file once (cached per path + mtime).
    """

    name = "resnet50"
    version = "1"
    dim = 2048

    def __init__(self, size: int = INPUT_SIZE, *, weights_path: str | os.PathLike | None = None,
                 device: str | None = None, batch_size: int = BATCH_SIZE) -> None:
        self.size = size
        explicit = weights_path if weights_path is not None else (os.environ.get(ENV_WEIGHTS) or None)
        self.weights_path = Path(explicit).expanduser() if explicit is not None else None
        self.device = device
        self.batch_size = batch_size
        self._model = None

    @property
    def weights_id(self) -> str:
        if self.weights_path is None:
            return TORCHVISION_WEIGHTS_ID
        if not self.weights_path.is_file():
            raise WeightsMissing(_missing_message([str(self.weights_path)]))
        return _file_weights_id(self.weights_path)

    def encoder_id(self) -> str:
        return f"{self.name}@{self.version}#{self.weights_id}"

    # -- model -------------------------------------------------------------------------------------
    def _load(self):
        if self._model is not None:
            return self._model
        import torch
        import torchvision

        path, _ = resolve_weights(self.weights_path)
        model = torchvision.models.resnet50(weights=None)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        model.fc = torch.nn.Identity()
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = model.eval().to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self._device = device
        self._model = model
        return model

    # -- preprocessing -----------------------------------------------------------------------------
    @staticmethod
    def _prepare(image: Image.Image, mask: np.ndarray | None) -> np.ndarray:
        """(224, 224, 3) uint8: masked-out pixels and square padding in the ImageNet mean colour."""
        from trend_core.embed.image import _mask_for  # lazy: image.py imports this module

        img = image.convert("RGB")
        m = _mask_for(img, mask)
        if m is not None:
            rgb = np.asarray(img).copy()
            rgb[~m] = _MEAN_RGB
            img = Image.fromarray(rgb)
        side = max(img.width, img.height)
        if img.width != img.height:
            canvas = Image.new("RGB", (side, side), _MEAN_RGB)
            canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
            img = canvas
        return np.asarray(img.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR))

    def embed(self, images: list[Image.Image], masks: list[np.ndarray | None] | None = None) -> np.ndarray:
        """(n, 2048) float32 features; masks[i] None means the whole image."""
        masks = list(masks) if masks is not None else [None] * len(images)
        if len(masks) != len(images):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        if not images:
            return out
        import torch

        model = self._load()
        mean = torch.tensor(IMAGENET_MEAN, device=self._device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self._device).view(1, 3, 1, 1)
        cuda = self._device.type == "cuda"
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                stop = min(start + self.batch_size, len(images))
                batch = np.stack([self._prepare(img, m) for img, m in zip(images[start:stop], masks[start:stop])])
                x = torch.from_numpy(batch).to(self._device).permute(0, 3, 1, 2).float().div_(255)
                x = (x - mean) / std
                if cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                    with torch.autocast("cuda", dtype=torch.float16):
                        feats = model(x)
                else:
                    feats = model(x)
                out[start:stop] = feats.float().cpu().numpy()
        return out
