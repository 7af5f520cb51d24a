"""Issue 11.1, local by default and a real server mode: the app binds to 127.0.0.1; in server mode every page
needs a login, every server path is confined to the data roots (symlinks resolved) and nothing outside them
is opened or shown, the database field is gone, the demo is capped and heavy jobs run one at a time.
AppTest on an empty database (no demo build), plus unit tests of trend_core.data_roots."""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from trend_core.data_roots import DataRoots, PathRefused
from trend_core.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA_PAGE, FORECAST_PAGE, STYLES_PAGE = "app_pages/data.py", "app_pages/forecast.py", "app_pages/styles.py"
PASSWORD = "correct horse battery staple"
SECRET = "TOPSECRET-7f3a"  # in files outside the roots: must never reach the page
SECRET_CSV = f"post_id,post_date,title,{SECRET}_column\n{SECRET},2024-03-05,{SECRET} title,{SECRET}\n"
POSTS_CSV = "post_id,post_date,likes,title,image\np1,2024-03-05,3,碎花裙,a.png\np2,2024-03-07,5,西装,b.png\n"


# -- fixtures and helpers ----------------------------------------------------------------------------------
@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A data root holding a posts file and its images, and a folder outside it holding secrets."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    (root / "posts.csv").write_text(POSTS_CSV, encoding="utf-8")
    for name, colour in (("a.png", (200, 30, 30)), ("b.png", (30, 30, 200))):
        Image.new("RGB", (48, 64), colour).save(root / "images" / name)
    (outside / "secrets.csv").write_text(SECRET_CSV, encoding="utf-8")
    (outside / "series.csv").write_text(f"date,{SECRET}\n2024-01-01,1\n2024-01-08,2\n", encoding="utf-8")
    (outside / "images").mkdir()
    return {"root": root, "outside": outside, "db": tmp_path / "db" / "server.duckdb"}


@pytest.fixture
def server_mode(places, monkeypatch) -> dict[str, Path]:
    """Server mode with a password, one data root and the database outside it (set by $TREND_DB)."""
    places["db"].parent.mkdir()
    for name, value in {"TREND_SERVER_MODE": "1", "TREND_DATA_ROOTS": str(places["root"]),
                        "TREND_APP_PASSWORD": PASSWORD, "TREND_DB": str(places["db"])}.items():
        monkeypatch.setenv(name, value)
    for name in ("TREND_APP_PASSWORD_SHA256", "TREND_MAX_DEMO_POSTS"):
        monkeypatch.delenv(name, raising=False)
    return places


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    """Everything the page sent (element protos: values, labels, help texts, tables), as one string."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None)
        for child in (children.values() if isinstance(children, dict) else []):
            walk(child)
    walk(at._tree)
    return "\n".join(out)


def as_read(text: str) -> str:
    """Text as a person reads it: markdown backslash escapes and ui.md's word joiners removed."""
    return re.sub(r"\\(.)", r"\1", str(text)).replace("\u2060", "")


def errors(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.error)


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def log_in(at: AppTest, password: str = PASSWORD) -> AppTest:
    at.text_input(key="server_password").set_value(password)
    at.button[0].click()  # the form's "Log in"
    return run(at)


def logged_in(page: str | None = None) -> AppTest:
    at = run(app())
    log_in(at)
    assert at.sidebar.metric, "the app opens after the right password"
    if page:
        run(at.switch_page(page))
    return at


# -- local by default ---------------------------------------------------------------------------------------
def test_the_app_binds_to_localhost_unless_told_otherwise():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"


# -- confine: the library rule -------------------------------------------------------------------------------
def test_confine_accepts_paths_inside_the_roots(places):
    roots = DataRoots.of([places["root"]])
    root = places["root"].resolve()
    assert roots.confine(places["root"] / "posts.csv", "file") == root / "posts.csv"
    assert roots.confine("posts.csv", "file") == root / "posts.csv"  # relative: inside a root
    assert roots.confine(str(places["root"] / "images" / ".." / "posts.csv"), "file") == root / "posts.csv"
    assert roots.confine(places["root"], "folder") == root
    assert roots.confine(places["root"] / "images", "folder") == root / "images"


