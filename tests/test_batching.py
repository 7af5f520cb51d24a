"""embed_batches: same vectors as embed, order kept, missing bytes skipped, prefetching, threads."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from test_segment import draw_figure
from trend_core.embed.batching import decode_image, embed_batches, embed_images
from trend_core.embed.image import HandcraftedEmbedder


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def stored():
    """hash -> JPEG bytes and hash -> clothing mask for 11 drawn figures."""
    blobs, masks = {}, {}
    for i in range(11):
        img, mask, _ = draw_figure(top=(20 * i, 200 - 15 * i, 90), bottom=(30, 40 + 10 * i, 120), seed=i,
                                   size=72 + 4 * i)
        blobs[f"h{i:02d}"], masks[f"h{i:02d}"] = _jpeg(img), mask
    return blobs, masks


def _loader(blobs: dict[str, bytes], calls: list | None = None):
    def load(chunk: list[str]) -> dict[str, bytes]:
        if calls is not None:
            calls.append(("load", list(chunk)))
        return {h: blobs[h] for h in chunk if h in blobs}
    return load


def _collect(batches) -> tuple[list[str], np.ndarray]:
    hashes, vectors = [], []
    for chunk, X in batches:
        assert len(chunk) == len(X) > 0
        hashes += chunk
        vectors.append(X)
    return hashes, np.concatenate(vectors)


def test_equals_embed_in_order_with_masks(stored):
    blobs, masks = stored
    emb = HandcraftedEmbedder(size=64, batch_size=4)
    hashes = sorted(blobs, reverse=True)
    with_mask = {h: masks[h] for h in hashes[::2]}                # the others are embedded whole
    got_hashes, X = _collect(embed_batches(emb, hashes, _loader(blobs), lambda c: {h: with_mask[h] for h in c
                                                                                    if h in with_mask}))
    assert got_hashes == hashes
    expected = emb.embed([decode_image(blobs[h]) for h in hashes], [with_mask.get(h) for h in hashes])
    assert X.dtype == np.float32 and np.array_equal(X, expected)


def test_missing_bytes_are_skipped(stored):
    blobs, _ = stored
    emb = HandcraftedEmbedder(size=48, batch_size=3)
    hashes = ["gone1", "h00", "gone2", "gone3", "gone4", "gone5", "h01", "h02"]  # 2nd chunk all missing
    batches = list(embed_batches(emb, hashes, _loader(blobs)))
    assert [chunk for chunk, _ in batches] == [["h00"], ["h01", "h02"]]
    expected = emb.embed([decode_image(blobs[h]) for h in ("h00", "h01", "h02")], None)
    assert np.allclose(np.concatenate([X for _, X in batches]), expected, atol=1e-6)
    assert list(embed_batches(emb, ["gone"], _loader(blobs))) == []
    assert list(embed_batches(emb, [], _loader(blobs))) == []


def test_workers_do_not_change_results(stored):
    blobs, masks = stored
    emb = HandcraftedEmbedder(size=48, batch_size=3)
    hashes = sorted(blobs)
    runs = [_collect(embed_batches(emb, hashes, _loader(blobs), lambda c: {h: masks[h] for h in c},
                                   workers=w, prefetch=p)) for w, p in ((1, 0), (4, 2), (2, 5))]
    for got in runs[1:]:
        assert got[0] == runs[0][0] and np.array_equal(got[1], runs[0][1])


class Recorder:
    """A fake embedder: the vector of an image is its top-left pixel; records threads and calls."""

    name, version, weights_id, dim, batch_size = "rec", "1", "none", 3, 2

    def __init__(self, calls: list) -> None:
        self.calls = calls
        self.prep_threads: set[str] = set()
        self.forward_threads: set[str] = set()

    def preprocess(self, image: Image.Image, mask: np.ndarray | None) -> np.ndarray:
        self.prep_threads.add(threading.current_thread().name)
        return np.asarray(image.convert("RGB"))[0, 0].astype(np.float32)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self.forward_threads.add(threading.current_thread().name)
        self.calls.append(("forward", len(batch)))
        return batch.astype(np.float32)

    def embed(self, images, masks=None) -> np.ndarray:
        return embed_images(self, images, masks)


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_prefetch_loads_ahead_and_threads(prefetch):
    blobs = {f"p{i}": _png((i, 2 * i, 3 * i)) for i in range(7)}
    calls: list = []
    rec = Recorder(calls)
    got = list(embed_batches(rec, list(blobs), _loader(blobs, calls), workers=2, prefetch=prefetch))
    assert [c for c, _ in got] == [["p0", "p1"], ["p2", "p3"], ["p4", "p5"], ["p6"]]
    assert np.array_equal(np.concatenate([X for _, X in got]), [[i, 2 * i, 3 * i] for i in range(7)])
    kinds = [kind for kind, _ in calls]
    # before the model's first forward, the current batch and `prefetch` more were handed to the pool
    assert kinds.index("forward") == min(prefetch + 1, 4)
    assert kinds.count("load") == 4 and kinds.count("forward") == 4
    assert rec.forward_threads == {threading.current_thread().name}
    assert rec.prep_threads and all(t.startswith("embed-prep") for t in rec.prep_threads)


def test_bad_bytes_name_the_image_and_early_close():
    blobs = {"ok": _png((1, 2, 3)), "bad": b"not an image"}
    with pytest.raises(ValueError, match="image bad could not be decoded"):
        list(embed_batches(Recorder([]), ["ok", "bad"], _loader(blobs)))
    with pytest.raises(ValueError):
        next(embed_batches(Recorder([]), ["ok"], _loader(blobs), prefetch=-1))
    many = {f"m{i}": _png((i, i, i)) for i in range(20)}
    gen = embed_batches(Recorder([]), list(many), _loader(many), workers=2)
    assert next(gen)[0] == ["m0", "m1"]
    gen.close()                                              # stops the pool without waiting for the rest
    assert not any(t.name.startswith("embed-prep") and t.is_alive() for t in threading.enumerate())


class AsyncRecorder(Recorder):
    """A fake device embedder: `forward_async` queues, the returned function fetches."""

    def forward_async(self, batch: np.ndarray):
        self.calls.append(("launch", len(batch)))
        out = batch.astype(np.float32)

        def fetch() -> np.ndarray:
            self.calls.append(("fetch", len(out)))
            return out
        return fetch


def test_async_forward_queues_the_next_batch_before_fetching():
    blobs = {f"p{i}": _png((i, i, 2 * i)) for i in range(5)}
    calls: list = []
    got = list(embed_batches(AsyncRecorder(calls), list(blobs) + ["gone"], _loader(blobs), prefetch=0))
    assert [c for c, _ in got] == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    assert np.array_equal(np.concatenate([X for _, X in got]), [[i, i, 2 * i] for i in range(5)])
    assert [c for c in calls if c[0] != "load"] == [("launch", 2), ("launch", 2), ("fetch", 2), ("launch", 1),
                                                    ("fetch", 2), ("fetch", 1)]
