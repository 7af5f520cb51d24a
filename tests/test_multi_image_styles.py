"""Styles on a multi-image crawl: every image is a look fitted with its post's text and engagement, posts
without a usable image are text-assigned (a setting), and shares count images or posts."""
from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trend_core import ingest, pipeline
from trend_core.config import PipelineConfig
from trend_core.demo import write_demo
from trend_core.store import Store

N_DEMO = 240


@pytest.fixture(scope="module")
def crawl_store(tmp_path_factory) -> tuple[Store, pd.DataFrame]:
    """A crawl made of demo posts: the first 80 posts have two images (their own and that of a post of
    the same style), the next 80 one image, the last 80 none (text only). One row per image."""
    folder = tmp_path_factory.mktemp("crawl")
    demo = Store(folder / "demo.duckdb")
    write_demo(demo, n_posts=N_DEMO, seed=5)
    posts = demo.load_posts().reset_index(drop=True)
    data = demo.load_image_bytes(posts["image_hash"], "data")
    (folder / "images").mkdir()
    for pid, h in zip(posts["post_id"], posts["image_hash"]):
        (folder / "images" / f"{pid}.jpg").write_bytes(data[h])
    by_style = posts.groupby("true_style")["post_id"].apply(list).to_dict()
    rows = []
    for i, rec in enumerate(posts.itertuples(index=False)):
        base = [rec.post_id, rec.post_date.strftime("%Y-%m-%d"), rec.title, rec.content, rec.tags, rec.likes,
                rec.collects, rec.comments]
        if i < 80:
            mates = [p for p in by_style[rec.true_style] if p != rec.post_id]
            rows.append(base + [1, f"images/{rec.post_id}.jpg"])
            rows.append(base + [2, f"images/{mates[i % len(mates)]}.jpg"])
        elif i < 160 or not (rec.title or rec.content or rec.tags):  # a post without text keeps its image
            rows.append(base + [1, f"images/{rec.post_id}.jpg"])
        else:
            rows.append(base + ["", ""])
    path = folder / "crawl.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["post_id", "post_date", "post_title", "post_content", "post_tag", "post_like",
                         "post_collect", "post_comments", "image_no", "post_img"])
        writer.writerows(rows)
    store = Store(folder / "crawl.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=folder / "images")
    assert summary["rejected"] == 0, summary["reasons"]
    assert summary["posts"] == N_DEMO and summary["images"] > 240
    return store, posts.set_index("post_id")["true_style"]


def _config(**changes) -> PipelineConfig:
    config = PipelineConfig(**changes)
    return replace(config, styles=config.styles.replace(k_max=10))


def test_every_image_is_a_look_and_posts_without_images_are_text_assigned(crawl_store):
    store, truth = crawl_store
    view = pipeline.run_pipeline(store, _config()).view
    looks = view.posts
    assert len(looks) == N_DEMO + 80
    routes = looks.groupby("route").size().to_dict()
    with_image = looks["image_hash"].notna()
    assert (looks.loc[~with_image, "route"] == "text-assigned").all()
    assert (looks.loc[looks["route"] == "fitted", "image_hash"].notna()).all()
    assert routes.get("fitted", 0) >= 200 and routes["text-assigned"] >= (~with_image).sum() >= 70
    assert (looks.loc[looks["route"] != "left out", "style"] >= 0).all()
    assert view.styles["size"].sum() == routes["fitted"]
    # a text-assigned post lands in the style that holds most posts of its true style
    fitted = looks[looks["route"] == "fitted"]
    majority = pd.crosstab(fitted["style"], fitted["post"].map(truth)).idxmax(axis=1)
    text_only = looks[looks["route"] == "text-assigned"]
    agree = (text_only["style"].map(majority) == text_only["post"].map(truth)).mean()
    assert agree >= 0.6, agree
    table = view.routes().set_index("route")
    assert table.loc["text-assigned", "posts"] == (~with_image).groupby(looks["post"]).all().sum()
    assert table["images"].sum() == len(looks)


def test_text_assignment_is_a_setting(crawl_store):
    store, _ = crawl_store
    view = pipeline.run_pipeline(store, _config(text_assign=False)).view
    without = view.posts[view.posts["image_hash"].isna()]
    assert (without["style"] == -1).all() and (without["excluded"] == "no image").all()
    assert "text-assigned" not in set(view.posts["route"])


def test_shares_count_images_or_posts(crawl_store):
    store, _ = crawl_store
    images = pipeline.run_pipeline(store, _config()).view
    posts = pipeline.load_view(store, _config(share_unit="posts"))
    assert images.clustering_key == posts.clustering_key and images.share_key != posts.share_key
    styled = posts.posts[posts.posts["style"] >= 0]
    per_post = styled.groupby("post")["weight"].sum()
    assert np.allclose(per_post, 1.0)
    assert (images.posts.loc[images.posts["style"] >= 0, "weight"] == 1).all()
    for view in (images, posts):
        month = view.shares("month")
        assert np.allclose(month.groupby("period")["share"].sum(), 1.0)
    # by hand: a month's share of one style counting posts split over their images
    month = posts.shares("month")
    styled = styled.assign(period=styled["post_date"].dt.to_period("M").dt.start_time)
    first = month["period"].min()
    expected = styled[styled["period"] == first].groupby("style")["weight"].sum()
    got = month[month["period"] == first].set_index("style")["count"]
    assert np.allclose(got.reindex(expected.index).fillna(0), expected)


def test_text_search_names_a_post_by_its_first_image(crawl_store):
    from trend_core import search

    store, _ = crawl_store
    view = pipeline.run_pipeline(store, _config()).view
    index = search.build_text_search(store, view)
    first = view.posts[view.posts["images"] > 1].iloc[0]
    word = next(t for t in str(first["title"]).split() if t)
    result = search.search(view.posts, index, word, n=5)
    assert len(result.frame) and result.frame["title"].notna().all()
    assert set(result.frame["post_id"]) <= set(view.posts["post_id"])
    multi = result.frame[result.frame["post_id"].str.contains("#")]
    assert (multi["post_id"].str.endswith("#1")).all()


def test_saved_selections_count_like_the_styles(crawl_store):
    from trend_core import selections

    store, _ = crawl_store
    view = pipeline.load_view(store, _config(share_unit="posts"))
    kept = view.kept_posts()
    style0 = kept.loc[kept["style"] == 0, "post_id"].tolist()
    line = selections.selection_shares(kept, {"all of S0": style0}, "month").set_index("period")
    shares = view.shares("month")
    s0 = shares[shares["style"] == 0].set_index("period")
    assert np.allclose(line.loc[s0.index, "share"], s0["share"])  # a selection of a whole style is that style
    assert (line["n"] == shares.groupby("period")["n"].first().reindex(line.index)).all()
