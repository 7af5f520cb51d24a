"""The per-image stages: clothing masks and image embeddings (full photo and masked clothing), each
cached per (image content hash, plug-in id) so a re-import of known images does no model work."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import numpy as np
from PIL import Image

from trend_core.config import PipelineConfig
from trend_core.embed.batching import embed_batches
from trend_core.embed.image import encoder_id, get_embedder
from trend_core.segment import clothing_ratio, decode_mask, encode_mask, get_segmenter
from trend_core.segment import segmenter_id as plugin_id
from trend_core.store import Store

__all__ = ["segmenter_key", "image_set_key", "run_segmentation", "run_image_embedding", "SEGMENT_SIDE"]

Progress = Callable[[float, str], None]
BATCH = 256
SEGMENT_SIDE = 128  # weights-free segmenters see images downscaled to this side (ARI as at 256, 3x faster)
WORKERS = 4


def _work_side(segmenter) -> int:
    """Side images are downscaled to before segmenting: the plug-in's own input size, else SEGMENT_SIDE."""
    return int(getattr(segmenter, "input_side", SEGMENT_SIDE))


def segmenter_key(config: PipelineConfig) -> str:
    """Mask cache key: segmenter name, version, weights id and the side it works at."""
    segmenter = get_segmenter(config.segment.method)
    return f"{plugin_id(segmenter)}/{_work_side(segmenter)}px"


def image_set_key(config: PipelineConfig, masked: bool) -> str:
    """Per-image vector key: encoder name, version, weights id, input size and the mask source."""
    embedder = get_embedder(config.image.encoder, size=config.image.size)
    mask = segmenter_key(config) if masked else "nomask"
    return f"{encoder_id(embedder)}|mask={mask}|size={config.image.size}"


def _decode(blob: bytes, side: int) -> Image.Image:
    with Image.open(BytesIO(blob)) as img:
        img.draft("RGB", (side, side))  # JPEG: decode at a reduced scale when that is enough
        rgb = img.convert("RGB")
    rgb.thumbnail((side, side))
    return rgb


def _image_batches(store: Store, hashes: list[str], side: int,
                   pool: ThreadPoolExecutor) -> Iterator[tuple[list[str], list[Image.Image]]]:
    """(hashes, decoded RGB images at most `side` px) per batch; decoding runs in the pool."""
    for start in range(0, len(hashes), BATCH):
        chunk = hashes[start:start + BATCH]
        blobs = store.load_image_bytes(chunk, "data")
        present = [h for h in chunk if h in blobs]
        yield present, list(pool.map(lambda h: _decode(blobs[h], side), present))


def run_segmentation(store: Store, hashes: list[str], config: PipelineConfig,
                     progress: Progress) -> tuple[int, int]:
    """Compute and store a clothing mask for every image that has none for this segmenter;
    returns (computed, cached)."""
    key = segmenter_key(config)
    done = store.load_masks(hashes, key)
    todo = [h for h in hashes if h not in done]
    segmenter = get_segmenter(config.segment.method)
    side = _work_side(segmenter)
    batched = bool(getattr(segmenter, "batched", False))
    n_done = 0
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for chunk, images in _image_batches(store, todo, side, pool):
            masks = segmenter.segment_batch(images) if batched else list(pool.map(segmenter.segment, images))
            store.put_masks(key, {h: (clothing_ratio(m), encode_mask(m)) for h, m in zip(chunk, masks)})
            n_done += len(chunk)
            progress(n_done / max(len(todo), 1), f"segmented {n_done}/{len(todo)} images")
    return len(todo), len(hashes) - len(todo)


def run_image_embedding(store: Store, hashes: list[str], config: PipelineConfig, masked: bool,
                        progress: Progress) -> tuple[int, int]:
    """Embed every image not yet embedded under this key (the masked clothing when `masked`);
    decoding and preprocessing run in worker threads while the model works. Returns (computed, cached)."""
    key = image_set_key(config, masked)
    done = store.load_image_vectors(hashes, key)
    todo = [h for h in hashes if h not in done]
    if not todo:
        return 0, len(hashes)
    embedder = get_embedder(config.image.encoder, size=config.image.size)
    load_masks = None
    if masked:
        seg_key = segmenter_key(config)

        def load_masks(chunk: list[str]) -> dict[str, np.ndarray]:
            return {h: decode_mask(blob) for h, (_, blob) in store.load_masks(chunk, seg_key).items()}
    n_done = 0
    for chunk, vectors in embed_batches(embedder, todo, lambda c: store.load_image_bytes(c, "data"),
                                        load_masks):
        store.put_image_vectors(key, chunk, vectors)
        n_done += len(chunk)
        progress(n_done / len(todo), f"embedded {n_done}/{len(todo)} images")
    return len(todo), len(hashes) - len(todo)


def masked_image(image: Image.Image, mask: np.ndarray, background: tuple[int, int, int] = (245, 245, 245)) -> Image.Image:
    """The image with everything outside the mask painted `background` (what the "mask" modality sees)."""
    rgb = np.asarray(image.convert("RGB")).copy()
    m = np.asarray(mask, dtype=bool)
    if m.shape != rgb.shape[:2]:
        m = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize(image.size, Image.Resampling.NEAREST)) > 127
    rgb[~m] = background
    return Image.fromarray(rgb)


def preview_segmentation(store: Store, hashes: list[str], method: str) -> list[dict]:
    """For a few images: the original, the person mask, the clothing mask, the masked image (PIL
    images at the segmenter's working size) and the clothing-area ratio, computed now with `method`."""
    segmenter = get_segmenter(method)
    side = _work_side(segmenter)
    blobs = store.load_image_bytes(hashes, "data")
    present = [h for h in hashes if h in blobs]
    images = [_decode(blobs[h], side) for h in present]
    clothes = segmenter.segment_batch(images)
    out = []
    for h, img, cloth in zip(present, images, clothes):
        person = np.asarray(segmenter.person_mask(img), dtype=bool)
        out.append({"image_hash": h, "original": img,
                    "person": Image.fromarray(person.astype(np.uint8) * 255),
                    "clothes": Image.fromarray(np.asarray(cloth, dtype=np.uint8) * 255),
                    "masked": masked_image(img, cloth), "ratio": clothing_ratio(cloth)})
    return out


def stored_ratios(store: Store, hashes: list[str], config: PipelineConfig) -> dict[str, float]:
    """Clothing-area ratio per image already segmented with the configured segmenter."""
    return {h: r for h, (r, _) in store.load_masks(hashes, segmenter_key(config)).items()}
