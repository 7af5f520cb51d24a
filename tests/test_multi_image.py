"""Real crawl shapes: several images per post (one row per image, or an image list), paths relative to
the images folder or the posts file, rejects superseded by a corrected re-import, old databases."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from PIL import Image

from trend_core import ingest
from trend_core.store import Store


def _jpeg(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 60), colour).save(path, format="JPEG")
    return path


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def crawl(tmp_path: Path) -> Path:
    """A crawl folder: images/ with five pictures and nothing else yet."""
    for i, colour in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0), (0, 200, 200)], start=1):
        _jpeg(tmp_path / "images" / f"i{i}.jpg", colour)
    return tmp_path


def test_one_row_per_image_keeps_every_image(crawl: Path):
    header = ["post_id", "image_no", "post_date", "post_like", "post_content", "post_img", "image_style"]
    rows = [["p1", "1", "03-01", "1万", "碎花裙 :smile:", "images/i1.jpg", "7"],
            ["p1", "2", "03-01", "1万", "", "images/i2.jpg", "8"],
            ["p1", "3", "03-01", "1万", "", "images/i3.jpg", ""],
            ["p2", "1", "2023-12-30", "5", "西装", "images/i4.jpg", "7"],
            ["p1", "2", "03-01", "1万", "", "images/i2.jpg", "8"]]     # a true duplicate: same post, same image
    path = _csv(crawl / "posts.csv", header, rows)
    store = Store(crawl / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=crawl / "images", mapping={"image_style": "style_label"})
    assert summary["rows_read"] == 5 and summary["accepted"] == 4 and summary["rejected"] == 1
    assert summary["reasons"] == {"duplicate_post_id": 1}
    assert summary["posts"] == 2 and summary["images"] == 4 and summary["added"] == 2
    assert store.count_posts() == 2 and store.count_looks() == 4
    looks = store.load_posts().set_index("post_id")
    assert list(looks.index) == ["p1#1", "p1#2", "p1#3", "p2"]
    assert looks["post"].tolist() == ["p1", "p1", "p1", "p2"] and looks["images"].tolist() == [3, 3, 3, 1]
    assert looks["image_no"].tolist() == [1, 2, 3, 1]
    assert looks.loc["p1#2", "image_hash"] == _sha(crawl / "images" / "i2.jpg")
    # the post's text, date and counts come from its first row; the label is per image
    assert looks.loc["p1#3", "content"] == "碎花裙 :smile:" and looks.loc["p1#3", "likes"] == 10000
    assert looks.loc["p1#1", "post_date"] == pd.Timestamp("2023-03-01")  # MM-DD on or before 2023-12-30
    assert looks["style_label"].tolist() == ["7", "8", "7", "7"]  # a blank label falls back to the post's


def test_image_lists_in_one_row(crawl: Path):
    header = ["post_id", "post_date", "title", "images"]
    rows = [["a", "2024-01-01", "三张", "i1.jpg; i2.jpg | i3.jpg"],
            ["b", "2024-01-02", "列表", json.dumps(["i4.jpg", "i5.jpg"])],
            ["c", "2024-01-03", "一张", "i1.jpg"],
            ["d", "2024-01-04", "重复", "i2.jpg,i2.jpg"]]  # the same image twice in a row is a duplicate
    path = _csv(crawl / "p.csv", header, rows)
    store = Store(crawl / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=crawl / "images")
    assert summary["accepted"] == 3 and summary["reasons"] == {"duplicate_post_id": 1}
    looks = store.load_posts()
    assert looks.groupby("post")["image_no"].apply(list).to_dict() == {"a": [1, 2, 3], "b": [1, 2], "c": [1]}
    assert looks.set_index("post_id").loc["b#2", "image_source"] == "i5.jpg"
    assert looks["image_hash"].notna().all()


def test_single_image_files_behave_as_before(crawl: Path):
    path = _csv(crawl / "p.csv", ["post_id", "post_date", "title", "image"],
                [["a", "2024-01-01", "t", "i1.jpg"], ["b", "2024-01-02", "only text", ""],
                 ["a", "2024-01-03", "again", ""]])
    store = Store(crawl / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=crawl / "images")
    assert summary["reasons"] == {"duplicate_post_id": 1}   # same post, no other image: a duplicate
    looks = store.load_posts()
    assert looks["post_id"].tolist() == ["a", "b"] and looks["image_no"].tolist() == [1, 0]


def test_relative_paths_are_found_under_the_images_folder_then_the_posts_folder(crawl: Path):
    _jpeg(crawl / "extra" / "e.jpg", (10, 10, 10))
    rows = [["a", "2024-01-01", "t", "images/i1.jpg"],   # prefix = the images folder's own name
            ["b", "2024-01-01", "t", "i2.jpg"],          # under the images folder
            ["c", "2024-01-01", "t", "extra/e.jpg"],     # under the posts file's folder
            ["d", "2024-01-01", "t", "../outside.jpg"]]
    _jpeg(crawl.parent / "outside.jpg", (1, 2, 3))
    path = _csv(crawl / "p.csv", ["post_id", "post_date", "title", "image"], rows)
    summary = ingest.ingest_file(Store(crawl / "t.duckdb"), path, images_dir=crawl / "images")
    assert summary["accepted"] == 3 and summary["reasons"] == {"image_outside_root": 1}
    assert summary["warnings"] == {}


def test_many_missing_images_are_a_warning_with_the_first_path_and_the_folders(crawl: Path):
    rows = [["a", "2024-01-01", "t", "nope/1.jpg"], ["b", "2024-01-01", "t", "nope/2.jpg"],
            ["c", "2024-01-01", "t", "i1.jpg"], ["d", "2024-01-01", "t", "i2.jpg"]]
    path = _csv(crawl / "p.csv", ["post_id", "post_date", "title", "image"], rows)
    summary = ingest.ingest_file(Store(crawl / "t.duckdb"), path, images_dir=crawl / "images")
    warning = summary["warnings"]["images_missing"]
    assert "2 of 4 declared images (50%)" in warning and "'nope/1.jpg'" in warning
    assert str((crawl / "images").resolve()) in warning and str(crawl.resolve()) in warning
    few = _csv(crawl / "q.csv", ["post_id", "post_date", "title", "image"],
               [["e", "2024-01-01", "t", "nope/3.jpg"]] + [[f"f{i}", "2024-01-01", "t", "i3.jpg"] for i in range(5)])
    assert "images_missing" not in ingest.ingest_file(Store(crawl / "u.duckdb"), few,
                                                      images_dir=crawl / "images")["warnings"]


def test_a_corrected_reimport_supersedes_its_rejects(crawl: Path):
    store = Store(crawl / "t.duckdb")
    header = ["post_id", "post_date", "title", "image"]
    bad = _csv(crawl / "posts.csv", header, [["a", "2024-01-01", "t", "i1.jpg"], ["b", "02-30", "t", "i2.jpg"],
                                             ["c", "2024-01-03", "t", "missing.jpg"]])
    first = ingest.ingest_file(store, bad, images_dir=crawl / "images")
    assert first["reasons"] == {"bad_date": 1, "image_missing": 1} and len(store.load_rejects()) == 2
    fixed = _csv(crawl / "posts.csv", header, [["a", "2024-01-01", "t", "i1.jpg"], ["b", "02-28", "t", "i2.jpg"],
                                               ["c", "2024-01-03", "t", "i3.jpg"], ["d", "", "t", "i4.jpg"]])
    second = ingest.ingest_file(store, fixed, images_dir=crawl / "images")
    rejects = store.load_rejects()
    assert rejects["reason"].tolist() == ["missing_date"] and set(rejects["source"]) == {second["source"]}
    assert second["accepted"] + len(rejects) == second["rows_read"] == 4
    assert store.count_posts() == 3
    imports = store.load_imports()
    assert len(imports) == 2  # the history keeps both imports


def test_rejects_of_posts_fixed_by_another_file_are_dropped(crawl: Path):
    store = Store(crawl / "t.duckdb")
    header = ["post_id", "post_date", "title", "image"]
    ingest.ingest_file(store, _csv(crawl / "a.csv", header, [["x", "2024-01-01", "t", "gone.jpg"],
                                                            ["y", "2024-01-01", "t", ""]]),
                       images_dir=crawl / "images")
    assert sorted(store.load_rejects()["reason"]) == ["image_missing"]
    ingest.ingest_file(store, _csv(crawl / "b.csv", header, [["x", "2024-01-01", "t", "i1.jpg"]]),
                       images_dir=crawl / "images")
    assert store.load_rejects().empty


def test_label_only_rows_are_valid(crawl: Path):
    path = _csv(crawl / "l.csv", ["post_id", "image_no", "post_date", "post_like", "image_style"],
                [["p", "1", "2024-01-01", "3", "5"], ["p", "2", "2024-01-01", "3", "6"], ["q", "1", "2024-01-02", "", ""]])
    store = Store(crawl / "t.duckdb")
    summary = ingest.ingest_file(store, path, mapping={"image_style": "style_label"})
    assert summary["accepted"] == 2 and summary["reasons"] == {"empty_post": 1}
    assert summary["blank_counts"] == {"likes": 1, "collects": None, "comments": None}
    assert store.load_posts()["style_label"].tolist() == ["5", "6"]


def test_month_day_dates_say_how_they_got_their_year(crawl: Path):
    path = _csv(crawl / "d.csv", ["post_id", "post_date", "title"],
                [["a", "2024-03-18", "t"], ["b", "03-01", "t"], ["c", "12-24", "t"], ["d", "01-05", "t"]])
    summary = ingest.ingest_file(Store(crawl / "t.duckdb"), path)
    assert summary["dates"] == {"reference_date": "2024-03-18", "month_day_rows": 3,
                                "years": {"2023": 1, "2024": 2}}


def test_a_database_from_before_multi_image_posts_is_migrated(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE posts(
        post_id VARCHAR PRIMARY KEY, poster_id VARCHAR, title VARCHAR, content VARCHAR, tags VARCHAR,
        post_date DATE NOT NULL, likes BIGINT, collects BIGINT, comments BIGINT,
        image_hash VARCHAR, image_source VARCHAR, style_label VARCHAR, true_style VARCHAR,
        source VARCHAR, row_number BIGINT, imported_at TIMESTAMP)""")
    con.execute("INSERT INTO posts VALUES ('a', 'u', 't', 'c', '', DATE '2024-01-01', 1, 2, 3, 'h1', 'x.jpg', "
                "NULL, NULL, 's', 1, NULL), ('b', 'u', 't', 'c', '', DATE '2024-01-02', 0, 0, 0, NULL, '', "
                "'lab', NULL, 's', 2, NULL)")
    con.close()
    store = Store(path)
    looks = store.load_posts()
    assert looks["post_id"].tolist() == ["a", "b"] and looks["image_no"].tolist() == [1, 0]
    assert looks["likes"].tolist() == [1, 0] and looks["style_label"].tolist()[1] == "lab"
    Store(path)  # opening again does nothing more
    assert store.count_looks() == 2


def test_cli_reference_date_gives_month_day_dates_their_year(crawl: Path, capsys):
    from trend_core.__main__ import main

    path = _csv(crawl / "d.csv", ["post_id", "post_date", "title"], [["a", "2023-12-30", "t"], ["b", "03-01", "t"]])
    assert main(["ingest", "--db", str(crawl / "t.duckdb"), "--posts", str(path),
                 "--reference-date", "2024-03-18"]) == 0
    assert json.loads(capsys.readouterr().out)["dates"]["years"] == {"2024": 1}
    assert Store(crawl / "t.duckdb").load_posts().set_index("post_id").loc["b", "post_date"] == pd.Timestamp("2024-03-01")
