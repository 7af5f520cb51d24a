"""Styles: UMAP reduction, K sweep, K choice, K-means fit, cluster description, and the end-to-end
check that the demo's planted styles are recovered from images + text.

`python tests/test_styles.py [n_posts] [seed]` prints the demo ARI per modality and timings.
"""
from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trend_core.config import ImageConfig, StyleConfig, TextConfig  # noqa: E402
from trend_core.styles import (SWEEP_COLUMNS, choose_k, class_tfidf, describe_styles,  # noqa: E402
                               fit_styles, reduce, sweep_k)

DEMO_POSTS = 640
DEMO_SEED = 0
MIN_FUSED_ARI = 0.8


# -- unit tests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=400, n_features=20, centers=5, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


def test_reduce_shapes_and_determinism(blobs):
    X, y = blobs
    cfg = StyleConfig(n_neighbors=15, n_components=5, seed=0)
    Z, map2d = reduce(X, cfg)
    assert Z.shape == (400, 5) and map2d.shape == (400, 2)
    assert Z.dtype == np.float32 and np.isfinite(Z).all() and np.isfinite(map2d).all()
    Z2, _ = reduce(X, cfg)
    assert np.allclose(Z, Z2)
    labels, _ = fit_styles(Z, 5, seed=0)
    assert adjusted_rand_score(y, labels) > 0.95


def test_reduce_tiny_inputs():
    Z, map2d = reduce(np.random.default_rng(0).normal(size=(5, 3)), StyleConfig(n_components=8))
    assert Z.shape == (5, 8) and map2d.shape == (5, 2)
    Z, _ = reduce(np.random.default_rng(0).normal(size=(12, 4)), StyleConfig(n_neighbors=50, n_components=3))
    assert Z.shape == (12, 3) and np.isfinite(Z).all()  # n_neighbors clamped below n


def test_sweep_columns_rows_and_choice(blobs):
    X, _ = blobs
    sweep = sweep_k(X, range(2, 9), sample_size=150, seed=0, repeats=3)
    assert list(sweep.columns) == SWEEP_COLUMNS
    assert sweep["k"].tolist() == list(range(2, 9))
    assert (sweep["silhouette_std"] >= 0).all() and (sweep["silhouette_std"] > 0).any()
    assert (sweep["seconds"] >= 0).all()
    assert sweep["silhouette"].between(-1, 1).all() and (sweep["calinski_harabasz"] > 0).all()
    assert choose_k(sweep) == 5
    again = sweep_k(X, range(2, 9), sample_size=150, seed=0, repeats=3)
    assert np.allclose(sweep["silhouette"], again["silhouette"])
    full = sweep_k(X, [3, 5], sample_size=10_000, seed=0)  # sample covers everything: scored once
    assert (full["silhouette_std"] == 0).all()


def test_sweep_on_3000_points_reports_progress_per_k():
    X, _ = make_blobs(n_samples=3000, n_features=8, centers=8, random_state=0)
    calls: list[tuple[float, str]] = []
    sweep = sweep_k(X, range(2, 17), sample_size=3000, seed=0, progress=lambda f, m: calls.append((f, m)))
    assert choose_k(sweep) == 8
    assert len(calls) == 15 and calls[-1][0] == 1.0 and calls[0][1].startswith("K=2")
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)


def test_choose_k_tie_goes_to_smaller_k():
    sweep = pd.DataFrame({"k": [2, 3, 4, 5], "silhouette": [0.4, 0.6, 0.6, np.nan],
                          "silhouette_std": 0.0, "calinski_harabasz": 1.0, "davies_bouldin": 1.0,
                          "seconds": 0.0})
    assert choose_k(sweep) == 3
    with pytest.raises(ValueError):
        choose_k(sweep.assign(silhouette=np.nan))


def test_fit_styles_numbers_by_size():
    sizes = [200, 120, 80]
    Z, _ = make_blobs(n_samples=sizes, n_features=3, random_state=1)
    labels, centers = fit_styles(Z, 3, seed=0)
    assert labels.dtype == np.int64 and centers.shape == (3, 3)
    assert np.bincount(labels).tolist() == sizes
    for s in range(3):
        assert np.allclose(Z[labels == s].mean(axis=0), centers[s], atol=1e-6)


