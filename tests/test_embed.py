"""Image / text / engagement embeddings and fusion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from test_segment import draw_figure
from trend_core.config import TextConfig
from trend_core.embed.fusion import balance_block, fuse, missing_rows
from trend_core.embed.image import IMAGE_EMBEDDERS, HandcraftedEmbedder, ImageEmbedder, encoder_id, encoder_status
from trend_core.embed.numeric import ENGAGEMENT_FEATURES, engagement_matrix
from trend_core.embed.text import TfidfSvdText
from trend_core.segment import BorderSegmenter


@pytest.fixture(scope="module")
def figures():
    pairs = [draw_figure(top=t, bottom=b, seed=i, size=128)
             for i, (t, b) in enumerate([((200, 30, 40), (30, 40, 120)), ((240, 240, 240), (20, 20, 20)),
                                         ((60, 140, 70), (200, 180, 140))])]
    images = [p[0] for p in pairs]
    masks = [BorderSegmenter().segment(img) for img in images]
    return images, masks


def test_handcrafted_shape_dtype_determinism(figures):
    images, masks = figures
    emb = IMAGE_EMBEDDERS["handcrafted"]()
    assert isinstance(emb, ImageEmbedder)
    X = emb.embed(images, masks)
    assert X.shape == (3, emb.dim) and X.dtype == np.float32 and np.isfinite(X).all()
    assert np.array_equal(X, HandcraftedEmbedder().embed(images, masks))
    assert np.allclose(emb.embed(images[1:2], masks[1:2])[0], X[1])      # batch-independent
    assert emb.embed([], []).shape == (0, emb.dim)


def test_masked_differs_from_unmasked_and_ignores_background(figures):
    images, masks = figures
    emb = HandcraftedEmbedder()
    masked = emb.embed(images, masks)
    whole = emb.embed(images, [None] * 3)
    assert not np.allclose(masked, whole)
    # the same outfit on another background: the masked descriptor barely moves
    img2, _, _ = draw_figure(bg=(120, 160, 200), seed=0, size=128)
    moved = emb.embed([img2], [BorderSegmenter().segment(img2)])[0]
    other = np.linalg.norm(masked[0] - masked[1])
    assert np.linalg.norm(moved - masked[0]) < 0.25 * other


def test_handcrafted_accepts_any_size_and_odd_masks():
    emb = HandcraftedEmbedder(size=64)
    big = Image.new("RGB", (300, 200), (30, 60, 90))
    rgba = Image.new("RGBA", (50, 80), (200, 10, 10, 128))
    tiny_mask = np.zeros((200, 300), dtype=bool)
    tiny_mask[0, 0] = True                      # < 1 % foreground: whole image used
    X = emb.embed([big, rgba, big], [tiny_mask, None, np.ones((20, 30), dtype=bool)])
    assert X.shape == (3, emb.dim) and np.isfinite(X).all()
    with pytest.raises(ValueError):
        emb.embed([big], [])


def test_encoder_id():
    emb = HandcraftedEmbedder()
    assert (emb.name, emb.weights_id) == ("handcrafted", "none")
    assert encoder_id(emb) == f"handcrafted@{emb.version}#none"


def test_tfidf_svd_text_handles_empty_docs():
    docs = [["碎花", "连衣裙", "法式"], [], ["牛仔裤", "白T", "休闲"], ["碎花", "连衣裙", "温柔"],
            ["牛仔裤", "休闲", "百搭"], ["只出现一次"]]
    model = TfidfSvdText(TextConfig(svd_dim=48, min_df=2), random_state=0)
    X = model.fit_transform(docs)
    assert X.dtype == np.float32 and X.shape == (6, model.dim_)
    assert model.dim_ == model.vocabulary_size_ - 1          # clamped below the vocabulary size
    assert not X[1].any() and not X[5].any()                 # no (known) tokens -> zero vector
    norms = np.linalg.norm(X[[0, 2, 3, 4]], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert X[0] @ X[3] > X[0] @ X[2]
    again = TfidfSvdText(TextConfig(svd_dim=48, min_df=2), random_state=0).fit_transform(docs)
    assert np.array_equal(X, again)
    assert model.transform([["未知"]]).shape == (1, model.dim_)


def test_tfidf_svd_text_degenerate_corpora():
    empty = TfidfSvdText(TextConfig()).fit_transform([[], []])
    assert empty.shape == (2, 0)
    single = TfidfSvdText(TextConfig(min_df=1)).fit_transform([["a"], ["a"], []])
    assert single.shape == (3, 1) and single[2].sum() == 0


def test_engagement_matrix():
    posts = pd.DataFrame({"likes": [0, 10, 1000, 5], "collects": [0, 5, 300, 5],
                          "comments": [0, 1, 50, None]})
    X = engagement_matrix(posts)
    assert X.shape == (4, len(ENGAGEMENT_FEATURES)) and X.dtype == np.float32
    assert np.allclose(X.mean(axis=0), 0, atol=1e-6) and np.allclose(X.std(axis=0), 1, atol=1e-5)
    assert X[2, 0] > X[1, 0] > X[0, 0]                     # log likes ordered
    const = engagement_matrix(pd.DataFrame({"likes": [3, 3], "collects": [1, 1], "comments": [0, 0]}))
    assert np.isfinite(const).all() and not const.any()    # zero variance -> zeros, not NaN


def test_fuse_balances_blocks_and_weights_matter():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3)) * [1, 100, 0]  # a constant column
    b = rng.normal(size=(50, 40))
    fused = fuse({"a": a, "b": b}, {"a": 1.0, "b": 2.0})
    assert fused.dtype == np.float32 and fused.shape == (50, 43) and np.isfinite(fused).all()
    assert np.isclose(np.linalg.norm(fused[:, :3], axis=1).mean(), 1.0, atol=1e-5)
    assert np.isclose(np.linalg.norm(fused[:, 3:], axis=1).mean(), 2.0, atol=1e-5)
    assert np.allclose(fused[:, 1].std(), fused[:, 0].std(), rtol=1e-4)  # scale-free per column
    # a block with weight 0 has no effect
    assert np.array_equal(fuse({"a": a, "b": b}, {"a": 1.0, "b": 0.0}), fuse({"a": a}, {"a": 1.0}))
    with pytest.raises(ValueError):
        fuse({"a": a, "b": b[:10]}, {})


def test_fuse_keeps_text_scale_and_imputes_missing_rows():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(2, 5)) * 3
    groups = np.repeat([0, 1], 20)
    image = centres[groups] + rng.normal(size=(40, 5)) * 0.3
    text = np.zeros((40, 4))
    text[:, 0] = np.where(groups == 0, 1.0, -1.0)
    text[:, 3] = rng.normal(size=40) * 0.01                # a weak, noisy component stays weak
    text[[3, 25]] = 0.0                                    # two posts without text
    assert missing_rows(text).tolist() == [i in (3, 25) for i in range(40)]
    fused = fuse({"image": image, "text": text})
    t = fused[:, 5:]
    assert t[:, 3].std() < 0.05 * t[:, 0].std()            # 'text' is centred, not standardised
    # imputed from their image neighbours: each missing post gets its own group's text
    assert abs(t[3, 0] - t[0, 0]) < 0.1 * abs(t[0, 0])
    assert abs(t[25, 0] - t[30, 0]) < 0.1 * abs(t[30, 0])
    flat = fuse({"image": image, "text": text}, impute_neighbors=0)
    assert np.allclose(flat[3, 5:], balance_block(text, standardize=False, missing=missing_rows(text))[3])


def test_handcrafted_preprocess_forward_split(figures):
    images, masks = figures
    emb = HandcraftedEmbedder(size=64)
    batch = np.stack([emb.preprocess(img, m) for img, m in zip(images, masks)])
    assert batch.shape == (3, 64, 64, 4) and batch.dtype == np.uint8
    assert set(np.unique(batch[..., 3])) <= {0, 255} and batch[..., 3].any()
    assert np.array_equal(emb.forward(batch), emb.embed(images, masks))
    assert emb.forward(batch[:0]).shape == (0, emb.dim)
    whole = emb.preprocess(images[0], None)
    assert (whole[..., 3] == 255).all()
    assert emb.batch_size > 0 and encoder_status("handcrafted") is None
