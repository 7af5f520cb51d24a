"""Server mode: what changes when the dashboard is served to other people (README, "Server mode").

Local mode (the default) is a dashboard on 127.0.0.1 for the person at the machine; nothing here
changes it. Server mode is on when `$TREND_SERVER_MODE` is 1 / true (or `enabled = true` under
`[server_mode]` in `.streamlit/secrets.toml`; the environment wins). Then:
- every page asks for a login first: Streamlit's OIDC `st.login` when secrets.toml has an `[auth]`
  section, else a password ($TREND_APP_PASSWORD or $TREND_APP_PASSWORD_SHA256, or `password` /
  `password_sha256` under `[server_mode]`); without either the app stays closed and says why;
- every server path a visitor types (posts file, images folders, series and covariate CSVs) must lie
  inside the data roots ($TREND_DATA_ROOTS, os.pathsep separated, or `data_roots = [...]`) after `~`, `..`
  and symlinks are resolved (trend_core.data_roots); outside them nothing is opened;
- the database is fixed by the server (`database` under `[server_mode]`, else --db / $TREND_DB, else
  data/trend.duckdb when it lies inside a data root) and the sidebar's database field is gone;
- the demo is capped ($TREND_MAX_DEMO_POSTS / `max_demo_posts`, default 3000) and heavy work (imports,
  demo builds, styles, forecast training, ablations) runs one job at a time for the whole process: a
  visitor who starts one while another runs is told to try again in a moment (no hidden waiting queue,
  so a page never hangs on someone else's job);
- weights are not downloaded from the page (the administrator runs `python -m trend_core weights get`).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from trend_core.config import DB_ENV_VAR, DEFAULT_DB
from trend_core.data_roots import DataRoots, PathRefused

LOCAL_MAX_DEMO_POSTS = 20_000  # the demo's own upper bound (local mode)
SERVER_MAX_DEMO_POSTS = 3_000  # server mode's default cap: a demo of a minute or two on a CPU
MIN_DEMO_POSTS = 100
ENV = {"enabled": "TREND_SERVER_MODE", "data_roots": "TREND_DATA_ROOTS", "password": "TREND_APP_PASSWORD",
       "password_sha256": "TREND_APP_PASSWORD_SHA256", "max_demo_posts": "TREND_MAX_DEMO_POSTS"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
BUSY_NOTICE = "server_busy_notice"
_LOGGED_IN = object()  # session_state holds this very object after a right password: no value sent by a
# browser (text, numbers) can ever be it


@dataclass(frozen=True)
class ServerSettings:
    enabled: bool = False
    roots: DataRoots = DataRoots()
    login: str = ""  # "oidc" | "password" | "" (none configured)
    auth_provider: str | None = None  # the [auth.<name>] section st.login uses, when there are several
    password_sha256: str | None = None  # hex digest the typed password is compared with
    max_demo_posts: int = LOCAL_MAX_DEMO_POSTS
    database: str | None = None  # server mode: the one database file
    problems: tuple[str, ...] = ()  # server mode refuses to open while any is left


# -- settings ------------------------------------------------------------------------------------------
def _read_secrets() -> tuple[dict, dict | None, str | None]:
    """([server_mode] section, [auth] section or None, problem): no secrets file is no problem, a file that
    cannot be parsed is (it may have meant server mode: the app stays closed rather than open)."""
    try:
        section = st.secrets.get("server_mode") or {}
        auth = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets file, or one that does not parse (the server log says where)
        from streamlit import config

        files = [f for f in (config.get_option("secrets.files") or []) if Path(f).is_file()]
        return {}, None, ("the secrets file cannot be parsed (the server's log names the line)" if files else None)
    if not isinstance(section, Mapping) or not (auth is None or isinstance(auth, Mapping)):
        return {}, None, "[server_mode] and [auth] in the secrets file must be tables"
    return _plain(section), (_plain(auth) if auth is not None else None), None


def _plain(value: Any) -> Any:
    """secrets' AttrDicts (nested) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _flag(value: Any, problems: list[str]) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    problems.append(f"{ENV['enabled']} / enabled must be true or false, not {value!r}")
    return True  # unreadable: closed, not open


