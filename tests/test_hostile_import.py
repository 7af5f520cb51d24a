"""Hostile posts files (issue 11, points 4 and 5): no row is lost in parsing, long cells and deep JSON
do not crash the import, and encodings are detected per file with undecodable lines rejected per row."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from trend_core import ingest, readers
from trend_core.store import Store

HEADER = "post_id,post_title,post_content,post_date,post_like\n"


def _row(i: int, title: str | None = None) -> str:
    return f"p{i},{title or f'碎花裙{i}号'},今天的穿搭 第{i}天,2024-03-{1 + i % 28:02d},{i}\n"


def _import(tmp_path, data: bytes, name: str = "posts.csv") -> tuple[dict, Store]:
    store = Store(tmp_path / "t.duckdb")
    summary = ingest.ingest_file(store, data, file_name=name)
    assert summary["accepted"] + summary["rejected"] == summary["rows_read"]
    assert sum(summary["reasons"].values()) == summary["rejected"]
    json.dumps(summary)
    return summary, store


def _rejects(store: Store) -> pd.DataFrame:
    return store.load_rejects().sort_values("row_number").reset_index(drop=True)


# ---- point 4: no row lost in parsing -------------------------------------------------------------
def test_unclosed_quote_does_not_swallow_the_rows_after_it(tmp_path):
    rows = [_row(i) for i in range(1, 51)]
    rows[10] = 'p11,"碎花裙 unclosed,今天的穿搭,2024-03-12,11\n'  # the quote never closes: old code ate 39 rows
    summary, store = _import(tmp_path, (HEADER + "".join(rows)).encode())
    assert summary["rows_read"] == 50
    assert summary["accepted"] == 49 and summary["reasons"] == {"bad_row": 1}
    rejects = _rejects(store)
    assert rejects.loc[0, "row_number"] == 11 and rejects.loc[0, "reason"] == "bad_row"
    detail = rejects.loc[0, "detail"]
    assert "unclosed quote" in detail and "line 12" in detail and "end of the file" in detail
    assert "lines 13-51" in detail
    posts = store.load_posts().set_index("post_id")
    assert "p12" in posts.index and "p50" in posts.index and "p11" not in posts.index
    assert posts.loc["p50", "title"] == "碎花裙50号"


def test_unclosed_quote_closed_by_a_later_quote_mid_file(tmp_path):
    rows = [_row(i) for i in range(1, 21)]
    rows[3] = 'p4,"oops,text,2024-03-05,4\n'
    rows[9] = 'p10,"quoted, title",text,2024-03-11,10\n'  # this quote would close the stray one
    summary, store = _import(tmp_path, (HEADER + "".join(rows)).encode())
    assert summary["rows_read"] == 20 and summary["accepted"] == 19
    assert summary["reasons"] == {"bad_row": 1}
    assert store.load_posts().set_index("post_id").loc["p10", "title"] == "quoted, title"


def test_multiline_quoted_cells_still_import(tmp_path):
    text = HEADER + 'p1,t,"第一段\n第二段, 还有\n第三段",2024-03-01,1\n' + _row(2)
    summary, store = _import(tmp_path, text.encode())
    assert summary["accepted"] == 2 and summary["rejected"] == 0
    assert store.load_posts().set_index("post_id").loc["p1", "content"] == "第一段\n第二段, 还有\n第三段"


def test_long_cell_imports_and_too_long_cell_is_rejected(tmp_path):
    long, too_long = "长" * 200_000, "x" * 2_000_000
    text = HEADER + _row(1) + f"p2,t,{long},2024-03-02,2\n" + f"p3,t,{too_long},2024-03-03,3\n" + _row(4)
    summary, store = _import(tmp_path, text.encode())
    assert summary["rows_read"] == 4 and summary["accepted"] == 3
    assert summary["reasons"] == {"text_too_long": 1}
    assert store.load_posts().set_index("post_id").loc["p2", "content"] == long
    reject = _rejects(store).iloc[0]
    assert reject["row_number"] == 3 and "post_content: 2,000,000 characters" in reject["detail"]
    assert len(reject["raw"]) < 50_000
    assert "text_too_long" in ingest.REASONS and readers.MAX_CELL_CHARS >= 1_000_000


def test_too_long_cell_in_json(tmp_path):
    recs = [{"post_id": "a", "title": "x" * 2_000_000, "post_date": "2024-03-01"},
            {"post_id": "b", "title": "ok", "post_date": "2024-03-01"}]
    summary, _ = _import(tmp_path, json.dumps(recs).encode(), "posts.json")
    assert summary["accepted"] == 1 and summary["reasons"] == {"text_too_long": 1}


def test_deep_json_is_a_clear_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match=f"JSON nested deeper than {readers.MAX_JSON_DEPTH} levels"):
        ingest.ingest_file(Store(tmp_path / "t.duckdb"), deep.encode(), file_name="posts.json")
    # brackets inside strings do not count; ordinary nesting (a list of tags) is fine
    ok = [{"post_id": "a", "title": "[" * 5_000, "tags": ["#a", "#b"], "post_date": "2024-03-01"}]
    summary, _ = _import(tmp_path, json.dumps(ok).encode(), "posts.json")
    assert summary["accepted"] == 1


def test_deep_json_line_is_one_bad_row(tmp_path):
    lines = [json.dumps({"post_id": "a", "title": "t", "post_date": "2024-03-01"}),
             '{"post_id": "b", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
             json.dumps({"post_id": "c", "title": "t", "post_date": "2024-03-02"})]
    summary, store = _import(tmp_path, "\n".join(lines).encode(), "posts.jsonl")
    assert summary["accepted"] == 2 and summary["reasons"] == {"bad_row": 1}
    assert "nested deeper than" in _rejects(store).loc[0, "detail"]


# ---- point 5: encodings -----------------------------------------------------------------------------
def _chinese_csv(n: int = 30) -> str:
    return HEADER + "".join(_row(i) for i in range(1, n + 1))


def test_utf8_with_one_cut_character_keeps_chinese_and_rejects_one_row(tmp_path):
    data = _chinese_csv().encode("utf-8")
    cut_at = data.index("碎花裙7号".encode()) + 2  # keep 2 of 碎's 3 bytes
    data = data[:cut_at] + data[cut_at + 1:]
    summary, store = _import(tmp_path, data)
    assert summary["encoding"] == "utf-8"
    assert summary["rows_read"] == 30 and summary["accepted"] == 29
    assert summary["reasons"] == {"bad_encoding": 1}
    reject = _rejects(store).iloc[0]
    assert reject["row_number"] == 7 and "line 8" in reject["detail"] and "utf-8" in reject["detail"]
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["p8", "title"] == "碎花裙8号" and posts.loc["p30", "content"] == "今天的穿搭 第30天"


def test_one_invalid_byte_does_not_reject_the_file(tmp_path):
    data = _chinese_csv().encode("utf-8").replace(b"p5,", b"p5\xff,", 1)
    summary, _ = _import(tmp_path, data)
    assert summary["encoding"] == "utf-8" and summary["accepted"] == 29
    assert summary["reasons"] == {"bad_encoding": 1}


def test_gb18030_file_is_still_gb18030(tmp_path):
    summary, store = _import(tmp_path, _chinese_csv().encode("gb18030"))
    assert summary["encoding"] == "gb18030" and summary["accepted"] == 30
    assert store.load_posts().set_index("post_id").loc["p3", "title"] == "碎花裙3号"


def test_short_gb18030_file_is_not_read_as_big5(tmp_path):
    summary, store = _import(tmp_path, (HEADER + _row(1, "好看")).encode("gb18030"))
    assert summary["encoding"] == "gb18030"
    assert store.load_posts().loc[0, "title"] == "好看"


@pytest.mark.parametrize("encoding, bom, expected", [
    ("utf-16-le", b"", "utf-16-le"), ("utf-16-le", b"\xff\xfe", "utf-16-le"),
    ("utf-16-be", b"", "utf-16-be"), ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ("utf-32-le", b"\xff\xfe\x00\x00", "utf-32-le"), ("utf-32-le", b"", "utf-32-le"),
    ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
])
def test_utf16_and_utf32_with_or_without_bom(tmp_path, encoding, bom, expected):
    summary, store = _import(tmp_path, bom + _chinese_csv(12).encode(encoding))
    assert summary["encoding"] == expected
    assert summary["rows_read"] == 12 and summary["accepted"] == 12
    posts = store.load_posts().set_index("post_id")
    assert posts.loc["p12", "title"] == "碎花裙12号" and posts.loc["p1", "likes"] == 1


def test_utf16_without_bom_with_a_bad_line(tmp_path):
    data = _chinese_csv(10).encode("utf-16-le")
    at = data.index("p4,".encode("utf-16-le"))
    data = data[:at] + b"\x00\xdc" + data[at + 2:]  # a lone low surrogate where "p" was
    summary, _ = _import(tmp_path, data)
    assert summary["encoding"] == "utf-16-le"
    assert summary["accepted"] == 9 and summary["reasons"] == {"bad_encoding": 1}


def test_jsonl_undecodable_line_is_bad_encoding(tmp_path):
    lines = [json.dumps({"post_id": f"p{i}", "title": f"碎花裙{i}", "post_date": "2024-03-01"},
                        ensure_ascii=False).encode() for i in range(5)]
    lines[2] = lines[2].replace("碎".encode(), "碎".encode()[:2])
    summary, store = _import(tmp_path, b"\n".join(lines), "posts.jsonl")
    assert summary["encoding"] == "utf-8" and summary["accepted"] == 4
    assert summary["reasons"] == {"bad_encoding": 1} and _rejects(store).loc[0, "row_number"] == 3


def test_encoding_reported_and_parquet_has_none(tmp_path):
    summary, _ = _import(tmp_path, _chinese_csv(3).encode())
    assert summary["encoding"] == "utf-8"
    frame = pd.DataFrame({"post_id": ["a"], "title": ["t"], "post_date": ["2024-03-01"]})
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    summary = ingest.ingest_file(Store(tmp_path / "p.duckdb"), path)
    assert summary["encoding"] is None