def test_describe_styles_keywords_and_exemplars():
    rng = np.random.default_rng(0)
    vocab = {0: ["碎花", "连衣裙", "法式"], 1: ["西装", "通勤", "职场"]}
    labels = np.repeat([0, 1], 10)
    tokens = [vocab[g] + ["穿搭", "好看"] for g in labels]
    tokens[0] = tokens[0] + ["西装"]  # a stray word from the other style does not make it a keyword
    Z = np.vstack([rng.normal(0, 1, (10, 2)), rng.normal(10, 1, (10, 2))])
    centers = np.array([Z[:10].mean(0), Z[10:].mean(0)])
    ids = [f"p{i}" for i in range(20)]
    table = describe_styles(labels, tokens, Z, centers, ids, top_k=3, n_exemplars=4)
    assert list(table.columns) == ["style", "size", "keywords", "exemplars", "phrases"]
    assert table["size"].tolist() == [10, 10]
    assert set(table.loc[0, "keywords"]) == set(vocab[0])
    assert set(table.loc[1, "keywords"]) == set(vocab[1])
    nearest = ids[int(np.argmin(np.linalg.norm(Z[:10] - centers[0], axis=1)))]
    assert table.loc[0, "exemplars"][0] == nearest and len(table.loc[0, "exemplars"]) == 4
    assert all(e in ids[10:] for e in table.loc[1, "exemplars"])
    _, scores = class_tfidf(labels, tokens, 2)
    assert scores.shape[0] == 2 and np.isfinite(scores).all()


# -- end to end on the demo ------------------------------------------------------------------------
@dataclass
class DemoFeatures:
    y: np.ndarray
    blocks: dict[str, np.ndarray]
    tokens: list[list[str]]
    post_ids: list[str]
    seconds: dict[str, float]


