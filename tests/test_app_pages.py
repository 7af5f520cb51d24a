"""Every page of the app driven headlessly with streamlit's AppTest against a small demo database."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGES = ["app_pages/data.py", "app_pages/segmentation.py", "app_pages/styles.py", "app_pages/map.py", "app_pages/trends.py",
         "app_pages/search.py", "app_pages/forecast.py"]
TIMEOUT = 240  # seconds per script run (a pipeline re-run or a short training on a slow CPU)


def open_app(db: Path, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("TREND_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _typed_arrays(obj: dict):
    """plotly sends numeric arrays as {"dtype", "bdata"(, "shape")}: decode them to numpy."""
    if set(obj) >= {"dtype", "bdata"} and set(obj) <= {"dtype", "bdata", "shape"}:
        array = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
        if "shape" in obj:
            array = array.reshape([int(n) for n in str(obj["shape"]).split(",")])
        return array
    return obj


def as_read(text: str) -> str:
    """Element text as a person reads it: markdown backslash escapes and the word joiners of ui.md removed."""
    return re.sub(r"\\(.)", r"\1", str(text)).replace("\u2060", "")


def charts(at: AppTest) -> list[go.Figure]:
    """The plotly figures on the page, decoded from the JSON the page sent."""
    return [go.Figure(json.loads(el.proto.spec, object_hook=_typed_arrays)) for el in at.get("plotly_chart")]


def trace(figure: go.Figure, name: str):
    matches = [t for t in figure.data if t.name == name]
    assert matches, [t.name for t in figure.data]
    return matches[0]


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for element in at.dataframe:
        value = element.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no dataframe with columns {columns}")


def rerun(at) -> AppTest:
    """Run the script again (from the AppTest or a widget just set / clicked) and fail with the page's
    exceptions if it raised; returns the AppTest."""
    app = at.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, [b.label for b in at.button]
    return matches[0]


def view_for(db: Path):
    from trend_core import pipeline
    from trend_core.store import Store

    from trend_core.plugins import effective_config

    store = Store(db)
    return pipeline.load_view(store, effective_config(pipeline.config_from_settings(store))[0])


# -- empty database ------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_empty_database_offers_the_demo(tmp_path, monkeypatch, page):
    at = open_app(tmp_path / "empty.duckdb", monkeypatch, page)
    labels = [b.label for b in at.button]
    assert "Build the demo dataset" in labels
    assert any("no posts yet" in i.value for i in at.info)


def test_demo_button_on_an_empty_database_ends_in_a_working_dashboard(tmp_path, monkeypatch):
    at = open_app(tmp_path / "fresh.duckdb", monkeypatch, "app_pages/trends.py")
    at.number_input(key="trends_demo_posts").set_value(150)
    at.button(key="trends_demo_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.sidebar.metric}["Posts"] == "150"
    assert charts(at), "the Trends page shows its chart right after the demo was built"
    at.switch_page("app_pages/styles.py").run()
    assert len(frame_with(at, "name", "size", "keywords")) >= 2
    reports = frame_with(at, "stage", "cached", "seconds")
    assert not reports["cached"].any()  # everything was computed for the new demo


# -- every page renders --------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(demo_db, monkeypatch, page):
    at = open_app(demo_db, monkeypatch, page)
    assert not at.exception
    assert at.title[0].value == Path(page).stem.capitalize()
    assert [m.value for m in at.sidebar.metric][0] == f"{view_for(demo_db).posts.shape[0]:,}"


def test_sidebar_shows_device(demo_db, monkeypatch):
    at = open_app(demo_db, monkeypatch)
    labels = {m.label: m.value for m in at.sidebar.metric}
    assert labels["Device"] in ("cpu", "cuda")
    assert at.sidebar.text_input[0].value == str(demo_db)


# -- styles --------------------------------------------------------------------------------------
def test_silhouette_chart_has_one_point_per_k(demo_db, monkeypatch):
    view = view_for(demo_db)
    at = open_app(demo_db, monkeypatch, "app_pages/styles.py")
    figure = charts(at)[0]
    silhouette = trace(figure, "silhouette")
    assert sorted(int(k) for k in silhouette.x) == sorted(int(k) for k in view.sweep["k"])
    assert len(silhouette.y) == len(view.sweep)
    assert any((t.name or "").startswith("auto K") for t in figure.data)
    table = frame_with(at, "name", "size", "keywords")
    assert len(table) == view.k
    assert len(at.image) >= 1  # exemplar thumbnails


def test_applying_k_changes_the_styles_table(demo_db_copy, monkeypatch):
    view = view_for(demo_db_copy)
    new_k = view.k + 1 if view.k + 1 <= int(view.sweep["k"].max()) else view.k - 1
    at = open_app(demo_db_copy, monkeypatch, "app_pages/styles.py")
    assert len(frame_with(at, "name", "size", "keywords")) == view.k
    at.checkbox(key="styles_auto_k").uncheck().run()
    at.number_input(key="styles_k").set_value(new_k).run()
    at.button(key="styles_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(frame_with(at, "name", "size", "keywords")) == new_k
    reports = frame_with(at, "stage", "cached", "seconds")
    cached = dict(zip(reports["stage"], reports["cached"]))
    assert cached["styles"] is False or cached["styles"] == False  # noqa: E712 (numpy bool)
    assert all(v for stage, v in cached.items() if stage != "styles"), cached
    silhouette = trace(charts(at)[0], "silhouette")
    assert any(t.name == f"K in use = {new_k}" for t in charts(at)[0].data)
    assert len(silhouette.x) == len(view.sweep)


def test_styles_page_lists_encoders_and_says_when_one_falls_back(demo_db_copy, monkeypatch, tmp_path):
    from trend_core import pipeline
    from trend_core.store import Store

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # no ResNet-50 weights here
    monkeypatch.delenv("TREND_RESNET50_WEIGHTS", raising=False)
    pipeline.save_choice(Store(demo_db_copy), "encoder", "resnet50")
    at = open_app(demo_db_copy, monkeypatch, "app_pages/styles.py")
    encoder = at.selectbox(key="styles_encoder")
    assert "handcrafted" in encoder.options and "resnet50 (unavailable here)" in encoder.options
    assert encoder.value == "resnet50"
    notices = [w.value for w in at.warning]
    assert any("resnet50" in n and "handcrafted" in n for n in notices), notices
    reason = "TREND\\_RESNET50\\_WEIGHTS"  # markdown-escaped in the caption
    assert any(reason in c.value for c in at.caption), "the reason is shown beside the choice"
    assert set(at.selectbox(key="styles_text_method").options) >= {"tfidf", "word2vec"}
    assert len(frame_with(at, "name", "size", "keywords", "phrases")) == view_for(demo_db_copy).k


def test_k_range_control_resweeps_and_shows_time_per_k(demo_db_copy, monkeypatch):
    at = open_app(demo_db_copy, monkeypatch, "app_pages/styles.py")
    at.number_input(key="styles_k_min").set_value(3).run()
    at.number_input(key="styles_k_max").set_value(7).run()
    at.number_input(key="styles_repeats").set_value(2).run()
    at.button(key="styles_sweep_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    silhouette = trace(charts(at)[0], "silhouette")
    assert sorted(int(k) for k in silhouette.x) == [3, 4, 5, 6, 7]
    seconds = [f for f in charts(at) if f.layout.title.text.startswith("Time per K")]
    assert seconds and list(seconds[0].data[0].x) == [3, 4, 5, 6, 7]
    reports = frame_with(at, "stage", "cached", "seconds")
    cached = dict(zip(reports["stage"], reports["cached"]))
    assert cached["reduce (UMAP)"] and not cached["K sweep"], cached
    at.number_input(key="styles_k_min").set_value(8).run()
    at.button(key="styles_sweep_button").click().run()
    assert any("smaller" in e.value for e in at.error)


# -- segmentation --------------------------------------------------------------------------------
def test_segmentation_page_sample_histogram_and_new_segmenter(demo_db_copy, monkeypatch):
    at = open_app(demo_db_copy, monkeypatch, "app_pages/segmentation.py")
    labels = at.selectbox(key="seg_method").options  # "name: description" or "name (unavailable here)"
    assert {"none", "border", "grabcut"} <= {label.split(":")[0].split(" ")[0] for label in labels}
    histogram = charts(at)[0]
    assert histogram.data[0].type == "histogram" and len(histogram.data[0].x) > 0
    at.number_input(key="seg_sample_n").set_value(3).run()
    rows = at.image
    assert len(rows) == 3  # one row per sampled image: original, person, clothing, masked image
    assert all(row.captions[:3] == ["original", "person", "clothing"] for row in rows)
    assert all(row.captions[3].startswith("clothing ") and "%" in row.captions[3] for row in rows)
    at.selectbox(key="seg_method").set_value("grabcut").run()
    at.slider(key="seg_threshold").set_value(0.1).run()
    at.button(key="seg_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    view = view_for(demo_db_copy)
    assert view.config.segment.method == "grabcut" and view.config.segment.min_clothing_ratio == 0.1
    assert any("grabcut" in c.value for c in at.caption)


# -- data ----------------------------------------------------------------------------------------
MESSY_CSV = """post_id,poster_id,title,content,tags,post_date,likes,collects,comments
m1,u1,法式碎花裙,今天的穿搭 <script>alert(1)</script>,#碎花 #法式,2024-03-05,1.2w,300,12
m2,u2,通勤西装,简约通勤,#通勤,03-07,1万,10万+,5
m3,u3,,,,not a date,5,5,5
m4,u4,运动风,😀😀😀,#运动,2024-03-09,abc,1,1
m1,u1,法式碎花裙,重复的帖子,#碎花,2024-03-05,10,3,1
"""


def test_data_page_import_shows_accepted_and_rejected(demo_db_copy, monkeypatch):
    at = open_app(demo_db_copy, monkeypatch, "app_pages/data.py")
    at.file_uploader(key="data_upload").set_value(("messy.csv", MESSY_CSV.encode("utf-8"), "text/csv"))
    at.run()
    at.button(key="data_upload_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown["rows read"] == "5"
    accepted, rejected = int(shown["accepted"].replace(",", "")), int(shown["rejected"].replace(",", ""))
    assert accepted + rejected == 5 and rejected >= 1 and accepted >= 1
    rejects = frame_with(at, "source", "row_number", "reason")
    assert len(rejects) >= rejected
    history = frame_with(at, "file", "rows read", "accepted")
    assert "messy.csv" in set(history["file"])
    # the quality summary and its per-period chart
    assert any(m.label == "First post" for m in at.metric)
    assert charts(at) and charts(at)[0].data[0].type == "bar"


# -- map -----------------------------------------------------------------------------------------
def test_map_has_one_webgl_trace_per_style_and_thumbnails(demo_db, monkeypatch):
    view = view_for(demo_db)
    at = open_app(demo_db, monkeypatch, "app_pages/map.py")
    figure = charts(at)[0]
    assert {t.type for t in figure.data} == {"scattergl"}
    assert len(figure.data) == view.k
    assert sum(len(t.x) for t in figure.data) == int(view.posts["x"].notna().sum())  # text-assigned: no place
    assert figure.layout.images, "exemplar thumbnails are drawn on the map"
    assert "customdata[2]" in figure.data[0].hovertemplate
    assert any("Nothing selected" in c.value for c in at.caption)


# -- trends --------------------------------------------------------------------------------------
def test_trends_shows_share_chart_and_gallery_images(demo_db, monkeypatch):
    view = view_for(demo_db)
    at = open_app(demo_db, monkeypatch, "app_pages/trends.py")
    figure = charts(at)[0]
    assert len([t for t in figure.data if t.mode == "lines+markers"]) == view.k
    assert len(at.image) >= 5, "the top-5 gallery shows pictures"
    at.radio(key="trends_period").set_value("week").run()
    assert not at.exception
    weekly = charts(at)[0]
    assert len([t for t in weekly.data if t.mode == "lines+markers"]) == view.k


# -- forecast ------------------------------------------------------------------------------------
def test_forecast_training_metrics_and_csv(demo_db_copy, monkeypatch):
    captured = _capture_media(monkeypatch)
    view = view_for(demo_db_copy)
    at = open_app(demo_db_copy, monkeypatch, "app_pages/forecast.py")
    at.multiselect(key="forecast_modalities").set_value(["share", "engagement"])
    at.selectbox(key="forecast_period").set_value("month")
    at.number_input(key="forecast_window").set_value(3)
    at.number_input(key="forecast_gap").set_value(0)
    at.number_input(key="forecast_horizon").set_value(2)
    at.number_input(key="forecast_epochs").set_value(3)
    at.number_input(key="forecast_test_periods").set_value(3)
    button(at, "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = frame_with(at, "model", "mae", "wape")
    models = set(metrics["model"])
    assert "lstm" in models and "majority" in models and len(models) >= 3, models
    assert any(m.label == "Test origin" for m in at.metric)
    names = [t.name or "" for f in charts(at) for t in f.data]
    assert "train" in names  # loss curve
    assert any(n.endswith("· forecast") for n in names)
    download = at.get("download_button")
    assert download, "a download button for the CSV"
    url = download[0].proto.url
    csv_bytes = captured[url.rsplit("/", 1)[-1].split(".")[0]]
    table = pd.read_csv(io.BytesIO(csv_bytes))
    assert len(table) == view.k * 2  # one row per style and horizon step (H = 2)

    reopened = open_app(demo_db_copy, monkeypatch, "app_pages/forecast.py")  # a new session
    assert not reopened.exception
    assert any("Loaded from cache" in s.value for s in reopened.success)
    assert set(frame_with(reopened, "model", "mae", "wape")["model"]) == models


def _capture_media(monkeypatch) -> dict[str, bytes]:
    """Record every file AppTest's media storage receives (file id -> bytes), so a download
    button's payload can be read back."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    captured: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        data = Path(path_or_data).read_bytes() if isinstance(path_or_data, str) else bytes(path_or_data)
        captured[file_id] = data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return captured
