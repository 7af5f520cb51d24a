"""The Data page's import flow with AppTest on an empty database: the column mapping selects, the readable
import summary with its warnings, and rejects that add up after a corrected re-import."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from trend_core.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA_PAGE = "app_pages/data.py"

LABELLED = ("post_id,image_no,post_date,post_like,post_content,image_style\n"
            "p1,1,2024-03-05,1万,法式碎花裙 :smile:,12\n"
            "p1,2,2024-03-05,1万,法式碎花裙 :smile:,40\n"
            "p2,1,03-07,5,通勤西装,12\n")


def open_data_page(db: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("TREND_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(DATA_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def import_path(at: AppTest, path: Path, images: str = "") -> AppTest:
    at.text_input(key="data_server_path").set_value(str(path))
    at.text_input(key="data_server_images").set_value(images)
    run(at)
    at.button(key="data_server_button").click()
    return run(at)


def select(at: AppTest, label: str):
    found = [s for s in at.selectbox if s.label == label]
    assert found, [s.label for s in at.selectbox]
    return found[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_mapping_a_column_to_style_label_imports_the_labels(tmp_path, monkeypatch):
    db = tmp_path / "map.duckdb"
    at = open_data_page(db, monkeypatch)
    at.file_uploader(key="data_upload").set_value(("crawl.csv", LABELLED.encode("utf-8"), "text/csv"))
    run(at)
    # one select per column of the file, pre-filled with what the aliases pick
    assert select(at, "post_like → use as").value == "likes"
    assert select(at, "post_content → use as").value == "content"
    style = select(at, "image_style → use as")
    assert style.value == "(ignore)" and "style_label" in style.options
    assert any("ignored: image_style" in e.label for e in at.expander)
    style.set_value("style_label")
    run(at)
    at.button(key="data_upload_button").click()
    run(at)
    assert metrics(at)["accepted"] == "3"
    labels = Store(db).load_posts().set_index("post_id")["style_label"].to_dict()
    assert labels == {"p1#1": "12", "p1#2": "40", "p2": "12"}


def test_a_mapping_without_a_date_column_cannot_be_imported(tmp_path, monkeypatch):
    at = open_data_page(tmp_path / "nodate.duckdb", monkeypatch)
    at.file_uploader(key="data_upload").set_value(("crawl.csv", LABELLED.encode("utf-8"), "text/csv"))
    run(at)
    select(at, "post_date → use as").set_value("(ignore)")
    run(at)
    assert "missing required column 'post_date'" in texts(at.error)
    assert at.button(key="data_upload_button").disabled
    select(at, "post_date → use as").set_value("post_date")
    select(at, "post_like → use as").set_value("content")
    select(at, "post_content → use as").set_value("content")
    run(at)
    assert "content is chosen for more than one column" in texts(at.error)
    assert at.button(key="data_upload_button").disabled


def test_import_summary_is_readable_with_warnings_and_date_years(tmp_path, monkeypatch):
    posts = tmp_path / "crawl.csv"
    rows = ["post_id,post_date,post_content,post_img"]
    rows += [f"p{i},03-{i:02d},look {i},images/p{i}.jpg" for i in range(1, 5)]  # pictures that do not exist
    rows += ["t1,2024-03-10,text only,", "t2,01-02,text only,"]
    posts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    at = open_data_page(tmp_path / "summary.duckdb", monkeypatch)
    import_path(at, posts)
    shown = metrics(at)
    assert (shown["rows read"], shown["accepted"], shown["rejected"]) == ("6", "2", "4")
    assert (shown["posts"], shown["images"], shown["added"], shown["already present"]) == ("2", "0", "2", "0")
    warning = texts(at.warning)
    assert "4 of 4 declared images (100%) were not found" in warning and "'images/p1.jpg'" in warning
    assert "5 rows had no year (`MM-DD`): given 2024 (latest on or before 2024-03-10)" in texts(at.info)
    assert "image_missing 4" in texts(at.caption)
    details = [e for e in at.expander if e.label == "Details"]
    assert details and details[0].json and details[0].json[0].proto.body  # the raw summary stays available
    # a folder that is not a folder: said on the page, no exception
    import_path(at, posts, str(tmp_path / "nope"))
    assert "crawl.csv was not imported" in texts(at.error) and "is not a folder" in texts(at.error)


def test_rejects_add_up_after_a_corrected_reimport(tmp_path, monkeypatch):
    posts = tmp_path / "posts.csv"
    posts.write_text("post_id,post_date,post_content\na,2024-03-01,one\nb,not a date,two\n", encoding="utf-8")
    db = tmp_path / "rejects.duckdb"
    at = open_data_page(db, monkeypatch)
    import_path(at, posts)
    assert at.main.subheader[[s.value for s in at.main.subheader].index("Rejected rows (1)")]
    assert "✓ **posts.csv**: 1 accepted + 1 current rejects = 2; rows read 2" in texts(at.caption)

    posts.write_text("post_id,post_date,post_content\na,2024-03-01,one\nb,2024-03-02,two\n", encoding="utf-8")
    import_path(at, posts)
    assert "Rejected rows (0)" in [s.value for s in at.main.subheader]
    assert "No rejected rows." in texts(at.caption)
    assert "✓ **posts.csv**: 2 accepted + 0 current rejects = 2; rows read 2" in texts(at.caption)
    history = next(d.value for d in at.dataframe if "current rejects" in d.value.columns)
    assert list(history["file"]) == ["posts.csv", "posts.csv"]  # newest first; the record of each import stays
    assert list(history["rejected"]) == [0, 1] and list(history["current rejects"]) == [0, 0]
    assert history["adds up"].tolist()[0] is True and history["adds up"].isna().tolist()[1]
    assert not any("does not add up" in w for w in texts(at.warning).splitlines())

    # another file stores post c, which other.csv rejected: other.csv's reject is dropped and flagged
    other, fix = tmp_path / "other.csv", tmp_path / "fix.csv"
    other.write_text("post_id,post_date,post_content\nc,never,three\n", encoding="utf-8")
    fix.write_text("post_id,post_date,post_content\nc,2024-03-03,three\n", encoding="utf-8")
    import_path(at, other)
    import_path(at, fix)
    assert "✗ **other.csv**: 0 accepted + 0 current rejects = 0; rows read 1" in texts(at.caption)
    assert ("other.csv: accepted + current rejects (0) does not add up to the 1 rows read: 1 of its 1 rejects "
            "were dropped because a later import stored their posts.") in texts(at.warning)
    assert Store(db).load_rejects().empty


@pytest.fixture(autouse=True)
def _no_gpu_probe(monkeypatch):
    monkeypatch.setenv("TREND_DEVICE", "cpu")