def _oidc_provider(auth: dict) -> str | None:
    """The provider st.login is called with: `auth_provider` if set, the only [auth.<name>] table when
    there is one, else None ([auth] itself holds the provider's settings)."""
    named = [k for k, v in auth.items() if isinstance(v, dict)]
    return named[0] if len(named) == 1 and "client_id" not in auth else None


def settings() -> ServerSettings:
    """The server-mode settings as they stand now (environment first, then secrets.toml)."""
    section, auth, problem = _read_secrets()
    env = tuple((name, os.environ.get(var)) for name, var in ENV.items())
    cfg = _settings(env, json.dumps(section, sort_keys=True, default=str),
                    None if auth is None else json.dumps(auth, sort_keys=True, default=str),
                    problem, _cli_db(), os.environ.get(DB_ENV_VAR))
    if cfg.login == "oidc" and not has_authlib():
        cfg = dataclasses.replace(cfg, problems=(*cfg.problems, "[auth] is set but st.login needs Authlib: "
                                                 "pip install 'Authlib>=1.3.2'"))
    return cfg


def has_authlib() -> bool:
    """Whether st.login can run here (it needs the Authlib package)."""
    return importlib.util.find_spec("authlib") is not None


@functools.lru_cache(maxsize=16)
def _settings(env: tuple, section_json: str, auth_json: str | None, problem: str | None, cli_db: str | None,
              env_db: str | None) -> ServerSettings:
    """settings() from its inputs (cached: pages ask for them many times per run)."""
    env_values, section = dict(env), json.loads(section_json)
    auth = None if auth_json is None else json.loads(auth_json)

    def setting(name: str) -> Any:
        value = env_values.get(name)
        return value if value is not None else section.get(name)

    problems = [problem] if problem else []
    enabled = _flag(setting("enabled"), problems) or bool(problem)
    cap_setting = setting("max_demo_posts")
    cap = SERVER_MAX_DEMO_POSTS if enabled else LOCAL_MAX_DEMO_POSTS
    if cap_setting not in (None, ""):
        try:
            cap = int(cap_setting)
        except (TypeError, ValueError):
            problems.append(f"{ENV['max_demo_posts']} / max_demo_posts must be a whole number, not {cap_setting!r}")
        if not MIN_DEMO_POSTS <= cap <= LOCAL_MAX_DEMO_POSTS:
            problems.append(f"max_demo_posts must lie between {MIN_DEMO_POSTS} and {LOCAL_MAX_DEMO_POSTS:,}")
            cap = min(max(cap, MIN_DEMO_POSTS), LOCAL_MAX_DEMO_POSTS)
    if not enabled:
        return ServerSettings(max_demo_posts=cap, problems=tuple(problems))
    try:
        roots = DataRoots.parse(setting("data_roots"))
    except PathRefused as exc:
        roots = DataRoots()
        problems.append(f"data roots: {exc}")
    login, provider, digest = "", None, None
    password, hashed = setting("password"), setting("password_sha256")
    if auth is not None:
        login, provider = "oidc", section.get("auth_provider") or _oidc_provider(auth)
    elif hashed:
        login, digest = "password", str(hashed).strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            problems.append("password_sha256 must be the 64 hex digits of a sha256 digest")
    elif password:
        login, digest = "password", hashlib.sha256(str(password).encode("utf-8")).hexdigest()
    else:
        problems.append("no login is configured: add an [auth] section for st.login (OIDC) to "
                        f".streamlit/secrets.toml, or set {ENV['password']} (or password / password_sha256 "
                        "under [server_mode])")
    database = section.get("database") or cli_db or env_db
    if not database:
        if roots.contains(DEFAULT_DB.resolve()):
            database = str(DEFAULT_DB)
        else:
            problems.append(f"name the database: database under [server_mode], --db after `--`, or ${DB_ENV_VAR} "
                            "(the default data/trend.duckdb lies outside the data roots)")
    return ServerSettings(True, roots, login, provider, digest, cap, str(database) if database else None,
                          tuple(problems))


def _cli_db() -> str | None:
    from app_pages._common import cli_db_arg

    return cli_db_arg()


def enabled() -> bool:
    return settings().enabled


def max_demo_posts() -> int:
    """The most demo posts a visitor may ask for (20,000 locally, $TREND_MAX_DEMO_POSTS / 3,000 on a server)."""
    return settings().max_demo_posts


