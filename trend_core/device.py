"""Where models run: the device chosen automatically (CUDA when torch sees a GPU, else CPU), or forced
with $TREND_DEVICE ("cpu", "cuda", "cuda:1"). torch is imported only when asked."""
from __future__ import annotations

import os

__all__ = ["ENV_DEVICE", "pick_device", "device_label"]

ENV_DEVICE = "TREND_DEVICE"


def pick_device(preferred: str | None = None):
    """torch.device: `preferred`, else $TREND_DEVICE, else cuda when available, else cpu."""
    import torch

    name = preferred or os.environ.get(ENV_DEVICE) or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for but torch sees no CUDA GPU")
    return device


def device_label(preferred: str | None = None) -> str:
    """'cuda (NVIDIA H100 ...)' or 'cpu (2 threads)' for the sidebar and reports."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a requirement
        return "cpu (torch missing)"
    device = pick_device(preferred)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