def demo_features(n_posts: int = DEMO_POSTS, seed: int = DEMO_SEED, segment_side: int = 128) -> DemoFeatures:
    """Demo posts -> border masks -> handcrafted image vectors, TF-IDF/SVD text, engagement."""
    from trend_core import text as text_ops
    from trend_core.demo import generate_demo
    from trend_core.embed.image import HandcraftedEmbedder
    from trend_core.embed.numeric import engagement_matrix
    from trend_core.embed.text import TfidfSvdText
    from trend_core.segment import BorderSegmenter

    seconds = {}
    t = time.perf_counter()
    demo = generate_demo(n_posts=n_posts, seed=seed)
    posts = demo.posts
    seconds["demo"] = time.perf_counter() - t
    size = ImageConfig().size
    images = [Image.open(io.BytesIO(demo.images[h])).convert("RGB") for h in posts["image_hash"]]
    t = time.perf_counter()
    segmenter = BorderSegmenter()
    masks = [segmenter.segment(img.resize((segment_side, segment_side), Image.Resampling.BILINEAR))
             for img in images]
    seconds["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    resized = [img.resize((size, size), Image.Resampling.BILINEAR) for img in images]
    image_vectors = HandcraftedEmbedder(size=size).embed(resized, masks)
    seconds["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    stopwords = text_ops.load_stopwords()
    tokens = [text_ops.tokenize(text_ops.post_document(a, b, c), stopwords)
              for a, b, c in zip(posts["title"], posts["content"], posts["tags"])]
    text_vectors = TfidfSvdText(TextConfig(), random_state=seed).fit_transform(tokens)
    seconds["text"] = time.perf_counter() - t
    blocks = {"image": image_vectors, "text": text_vectors, "engagement": engagement_matrix(posts)}
    return DemoFeatures(posts["true_style"].to_numpy(dtype=str), blocks, tokens,
                        posts["post_id"].astype(str).tolist(), seconds)


def cluster_demo(feats: DemoFeatures, modalities: tuple[str, ...], cfg: StyleConfig, k: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse the chosen blocks with the default weights, reduce, fit K styles -> (labels, centers, Z)."""
    from trend_core.config import FusionConfig
    from trend_core.embed.fusion import fuse

    fc = FusionConfig()
    weights = {"image": fc.image_weight, "text": fc.text_weight, "engagement": fc.engagement_weight}
    X = fuse({m: feats.blocks[m] for m in modalities}, weights)
    Z, _ = reduce(X, cfg)
    labels, centers = fit_styles(Z, k, cfg.seed)
    return labels, centers, Z


@pytest.fixture(scope="module")
def demo_run():
    from trend_core.demo import STYLES

    feats = demo_features()
    cfg = StyleConfig()
    labels, centers, Z = cluster_demo(feats, ("image", "text", "engagement"), cfg, len(STYLES))
    return feats, cfg, labels, centers, Z


def test_demo_styles_match_planted(demo_run):
    feats, _, labels, centers, Z = demo_run
    ari = adjusted_rand_score(feats.y, labels)
    assert ari >= MIN_FUSED_ARI, f"fused ARI {ari:.3f} < {MIN_FUSED_ARI}"
    # each found style's keywords include words of the planted style most of its posts belong to
    from trend_core import text as text_ops
    from trend_core.demo import STYLES

    words = {s.name: {t for w in s.vocab + s.hashtags for t in text_ops.tokenize(w)} for s in STYLES}
    table = describe_styles(labels, feats.tokens, Z, centers, feats.post_ids)
    assert (table["exemplars"].str.len() > 0).all()
    for style, keywords in zip(table["style"], table["keywords"]):
        planted = pd.Series(feats.y[labels == style]).mode()[0]
        assert set(keywords[:3]) & words[planted], (style, planted, keywords)


def test_demo_choose_k_near_planted(demo_run):
    from trend_core.demo import STYLES

    _, cfg, _, _, Z = demo_run
    sweep = sweep_k(Z, range(cfg.k_min, cfg.k_max + 1), cfg.silhouette_sample, cfg.seed)
    assert abs(choose_k(sweep) - len(STYLES)) <= 2, sweep.to_string()


def main(n_posts: int = DEMO_POSTS, seed: int = DEMO_SEED) -> None:
    from trend_core.demo import STYLES

    feats = demo_features(n_posts, seed)
    timings = ", ".join(f"{k}={v:.1f}" for k, v in feats.seconds.items())
    print(f"demo n={n_posts} seed={seed}; seconds: {timings}")
    for nn in (15, 30):
        cfg = StyleConfig(n_neighbors=nn, seed=seed)
        for mods in (("image",), ("text",), ("image", "text"), ("image", "text", "engagement")):
            t = time.perf_counter()
            labels, _, Z = cluster_demo(feats, mods, cfg, len(STYLES))
            dt = time.perf_counter() - t
            sweep = sweep_k(Z, range(cfg.k_min, cfg.k_max + 1), cfg.silhouette_sample, cfg.seed)
            print(f"n_neighbors={nn} {'+'.join(mods):24s} ARI={adjusted_rand_score(feats.y, labels):.3f}"
                  f"  choose_k={choose_k(sweep)}  reduce+fit {dt:.1f}s  sweep {sweep['seconds'].sum():.1f}s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))


def test_large_sweeps_fit_on_a_sample_and_label_every_point(monkeypatch):
    import trend_core.styles as styles_mod

    X, truth = make_blobs(n_samples=1500, n_features=4, centers=5, cluster_std=0.5, random_state=2)
    monkeypatch.setattr(styles_mod, "SWEEP_FIT_SAMPLE", 400)  # pretend 1500 points is "large"
    seen: list[int] = []
    original = styles_mod._sweep_labels

    def spy(Z, k, seed, fit_rows):
        seen.append(len(fit_rows))
        labels = original(Z, k, seed, fit_rows)
        assert len(labels) == len(Z)
        return labels
    monkeypatch.setattr(styles_mod, "_sweep_labels", spy)
    sweep = styles_mod.sweep_k(X, range(2, 9), sample_size=600, seed=0)
    assert seen == [400] * 7
    assert choose_k(sweep) == 5
