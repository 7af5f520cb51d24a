"""Styles page on a crawl where most posts have no image (issue 10, point 4): it states how many images
and posts each route covers and switches to text-only features in one click."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_app_pages import button, charts, open_app, rerun

from trend_core import ingest, pipeline
from trend_core.demo import write_demo
from trend_core.store import Store


@pytest.fixture()
def mostly_text_db(tmp_path: Path) -> Path:
    """60 demo posts, only the first 20 with their image; styles computed with the default features."""
    demo = Store(tmp_path / "demo.duckdb")
    write_demo(demo, n_posts=60, seed=2)
    posts = demo.load_posts()
    data = demo.load_image_bytes(posts["image_hash"], "data")
    (tmp_path / "images").mkdir()
    with (tmp_path / "crawl.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["post_id", "post_date", "post_title", "post_content", "post_tag", "post_like", "post_img"])
        for i, rec in enumerate(posts.itertuples(index=False)):
            image = ""
            if i < 20 or not (rec.title or rec.content or rec.tags):
                image = f"{rec.post_id}.jpg"
                (tmp_path / "images" / image).write_bytes(data[rec.image_hash])
            writer.writerow([rec.post_id, rec.post_date.date().isoformat(), rec.title, rec.content, rec.tags,
                             rec.likes, image])
    db = tmp_path / "crawl.duckdb"
    store = Store(db)
    ingest.ingest_file(store, tmp_path / "crawl.csv", images_dir=tmp_path / "images")
    pipeline.run_pipeline(store)
    return db


def test_routes_are_stated_and_text_only_is_one_click(mostly_text_db, monkeypatch):
    at = open_app(mostly_text_db, monkeypatch, "app_pages/styles.py")
    coverage = next(c.value for c in at.caption if c.value.startswith("Coverage:"))
    assert "styled on their fused features" in coverage and "text-assigned" in coverage
    assert any("Most posts have no image" in w.value for w in at.warning)
    button(at, "Use text-only features").click()
    at = rerun(at)
    store = Store(mostly_text_db)
    assert pipeline.load_choices(store)["modalities"] == ["text", "engagement"]
    view = pipeline.load_view(store)
    assert set(view.posts["route"]) == {"fitted"} and (view.posts["style"] >= 0).all()
    coverage = next(c.value for c in at.caption if c.value.startswith("Coverage:"))
    assert "text-assigned" not in coverage and f"{len(view.posts)} images of 60 posts" in coverage
    assert not any("Most posts have no image" in w.value for w in at.warning)


def test_styles_from_the_style_column_or_from_clusters(demo_db_copy, monkeypatch):
    store = Store(demo_db_copy)
    with store.connect() as con:
        con.execute("UPDATE posts SET style_label = true_style")
    pipeline.save_choice(store, "style_source", "labels")
    pipeline.run_pipeline(store, pipeline.config_from_settings(store))
    at = open_app(demo_db_copy, monkeypatch, "app_pages/styles.py")
    assert at.radio(key="styles_source").value == "labels"
    assert any("labels of your style column" in i.value for i in at.info)
    assert at.number_input(key="styles_k").disabled and at.checkbox(key="styles_auto_k").disabled
    assert not any("Silhouette" in str(f.layout.title.text) for f in charts(at))
    labels_view = pipeline.load_view(store)
    assert sorted(labels_view.styles["name"]) == sorted(labels_view.posts["true_style"].unique())

    at.radio(key="styles_source").set_value("clusters")
    at = rerun(at)
    assert pipeline.load_choices(store)["style_source"] == "clusters"
    assert not any("labels of your style column" in i.value for i in at.info)
    assert not at.checkbox(key="styles_auto_k").disabled
    assert any("Silhouette" in str(f.layout.title.text) for f in charts(at))
    assert pipeline.load_view(store).config.style_source == "clusters"


def test_trends_shares_count_images_or_posts(demo_db_copy, monkeypatch):
    at = open_app(demo_db_copy, monkeypatch, "app_pages/trends.py")
    assert at.radio(key="trends_share_unit").value == "images"
    assert any("Shares count images" in c.value for c in at.caption)
    assert any("share of images" in str(f.layout.title.text) for f in charts(at))
    at.radio(key="trends_share_unit").set_value("posts")
    at = rerun(at)
    assert pipeline.load_choices(Store(demo_db_copy))["share_unit"] == "posts"
    assert any("Shares count posts" in c.value for c in at.caption)
    assert any("share of posts" in str(f.layout.title.text) for f in charts(at))
