"""Crawl dates (issue 11, point 8): relative dates ('昨天', '3天前', '5小时前') resolved against the crawl
date (given, else the file's latest full date, reported), day-first dates only with `dayfirst`, and
integral decimals ('1.00', Decimal('1.00')) read as counts."""
from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trend_core import ingest
from trend_core.fields import RelativeDate, parse_count, parse_date
from trend_core.store import Store


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["post_id", "post_date", "title", "likes"])
        writer.writerows(rows)
    return path


def _dates(db: Path) -> dict[str, dt.date]:
    posts = Store(db).load_posts().set_index("post_id")
    return {pid: pd.Timestamp(d).date() for pid, d in posts["post_date"].items()}


RELATIVE = [["now", "刚刚", "t", "1"], ["min", "5分钟前", "t", "1"], ["hours", "2小时前", "t", "1"],
            ["today", "今天 12:30", "t", "1"], ["y", "昨天", "t", "1"], ["y_time", "昨天 08:15", "t", "1"],
            ["dby", "前天", "t", "1"], ["d3", "3天前", "t", "1"], ["d3_region", "3天前 广东", "t", "1"],
            ["old", "2024-01-02", "t", "1"]]


def test_parse_date_reads_relative_crawl_forms():
    assert parse_date("刚刚") == RelativeDate(0)
    assert parse_date("今天 12:30") == RelativeDate(0)
    assert parse_date("59分钟前") == RelativeDate(0)
    assert parse_date("5小时前") == RelativeDate(0)
    assert parse_date("30小时前") == RelativeDate(1)
    assert parse_date("昨天") == parse_date("昨天 08:15") == parse_date("编辑于 昨天 08:15") == RelativeDate(1)
    assert parse_date("前天") == RelativeDate(2)
    assert parse_date("3天前") == parse_date("3 天前") == RelativeDate(3)
    assert parse_date("2周前") == RelativeDate(14)
    assert RelativeDate(1).resolve(dt.date(2024, 3, 1)) == dt.date(2024, 2, 29)
    for bad in ("昨天 25:00", "yesterday", "天前", "-3天前"):
        with pytest.raises(ValueError):
            parse_date(bad)


def test_relative_dates_count_back_from_the_given_crawl_date(tmp_path: Path):
    db = tmp_path / "t.duckdb"
    summary = ingest.ingest_file(Store(db), _csv(tmp_path / "r.csv", RELATIVE), reference_date="2024-03-18")
    assert summary["accepted"] == len(RELATIVE) and summary["rejected"] == 0
    assert summary["reference_date"] == "2024-03-18"
    assert summary["dates"]["relative_rows"] == 9 and summary["dates"]["reference_from"] == "crawl_date"
    got = _dates(db)
    day = dt.date(2024, 3, 18)
    assert got["now"] == got["min"] == got["hours"] == got["today"] == day
    assert got["y"] == got["y_time"] == dt.date(2024, 3, 17) and got["dby"] == dt.date(2024, 3, 16)
    assert got["d3"] == got["d3_region"] == dt.date(2024, 3, 15) and got["old"] == dt.date(2024, 1, 2)


def test_relative_dates_without_a_crawl_date_use_the_files_latest_full_date(tmp_path: Path):
    db = tmp_path / "t.duckdb"
    rows = [["a", "2024-03-10 09:00", "t", "1"], ["b", "昨天", "t", "1"], ["c", "3天前", "t", "1"],
            ["d", "03-09", "t", "1"]]
    summary = ingest.ingest_file(Store(db), _csv(tmp_path / "r.csv", rows))
    assert summary["accepted"] == 4
    assert summary["dates"] == {"reference_date": "2024-03-10", "month_day_rows": 1, "years": {"2024": 1},
                                "relative_rows": 2, "reference_from": "latest_full_date"}
    got = _dates(db)
    assert got["b"] == dt.date(2024, 3, 9) and got["c"] == dt.date(2024, 3, 7) and got["d"] == dt.date(2024, 3, 9)


def test_a_relative_crawl_date_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="crawl date"):
        ingest.ingest_file(Store(tmp_path / "t.duckdb"), _csv(tmp_path / "r.csv", RELATIVE), reference_date="昨天")


DAY_FIRST = [["slash", "31/12/2023", "t", "1"], ["dot", "31.12.2023", "t", "1"],
             ["time", "05/03/2024 10:20", "t", "1"], ["iso", "2024-03-06", "t", "1"]]


