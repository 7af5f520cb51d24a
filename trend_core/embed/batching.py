"""Batched image embedding for every `ImageEmbedder`: `embed_images` (in-memory PIL images, one
thread) and `embed_batches` (stored JPEG bytes; decoding and preprocessing in a thread pool while the
model's forward runs on the batch before).

Both stack `embedder.preprocess` outputs into batches of `embedder.batch_size` and call
`embedder.forward` once per batch, so a vector depends only on its image, mask and batch grouping.
An embedder may also offer `forward_async(batch) -> (() -> vectors)`, which queues the model work
(on a GPU) and returns a function that waits for the result: `embed_batches` then queues batch i+1
before it waits for batch i, so the device never idles while the host prepares the next batch.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from io import BytesIO
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # image.py imports this module
    from trend_core.embed.image import ImageEmbedder

__all__ = ["embed_images", "embed_batches", "decode_image", "default_workers", "DEFAULT_PREFETCH"]

DEFAULT_PREFETCH = 2  # batches decoded ahead of the one the model works on
_MAX_WORKERS = 8


def default_workers() -> int:
    """Decode / preprocess threads: one per core, at most 8 (PIL releases the GIL while it works)."""
    return max(1, min(_MAX_WORKERS, os.cpu_count() or 1))


def embed_images(embedder: ImageEmbedder, images: Sequence[Image.Image],
                 masks: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
    """(n, dim) float32: `forward` over stacks of `preprocess(image, mask)`, batch_size at a time;
    masks[i] None means the whole image."""
    masks = list(masks) if masks is not None else [None] * len(images)
    if len(masks) != len(images):
        raise ValueError(f"{len(images)} images but {len(masks)} masks")
    out = np.zeros((len(images), embedder.dim), dtype=np.float32)
    step = max(1, int(embedder.batch_size))
    for start in range(0, len(images), step):
        stop = min(start + step, len(images))
        batch = np.stack([embedder.preprocess(img, m) for img, m in zip(images[start:stop], masks[start:stop])])
        out[start:stop] = embedder.forward(batch)
    return out


def decode_image(blob: bytes) -> Image.Image:
    """Decoded RGB image from stored bytes (JPEG, PNG, ...)."""
    with Image.open(BytesIO(blob)) as img:
        return img.convert("RGB")


def _prepare(embedder: ImageEmbedder, image_hash: str, blob: bytes, mask: np.ndarray | None) -> np.ndarray:
    try:
        image = decode_image(blob)
    except Exception as exc:  # noqa: BLE001 (Pillow raises many types on bad data)
        raise ValueError(f"image {image_hash} could not be decoded: {type(exc).__name__}: {exc}") from exc
    return embedder.preprocess(image, mask)


def embed_batches(embedder: ImageEmbedder, hashes: list[str],
                  load_blobs: Callable[[list[str]], dict[str, bytes]],
                  load_masks: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
                  workers: int | None = None, prefetch: int = DEFAULT_PREFETCH,
                  batch_size: int | None = None) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield (hashes of the batch, (n, dim) float32 vectors) in the order of `hashes`.

    `load_blobs(chunk)` / `load_masks(chunk)` are called from the calling thread (database handles
    need not be thread-safe), one model batch at a time. Hashes without bytes are skipped: only the
    present ones are yielded, so the caller sees what is missing. A hash without a mask is embedded
    whole. Decoding and `preprocess` run in `workers` threads (default `default_workers()`), with up
    to `prefetch` batches in flight while `forward` runs on the current one in the calling thread
    (with `forward_async`, batch i+1 is queued on the device before batch i's vectors are fetched).
    """
    if prefetch < 0:
        raise ValueError("prefetch must be >= 0")
    step = max(1, int(batch_size or embedder.batch_size))
    chunks = iter([hashes[i:i + step] for i in range(0, len(hashes), step)])
    pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="embed-prep")

    def submit(chunk: list[str]) -> tuple[list[str], list[Future]]:
        blobs = load_blobs(chunk)
        present = [h for h in chunk if h in blobs]
        masks = load_masks(present) if load_masks is not None and present else {}
        return present, [pool.submit(_prepare, embedder, h, blobs[h], masks.get(h)) for h in present]

    launch = getattr(embedder, "forward_async", None)
    pending: deque[tuple[list[str], list[Future]]] = deque()
    queued: tuple[list[str], Callable[[], np.ndarray]] | None = None  # launched, not yet fetched
    try:
        while True:
            while len(pending) <= prefetch and (chunk := next(chunks, None)) is not None:
                pending.append(submit(chunk))
            if not pending:
                break
            present, futures = pending.popleft()  # the rest keep decoding while this one runs forward
            if not present:
                continue
            batch = np.stack([f.result() for f in futures])
            if launch is None:
                yield present, embedder.forward(batch)
                continue
            result = launch(batch)
            if queued is not None:
                yield queued[0], queued[1]()
            queued = (present, result)
        if queued is not None:
            yield queued[0], queued[1]()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
