"""The demo dataset: determinism, span, styles, planted trends, engagement lead, images."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from trend_core import demo
from trend_core.store import POST_COLUMNS, Store

NAMES = [s.name for s in demo.STYLES]


def _style_of(kind: str) -> str:
    return next(name for name, curve in demo.STYLE_CURVES.items() if curve == kind)


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate_demo(1200, seed=0)


@pytest.fixture(scope="module")
def shares(data) -> pd.DataFrame:
    posts = data.posts
    month = posts["post_date"].dt.to_period("M").dt.to_timestamp()
    return pd.crosstab(month, posts["true_style"], normalize="index").reindex(columns=NAMES, fill_value=0.0)


def test_canonical_frame(data):
    posts = data.posts
    assert list(posts.columns) == POST_COLUMNS
    assert len(posts) == 1200
    assert posts["post_id"].is_unique
    assert str(posts["post_date"].dtype).startswith("datetime64")
    for col in ("likes", "collects", "comments"):
        assert posts[col].dtype == np.int64 and (posts[col] >= 0).all()
    assert posts["true_style"].isin(NAMES).all()
    assert posts["image_hash"].notna().all()
    assert set(posts["image_hash"]) == set(data.images)
    some = posts["image_hash"].iloc[0]
    assert hashlib.sha256(data.images[some]).hexdigest() == some


def test_deterministic_for_a_seed():
    a = demo.generate_demo(150, seed=3)
    b = demo.generate_demo(150, seed=3)
    pd.testing.assert_frame_equal(a.posts, b.posts)
    assert a.images == b.images
    c = demo.generate_demo(150, seed=4)
    assert not a.posts["title"].equals(c.posts["title"])
    assert set(a.images).isdisjoint(c.images)


def test_images_do_not_shift_the_frame():
    with_img = demo.generate_demo(100, seed=1)
    without = demo.generate_demo(100, seed=1, draw_images=False)
    cols = [c for c in POST_COLUMNS if c not in ("image_hash", "image_no")]  # image_no: a later schema column
    pd.testing.assert_frame_equal(with_img.posts[cols], without.posts[cols])
    assert without.posts["image_hash"].isna().all() and not without.images


def test_spans_at_least_18_months_and_every_style(data, shares):
    dates = data.posts["post_date"]
    assert dates.min() < pd.Timestamp("2023-01-08")
    assert dates.dt.to_period("M").nunique() >= 18
    counts = data.posts["true_style"].value_counts()
    assert set(counts.index) == set(NAMES) and len(NAMES) >= 8
    assert counts.min() >= 20
    assert len(shares) >= 18


def test_curves_frame(data):
    curves = data.curves
    assert list(curves.columns) == NAMES
    assert len(curves) == demo.N_MONTHS
    np.testing.assert_allclose(curves.sum(axis=1), 1.0, atol=1e-9)
    assert set(demo.STYLE_CURVES) == set(NAMES)
    assert {"rising", "fading", "seasonal", "flat", "burst"} <= set(demo.STYLE_CURVES.values())


def test_rising_and_fading_styles(shares):
    rising, late, fading = _style_of("rising"), _style_of("rising_late"), _style_of("fading")
    assert shares[rising].iloc[-6:].mean() > 2 * shares[rising].iloc[:6].mean()
    assert shares[late].iloc[-4:].mean() > 2 * shares[late].iloc[:12].mean()
    assert shares[fading].iloc[-6:].mean() < 0.5 * shares[fading].iloc[:6].mean()


def test_burst_is_concentrated(data):
    burst = data.posts[data.posts["true_style"] == _style_of("burst")]
    per_month = burst["post_date"].dt.to_period("M").value_counts()
    assert per_month.nlargest(3).sum() >= 0.6 * len(burst)


def test_seasonal_peaks_in_summer(shares):
    seasonal = shares[_style_of("seasonal")]
    summer = seasonal[seasonal.index.month.isin([6, 7, 8])].mean()
    winter = seasonal[seasonal.index.month.isin([12, 1, 2])].mean()
    assert summer > 2 * winter


def test_flat_style_stays_flat(shares):
    flat = shares[_style_of("flat")]
    assert abs(flat.iloc[-6:].mean() - flat.iloc[:6].mean()) < 0.06


def test_generated_shares_follow_planted_curves(data, shares):
    planted = data.curves.reindex(shares.index)
    for name in NAMES:
        if planted[name].max() - planted[name].min() < 0.1:
            continue  # the flat style: its planted share barely moves, so correlation is noise
        assert np.corrcoef(shares[name], planted[name])[0, 1] > 0.6, name


def _progress(series: pd.Series) -> pd.Series:
    """0 at the early level (first 4 months), 1 at the late level (last 4 months), clipped."""
    series = series.interpolate().bfill().ffill()
    lo, hi = series.iloc[:4].mean(), series.iloc[-4:].mean()
    return ((series - lo) / (hi - lo)).clip(0, 1)


def test_engagement_leads_share_for_the_rising_style(data, shares):
    name = _style_of("rising")
    posts = data.posts
    month = posts["post_date"].dt.to_period("M").dt.to_timestamp()
    mine = posts["true_style"] == name
    engagement = np.log1p(posts.loc[mine, ["likes", "collects", "comments"]].sum(axis=1))
    eng = engagement.groupby(month[mine]).mean().reindex(shares.index)
    # months still "to go" before each series reaches its late level: smaller = the rise came earlier
    share_lag = (1 - _progress(shares[name])).sum()
    eng_lag = (1 - _progress(eng)).sum()
    assert eng_lag < share_lag - 0.5
    # planted: engagement multiplier is the share LEAD_DAYS ahead
    planted = data.engagement_curves[name]
    assert planted.idxmax() <= data.curves[name].idxmax()


def test_some_posts_have_no_text_and_some_only_emoji(data):
    posts = data.posts
    blank = (posts["title"] == "") & (posts["content"] == "") & (posts["tags"] == "")
    assert 0.02 <= blank.mean() <= 0.1
    emoji_only = (posts["title"] == "") & (posts["content"] != "") & (posts["tags"] == "")
    assert emoji_only.sum() >= 5
    assert posts["tags"][~blank & ~emoji_only].str.startswith("#").all()


def test_text_uses_style_vocabulary(data):
    posts = data.posts
    for spec in demo.STYLES:
        mine = posts[posts["true_style"] == spec.name]
        text = mine["title"] + " " + mine["content"]
        hits = text.apply(lambda t, v=spec.vocab: any(w in t for w in v))
        assert hits.mean() > 0.8, spec.name


def test_images_decode_as_256_rgb(data):
    for h in list(data.images)[:40]:
        im = Image.open(io.BytesIO(data.images[h]))
        im.load()
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (256, 256)


def test_image_colours_differ_between_styles(data):
    """Mean colour of the centre strip separates e.g. the qipao (red/green/blue) from the blazer."""
    posts = data.posts.head(400)

    def centre_mean(h: str) -> np.ndarray:
        arr = np.asarray(Image.open(io.BytesIO(data.images[h])), dtype=float)
        return arr[80:200, 100:156].reshape(-1, 3).mean(axis=0)

    means = {name: np.mean([centre_mean(h) for h in posts.loc[posts["true_style"] == name, "image_hash"][:15]],
                           axis=0) for name in NAMES if (posts["true_style"] == name).sum() >= 5}
    values = list(means.values())
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(values) for b in values[i + 1:]]
    assert np.median(gaps) > 15


def test_write_demo_twice_adds_nothing(tmp_path):
    store = Store(tmp_path / "t.duckdb")
    first = demo.write_demo(store, n_posts=60, seed=5)
    assert first["rows_read"] == 60 and first["accepted"] == 60 and first["added"] == 60
    assert first["rejected"] == 0 and first["source"] == "demo:seed=5"
    assert store.count_posts() == 60
    posts = store.load_posts()
    assert posts["true_style"].notna().all()
    stored = store.load_image_bytes(posts["image_hash"], "data")
    assert len(stored) == posts["image_hash"].nunique()
    second = demo.write_demo(store, n_posts=60, seed=5)
    assert second["added"] == 0 and second["already_present"] == 60
    assert store.count_posts() == 60


# -- chunked generation (write_demo draws and stores a few thousand posts at a time) ---------------
# sha256 of generate_demo(300, seed=2).posts without image_hash, as CSV, taken before the generator
# was split into chunks: the chunked code must give the same posts (text, dates, counts, authors).
FRAME_DIGEST_300_SEED_2 = "334ecf7c70c96dcc0fe6cc7d6adbc3bd201f8b97fb11ea3416d871ef05cdfe27"


def _frame_digest(posts: pd.DataFrame) -> str:
    cols = [c for c in POST_COLUMNS if c not in ("image_hash", "image_no")]  # image_no: a later schema column
    return hashlib.sha256(posts[cols].to_csv(index=False).encode()).hexdigest()


def test_frame_is_the_same_as_before_chunking():
    assert _frame_digest(demo.generate_demo(300, seed=2, draw_images=False).posts) == FRAME_DIGEST_300_SEED_2
    # the check can fail: another seed, or one post fewer, gives another digest
    assert _frame_digest(demo.generate_demo(300, seed=3, draw_images=False).posts) != FRAME_DIGEST_300_SEED_2
    assert _frame_digest(demo.generate_demo(299, seed=2, draw_images=False).posts) != FRAME_DIGEST_300_SEED_2


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 500])
def test_chunks_concatenate_to_the_whole_demo(chunk_size):
    whole = demo.generate_demo(130, seed=6)
    parts = [demo.draw_chunk(p, 6) for p in demo.iter_demo_posts(130, seed=6, chunk_size=chunk_size)]
    assert all(len(p) <= chunk_size for p, _ in parts)
    assert len(parts) == -(-130 // chunk_size)
    pd.testing.assert_frame_equal(pd.concat([p for p, _ in parts], ignore_index=True), whole.posts)
    images = {h: png for _, imgs in parts for h, png in imgs.items()}
    assert images == whole.images


def test_chunk_comparison_can_fail():
    """The equality above is not vacuous: a chunk drawn with another seed, or shifted by one post,
    differs from the whole demo's rows."""
    whole = demo.generate_demo(40, seed=6)
    first = next(demo.iter_demo_posts(40, seed=6, chunk_size=20))
    other, _ = demo.draw_chunk(first, 7)  # same rows, images of another seed
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(other, whole.posts.iloc[:20])
    shifted = next(demo.iter_demo_posts(41, seed=6, chunk_size=20))  # another size draws other dates
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(shifted, next(demo.iter_demo_posts(40, seed=6, chunk_size=20)))


