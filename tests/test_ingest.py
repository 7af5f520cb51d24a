"""Import of messy posts files: formats, aliases, dates, counts, images, rejects, idempotence."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from trend_core import fields, ingest, media
from trend_core.ingest import ImageRejected, normalise_image, parse_count, parse_date
from trend_core.store import Store

CRAWL = ["post_id", "poster_id", "post_title", "post_content", "post_tag", "post_date", "post_like",
         "post_collect", "post_comments", "post_img", "style"]


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (no pixel data): opening it reads only the header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    root = tmp_path / "img"
    (root / "sub").mkdir(parents=True)
    (root / "ok.jpg").write_bytes(_encode(Image.new("RGB", (640, 400), (200, 30, 30)), "JPEG"))
    (root / "ok2.png").write_bytes(_encode(Image.new("RGB", (50, 50), (0, 0, 200)), "PNG"))
    full = _encode(Image.effect_noise((300, 200), 60).convert("RGB"), "JPEG")
    (root / "trunc.jpg").write_bytes(full[: len(full) // 2])
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((0, 160, 0, 255), (16, 16, 48, 48))
    (root / "sub" / "rgba.png").write_bytes(_encode(rgba, "PNG"))
    (root / "big.png").write_bytes(_encode(Image.new("RGB", (700, 700), (90, 90, 90)), "PNG"))
    (tmp_path / "secret.jpg").write_bytes(_encode(Image.new("RGB", (20, 20)), "JPEG"))
    return root


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _messy_rows(secret: Path, inside: Path) -> list[list[str]]:
    return [
        ["p1", "u1", "碎花裙", "好看😍", "#碎花[话题]# #ootd", "2024-03-10", "1万", "1.2w", "10万+", "ok.jpg", "floral"],
        ["p2", "u1", "牛仔", "", "", "03-01", "1,234", "3k", "", "ok.jpg", ""],
        ["p3", "u2", "西装", "", "", "12-25", "", "nan", "0", "", "office"],
        ["p4", "u2", "", "透明", "", "2024/02/29 08:30", "5", "2", "1", "sub/rgba.png", ""],
        ["p5", "u3", "多图", "", "", "2024年1月5日", "3", "0", "0", "ok.jpg;ok2.png", ""],
        ["p6", "u3", "t", "", "", "02-30", "1", "1", "1", "", ""],
        ["p7", "u3", "t", "", "", "", "1", "1", "1", "", ""],
        ["p8", "u4", "t", "", "", "2024-01-08", "-5", "0", "0", "", ""],
        ["p9", "u4", "t", "", "", "2024-01-09", "0", "lots", "0", "", ""],
        ["p1", "u4", "dup", "", "", "2024-01-10", "0", "0", "0", "", ""],
        ["p10", "u5", "t", "", "", "2024-01-11", "0", "0", "0", "missing.jpg", ""],
        ["p11", "u5", "t", "", "", "2024-01-12", "0", "0", "0", "trunc.jpg", ""],
        ["p12", "u5", "t", "", "", "2024-01-13", "0", "0", "0", "../secret.jpg", ""],
        ["p13", "u6", "t", "", "", "2024-01-14", "0", "0", "0", "big.png", ""],
        ["p14", "u6", "", "", "", "2024-01-15", "0", "0", "0", "", ""],
        ["p15", "u6", "", "😍✨", "", "2024-01-16", "0", "0", "0", "", ""],
        ["p16", "u7", "绝对路径", "", "", "2024-01-17", "0", "0", "0", str(inside), ""],
        ["p17", "u7", "外面", "", "", "2024-01-18", "0", "0", "0", str(secret), ""],
    ]


EXPECTED_REASONS = {"bad_date": 1, "missing_date": 1, "bad_count": 2, "duplicate_post_id": 1,
                    "image_missing": 1, "image_corrupt": 1, "image_outside_root": 2, "image_too_large": 1,
                    "empty_post": 1}


@pytest.fixture()
def small_pixel_limit(monkeypatch):
    monkeypatch.setattr(media, "MAX_PIXELS", 300_000)


def _check_counts(summary: dict) -> None:
    assert summary["accepted"] + summary["rejected"] == summary["rows_read"]
    assert sum(summary["reasons"].values()) == summary["rejected"]
    json.dumps(summary)  # JSON-serialisable


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_messy_csv(tmp_path, images, small_pixel_limit, encoding):
    rows = _messy_rows(tmp_path / "secret.jpg", images / "ok2.png")
    if encoding == "gb18030":  # emoji survive GB18030 too, but keep one row plain for variety
        rows[0][3] = "好看"
    path = _write_csv(tmp_path / "posts.csv", CRAWL, rows, encoding)
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=images)
    _check_counts(summary)
    assert summary["rows_read"] == 18
    assert summary["accepted"] == 7 and summary["rejected"] == 11
    assert summary["added"] == 7 and summary["already_present"] == 0
    assert summary["reasons"] == EXPECTED_REASONS
    assert summary["reference_date"] == "2024-03-10"
    assert summary["file"] == "posts.csv"
    assert summary["source"] == hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    posts = store.load_posts().set_index("post_id")
    # p5 lists two images: one post, two looks (p5#1, p5#2)
    assert sorted(posts.index) == sorted(["p1", "p2", "p3", "p4", "p5#1", "p5#2", "p15", "p16"])
    assert summary["posts"] == 7 and summary["images"] == 6
    assert posts.loc["p5#2", "image_hash"] == hashlib.sha256((images / "ok2.png").read_bytes()).hexdigest()
    posts = posts.rename(index={"p5#1": "p5"})
    assert posts.loc["p1", "title"] == "碎花裙"
    assert (posts.loc["p1", ["likes", "collects", "comments"]].tolist() == [10000, 12000, 100000])
    assert (posts.loc["p2", ["likes", "collects", "comments"]].tolist() == [1234, 3000, 0])
    assert posts.loc["p3", ["likes", "collects"]].tolist() == [0, 0]
    assert posts.loc["p1", "tags"] == "#碎花 #ootd"
    assert posts.loc["p1", "style_label"] == "floral" and posts.loc["p3", "style_label"] == "office"
    assert pd.isna(posts.loc["p2", "style_label"])
    assert posts.loc["p2", "post_date"] == pd.Timestamp("2024-03-01")    # MM-DD: year of the reference
    assert posts.loc["p3", "post_date"] == pd.Timestamp("2023-12-25")    # would be after the reference
    assert posts.loc["p4", "post_date"] == pd.Timestamp("2024-02-29")
    assert posts.loc["p5", "post_date"] == pd.Timestamp("2024-01-05")
    ok_hash = hashlib.sha256((images / "ok.jpg").read_bytes()).hexdigest()
    assert posts.loc["p1", "image_hash"] == ok_hash == posts.loc["p5", "image_hash"]
    assert posts.loc["p5", "image_source"] == "ok.jpg" and posts.loc["p5#2", "image_source"] == "ok2.png"
    assert pd.isna(posts.loc["p15", "image_hash"]) and posts.loc["p15", "content"] == "😍✨"
    assert posts.loc["p16", "image_hash"] == hashlib.sha256((images / "ok2.png").read_bytes()).hexdigest()
    assert posts["source"].eq(summary["source"]).all()
    assert posts.loc["p4", "row_number"] == 4

    rejects = store.load_rejects().set_index("post_id")
    assert len(rejects) == 11
    assert rejects["reason"].value_counts().to_dict() == EXPECTED_REASONS
    assert rejects.loc["p6", "reason"] == "bad_date" and rejects.loc["p7", "reason"] == "missing_date"
    assert rejects.loc["p11", "reason"] == "image_corrupt" and rejects.loc["p13", "reason"] == "image_too_large"
    assert rejects.loc["p12", "reason"] == "image_outside_root"
    assert rejects.loc["p17", "reason"] == "image_outside_root"
    assert rejects.loc["p1", "reason"] == "duplicate_post_id" and rejects.loc["p1", "row_number"] == 10
    raw = json.loads(rejects.loc["p9", "raw"])
    assert raw["post_collect"] == "lots" and raw["post_id"] == "p9"   # original column names and values
    assert "collects" in rejects.loc["p9", "detail"]


def test_reimport_adds_nothing(tmp_path, images, small_pixel_limit):
    path = _write_csv(tmp_path / "posts.csv", CRAWL, _messy_rows(tmp_path / "secret.jpg", images / "ok2.png"))
    store = Store(tmp_path / "t.duckdb")
    first = ingest.ingest_file(store, path, images_dir=images)
    n_posts, n_rejects = store.count_posts(), len(store.load_rejects())
    second = ingest.ingest_file(store, path, images_dir=images)
    _check_counts(second)
    assert second["source"] == first["source"]
    assert second["added"] == 0 and second["already_present"] == first["accepted"]
    assert second["accepted"] == first["accepted"] and second["reasons"] == first["reasons"]
    assert store.count_posts() == n_posts and len(store.load_rejects()) == n_rejects
    imports = store.load_imports()
    assert len(imports) == 1 and int(imports["added"].iloc[0]) == first["added"]


def test_stored_images_are_normalised(tmp_path, images, small_pixel_limit):
    path = _write_csv(tmp_path / "posts.csv", CRAWL, _messy_rows(tmp_path / "secret.jpg", images / "ok2.png"))
    store = Store(tmp_path / "t.duckdb")
    ingest.ingest_file(store, path, images_dir=images)
    posts = store.load_posts().set_index("post_id")
    data = store.load_image_bytes([posts.loc["p1", "image_hash"], posts.loc["p4", "image_hash"]], "data")
    thumbs = store.load_image_bytes([posts.loc["p1", "image_hash"]], "thumb")
    big = Image.open(io.BytesIO(data[posts.loc["p1", "image_hash"]]))
    assert big.format == "JPEG" and big.mode == "RGB" and big.size == (512, 320)
    thumb = Image.open(io.BytesIO(thumbs[posts.loc["p1", "image_hash"]]))
    assert thumb.format == "JPEG" and max(thumb.size) == 128
    rgba = Image.open(io.BytesIO(data[posts.loc["p4", "image_hash"]]))
    assert rgba.mode == "RGB"
    corner, centre = rgba.getpixel((2, 2)), rgba.getpixel((32, 32))
    assert min(corner) > 240                        # transparent -> white
    assert centre[1] > 120 and centre[0] < 60        # the opaque green square stays green


def test_duplicate_keeps_first_valid_row(tmp_path):
    rows = [["a", "u", "first", "", "", "2024-01-01", "1", "", "", "", ""],
            ["a", "u", "second", "", "", "2024-01-02", "2", "", "", "", ""],
            ["b", "u", "bad date first", "", "", "bad", "1", "", "", "", ""],
            ["b", "u", "then valid", "", "", "2024-01-03", "1", "", "", "", ""]]
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, _write_csv(tmp_path / "d.csv", CRAWL, rows))
    _check_counts(summary)
    assert summary["reasons"] == {"duplicate_post_id": 1, "bad_date": 1}
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["a", "title"] == "first" and posts.loc["b", "title"] == "then valid"


def test_json_array_with_aliases(tmp_path, images):
    records = [
        {"id": 1, "user_id": "u1", "text": "通勤西装 #通勤", "date": "2024-05-01 12:00:00",
         "like_count": 12, "favorites": "1.5万", "comment_count": None, "image": "ok.jpg",
         "tag": ["通勤", "#西装"], "style": "office"},
        {"id": 2, "user_id": "u2", "text": "nul\u0000here", "date": "04-30", "like_count": 3.0,
         "favorites": 0, "comment_count": 1, "image": "", "tag": "穿搭,日常"},
        "not a record",
        {"id": 3, "user_id": "u3", "text": "x", "date": None, "like_count": 1},
    ]
    path = tmp_path / "posts.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=images)
    _check_counts(summary)
    assert summary["rows_read"] == 4 and summary["accepted"] == 2
    assert summary["reasons"] == {"bad_row": 1, "missing_date": 1}
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["1", "collects"] == 15000 and posts.loc["1", "comments"] == 0
    assert posts.loc["1", "tags"] == "#通勤 #西装" and posts.loc["2", "tags"] == "#穿搭 #日常"
    assert posts.loc["1", "style_label"] == "office" and posts.loc["1", "poster_id"] == "u1"
    assert posts.loc["2", "content"] == "nulhere"
    assert posts.loc["2", "post_date"] == pd.Timestamp("2024-04-30")
    assert posts.loc["2", "likes"] == 3


def test_jsonl_with_a_broken_line(tmp_path):
    lines = [json.dumps({"post_id": "a", "post_date": "2024-01-01", "post_title": "好", "post_like": "2w"},
                        ensure_ascii=False),
             "{broken json",
             json.dumps({"post_id": "b", "post_date": "01-02", "post_title": "ok", "post_like": "10"}),
             ""]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path)
    _check_counts(summary)
    assert summary["rows_read"] == 3 and summary["accepted"] == 2 and summary["reasons"] == {"bad_row": 1}
    rejects = store.load_rejects()
    assert rejects["raw"].iloc[0] == "{broken json" and rejects["row_number"].iloc[0] == 2
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["a", "likes"] == 20000
    assert posts.loc["b", "post_date"] == pd.Timestamp("2023-01-02")  # 2024-01-02 is after the reference


def test_parquet_with_typed_columns(tmp_path, images):
    frame = pd.DataFrame({
        "post_id": ["x1", "x2", "x3"],
        "post_title": ["旗袍", "卫衣", "坏"],
        "post_date": pd.to_datetime(["2024-02-01", "2024-02-02", "2024-02-03"]),
        "post_like": [5, 7, -1],
        "post_img": ["ok.jpg", None, None],
        "style": ["qipao", None, "x"],
    })
    path = tmp_path / "posts.parquet"
    frame.to_parquet(path)
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path, images_dir=images)
    _check_counts(summary)
    assert summary["accepted"] == 2 and summary["reasons"] == {"bad_count": 1}
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["x1", "post_date"] == pd.Timestamp("2024-02-01") and posts.loc["x1", "likes"] == 5
    assert posts.loc["x1", "style_label"] == "qipao" and pd.isna(posts.loc["x2", "style_label"])
    assert isinstance(posts.loc["x1", "image_hash"], str)


def test_user_mapping_and_buffer_input(tmp_path, images):
    header = ["nid", "when", "words", "hearts", "pic"]
    rows = [["n1", "2024-06-01", "法式条纹", "1k", "ok.jpg"], ["n2", "2024-06-02", "运动风", "2", ""]]
    path = _write_csv(tmp_path / "mine.csv", header, rows)
    mapping = {"nid": "post_id", "when": "post_date", "words": "content", "hearts": "likes", "pic": "image_source"}
    frame = ingest.read_table(path, mapping=mapping)
    assert {"post_id", "post_date", "content", "likes", "image_source"} <= set(frame.columns)
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, io.BytesIO(path.read_bytes()), images_dir=images,
                                 file_name="mine.csv", mapping=mapping)
    _check_counts(summary)
    assert summary["accepted"] == 2 and summary["file"] == "mine.csv"
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["n1", "likes"] == 1000 and posts.loc["n1", "content"] == "法式条纹"
    with pytest.raises(ValueError, match="nope"):
        ingest.read_table(path, mapping={"nope": "post_id"})
    with pytest.raises(ValueError, match="post_date"):
        ingest.ingest_file(store, path)  # no alias for 'when': the date column is missing


def test_missing_date_column_names_it_and_the_available_ones(tmp_path):
    path = _write_csv(tmp_path / "x.csv", ["post_id", "post_title"], [["1", "a"]])
    with pytest.raises(ValueError) as info:
        ingest.ingest_file(Store(tmp_path / "t.duckdb"), path)
    message = str(info.value)
    assert "post_date" in message and "post_title" in message


def test_no_post_id_column_gives_stable_ids(tmp_path):
    path = _write_csv(tmp_path / "noid.csv", ["date", "title"], [["2024-01-01", "a"], ["2024-01-02", "b"]])
    store = Store(tmp_path / "t.duckdb")
    first = ingest.ingest_file(store, path)
    ids = sorted(store.load_posts()["post_id"])
    assert ids == [f"{first['source']}-1", f"{first['source']}-2"]
    second = ingest.ingest_file(store, path)
    assert second["added"] == 0 and store.count_posts() == 2


def test_year_inference_with_reference_and_without_full_dates(tmp_path):
    rows = [["a", "12-31"], ["b", "01-02"], ["c", "02-29"]]
    path = _write_csv(tmp_path / "md.csv", ["post_id", "post_date", "title"], [r + ["t"] for r in rows])
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path, reference_date="2024-01-15")
    assert summary["accepted"] == 3 and summary["reference_date"] == "2024-01-15"
    dates = store.load_posts().set_index("post_id")["post_date"]
    assert dates["a"] == pd.Timestamp("2023-12-31") and dates["b"] == pd.Timestamp("2024-01-02")
    assert dates["c"] == pd.Timestamp("2020-02-29")   # latest leap day on or before the reference
    store2 = Store(tmp_path / "t2.duckdb")
    ingest.ingest_file(store2, path)                   # no full date: today is the reference
    assert (store2.load_posts()["post_date"].dt.date <= dt.date.today()).all()


def test_relative_image_without_images_dir(tmp_path, images):
    rows = [["a", "2024-01-01", "t", "img/ok.jpg"]]
    path = _write_csv(tmp_path / "p.csv", ["post_id", "post_date", "title", "image"], rows)
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, path)          # real path: resolved against its folder
    assert summary["accepted"] == 1 and store.load_posts()["image_hash"].notna().all()
    store2 = Store(tmp_path / "t2.duckdb")
    summary2 = ingest.ingest_file(store2, path.read_bytes(), file_name="p.csv")  # buffer: nowhere to look
    assert summary2["reasons"] == {"image_missing": 1}
    assert "images_dir" in store2.load_rejects()["detail"].iloc[0]


def test_symlink_out_of_the_root_is_outside(tmp_path, images):
    (images / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    path = _write_csv(tmp_path / "s.csv", ["post_id", "post_date", "title", "image"],
                      [["a", "2024-01-01", "t", "link.jpg"], ["b", "2024-01-01", "t", "sub/../ok.jpg"]])
    summary = ingest.ingest_file(Store(tmp_path / "t.duckdb"), path, images_dir=images)
    assert summary["reasons"] == {"image_outside_root": 1} and summary["accepted"] == 1


def test_url_images_are_not_fetched(tmp_path):
    rows = [["a", "2024-01-01", "t", "https://example.com/a.jpg"], ["b", "2024-01-02", "", "http://x/b.jpg"]]
    path = _write_csv(tmp_path / "u.csv", ["post_id", "post_date", "title", "post_img"], rows)
    summary = ingest.ingest_file(Store(tmp_path / "t.duckdb"), path)
    _check_counts(summary)
    assert summary["accepted"] == 1 and summary["reasons"] == {"empty_post": 1}
    assert list(summary["warnings"]) == ["image_url_not_fetched"]
    assert summary["warnings"]["image_url_not_fetched"].startswith("2 image URL(s) were not downloaded")


def test_bad_csv_row_with_extra_fields(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("post_id,post_date,title\n1,2024-01-01,a\n2,2024-01-02,b,extra,more\n\n3,2024-01-03,c\n",
                    encoding="utf-8")
    summary = ingest.ingest_file(Store(tmp_path / "t.duckdb"), path)
    _check_counts(summary)
    assert summary["rows_read"] == 3 and summary["reasons"] == {"bad_row": 1}


def test_parse_count_rules():
    assert [parse_count(v) for v in ("1万", "1.2w", "1.2W", "10万+", "1,234", "3k", "", None, float("nan"),
                                     "赞", 12, 12.0, "1.5千")] == \
        [10000, 12000, 12000, 100000, 1234, 3000, 0, 0, 0, 0, 12, 12, 1500]
    for bad in ("-5", -1, "abc", "2.5", True, "1,2"):
        with pytest.raises(ValueError):
            parse_count(bad)


def test_parse_date_forms():
    assert parse_date("2024-03-05") == dt.date(2024, 3, 5)
    assert parse_date("2024/3/5") == dt.date(2024, 3, 5)
    assert parse_date("2024-03-05 10:20") == dt.date(2024, 3, 5)
    assert parse_date("2024-03-05 10:20:33") == dt.date(2024, 3, 5)
    assert parse_date("2024年3月5日") == dt.date(2024, 3, 5)
    assert parse_date("07-15 广东") == fields.MonthDay(7, 15)
    assert parse_date(pd.Timestamp("2024-01-01 10:00")) == dt.date(2024, 1, 1)
    for bad in ("02-30", "2023-02-29", "2024-13-01", "yesterday", "2024-03-05 25:00"):
        with pytest.raises(ValueError):
            parse_date(bad)


def test_normalise_image_rejects_and_conversions(monkeypatch):
    ok = _encode(Image.new("RGB", (100, 60), (10, 20, 30)), "JPEG")
    digest, data, thumb, w, h = normalise_image(ok)
    assert digest == hashlib.sha256(ok).hexdigest() and (w, h) == (100, 60)
    with pytest.raises(ImageRejected) as info:
        normalise_image(ok[: len(ok) // 2])
    assert info.value.reason == "image_corrupt"
    with pytest.raises(ImageRejected) as info:
        normalise_image(b"not an image at all")
    assert info.value.reason == "image_corrupt"
    with pytest.raises(ImageRejected) as info:
        normalise_image(_png_header(10_000, 7_000))     # 70 MP: over our limit
    assert info.value.reason == "image_too_large"
    with pytest.raises(ImageRejected) as info:
        normalise_image(_png_header(40_000, 40_000))    # Pillow's DecompressionBombError
    assert info.value.reason == "image_too_large"
    monkeypatch.setattr(media, "MAX_BYTES", 100)
    with pytest.raises(ImageRejected) as info:
        normalise_image(ok)
    assert info.value.reason == "image_too_large"
    monkeypatch.undo()

    rotated = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 on display
    assert normalise_image(_encode(rotated, "JPEG", exif=exif))[3:] == (20, 40)
    cmyk = normalise_image(_encode(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG"))
    assert Image.open(io.BytesIO(cmyk[1])).mode == "RGB"
    grey = normalise_image(_encode(Image.new("L", (30, 30), 128), "PNG"))
    assert Image.open(io.BytesIO(grey[1])).mode == "RGB"
    pal = Image.new("P", (30, 30), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    out = normalise_image(_encode(pal, "PNG", transparency=0))
    assert min(Image.open(io.BytesIO(out[1])).getpixel((5, 5))) > 240