def test_day_first_dates_with_the_option(tmp_path: Path):
    assert parse_date("31/12/2023", dayfirst=True) == parse_date("31.12.2023", dayfirst=True) == dt.date(2023, 12, 31)
    with pytest.raises(ValueError, match="no such day"):
        parse_date("12/31/2023", dayfirst=True)
    db = tmp_path / "t.duckdb"
    summary = ingest.ingest_file(Store(db), _csv(tmp_path / "d.csv", DAY_FIRST), dayfirst=True)
    assert summary["accepted"] == 4 and summary["rejected"] == 0
    assert _dates(db) == {"slash": dt.date(2023, 12, 31), "dot": dt.date(2023, 12, 31),
                          "time": dt.date(2024, 3, 5), "iso": dt.date(2024, 3, 6)}


def test_day_first_dates_without_the_option_are_rejected_naming_it(tmp_path: Path):
    with pytest.raises(ValueError, match="--dayfirst"):
        parse_date("31/12/2023")
    db = tmp_path / "t.duckdb"
    summary = ingest.ingest_file(Store(db), _csv(tmp_path / "d.csv", DAY_FIRST))
    assert summary["accepted"] == 1 and summary["reasons"] == {"bad_date": 3}
    rejects = Store(db).load_rejects()
    assert rejects["detail"].str.contains("--dayfirst").all() and rejects["detail"].str.contains("day first").all()


def test_integral_decimals_are_counts():
    assert [parse_count(v) for v in (Decimal("1.00"), Decimal("0"), Decimal("1E+2"), 1.0, "1.00", "1,234.00",
                                     "1.2w")] == [1, 0, 100, 1, 1, 1234, 12000]
    for bad in ("1.5", "2.5", Decimal("1.5"), Decimal("-1"), Decimal("NaN")):
        with pytest.raises(ValueError):
            parse_count(bad)


def test_parquet_decimal_counts_are_imported(tmp_path: Path):
    path = tmp_path / "d.parquet"
    table = pa.table({"post_id": ["a", "b"], "post_date": ["2024-03-01", "2024-03-02"], "title": ["t", "t"],
                      "likes": pa.array([Decimal("1.00"), Decimal("1.50")], type=pa.decimal128(10, 2))})
    pq.write_table(table, path)
    db = tmp_path / "t.duckdb"
    summary = ingest.ingest_file(Store(db), path)
    assert summary["accepted"] == 1 and summary["reasons"] == {"bad_count": 1}
    assert Store(db).load_posts().set_index("post_id").loc["a", "likes"] == 1


def test_cli_crawl_date_and_dayfirst(tmp_path: Path, capsys):
    from trend_core.__main__ import main

    rows = [["y", "昨天 08:15", "t", "1.00"], ["dmy", "31/12/2023", "t", "2"]]
    path = _csv(tmp_path / "c.csv", rows)
    db = tmp_path / "t.duckdb"
    assert main(["ingest", "--db", str(db), "--posts", str(path), "--crawl-date", "2024-03-18", "--dayfirst"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accepted"] == 2 and out["reference_date"] == "2024-03-18"
    assert out["dates"]["relative_rows"] == 1 and out["dates"]["reference_from"] == "crawl_date"
    assert _dates(db) == {"y": dt.date(2024, 3, 17), "dmy": dt.date(2023, 12, 31)}
    posts = Store(db).load_posts().set_index("post_id")
    assert posts.loc["y", "likes"] == 1

    other = tmp_path / "o.duckdb"  # the old name still works; without --dayfirst the day-first row is rejected
    assert main(["ingest", "--db", str(other), "--posts", str(path), "--reference-date", "2024-03-20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accepted"] == 1 and out["reasons"] == {"bad_date": 1}
    assert _dates(other) == {"y": dt.date(2024, 3, 19)}


def test_cli_help_documents_crawl_date_and_dayfirst(capsys):
    from trend_core.__main__ import main

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    text = capsys.readouterr().out
    assert "--crawl-date" in text and "--dayfirst" in text


def test_data_page_day_first_checkbox(tmp_path: Path, monkeypatch):
    from tests.test_app_data import import_path, metrics, open_data_page, run

    monkeypatch.setenv("TREND_DEVICE", "cpu")
    path = _csv(tmp_path / "d.csv", DAY_FIRST)
    db = tmp_path / "page.duckdb"
    at = open_data_page(db, monkeypatch)
    box = [c for c in at.checkbox if c.label == "Dates are day first (31/12/2023)"]
    assert box, [c.label for c in at.checkbox]
    box[0].check()
    run(at)
    import_path(at, path)
    assert metrics(at)["accepted"] == "4"
    assert _dates(db)["slash"] == dt.date(2023, 12, 31)