def test_write_demo_in_chunks_stores_the_same_posts(tmp_path):
    one = Store(tmp_path / "one.duckdb")
    many = Store(tmp_path / "many.duckdb")
    a = demo.write_demo(one, n_posts=70, seed=5)
    seen: list[float] = []
    b = demo.write_demo(many, n_posts=70, seed=5, chunk_size=16, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and len(seen) == 5 and seen[-1] == 1.0
    for key in ("rows_read", "accepted", "rejected", "added", "already_present", "reasons", "source"):
        assert a[key] == b[key], key
    assert b["rows_read"] == 70 and b["added"] == 70
    cols = [c for c in POST_COLUMNS if c != "source"]
    pd.testing.assert_frame_equal(one.load_posts()[cols], many.load_posts()[cols])
    assert one.dataset_key() == many.dataset_key()
    record = many.load_imports()
    assert len(record) == 1 and int(record["rows_read"].iloc[0]) == 70 and int(record["added"].iloc[0]) == 70
    again = demo.write_demo(many, n_posts=70, seed=5, chunk_size=16)
    assert again["added"] == 0 and again["already_present"] == 70
    assert int(many.load_imports()["added"].iloc[0]) == 70


def test_write_demo_resumes_an_interrupted_build(tmp_path, monkeypatch):
    store = Store(tmp_path / "t.duckdb")
    from trend_core import ingest
    real = ingest.add_frame
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "add_frame", crash_on_third)
    with pytest.raises(RuntimeError):
        demo.write_demo(store, n_posts=50, seed=5, chunk_size=12)
    assert store.count_posts() == 24
    monkeypatch.setattr(ingest, "add_frame", real)
    drawn: list[int] = []
    real_draw = demo.draw_chunk
    monkeypatch.setattr(demo, "draw_chunk", lambda posts, seed: (drawn.append(len(posts)), real_draw(posts, seed))[1])
    summary = demo.write_demo(store, n_posts=50, seed=5, chunk_size=12)
    assert drawn == [12, 12, 2]  # the two stored chunks are not drawn again
    assert summary["added"] == 26 and summary["already_present"] == 24
    fresh = Store(tmp_path / "fresh.duckdb")
    demo.write_demo(fresh, n_posts=50, seed=5)
    assert store.dataset_key() == fresh.dataset_key()
