"""Person masks from torchvision's pretrained DeepLabV3 (COCO_WITH_VOC_LABELS_V1, VOC class 15 "person").

Two backbones: ``deeplabv3_mobilenet`` (MobileNetV3-Large, fast) and ``deeplabv3_resnet50`` (more
accurate, slower). Weights are never downloaded: `trend_core.weights.resolve` finds an explicit file
($TREND_DEEPLABV3_MOBILENET_WEIGHTS / $TREND_DEEPLABV3_RESNET50_WEIGHTS) or torchvision's checkpoint in
torch hub's cache. The network is built with weights=None and weights_backbone=None and the checkpoint
loaded strictly with `torch.load(..., weights_only=True)`; torchvision's checkpoints carry the auxiliary
FCN head, which is loaded (so strict loading checks every key) and then dropped (inference never uses it).

Inference (`person_masks`): images resized so the short side is `short_side`, ImageNet-normalised,
batched per input size (ASPP pools globally, so padding to a common size would change the result),
`torch.inference_mode`, channels_last (faster with oneDNN on CPU too), on CUDA fp16 autocast. A pixel is person where the person
logit beats every other class. torch is imported only inside functions, so importing this module is cheap.
"""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from trend_core.device import pick_device
from trend_core.weights import WeightsMissing, WeightsSpec, resolve

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = ["DEEPLAB_SPECS", "DEEPLAB_BUILDERS", "PERSON_CLASS", "IMAGENET_MEAN", "IMAGENET_STD",
           "deeplab_status", "load_deeplab", "person_masks", "net_size"]

PERSON_CLASS = 15  # index of "person" in COCO_WITH_VOC_LABELS_V1's 21 categories
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_WEIGHTS_ID = "coco_with_voc_labels_v1"


def _fetch(builder: str) -> str:
    return f"import torchvision; torchvision.models.segmentation.{builder}(weights='COCO_WITH_VOC_LABELS_V1')"


# registry name -> torchvision builder in torchvision.models.segmentation
DEEPLAB_BUILDERS: dict[str, str] = {
    "deeplabv3_mobilenet": "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50": "deeplabv3_resnet50",
}

# filenames: basenames of DeepLabV3_*_Weights.COCO_WITH_VOC_LABELS_V1.url (checked by the tests)
DEEPLAB_SPECS: dict[str, WeightsSpec] = {
    "deeplabv3_mobilenet": WeightsSpec(
        label="DeepLabV3 MobileNetV3-Large", env_var="TREND_DEEPLABV3_MOBILENET_WEIGHTS",
        filename="deeplabv3_mobilenet_v3_large-fc3c493d.pth", weights_id=TORCHVISION_WEIGHTS_ID,
        fetch_code=_fetch("deeplabv3_mobilenet_v3_large")),
    "deeplabv3_resnet50": WeightsSpec(
        label="DeepLabV3 ResNet-50", env_var="TREND_DEEPLABV3_RESNET50_WEIGHTS",
        filename="deeplabv3_resnet50_coco-cd0a2569.pth", weights_id=TORCHVISION_WEIGHTS_ID,
        fetch_code=_fetch("deeplabv3_resnet50")),
}


def deeplab_status(arch: str, weights_path: str | os.PathLike | None = None) -> str | None:
    """None when `arch` can run here; else a one-line reason (torch missing, weights missing)."""
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        return "torch / torchvision not installed"
    try:
        resolve(DEEPLAB_SPECS[arch], weights_path)
    except WeightsMissing as err:
        return str(err).splitlines()[0].split(" To get them:")[0]  # the how-to is in the full message
    return None


def load_deeplab(arch: str, weights_path: str | os.PathLike | None = None,
                 device: str | None = None) -> torch.nn.Module:
    """The DeepLabV3 network of `arch` with resolved weights, in eval mode and channels_last on `device`
    (auto when None).

    The auxiliary head is built only when the checkpoint has one (torchvision's do), so loading is
    strict either way; it is dropped afterwards. Raises WeightsMissing when no checkpoint is found.
    """
    import torch
    from torchvision.models import segmentation

    path, _ = resolve(DEEPLAB_SPECS[arch], weights_path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    has_aux = any(k.startswith("aux_classifier.") for k in state)
    builder = getattr(segmentation, DEEPLAB_BUILDERS[arch])
    model = builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=has_aux)
    model.load_state_dict(state, strict=True)
    model.aux_classifier = None
    return model.eval().to(pick_device(device), memory_format=torch.channels_last)


def net_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to `short_side`, aspect ratio kept."""
    w, h = size
    scale = short_side / max(1, min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _prepare(images: Sequence[Image.Image], short_side: int) -> list[np.ndarray]:
    """RGB uint8 arrays at the network's input size."""
    return [np.asarray(img.convert("RGB").resize(net_size(img.size, short_side), Image.Resampling.BILINEAR))
            for img in images]


def _person_score(model: torch.nn.Module, batch: np.ndarray) -> torch.Tensor:
    """Person logit minus the best other logit, (n, h, w) float32, for a uint8 (n, h, w, 3) batch."""
    import torch

    device = next(model.parameters()).device
    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            logits = model(x)["out"]
    else:
        logits = model(x)["out"]
    logits = logits.float()
    others = torch.cat([logits[:, :PERSON_CLASS], logits[:, PERSON_CLASS + 1:]], dim=1)
    return logits[:, PERSON_CLASS] - others.amax(dim=1)


def person_masks(model: torch.nn.Module, images: Sequence[Image.Image], shapes: Sequence[tuple[int, int]],
                 short_side: int = 320, batch_size: int = 8) -> list[np.ndarray]:
    """Bool person masks, image i's at shapes[i] = (H, W). Images of one input size share batches."""
    import torch
    import torch.nn.functional as F

    arrays = _prepare(images, short_side)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, arr in enumerate(arrays):
        groups[arr.shape].append(i)
    out: list[np.ndarray | None] = [None] * len(arrays)
    with torch.inference_mode():
        for members in groups.values():
            for start in range(0, len(members), batch_size):
                idx = members[start:start + batch_size]
                score = _person_score(model, np.stack([arrays[i] for i in idx]))
                for j, i in enumerate(idx):
                    resized = F.interpolate(score[j][None, None], size=tuple(shapes[i]), mode="bilinear",
                                            align_corners=False)
                    out[i] = (resized[0, 0] > 0).cpu().numpy()
    return out  # type: ignore[return-value]
