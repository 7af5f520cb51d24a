"""`ResNet50Embedder`: 2048-d pooled features of torchvision's ImageNet ResNet-50 (fc = Identity), and
`TorchImageEmbedder`, the base it shares with the CLIP embedder (square uint8 input, device work).

Weights are never downloaded at run time. `trend_core.weights` resolves them, in this order, from
1. an explicit local file: the `weights_path` argument, else the `TREND_RESNET50_WEIGHTS` env var
   (weights_id "file:<first 12 hex of the file's sha256>");
2. torchvision's `ResNet50_Weights.IMAGENET1K_V2` checkpoint in torch hub's cache,
   `torch.hub.get_dir()/checkpoints/resnet50-11ad3fa6.pth` (honours `TORCH_HOME`; weights_id
   "imagenet1k_v2").
When neither exists, `WeightsMissing` (a FileNotFoundError) says how to get them.

Preprocessing (CPU, thread-safe): with a mask, pixels outside it are set to the model's mean colour
(so they normalise to 0); the image is padded to a square with the same colour (no distortion,
nothing cropped off the figure) and resized to the input size, as uint8. The forward pass moves the
uint8 batch to the device (pinned, non-blocking on CUDA), normalises it there and runs the model
under `torch.inference_mode` (on CUDA: fp16 autocast, channels_last). torch is imported only when a
model is loaded, so importing this module (and registering it) stays cheap.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from trend_core.device import pick_device
from trend_core.embed.batching import embed_images
from trend_core.weights import WeightsMissing, WeightsSpec, resolve, weights_id_for

if TYPE_CHECKING:
    import torch

__all__ = ["ResNet50Embedder", "TorchImageEmbedder", "WeightsMissing", "resolve_weights", "masked_square",
           "ENV_WEIGHTS", "INPUT_SIZE", "RESNET50_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD"]

ENV_WEIGHTS = "TREND_RESNET50_WEIGHTS"
INPUT_SIZE = 224
BATCH_SIZE = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RESNET50_WEIGHTS = WeightsSpec(
    label="ResNet-50 (IMAGENET1K_V2)",
    env_var=ENV_WEIGHTS,
    filename="resnet50-11ad3fa6.pth",  # basename of torchvision's ResNet50_Weights.IMAGENET1K_V2.url
    weights_id="imagenet1k_v2",
    fetch_code="import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V2')",
)


def resolve_weights(weights_path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(checkpoint path, weights_id): explicit file (argument, else $TREND_RESNET50_WEIGHTS), else the
    torchvision IMAGENET1K_V2 checkpoint in torch hub's cache. Raises WeightsMissing."""
    return resolve(RESNET50_WEIGHTS, weights_path)


def mean_colour(mean: tuple[float, float, float]) -> tuple[int, int, int]:
    """A normalisation mean (0..1 per channel) as the uint8 RGB colour that normalises to ~0."""
    return tuple(int(round(m * 255)) for m in mean)  # type: ignore[return-value]


def masked_square(image: Image.Image, mask: np.ndarray | None, size: int, fill: tuple[int, int, int],
                  resample: Image.Resampling = Image.Resampling.BILINEAR) -> np.ndarray:
    """(size, size, 3) uint8: pixels outside the mask and the padding to a square in `fill`."""
    from trend_core.embed.image import _mask_for  # lazy: image.py imports this module

    img = image.convert("RGB")
    m = _mask_for(img, mask)
    if m is not None:
        rgb = np.asarray(img).copy()
        rgb[~m] = fill
        img = Image.fromarray(rgb)
    if img.width != img.height:
        side = max(img.width, img.height)
        canvas = Image.new("RGB", (side, side), fill)
        canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
        img = canvas
    return np.asarray(img.resize((size, size), resample))