def database() -> str | None:
    """Server mode: the database file set by the server; None locally (the sidebar chooses)."""
    cfg = settings()
    return cfg.database if cfg.enabled else None


# -- login -----------------------------------------------------------------------------------------------
def password_ok(typed: str, cfg: ServerSettings) -> bool:
    """Constant-time comparison of the typed password's sha256 with the configured one."""
    if not cfg.password_sha256:
        return False
    given = hashlib.sha256(typed.encode("utf-8")).hexdigest()
    return hmac.compare_digest(given, cfg.password_sha256)


def _oidc_logged_in() -> bool:
    try:
        return bool(st.user.get("is_logged_in", False))
    except Exception:  # noqa: BLE001 - no user info (e.g. headless tests): not logged in
        return False


def gate() -> ServerSettings:
    """Call first in app.py. Local mode: returns at once. Server mode: stops the script (nothing of the app
    drawn) until the visitor is logged in, or for good while the settings are incomplete."""
    cfg = settings()
    if not cfg.enabled:
        if cfg.problems:
            st.warning("Ignored setting: " + "; ".join(cfg.problems))
        return cfg
    busy = st.session_state.pop(BUSY_NOTICE, None)
    if busy:
        st.warning(busy, icon=":material/hourglass_top:")
    if cfg.problems:
        st.error("Server mode is on but not ready, so the dashboard stays closed:\n\n"
                 + "\n".join(f"- {p}" for p in cfg.problems), icon=":material/lock:")
        st.stop()
    if cfg.login == "oidc":
        if _oidc_logged_in():
            with st.sidebar:
                st.caption(f"Logged in as {st.user.get('email') or st.user.get('name') or 'you'}")
                st.button("Log out", key="server_logout", on_click=st.logout)
            return cfg
        st.title("Style trends")
        st.info("Log in to use this dashboard.", icon=":material/lock:")
        st.button("Log in", key="server_login_oidc", type="primary", on_click=st.login,
                  args=(cfg.auth_provider,) if cfg.auth_provider else ())
        st.stop()
    if st.session_state.get("server_login") is _LOGGED_IN:
        with st.sidebar:
            if st.button("Log out", key="server_logout"):
                st.session_state.pop("server_login", None)
                st.rerun()
        return cfg
    st.title("Style trends")
    with st.form("server_login_form", clear_on_submit=True):
        typed = st.text_input("Password", type="password", key="server_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if password_ok(typed or "", cfg):
            st.session_state["server_login"] = _LOGGED_IN
            st.rerun()
        time.sleep(1.0)  # slows guessing down
        st.error("Wrong password.")
    st.stop()
    return cfg  # not reached


# -- server paths ------------------------------------------------------------------------------------------
def server_path(text: str, kind: str = "any") -> Path:
    """A path typed into a page. Local mode: as today (`~` expanded, nothing else checked). Server mode:
    confined to the data roots with symlinks resolved (kind 'file' / 'folder' must exist there); raises
    PathRefused (a ValueError) whose message names the path and the roots, never a file's content."""
    cfg = settings()
    if not cfg.enabled:
        return Path(text.strip()).expanduser()
    return cfg.roots.confine(text, kind=kind)


def path_hint() -> str:
    """'' locally; in server mode, where server paths may point."""
    cfg = settings()
    if not cfg.enabled:
        return ""
    if not cfg.roots:
        return "No data roots are configured on this server: upload files instead."
    return f"Server paths must lie inside: {cfg.roots.describe()}"


# -- one heavy job at a time -------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def job_lock() -> threading.Lock:
    """The process-wide lock of server mode's single job slot (shared by every session)."""
    return threading.Lock()


@contextmanager
def heavy_job(what: str) -> Iterator[None]:
    """Server mode: run the block only if no other heavy job runs in this process; else nothing is started and
    the page is drawn again with a "try again in a moment" notice on top. Local mode: just run it."""
    if not enabled():
        yield
        return
    lock = job_lock()
    if not lock.acquire(blocking=False):  # said at the top of the page, drawn again in full
        st.session_state[BUSY_NOTICE] = (f"Another analysis is running on this server, so {what} was not "
                                         "started. Try again in a moment.")
        st.rerun()
    try:
        yield
    finally:
        lock.release()