@pytest.mark.parametrize("given", ["/", "/etc/passwd", "/etc", "../outside/secrets.csv",
                                   "images/../../outside/secrets.csv"])
def test_confine_refuses_paths_outside_the_roots(places, given):
    roots = DataRoots.of([places["root"]])
    with pytest.raises(PathRefused, match="outside the data roots"):
        roots.confine(given)


def test_confine_resolves_home_and_symlinks_before_checking(places, monkeypatch):
    roots = DataRoots.of([places["root"]])
    monkeypatch.setenv("HOME", str(places["outside"]))
    with pytest.raises(PathRefused, match="outside"):
        roots.confine("~/secrets.csv", "file")
    (places["root"] / "link.csv").symlink_to(places["outside"] / "secrets.csv")
    (places["root"] / "linked_dir").symlink_to(places["outside"], target_is_directory=True)
    for given in ("link.csv", places["root"] / "link.csv", places["root"] / "linked_dir" / "secrets.csv"):
        with pytest.raises(PathRefused, match="outside"):
            roots.confine(given, "file")
    with pytest.raises(PathRefused, match="outside"):
        roots.confine(places["root"] / "linked_dir", "folder")


def test_a_refusal_says_the_same_whether_or_not_the_file_exists_and_never_its_content(places):
    roots = DataRoots.of([places["root"]])
    messages = []
    for name in ("secrets.csv", "no_such_file.csv"):
        with pytest.raises(PathRefused) as caught:
            roots.confine(places["outside"] / name, "file")
        messages.append(str(caught.value).replace(name, "NAME"))
        assert SECRET not in str(caught.value)
    assert messages[0] == messages[1]


def test_no_roots_or_root_slash_refuse_everything():
    with pytest.raises(PathRefused, match="no data roots"):
        DataRoots().confine("/tmp")
    with pytest.raises(PathRefused, match="every file"):
        DataRoots.parse("/")
    with pytest.raises(PathRefused, match="every file"):
        DataRoots.parse(os.pathsep.join(["/tmp", "/"]))


def test_roots_parse_a_pathsep_list(places):
    roots = DataRoots.parse(os.pathsep.join([str(places["root"]), str(places["outside"])]))
    assert roots.roots == (places["root"].resolve(), places["outside"].resolve())


# -- login ---------------------------------------------------------------------------------------------------
def test_server_mode_shows_nothing_before_the_right_password(server_mode):
    at = run(app())
    assert not at.sidebar.metric and not [t for t in at.text_input if t.key == "db_path"]
    log_in(at, "wrong password")
    assert "Wrong password." in errors(at)
    assert not at.sidebar.metric, "a wrong password opens nothing"
    log_in(at, PASSWORD)
    assert {m.label for m in at.sidebar.metric} >= {"Posts", "Device"}


def test_a_password_given_as_its_sha256_digest_works(server_mode, monkeypatch):
    import hashlib

    monkeypatch.delenv("TREND_APP_PASSWORD")
    monkeypatch.setenv("TREND_APP_PASSWORD_SHA256", hashlib.sha256(PASSWORD.encode()).hexdigest())
    at = run(app())
    log_in(at, PASSWORD + " ")
    assert "Wrong password." in errors(at)
    log_in(at, PASSWORD)
    assert at.sidebar.metric


def test_server_mode_without_a_login_stays_closed(server_mode, monkeypatch):
    monkeypatch.delenv("TREND_APP_PASSWORD")
    at = run(app())
    assert "no login is configured" in errors(at)
    assert not at.text_input and not at.sidebar.metric and not at.button