class TorchImageEmbedder:
    """Base of the torch embedders: `preprocess` -> (S, S, 3) uint8 (`masked_square`), `forward` ->
    device tensor, normalised there, model under inference_mode (+ fp16 autocast on CUDA).

    Subclasses set `input_size`, `mean`, `std`, `resample`, `channels_last`, `device`,
    `batch_size`, `dim` and implement `_build()` (the model on the CPU, weights loaded) and
    `_encode(model, x)` ((n, dim) tensor). The model is built on first use (`load`).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    dim: int
    resample: ClassVar[Image.Resampling] = Image.Resampling.BILINEAR
    channels_last: ClassVar[bool] = False
    device: str | None = None
    batch_size: int = BATCH_SIZE
    _model: Any = None

    def _build(self) -> torch.nn.Module:
        raise NotImplementedError

    def _encode(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def preprocess(self, image: Image.Image, mask: np.ndarray | None = None) -> np.ndarray:
        """(S, S, 3) uint8 at the model's input size; masked-out pixels and padding in the mean colour."""
        return masked_square(image, mask, self.input_size, mean_colour(self.mean), self.resample)

    def load(self) -> torch.nn.Module:
        """The model, in eval mode on its device (built and cached on first call)."""
        if self._model is None:
            import torch

            device = pick_device(self.device)
            model = self._build().eval().to(device)
            if device.type == "cuda" and self.channels_last:
                model = model.to(memory_format=torch.channels_last)
            shape = (1, 3, 1, 1)
            self._norm = (torch.tensor(self.mean, device=device).view(shape),
                          torch.tensor(self.std, device=device).view(shape))
            self._device = device
            self._model = model
        return self._model

    def to_tensor(self, batch: np.ndarray) -> torch.Tensor:
        """(n, S, S, 3) uint8 -> (n, 3, S, S) float32 normalised on the model's device (uint8 copied
        from pinned memory, non-blocking, on CUDA)."""
        import torch

        self.load()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            if self._device.type == "cuda":
                x = x.pin_memory().to(self._device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float().div_(255)  # NHWC memory: channels_last strides
            mean, std = self._norm
            x = (x - mean) / std
            if self._device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last if self.channels_last
                                 else torch.contiguous_format)
        return x

    def forward_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(n, dim) float32 device tensor: the bare model work on a `to_tensor` batch."""
        import torch

        model = self.load()
        with torch.inference_mode():
            if self._device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    return self._encode(model, x).float()
            return self._encode(model, x).float()

    def forward_async(self, batch: np.ndarray) -> Callable[[], np.ndarray]:
        """Queue the model work on a stack of `preprocess` outputs (asynchronous on CUDA); the returned
        function waits for it and gives the (n, dim) float32 vectors."""
        if len(batch) == 0:
            empty = np.zeros((0, self.dim), dtype=np.float32)
            return lambda: empty
        y = self.forward_tensor(self.to_tensor(batch))
        return lambda: y.cpu().numpy()

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """(n, dim) float32 vectors of a stack of `preprocess` outputs."""
        return self.forward_async(batch)()

    def embed(self, images: list[Image.Image], masks: list[np.ndarray | None] | None = None) -> np.ndarray:
        """(n, dim) float32 vectors; masks[i] None means the whole image."""
        return embed_images(self, images, masks)

    def encoder_id(self) -> str:
        return f"{self.name}@{self.version}#{self.weights_id}"  # type: ignore[attr-defined]


class ResNet50Embedder(TorchImageEmbedder):
    """ImageNet ResNet-50 global-average-pooled features (2048-d float32), optionally masked.

    size: recorded only (the network always sees 224 x 224). weights_path: explicit checkpoint (a
    torchvision resnet50 state dict); default $TREND_RESNET50_WEIGHTS (read when constructed), else
    torch hub's cache. device: "cuda" / "cpu" / None (`trend_core.device.pick_device`). The
    constructor does no heavy work; the model is built on first use. `weights_id` needs no weights for
    the default (torchvision) source and hashes an explicit file once (cached per path + mtime).
    """

    name = "resnet50"
    version = "1"
    dim = 2048
    description: ClassVar[str] = "ImageNet ResNet-50 features, 2048-d (needs its weights on this machine)"
    input_size = INPUT_SIZE
    mean = IMAGENET_MEAN
    std = IMAGENET_STD
    resample = Image.Resampling.BILINEAR
    channels_last = True

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
        return weights_id_for(RESNET50_WEIGHTS, self.weights_path)

    def check(self) -> None:
        """Raise WeightsMissing unless the weights can be found (torch imported, no model built)."""
        resolve_weights(self.weights_path)

    def _build(self) -> torch.nn.Module:
        import torch
        import torchvision

        path, _ = resolve_weights(self.weights_path)
        model = torchvision.models.resnet50(weights=None)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        model.fc = torch.nn.Identity()
        return model

    def _encode(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)
