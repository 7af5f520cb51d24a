"""Bounded archives and memory (issue 11, point 3): a zip of images is unpacked under limits on total size,
compression ratio and member count into a temporary folder that is always removed; 16-bit images decode
to 8 bits without a float copy and large images are shrunk in strips; posts files are read in chunks with
exactly the rows of a whole-file read."""
from __future__ import annotations

import io
import json
import os
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from trend_core import archive, media, readers
from trend_core.__main__ import main
from trend_core.archive import ArchiveRefused, extract_zip, extracted_images
from trend_core.ingest import ingest_file
from trend_core.store import Store


def _png(size: tuple[int, int] = (8, 8), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def _bomb(mib: int = 40) -> bytes:
    """One member of `mib` MiB of zeros: a zip of about 40 KB per 40 MiB (ratio about 1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("bomb.jpg", "w") as member:
        for _ in range(mib):
            member.write(bytes(2**20))
    return buf.getvalue()


def _written(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """tempfile's folder, so the folders extracted_images makes can be seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ---- zip archives -----------------------------------------------------------------------------------
def test_zip_bomb_is_refused_by_its_ratio_before_anything_is_written(tmp_path, temp_dir):
    bomb = _bomb(40)
    assert len(bomb) < 200_000
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(ArchiveRefused, match="decompression bomb") as err:
        extract_zip(bomb, root)
    assert err.value.reason == "ratio" and "TREND_ZIP_MAX_RATIO" in str(err.value)
    assert _written(root) == 0
    with pytest.raises(ValueError, match="ratio"):  # ArchiveRefused is a ValueError: the CLI / app show it
        with extracted_images(bomb):
            pass
    assert list(temp_dir.iterdir()) == []


def test_a_member_that_passes_its_declared_sizes_is_stopped_while_unpacking(tmp_path, monkeypatch):
    """Declared sizes are checked first; the bytes actually produced are counted too, and unpacking stops
    within one block of the limit with the partial file removed."""
    monkeypatch.setattr(archive, "_refuse_declared", lambda members, limits: None)
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(ArchiveRefused) as err:
        extract_zip(_bomb(40), root)
    assert err.value.reason == "ratio" and _written(root) == 0
    stored = _zip({f"{i}.bin": os.urandom(2**20) for i in range(4)}, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveRefused) as err:
        extract_zip(stored, root, max_bytes=2 * 2**20 + 10)
    assert err.value.reason == "total_size" and _written(root) <= 2 * 2**20 + 10


def test_zip_over_the_total_size_is_refused_and_the_limit_comes_from_the_environment(tmp_path, monkeypatch, temp_dir):
    members = {f"img/{i}.jpg": os.urandom(2**20) for i in range(4)}  # 4 MiB that does not compress
    data = _zip(members)
    monkeypatch.setenv("TREND_ZIP_MAX_BYTES", str(3 * 2**20))
    with pytest.raises(ArchiveRefused, match="TREND_ZIP_MAX_BYTES") as err:
        with extracted_images(data):
            pass
    assert err.value.reason == "total_size"
    assert list(temp_dir.iterdir()) == []
    monkeypatch.setenv("TREND_ZIP_MAX_BYTES", str(5 * 2**20))
    with extracted_images(data) as root:
        assert _written(root) == 4 * 2**20
    monkeypatch.setenv("TREND_ZIP_MAX_RATIO", "lots")
    with pytest.raises(ValueError, match="TREND_ZIP_MAX_RATIO"):
        with extracted_images(data):
            pass


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    data = _zip({f"{i}.png": b"x" for i in range(11)})
    with pytest.raises(ArchiveRefused, match="11 members") as err:
        extract_zip(data, tmp_path, max_members=10)
    assert err.value.reason == "members" and _written(tmp_path) == 0
    monkeypatch.setenv("TREND_ZIP_MAX_MEMBERS", "10")
    with pytest.raises(ArchiveRefused, match="TREND_ZIP_MAX_MEMBERS"):
        extract_zip(data, tmp_path)
    assert extract_zip(data, tmp_path, max_members=11).files == 11
    assert archive.ZipLimits.resolve() == archive.ZipLimits(archive.DEFAULT_MAX_BYTES, archive.DEFAULT_MAX_RATIO, 10)
    assert (archive.DEFAULT_MAX_BYTES, archive.DEFAULT_MAX_RATIO, archive.DEFAULT_MAX_MEMBERS) == (2 * 1024**3, 100, 20_000)


def test_unsafe_names_are_skipped(tmp_path):
    root = tmp_path / "deep" / "out"
    root.mkdir(parents=True)
    data = _zip({"../evil.png": b"1", "/abs.png": b"2", "a/../../up.png": b"3", "C:/win.png": b"4",
                 "..\\back.png": b"5", "ok/a.png": b"6", "win\\style.png": b"7", "./dot.png": b"8"})
    out = extract_zip(data, root)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["dot.png", "ok/a.png", "win/style.png"]
    assert set(out.skipped) == {"../evil.png", "/abs.png", "a/../../up.png", "C:/win.png", "..\\back.png"}
    assert not any(p.name in {"evil.png", "up.png", "back.png", "abs.png"} for p in tmp_path.rglob("*"))


def test_temp_folder_is_removed_after_success_and_after_a_failure(temp_dir):
    data = _zip({"imgs/a.png": _png()})
    with extracted_images(data) as root:
        assert (root / "imgs" / "a.png").read_bytes() == _png() and root.parent == temp_dir
    assert not root.exists()
    with pytest.raises(RuntimeError, match="import failed"):
        with extracted_images(io.BytesIO(data)) as root:  # a file object works too
            assert root.exists()
            raise RuntimeError("import failed")
    assert not root.exists()
    with pytest.raises(ArchiveRefused, match="not a readable zip"):
        with extracted_images(b"not a zip"):
            pass
    assert list(temp_dir.iterdir()) == []


def test_cli_ingest_takes_a_zip_of_images_and_removes_its_folder(tmp_path, temp_dir, capsys):
    posts = tmp_path / "posts.csv"
    posts.write_text("post_id,post_title,post_date,post_img\np1,红裙,2024-03-01,imgs/a.png\n"
                     "p2,蓝裙,2024-03-02,imgs/missing.png\n", encoding="utf-8")
    images = tmp_path / "images.zip"
    images.write_bytes(_zip({"imgs/a.png": _png()}))
    db = str(tmp_path / "t.duckdb")
    assert main(["ingest", "--db", db, "--posts", str(posts), "--images", str(images)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accepted"] == 1 and summary["images"] == 1 and summary["reasons"] == {"image_missing": 1}
    assert list(temp_dir.iterdir()) == []
    images.write_bytes(_bomb(40))
    assert main(["ingest", "--db", db, "--posts", str(posts), "--images", str(images)]) != 0
    assert "decompression bomb" in capsys.readouterr().err
    assert list(temp_dir.iterdir()) == []


# ---- images -----------------------------------------------------------------------------------------
def _png16(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def test_16_bit_grey_is_its_high_byte_without_a_float64_copy():
    values = np.array([[0, 255, 256, 32_896, 65_534, 65_535]], dtype=np.uint16)
    im = Image.open(io.BytesIO(_png16(values)))
    im.load()
    assert im.mode.startswith("I;16")
    assert np.asarray(media._to_rgb(im))[0, :, 0].tolist() == [0, 0, 1, 128, 255, 255]
    gradient = (np.arange(3000)[None, :] * 21 + np.arange(2000)[:, None] * 7) % 65_536  # 6 megapixels
    raw = _png16(gradient)
    tracemalloc.start()
    try:
        _, _, _, width, height = media.normalise_image(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (width, height) == (512, 341)
    assert peak < 6_000_000 * 8, f"{peak:,} bytes traced: a float64 copy of the pixels was made"


def _decoded(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"), dtype=np.int16)


def test_large_images_are_shrunk_in_strips_like_the_whole_image(monkeypatch):
    """Above media.REDUCE_PIXELS an image is converted (16-bit to 8, transparency on white) strip by strip
    while it is shrunk: the stored image matches converting the whole picture first, EXIF turn included."""
    rng = np.random.default_rng(0)
    rgba = np.zeros((1200, 2000, 4), np.uint8)
    rgba[..., :3] = rng.integers(0, 255, (1200, 2000, 3))
    rgba[:, :1000, 3] = 255  # the right half is transparent: white once stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees
    cases = {"rgba": (Image.fromarray(rgba, "RGBA"), {"exif": exif}),
             "grey16": (Image.fromarray((np.arange(2000)[None, :] * 30 + np.arange(1200)[:, None] * 3).astype(np.uint16)), {}),
             "palette": (Image.fromarray(rgba[..., :3]).convert("P"), {})}
    for name, (image, options) in cases.items():
        buf = io.BytesIO()
        image.save(buf, format="PNG", **options)
        raw = buf.getvalue()
        monkeypatch.setattr(media, "REDUCE_PIXELS", 10**9)
        whole = media.normalise_image(raw)
        monkeypatch.setattr(media, "REDUCE_PIXELS", 1_000_000)
        strips = media.normalise_image(raw)
        assert whole[0] == strips[0] and whole[3:] == strips[3:], name
        diff = np.abs(_decoded(whole[1]) - _decoded(strips[1]))
        assert diff.mean() < 3, name
    assert strips[3:] == (512, 307)
    turned = media.normalise_image(io.BytesIO() and _saved(cases["rgba"][0], exif))
    assert turned[3:] == (307, 512)
    assert _decoded(turned[1])[-20:, :, :].min() > 240  # the transparent half, turned to the bottom, is white


def _saved(image: Image.Image, exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", exif=exif)
    return buf.getvalue()


# ---- reading in chunks --------------------------------------------------------------------------------
HEADER = "post_id,post_title,post_content,post_date,post_like,image_no\n"


def _hostile_csv() -> tuple[bytes, int]:
    """A crawl-like CSV whose awkward rows straddle small chunks: a post whose images are far apart
    with different text, a multi-line quoted cell, an unclosed quote that swallows lines, a line that
    is not UTF-8, blank lines, a duplicate image, MM-DD dates whose year comes from the last row."""
    rows = [f"p{i},标题{i},内容{i},{i % 12 + 1:02d}-{i % 27 + 1:02d},{i}万,1\n" for i in range(1, 41)]
    rows[3] = 'p4,多行,"第一段\n第二段, 还有\n第三段",03-01,4,1\n'
    rows[9] = 'p10,"没有闭合的引号,内容,03-02,10,1\n'
    rows[14] = "p15,坏编码,内容,03-03,15,1\n"
    rows[20] = "p2,第二张图的另一个标题,另一段内容,01-01,999,2\n"  # p2's second image: p2's first row's text wins
    rows[27] = "p3,重复,内容,03-04,3,1\n"  # p3 image 1 again: duplicate_post_id
    rows[31] = "\n"
    rows[39] = "p40,最后,内容,2024-03-18,40,1\n"  # the latest full date: the year of the MM-DD dates
    data = (HEADER + "".join(rows)).encode("utf-8")
    cut = data.index("坏编码".encode()) + 1
    data = data[:cut] + data[cut + 1:]  # a cut UTF-8 character: the line is bad_encoding
    return data, 39  # data rows: 40 lines minus the blank one


def _tables(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    posts = store.query_df("SELECT * EXCLUDE (imported_at) FROM posts ORDER BY post_id, image_no")
    rejects = store.query_df("SELECT * EXCLUDE (imported_at) FROM rejects ORDER BY row_number, reason")
    return posts, rejects


@pytest.mark.parametrize("fmt", ["csv", "path", "jsonl", "json", "parquet"])
def test_reading_in_chunks_gives_the_rows_of_a_whole_file_read(tmp_path, fmt):
    data, data_rows = _hostile_csv()
    name = "posts.csv"
    if fmt in ("jsonl", "json", "parquet"):
        frame = pd.read_csv(io.StringIO(HEADER + "".join(
            f"p{i},标题{i},内容{i},{i % 12 + 1:02d}-{i % 27 + 1:02d},{i},{1 + (i % 7 == 0)}\n" for i in range(1, 41))),
            dtype=str)
        records = frame.to_dict(orient="records")
        records[5]["post_title"] = "t" * (readers.MAX_CELL_CHARS + 1)  # text_too_long
        if fmt == "parquet":
            buf = io.BytesIO()
            pd.DataFrame(records).to_parquet(buf)
            data, name = buf.getvalue(), "posts.parquet"
        elif fmt == "json":
            records.insert(11, "not a record")
            data, name = json.dumps(records, ensure_ascii=False, indent=1).encode(), "posts.json"
        else:
            lines = [json.dumps(r, ensure_ascii=False) for r in records]
            lines[11] = '{"post_id": "broken'
            data, name = "\n".join(lines).encode(), "posts.jsonl"
        data_rows = len(records)
    results = []
    for chunk_rows in (1, 3, 7, 10**6):
        store = Store(tmp_path / f"{fmt}-{chunk_rows}.duckdb")
        if fmt == "path":
            path = tmp_path / "posts.csv"
            path.write_bytes(data)
            summary = ingest_file(store, path, chunk_rows=chunk_rows)
        else:
            summary = ingest_file(store, data, file_name=name, chunk_rows=chunk_rows)
        assert summary["rows_read"] == summary["accepted"] + summary["rejected"] == data_rows
        posts, rejects = _tables(store)
        assert len(rejects) == summary["rejected"]
        results.append((summary, posts, rejects))
    summary, posts, rejects = results[-1]
    for other_summary, other_posts, other_rejects in results[:-1]:
        assert other_summary == summary
        pd.testing.assert_frame_equal(other_posts, posts)
        pd.testing.assert_frame_equal(other_rejects, rejects)
    if fmt in ("csv", "path"):
        assert summary["reasons"] == {"bad_encoding": 1, "bad_row": 1, "duplicate_post_id": 1}
        assert summary["dates"]["reference_date"] == "2024-03-18"
        second = posts[(posts["post_id"] == "p2")].set_index("image_no")
        assert second.loc[2, "title"] == "标题2" and second.loc[2, "likes"] == 20_000  # the first row's fields
        assert posts.set_index("post_id").loc["p4", "content"] == "第一段\n第二段, 还有\n第三段"
        assert "p11" in set(posts["post_id"])  # the line after the unclosed quote is a row of its own
    elif fmt == "json":
        assert summary["reasons"] == {"bad_row": 1, "text_too_long": 1}
    elif fmt == "jsonl":
        assert summary["reasons"] == {"bad_row": 1, "text_too_long": 1}
    else:
        assert summary["reasons"] == {"text_too_long": 1}


def test_a_posts_file_is_read_in_blocks_and_memory_does_not_grow_with_it(tmp_path, monkeypatch):
    def lines(n: int) -> str:
        body = "今天的穿搭分享，法式复古碎花裙配针织开衫，温柔又显瘦，姐妹们冲鸭" * 8
        return HEADER + "".join(f"p{i},标题{i},{body}{i},2024-03-{i % 28 + 1:02d},{i},1\n" for i in range(n))

    def read_bytes(self):
        raise AssertionError(f"{self} was read whole")

    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text(lines(2_000), encoding="utf-8")
    large.write_text(lines(8_000), encoding="utf-8")
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 * 1024)  # both files span many blocks
    peaks = []
    for path in (small, large):
        tracemalloc.start()
        try:
            summary = ingest_file(Store(tmp_path / f"{path.stem}.duckdb"), path, chunk_rows=1000)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert summary["accepted"] == summary["rows_read"]
    grown, more = peaks[1] - peaks[0], large.stat().st_size - small.stat().st_size
    print(f"traced peaks {peaks[0]:,} and {peaks[1]:,} bytes for files of {small.stat().st_size:,} and "
          f"{large.stat().st_size:,} bytes")
    # whole-file reading held about 6 bytes of Python objects per byte of file; chunks keep a few hundred
    # bytes per post (its id, image numbers, where its first row is) and the current chunk
    assert grown < more, f"4 times the rows: {grown:,} bytes more traced for {more:,} bytes more file"