def test_server_mode_from_secrets_with_oidc_offers_only_the_log_in_button(places, monkeypatch):
    from app_pages import _server

    for name in ("TREND_SERVER_MODE", "TREND_DATA_ROOTS", "TREND_APP_PASSWORD", "TREND_APP_PASSWORD_SHA256"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TREND_DB", str(places["db"]))
    monkeypatch.setattr(_server, "has_authlib", lambda: True)
    at = app()
    at.secrets["server_mode"] = {"enabled": True, "data_roots": [str(places["root"])]}
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "id", "client_secret": "secret",
                          "server_metadata_url": "https://accounts.example.com/.well-known/openid-configuration"}
    run(at)
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.sidebar.metric and not at.text_input


def test_a_server_mode_secret_that_is_not_a_table_keeps_the_app_closed(places, monkeypatch):
    for name in ("TREND_SERVER_MODE", "TREND_APP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TREND_DB", str(places["db"]))
    at = app()
    at.secrets["server_mode"] = True
    run(at)
    assert "must be tables" in errors(at)
    assert not at.text_input and not at.sidebar.metric


@pytest.mark.parametrize("env, problem", [({"TREND_DATA_ROOTS": "/"}, "every file"),
                                          ({"TREND_SERVER_MODE": "perhaps"}, "true or false"),
                                          ({"TREND_MAX_DEMO_POSTS": "lots"}, "whole number")])
def test_bad_server_settings_keep_the_app_closed(server_mode, monkeypatch, env, problem):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = run(app())
    assert problem in errors(at)
    assert not at.text_input and not at.sidebar.metric


# -- the database ----------------------------------------------------------------------------------------------
def test_the_database_field_is_gone_and_session_state_cannot_move_the_database(server_mode, tmp_path):
    at = logged_in()
    assert not [t for t in at.text_input if t.key == "db_path"]
    assert any("server.duckdb (set by the server)" in as_read(c.value) for c in at.sidebar.caption)
    elsewhere = tmp_path / "elsewhere" / "new.duckdb"
    at.session_state["db_path"] = str(elsewhere)
    run(at)
    assert not elsewhere.parent.exists(), "no folder or database is created where a visitor says"
    assert server_mode["db"].exists()


def test_without_a_named_database_server_mode_stays_closed(server_mode, monkeypatch):
    monkeypatch.delenv("TREND_DB")
    at = run(app())
    assert "name the database" in errors(at)


# -- server paths on the Data page ---------------------------------------------------------------------------
def test_a_posts_file_outside_the_roots_is_refused_unread(server_mode):
    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value(str(server_mode["outside"] / "secrets.csv"))
    run(at)
    assert "outside the data roots" in errors(at)
    assert SECRET not in page_text(at), "nothing of the file reaches the page"
    assert at.button(key="data_server_button").disabled
    assert not Store(server_mode["db"]).load_rejects().shape[0]


def test_etc_passwd_is_refused_without_echoing_it(server_mode):
    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value("/etc/passwd")
    run(at)
    assert "outside the data roots" in errors(at)
    assert "root:" not in page_text(at)


def test_a_symlink_inside_a_root_that_leaves_it_is_refused(server_mode):
    (server_mode["root"] / "innocent.csv").symlink_to(server_mode["outside"] / "secrets.csv")
    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value(str(server_mode["root"] / "innocent.csv"))
    run(at)
    assert "outside the data roots" in errors(at)
    assert SECRET not in page_text(at)
    assert at.button(key="data_server_button").disabled


@pytest.mark.parametrize("folder", ["/", "OUTSIDE"])
def test_an_images_folder_outside_the_roots_is_refused_on_both_tabs(server_mode, folder):
    folder = str(server_mode["outside"] / "images") if folder == "OUTSIDE" else folder
    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value("posts.csv")  # a good posts file: the folder alone is refused
    at.text_input(key="data_server_images").set_value(folder)
    at.text_input(key="data_upload_images").set_value(folder)
    run(at)
    assert errors(at).count("outside the data roots") == 2
    assert at.button(key="data_server_button").disabled
    assert at.button(key="data_upload_button").disabled


def test_inside_the_roots_an_import_works(server_mode):
    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value("posts.csv")
    at.text_input(key="data_server_images").set_value(str(server_mode["root"] / "images"))
    run(at)
    assert not at.error
    at.button(key="data_server_button").click()
    run(at)
    assert Store(server_mode["db"]).count_posts() == 2
    assert {m.label: m.value for m in at.sidebar.metric}["Posts"] == "2"


