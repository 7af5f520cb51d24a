"""Data quality report (trend_core.quality) on hand-built frames, the `quality` CLI, and the report on the
real crawl checked against direct pandas counts."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trend_core import quality



def looks(rows: list[tuple]) -> pd.DataFrame:
    """(post, image_no, date, image_hash) rows as Store.load_posts() returns them (one row per image)."""
    frame = pd.DataFrame(rows, columns=["post", "image_no", "post_date", "image_hash"])
    frame["post_date"] = pd.to_datetime(frame["post_date"])
    sizes = frame.groupby("post")["post"].transform("size")
    frame["post_id"] = [p if n == 1 else f"{p}#{i}" for p, i, n in zip(frame["post"], frame["image_no"], sizes)]
    frame["source"] = "src"
    return frame


@pytest.fixture
def spread() -> pd.DataFrame:
    """20 posts on 20 different days, one image each (hashes unique)."""
    return looks([(f"p{i:02d}", 1, f"2024-01-{i + 1:02d}", f"h{i:02d}") for i in range(20)])


def codes(report: dict) -> dict[str, dict]:
    return {w["code"]: w for w in report["warnings"]}


def test_clean_frame_has_no_warnings(spread):
    report = quality.report(spread)
    assert report["posts"] == 20 and report["rows"] == 20 and report["warnings"] == []
    assert report["date_range"] == {"first": "2024-01-01", "last": "2024-01-20", "days": 20, "days_with_posts": 20}
    assert report["busiest_day"]["posts"] == 1 and report["busiest_day"]["share"] == pytest.approx(0.05)
    json.dumps(report)  # JSON-ready as it is


def test_busiest_day_over_ten_percent_warns_and_names_pages(spread):
    # three more posts, each with two images, all on 2024-01-05: 4 of 23 posts (17 %) on one day
    piled = pd.concat([spread, looks([(f"q{i}", j, "2024-01-05", f"x{i}{j}") for i in range(3) for j in (1, 2)])])
    report = quality.report(piled)
    busiest = report["busiest_day"]
    assert (busiest["date"], busiest["posts"]) == ("2024-01-05", 4)  # posts, not image rows
    assert busiest["share"] == pytest.approx(4 / 23)
    warning = codes(report)["busiest_day"]
    assert warning["level"] == "warning" and "2024-01-05" in warning["message"] and "17%" in warning["message"]
    assert {"Trends", "Forecast"} <= set(warning["pages"])
    # the same pile under the limit: 2 of 21 posts (9.5 %) on one day says nothing
    calm = pd.concat([spread, looks([("q0", 1, "2024-01-05", "x0")])])
    assert "busiest_day" not in codes(quality.report(calm))
    assert "busiest_day" in codes(quality.report(calm, busiest_day_limit=0.05))


def test_posts_without_image_and_rows_without_picture(spread):
    extra = looks([("t1", 0, "2024-01-03", None), ("t2", 0, "2024-01-04", None),  # no image row at all
                   ("v1", 1, "2024-01-06", None), ("v1", 2, "2024-01-06", "hv")])  # an image without a file
    report = quality.report(pd.concat([spread, extra]))
    images = report["images"]
    assert images["posts_without_image"] == 2 and images["posts_without_image_share"] == pytest.approx(2 / 23)
    assert images["image_rows"] == 22 and images["image_rows_without_picture"] == 1
    found = codes(report)
    assert "2 of 23 posts" in found["no_image"]["message"] and "Styles" in found["no_image"]["pages"]
    assert "Segmentation" in found["no_picture"]["pages"]


def test_frame_without_post_or_image_no_is_one_row_per_post():
    frame = pd.DataFrame({"post_id": ["a", "b", "c"], "post_date": pd.to_datetime(["2024-01-01"] * 3),
                          "image_hash": ["h1", None, "h1"], "image_source": [None, None, "c.jpg"]})
    report = quality.report(frame)
    assert report["posts"] == 3 and report["images"]["posts_without_image"] == 1
    assert report["shared_images"]["images"] == 1 and report["shared_images"]["posts"] == 2


def test_blank_counts_summed_over_imports(spread):
    summaries = [{"blank_counts": {"likes": 2, "collects": 0, "comments": None}},
                 {"blank_counts": {"likes": 1, "collects": 4, "comments": None}}, {"file": "old import"}]
    report = quality.report(spread, summaries)
    assert report["blank_counts"] == {"likes": 3, "collects": 4, "comments": None}
    warning = codes(report)["blank_counts"]
    assert "likes 3" in warning["message"] and "collects 4" in warning["message"]
    assert "Trends" in warning["pages"] and "Forecast" in warning["pages"]
    assert "blank_counts" not in codes(quality.report(spread, [{"blank_counts": {"likes": 0}}]))


def test_same_image_in_several_posts(spread):
    shared = looks([("s1", 1, "2024-01-02", "same"), ("s2", 1, "2024-01-03", "same"), ("s3", 2, "2024-01-04", "same"),
                    ("s3", 1, "2024-01-04", "own"),
                    ("r1", 1, "2024-01-05", "twice"), ("r1", 2, "2024-01-05", "twice")])  # one post: not shared
    report = quality.report(pd.concat([spread, shared]))
    figures = report["shared_images"]
    assert (figures["images"], figures["posts"], figures["rows"]) == (1, 3, 3)
    assert figures["examples"] == [{"image_hash": "same", "posts": 3}]
    assert "1 images appear in more than one post (3 posts" in codes(report)["shared_images"]["message"]


def test_month_day_years_from_summaries(spread):
    one_year = [{"source": "a", "dates": {"reference_date": "2024-03-18", "month_day_rows": 6, "years": {"2024": 6}}}]
    report = quality.report(spread, one_year)
    assert report["dates"] == {"reference_dates": ["2024-03-18"], "month_day_rows": 6, "years": {"2024": 6}}
    info = codes(report)["month_day_years"]
    assert info["level"] == "info" and "2024-03-18" in info["message"] and "2024: 6" in info["message"]
    two_years = one_year + [{"source": "b", "dates": {"reference_date": "2024-02-01", "month_day_rows": 3,
                                                      "years": {"2023": 2, "2024": 1}}}]
    report = quality.report(spread, two_years)
    assert report["dates"]["years"] == {"2023": 2, "2024": 7} and report["dates"]["month_day_rows"] == 9
    assert report["dates"]["reference_dates"] == ["2024-02-01", "2024-03-18"]
    warning = codes(report)["month_day_years"]
    assert warning["level"] == "warning" and "more than one year" in warning["message"]
    assert "Trends" in warning["pages"]
    no_md = [{"dates": {"reference_date": "2024-03-18", "month_day_rows": 0, "years": {}}}]
    assert "month_day_years" not in codes(quality.report(spread, no_md))


def test_import_summaries_parse_the_imports_table():
    imports = pd.DataFrame({"summary": [json.dumps({"blank_counts": {"likes": 1}}), "not json", None, "{}"]})
    assert quality.import_summaries(imports) == [{"blank_counts": {"likes": 1}}, {}]
    assert quality.import_summaries(pd.DataFrame()) == []


# -- the CLI ---------------------------------------------------------------------------------------
MESSY = """post_id,poster_id,image_no,post_date,likes,collects,comments,content
a,u1,1,2024-03-01,10,,1,one
a,u1,2,2024-03-01,10,,1,one
b,u2,1,02-20,,2,0,two
c,u3,1,2023-12-30,5,1,,three
"""


def test_quality_cli_prints_json(tmp_path, capsys):
    from trend_core.__main__ import main
    from trend_core.ingest import ingest_file
    from trend_core.store import Store

    path = tmp_path / "messy.csv"
    path.write_text(MESSY, encoding="utf-8")
    db = tmp_path / "q.duckdb"
    summary = ingest_file(Store(db), str(path))
    capsys.readouterr()
    assert main(["quality", "--db", str(db)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"rows", "posts", "date_range", "dates", "busiest_day", "images", "blank_counts", "shared_images",
            "warnings"} <= set(out)
    assert out["posts"] == 3 and out["date_range"]["first"] == "2023-12-30"
    assert out["blank_counts"] == {k: summary["blank_counts"][k] for k in ("likes", "collects", "comments")}
    assert out["blank_counts"]["collects"] == 2  # the two rows of post a
    assert out["dates"]["month_day_rows"] == 1 and out["dates"]["years"] == {"2024": 1}
    # a on 2024-03-01 (two rows), b on 02-20 (given 2024: before the latest full date), c on 2023-12-30
    assert out["busiest_day"]["share"] == pytest.approx(1 / 3)
    assert all({"message", "pages"} <= set(w) for w in out["warnings"]) and out["warnings"]
    assert "busiest_day" in {w["code"] for w in out["warnings"]}


# -- the real crawl ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw(real_image_rows) -> pd.DataFrame:
    frame = pd.read_csv(real_image_rows, dtype=str, keep_default_na=False)
    # MM-DD means the current year of the crawl (2024, README); full dates carry their year
    frame["date"] = pd.to_datetime(frame["post_date"].where(frame["post_date"].str.len() == 10,
                                                            "2024-" + frame["post_date"]))
    return frame


def real_report(db: Path) -> dict:
    from trend_core.store import Store

    store = Store(db)
    return quality.report(store.load_posts(), quality.import_summaries(store.load_imports()))


def test_real_crawl_figures_match_pandas(real_crawl_db, raw):
    report = real_report(real_crawl_db)
    per_post = raw.drop_duplicates("post_id")
    assert report["rows"] == len(raw) and report["posts"] == raw["post_id"].nunique()
    assert report["date_range"]["first"] == f"{raw['date'].min():%Y-%m-%d}"
    assert report["date_range"]["last"] == f"{raw['date'].max():%Y-%m-%d}"
    assert report["date_range"]["days_with_posts"] == raw["date"].nunique()
    day_counts = per_post["date"].value_counts()
    assert report["busiest_day"]["posts"] == int(day_counts.max())
    assert report["busiest_day"]["date"] == f"{min(day_counts.index[day_counts == day_counts.max()]):%Y-%m-%d}"
    assert report["busiest_day"]["share"] == pytest.approx(day_counts.max() / len(per_post))
    month_day = raw["post_date"].str.len() == 5
    assert report["dates"]["month_day_rows"] == int(month_day.sum())
    assert report["dates"]["years"] == {"2024": int(month_day.sum())}
    assert report["blank_counts"]["likes"] == int((raw["post_like"].str.strip() == "").sum())
    assert report["blank_counts"]["collects"] == int((raw["post_collect"].str.strip() == "").sum())
    assert report["blank_counts"]["comments"] is None  # the crawl has no comment column
    assert report["images"]["posts_without_image"] == 0 and report["images"]["image_rows"] == len(raw)
    assert report["images"]["image_rows_without_picture"] == len(raw)  # no photos are shipped
    assert report["shared_images"]["images"] == 0
    assert "busiest_day" not in {w["code"] for w in report["warnings"]}  # 63 of 9,433 posts on the busiest day
