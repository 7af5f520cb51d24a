"""Image-embedding throughput: the pipeline path against the bare model forward, per encoder and device.

Usage: python bench/embed.py [--images 256] [--device cpu|cuda] [--encoders handcrafted,resnet50,clip]
                             [--workers N] [--prefetch 2] [--batch-size B] [--repeats 2] [--no-masks]

The demo's images (drawn PNGs) are re-encoded as the store keeps them (JPEG, `ingest.normalise_image`)
and masked with the border segmenter (the default "mask" modality; segmentation is not timed). Per
encoder and device it reports images/s of
- pipeline: `embed_batches` from the JPEG bytes (decode + preprocess in threads, forward, results
  on the host), what `image_stages.run_image_embedding` runs;
- bare: the model alone on the same preprocessed batches, already tensors on the device
  (`forward_tensor` under inference_mode; for the handcrafted embedder its numpy `forward`);
and their ratio (goal >= 0.80; best of --repeats interleaved passes each). On a shared machine
wall-clock rates drift with other load, so `cpu_ratio` (process CPU seconds of the bare pass over those
of the pipeline pass) is printed too: what the pipeline adds in CPU work. Models without local
weights get randomly initialised weights written to a temporary file (said in the output): speed does
not depend on weight values. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from trend_core.demo import generate_demo  # noqa: E402
from trend_core.embed.batching import DEFAULT_PREFETCH, decode_image, default_workers, embed_batches  # noqa: E402
from trend_core.embed.image import IMAGE_EMBEDDERS, HandcraftedEmbedder  # noqa: E402
from trend_core.ingest import normalise_image  # noqa: E402
from trend_core.weights import WeightsMissing  # noqa: E402


def demo_jpegs(n: int) -> dict[str, bytes]:
    """hash -> the stored JPEG of up to n demo images."""
    images = generate_demo(n_posts=n, seed=0).images
    return {h: normalise_image(png)[1] for h, png in list(images.items())[:n]}


def border_masks(blobs: dict[str, bytes]) -> dict[str, np.ndarray]:
    from trend_core.segment import get_segmenter

    segmenter = get_segmenter("border")
    return {h: segmenter.segment(decode_image(b)) for h, b in blobs.items()}


def _random_weights(build: Callable[[], object], folder: str, name: str) -> str:
    import torch

    torch.manual_seed(0)
    path = os.path.join(folder, name)
    torch.save(build().state_dict(), path)
    return path


def make_embedder(name: str, device: str, tmp: str, clip_model: str) -> tuple[object, str]:
    """(embedder, what weights it uses)."""
    if name == "handcrafted":
        return HandcraftedEmbedder(size=128), "none (weights-free)"
    if name == "resnet50":
        from trend_core.embed.resnet import ResNet50Embedder

        emb = ResNet50Embedder(device=device)
        try:
            emb.check()
            return emb, emb.weights_id
        except WeightsMissing:
            import torchvision

            path = _random_weights(lambda: torchvision.models.resnet50(weights=None), tmp, "resnet50.pth")
            return ResNet50Embedder(weights_path=path, device=device), "RANDOM init (no local ImageNet weights)"
    if name == "clip":
        from trend_core.embed.clip import ClipEmbedder

        emb = ClipEmbedder(model_name=clip_model, device=device)
        try:
            emb.check()
            return emb, emb.weights_id
        except WeightsMissing:
            import open_clip

            path = _random_weights(lambda: open_clip.create_model(clip_model), tmp, "clip.pt")
            return (ClipEmbedder(model_name=clip_model, weights_path=path, device=device),
                    f"{clip_model} RANDOM init (no local pretrained weights)")
    raise ValueError(f"unknown encoder {name!r}")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_pipeline(emb, blobs: dict[str, bytes], masks: dict[str, np.ndarray] | None, workers: int,
                  prefetch: int) -> tuple[float, float]:
    """(images/s, process CPU seconds) of embed_batches over every blob."""
    hashes = list(blobs)
    load_masks = (lambda c: {h: masks[h] for h in c}) if masks is not None else None
    start, cpu = time.perf_counter(), time.process_time()
    n = sum(len(chunk) for chunk, _ in embed_batches(emb, hashes, lambda c: {h: blobs[h] for h in c},
                                                     load_masks, workers=workers, prefetch=prefetch))
    return n / (time.perf_counter() - start), time.process_time() - cpu


def time_bare(emb, batches: list[np.ndarray], device: str) -> tuple[float, float]:
    """(images/s, process CPU seconds) of the model alone on pre-built batches."""
    n = sum(len(b) for b in batches)
    if not hasattr(emb, "forward_tensor"):  # numpy embedder: its forward is the model work
        start, cpu = time.perf_counter(), time.process_time()
        for b in batches:
            emb.forward(b)
        return n / (time.perf_counter() - start), time.process_time() - cpu
    tensors = [emb.to_tensor(b) for b in batches]
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    for x in tensors:
        emb.forward_tensor(x)
    _sync(device)
    return n / (time.perf_counter() - start), time.process_time() - cpu


def bench_one(name: str, device: str, blobs, masks, args, tmp: str) -> dict:
    emb, weights = make_embedder(name, device, tmp, args.clip_model)
    if args.batch_size:
        emb.batch_size = args.batch_size
    images = [decode_image(b) for b in blobs.values()]
    mask_list = [masks[h] if masks is not None else None for h in blobs]
    pre = [emb.preprocess(img, m) for img, m in zip(images, mask_list)]
    batches = [np.stack(pre[i:i + emb.batch_size]) for i in range(0, len(pre), emb.batch_size)]
    emb.forward(batches[0])  # warm-up: builds the model, first-call kernels
    _sync(device)
    pipe, bare = [], []
    for _ in range(args.repeats):  # interleaved, so slow drifts in other load hit both alike
        pipe.append(time_pipeline(emb, blobs, masks, args.workers, args.prefetch))
        bare.append(time_bare(emb, batches, device))
    (p, p_cpu), (b, b_cpu) = max(pipe), max(bare)
    return {"encoder": name, "device": device, "weights": weights, "batch_size": emb.batch_size,
            "workers": args.workers, "prefetch": args.prefetch, "pipeline_img_s": round(p, 1),
            "bare_img_s": round(b, 1), "ratio": round(p / b, 3), "cpu_ratio": round(b_cpu / p_cpu, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--encoders", default=",".join(IMAGE_EMBEDDERS), help="comma-separated registry names")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--prefetch", type=int, default=DEFAULT_PREFETCH)
    parser.add_argument("--batch-size", type=int, default=None, help="default: each encoder's own")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes each; the best is reported")
    parser.add_argument("--clip-model", default="ViT-B-32")
    parser.add_argument("--no-masks", action="store_true", help="embed whole images (the 'image' modality)")
    args = parser.parse_args()

    import torch

    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    start = time.perf_counter()
    blobs = demo_jpegs(args.images)
    masks = None if args.no_masks else border_masks(blobs)
    print(f"{len(blobs)} demo images as stored JPEG, masks: {masks is not None} "
          f"({time.perf_counter() - start:.1f} s to build); torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [n.strip() for n in args.encoders.split(",") if n.strip()]:
            if name not in IMAGE_EMBEDDERS:
                print(f"{name}: not available here (package missing)")
                continue
            for device in (["cpu"] if name == "handcrafted" else devices):
                row = bench_one(name, device, blobs, masks, args, tmp)
                rows.append(row)
                print(f"{row['encoder']:<12} {row['device']:<5} batch {row['batch_size']:>3}  "
                      f"pipeline {row['pipeline_img_s']:>8.1f} img/s  bare {row['bare_img_s']:>8.1f} img/s  "
                      f"ratio {row['ratio']:.2f}  cpu_ratio {row['cpu_ratio']:.2f}  weights: {row['weights']}",
                      flush=True)
    print(json.dumps({"images": len(blobs), "masks": masks is not None, "workers": args.workers,
                      "prefetch": args.prefetch, "results": rows}))


if __name__ == "__main__":
    main()