# -- server paths on the Forecast page -------------------------------------------------------------------------
def _imported_series(at: AppTest) -> AppTest:
    at.radio(key="forecast_source").set_value("Imported series (CSV)")
    return run(at)


def test_forecast_series_and_covariate_paths_outside_the_roots_are_refused(server_mode):
    (server_mode["root"] / "series.csv").write_text(
        "date,a,b\n" + "".join(f"2024-01-{d:02d},{d},{2 * d}\n" for d in range(1, 29)), encoding="utf-8")
    at = _imported_series(logged_in(FORECAST_PAGE))
    at.text_input(key="forecast_series_path").set_value(str(server_mode["outside"] / "series.csv"))
    run(at)
    assert "outside the data roots" in errors(at)
    assert SECRET not in page_text(at)
    at.text_input(key="forecast_series_path").set_value("series.csv")  # inside: read
    run(at)
    assert not at.error and "2 series" in page_text(at)
    at.text_input(key="forecast_covariate_paths").set_value(str(server_mode["outside"] / "series.csv"))
    run(at)
    assert "outside the data roots" in errors(at)
    assert SECRET not in page_text(at)


# -- work a visitor can start ----------------------------------------------------------------------------------
def test_the_demo_is_capped(server_mode, monkeypatch):
    monkeypatch.setenv("TREND_MAX_DEMO_POSTS", "400")
    at = logged_in(DATA_PAGE)
    assert at.number_input(key="data_demo_posts").max == 400
    run(at.switch_page(STYLES_PAGE))
    assert at.number_input(key="styles_demo_posts").max == 400
    monkeypatch.delenv("TREND_MAX_DEMO_POSTS")
    run(at)
    assert at.number_input(key="styles_demo_posts").max == 3000  # the server default


def test_the_demo_cap_holds_in_the_build_itself(server_mode, monkeypatch):
    from app_pages import _common

    monkeypatch.setenv("TREND_MAX_DEMO_POSTS", "400")
    at = logged_in(DATA_PAGE)
    original = _common.build_demo_now
    monkeypatch.setattr(_common, "build_demo_now", lambda n, seed=0: original(20_000, seed))  # a forged size
    at.button(key="data_demo_button").click()
    run(at)
    assert "At most 400 demo posts" in errors(at)
    assert Store(server_mode["db"]).count_posts() == 0


def test_a_second_heavy_job_is_refused_while_one_runs(server_mode):
    from app_pages import _server

    at = logged_in(DATA_PAGE)
    at.text_input(key="data_server_path").set_value("posts.csv")
    at.text_input(key="data_server_images").set_value("images")
    run(at)
    lock = _server.job_lock()
    assert lock.acquire(blocking=False), "no job runs yet"
    try:  # another session's job holds the slot
        at.button(key="data_server_button").click()
        run(at)
        assert any("Another analysis is running" in w.value for w in at.warning)
        assert Store(server_mode["db"]).count_posts() == 0
        at.button(key="data_demo_button").click()
        run(at)
        assert any("Another analysis is running" in w.value for w in at.warning)
        assert Store(server_mode["db"]).count_posts() == 0
    finally:
        lock.release()
    at.button(key="data_server_button").click()  # the slot is free again: the import runs
    run(at)
    assert Store(server_mode["db"]).count_posts() == 2
    assert lock.acquire(blocking=False), "the job gave the slot back"
    lock.release()


def test_local_mode_keeps_the_database_field_and_the_full_demo_range(places, monkeypatch):
    for name in ("TREND_SERVER_MODE", "TREND_DATA_ROOTS", "TREND_APP_PASSWORD", "TREND_MAX_DEMO_POSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TREND_DB", str(places["db"]))
    at = run(app())
    assert [t.key for t in at.sidebar.text_input] == ["db_path"]
    run(at.switch_page(DATA_PAGE))
    assert at.number_input(key="data_demo_posts").max == 20_000
