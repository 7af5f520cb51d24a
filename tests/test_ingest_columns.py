"""Reading a file's columns before importing (the Data page's column mapping) and ignoring a column."""
from __future__ import annotations

import json

import pytest

from trend_core import ingest
from trend_core.store import Store

CRAWL = ("post_id,image_no,post_date,post_like,post_content,post_img,image_style,extra\n"
         "p1,1,03-05,1万,好看 :smile:,,12,\n"
         "p1,2,03-05,1万,好看 :smile:,,40,x\n")


def test_preview_columns_suggests_what_the_aliases_pick(tmp_path):
    path = tmp_path / "crawl.csv"
    path.write_text(CRAWL, encoding="utf-8")
    columns, suggested, examples = ingest.preview_columns(str(path))
    assert columns == ["post_id", "image_no", "post_date", "post_like", "post_content", "post_img",
                       "image_style", "extra"]
    assert suggested == {"post_id": "post_id", "image_no": "image_no", "post_date": "post_date",
                         "post_like": "likes", "post_content": "content", "post_img": "image_source",
                         "image_style": None, "extra": None}
    assert examples["post_like"] == "1万" and examples["extra"] == "x"  # the first non-blank value
    assert "post_img" not in examples  # blank in every row
    # bytes with a file name, and a mapping, give the same shape
    _, mapped, _ = ingest.preview_columns(CRAWL.encode("utf-8"), "crawl.csv", {"image_style": "style_label"})
    assert mapped["image_style"] == "style_label"


def test_preview_columns_of_json_records():
    data = json.dumps([{"id": "a", "date": "2024-01-02", "text": "x"}, {"id": "b", "style": "y"}]).encode()
    columns, suggested, _ = ingest.preview_columns(data, "posts.json")
    assert columns == ["id", "date", "text", "style"]
    assert suggested == {"id": "post_id", "date": "post_date", "text": "content", "style": "style_label"}


def test_mapping_to_none_ignores_a_column_an_alias_would_pick(tmp_path):
    cmap = ingest.column_map(["post_date", "post_like", "text"], {"post_like": None, "text": ""})
    assert cmap == {"post_date": "post_date"}
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, CRAWL.encode("utf-8"), file_name="crawl.csv",
                                 mapping={"post_like": None, "image_style": "style_label"},
                                 reference_date="2024-03-18")
    assert summary["accepted"] == 2 and summary["posts"] == 1
    posts = store.load_posts()
    assert posts["likes"].tolist() == [0, 0]  # the ignored column is not read
    assert posts["style_label"].tolist() == ["12", "40"]
    with pytest.raises(ValueError, match="lacks"):
        ingest.column_map(["post_date"], {"nope": None})
