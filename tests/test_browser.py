"""The real thing: `streamlit run app.py` on a free port against the demo database, driven by
Playwright with Debian's chromium. Visits every page, waits for a rendered plotly chart, checks that
no Streamlit exception is shown, clicks a point on the map to get its thumbnail, lassoes a cluster of
points to get the selection gallery, hovers a point in the map's "Hover previews" mode (a custom
component whose plotly.js the app serves itself) to see the segmented garment, trains a short forecast, checks
that no page makes a request outside the machine (every request the browser makes, iframes included, goes
to the app's own 127.0.0.1 server or is a data: / blob: URL), and saves a screenshot of the Styles page to
docs/screenshot.png.

Set TREND_SKIP_BROWSER=1 to skip; otherwise a missing browser is a failure.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
PLOT = ".js-plotly-plot .main-svg"
EXCEPTION = '[data-testid="stException"]'
GARMENT_IMG, GARMENT_TIP = "garment-img", "garment-tip"  # trend_core.map_hover.TIP_IMG_ID / TIP_ID
HOVER_FRAME = 'iframe[src*="hover_map"]'  # the hover map component (app_pages/_hover_map.py)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}

pytestmark = pytest.mark.skipif(os.environ.get("TREND_SKIP_BROWSER") == "1",
                                reason="TREND_SKIP_BROWSER=1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_db, copy_db, tmp_path_factory):
    """A streamlit server on a free port, on a private copy of the demo database."""
    db = copy_db(demo_db, tmp_path_factory.mktemp("browser") / "demo.duckdb")
    with _streamlit(db, tmp_path_factory.mktemp("browser_log") / "streamlit.log") as base:
        yield base


@contextlib.contextmanager
def _streamlit(db: Path, log: Path):
    """`streamlit run app.py` on a free port against the database `db`; yields the base URL."""
    port = _free_port()
    env = dict(os.environ, TREND_DB=str(db), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (or set TREND_SKIP_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(120_000)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def requests_seen(page) -> list[str]:
    """Every URL the page's browser context requests from now on (iframes and their subresources
    included), and every websocket it opens."""
    seen: list[str] = []
    page.context.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


def _leaves_the_machine(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme not in LOCAL_SCHEMES and (parsed.hostname or "") not in LOCAL_HOSTS


def _wait_idle(page, timeout_s: float = 120) -> None:
    """Wait until the script run finished (the 'Running…' status widget is gone)."""
    page.wait_for_function(
        """() => { const w = document.querySelector('[data-testid="stStatusWidget"]');
                   return !w || !/Running|Connecting/i.test(w.innerText); }""", timeout=timeout_s * 1000)
    page.wait_for_timeout(300)


def _open(page, base: str, slug: str, title: str) -> None:
    page.goto(f"{base}/{slug}")
    page.get_by_role("heading", name=title, exact=True).wait_for()
    page.wait_for_selector('[data-testid="stSidebar"]')
    _wait_idle(page)


def _no_exception(page) -> None:
    errors = page.locator(EXCEPTION)
    assert errors.count() == 0, errors.first.inner_text()


@pytest.mark.parametrize("slug,title", [("data", "Data"), ("", "Styles"), ("map", "Map"), ("trends", "Trends")])
def test_page_renders_a_chart(server, page, slug, title):
    _open(page, server, slug, title)
    page.wait_for_selector(PLOT)
    _no_exception(page)
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Posts").count() >= 1


def test_styles_screenshot(server, page):
    _open(page, server, "", "Styles")  # Styles is the default page, served at /
    page.wait_for_selector(PLOT)
    page.wait_for_selector('[data-testid="stImage"] img')
    _no_exception(page)
    height = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]')
                                      || document.scrollingElement; return m.scrollHeight; }""")
    page.set_viewport_size({"width": 1440, "height": int(min(max(height + 40, 1000), 4000))})
    page.wait_for_timeout(800)  # let plotly re-layout to the new size
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000


def test_map_click_shows_thumbnail_and_text(server, page):
    _open(page, server, "map", "Map")
    page.wait_for_selector(PLOT)
    page.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot');"
                           " return gd && gd._fullLayout && gd._fullData && gd._fullData.length > 0; }")
    # screen position of the first point of the first style
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const fl = gd._fullLayout, t = gd._fullData[0], box = gd.getBoundingClientRect();
        return [box.left + fl._size.l + fl.xaxis.l2p(t.x[0]), box.top + fl._size.t + fl.yaxis.l2p(t.y[0])];
    }""")
    page.mouse.move(x, y)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)  # the hover label with the post text
    page.mouse.click(x, y)
    page.get_by_text("Selected posts (1)").first.wait_for(timeout=60_000)
    page.wait_for_selector('[data-testid="stImage"] img', timeout=60_000)  # the clicked post's thumbnail
    _wait_idle(page)
    _no_exception(page)


POINT_JS = """(gd, pick) => {
    // screen position (in gd's document) of the median point of the first trace, inside the plot area
    const fl = gd._fullLayout, t = gd._fullData.find(d => d.visible !== false && d.x && d.x.length), box = gd.getBoundingClientRect();
    const order = Array.from(t.x.keys()).sort((a, b) => t.x[a] - t.x[b]);
    const i = order[Math.floor(order.length * pick)];
    return [box.left + fl._size.l + fl.xaxis.l2p(t.x[i]), box.top + fl._size.t + fl.yaxis.l2p(t.y[i])];
}"""
PLOT_READY = "gd => !!(gd._fullLayout && gd._fullData && gd._fullData.length > 0 && gd._fullLayout._size)"


def _choose_mode(page, label: str) -> None:
    page.get_by_text(label, exact=True).click()
    _wait_idle(page)


def test_map_lasso_selection_shows_the_gallery(server, page):
    page.set_viewport_size({"width": 1440, "height": 1400})
    _open(page, server, "map", "Map")
    page.get_by_text("Nothing selected yet", exact=False).first.wait_for()
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    plot.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const gd = document.querySelector('.js-plotly-plot'); return gd && ({PLOT_READY})(gd); }}")
    plot.hover()  # the modebar shows on hover
    page.locator('.modebar-btn[data-val="lasso"]').first.click(force=True)
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout.dragmode === 'lasso'")
    x, y = plot.evaluate(POINT_JS, 0.5)
    r = 45  # a closed path (octagon) around the median point of the first style
    path = [(x + r * np.cos(a), y + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 17)]
    page.mouse.move(*path[0])
    page.mouse.down()
    for px, py in path[1:]:
        page.mouse.move(px, py, steps=3)
    page.mouse.up()
    page.get_by_text(re.compile(r"^Selected posts \(\d+\)$")).first.wait_for(timeout=60_000)
    page.wait_for_selector('[data-testid="stImage"] img', timeout=60_000)  # the selection gallery
    _wait_idle(page)
    assert page.get_by_text("Nothing selected yet", exact=False).count() == 0
    _no_exception(page)


def test_map_hover_previews_show_the_garment(server, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.set_viewport_size({"width": 1440, "height": 1400})
    _open(page, server, "map", "Map")
    _choose_mode(page, "Hover previews")
    iframe = page.locator(HOVER_FRAME).first
    iframe.wait_for()
    iframe.scroll_into_view_if_needed()
    frame = page.frame_locator(HOVER_FRAME).first
    gd = frame.locator(".js-plotly-plot").first
    gd.wait_for()
    frame.locator(".js-plotly-plot .main-svg").first.wait_for()
    deadline = time.monotonic() + 60
    while not gd.evaluate(PLOT_READY):
        assert time.monotonic() < deadline, "the component's plot never rendered"
        page.wait_for_timeout(200)
    tip = frame.locator(f"#{GARMENT_IMG}")
    for pick in (0.5, 0.25, 0.75, 0.1, 0.9):  # a few points, in case one has no stored mask
        iframe.scroll_into_view_if_needed()
        box = iframe.bounding_box()
        x, y = gd.evaluate(POINT_JS, pick)
        page.mouse.move(box["x"] + x + 40, box["y"] + y + 40)
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        try:
            tip.wait_for(state="visible", timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    assert tip.is_visible(), "hovering a point shows its garment thumbnail"
    assert tip.evaluate("img => img.src.startsWith('data:image/webp;base64,') && img.naturalWidth > 0")
    assert frame.locator(f"#{GARMENT_TIP}").inner_text().strip(), "and the post's text"
    page.mouse.move(5, 5)
    tip.wait_for(state="hidden", timeout=10_000)
    _no_exception(page)


def _page_slugs() -> list[tuple[str, str]]:
    """(url path, title) of every page in app.py's PAGES, read from its source."""
    import ast

    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            out.append(("" if kw.get("default") else kw["url_path"], kw["title"]))
    assert len(out) >= 7, out
    return out


def test_no_request_leaves_the_machine(server, page, requests_seen):
    """Issue 11.9: every page (charts, thumbnails, material icons, fonts) and the map's hover-preview
    component load only from the app's own server; nothing goes to a CDN, font service or tracker."""
    page.set_viewport_size({"width": 1440, "height": 1400})
    for slug, title in _page_slugs():
        _open(page, server, slug, title)
        if slug in ("map", "trends", ""):
            page.wait_for_selector(PLOT)
        _no_exception(page)
    _open(page, server, "map", "Map")
    _choose_mode(page, "Hover previews")
    frame = page.frame_locator(HOVER_FRAME).first
    frame.locator(".js-plotly-plot .main-svg").first.wait_for()
    page.wait_for_timeout(1000)
    assert requests_seen, "requests are recorded"
    assert any(re.search(r"/plotly-[^/]+\.min\.js$", urlparse(u).path) for u in requests_seen), \
        "the hover map's plotly.js comes from the app itself"
    outside = sorted({u for u in requests_seen if _leaves_the_machine(u)})
    assert not outside, outside


def test_forecast_trains_and_offers_csv(server, page):
    _open(page, server, "forecast", "Forecast")
    _no_exception(page)

    def set_number(label: str, value: int) -> None:
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Tab")

    set_number("Window W", 3)
    set_number("Horizon H", 2)
    set_number("Epochs", 3)
    set_number("Test periods", 3)
    page.get_by_role("button", name="Train").click()
    try:
        page.get_by_text("Backtest on held-out spans").wait_for(timeout=300_000)  # the live loss chart comes first
    finally:
        if os.environ.get("TREND_BROWSER_SHOTS"):
            page.screenshot(path=os.path.join(os.environ["TREND_BROWSER_SHOTS"], "forecast.png"), full_page=True)
    download = page.get_by_role("button", name=re.compile(r"Download the \w+ forecast CSV"))
    download.wait_for(timeout=300_000)  # the page goes on rendering below the metrics
    _wait_idle(page, 300)
    _no_exception(page)
    assert download.count() == 1


# A Xiaohongshu crawl as it is exported: one row per image, MM-DD dates for the current year, counts
# with units, emoji written as :name: codes, image paths that start with the images folder's name.
MULTI_IMAGE_CRAWL = [
    ("p1", 1, "03-05", "1万", "法式碎花裙 :smile: #碎花", "images/p1_1.jpg"),
    ("p1", 2, "03-05", "1万", "法式碎花裙 :smile: #碎花", "images/p1_2.jpg"),
    ("p1", 3, "03-05", "1万", "法式碎花裙 :smile: #碎花", "images/p1_3.jpg"),
    ("p2", 1, "2024-03-10", "2.5万", "通勤西装 :heart_eyes:", "images/p2_1.jpg"),
    ("p2", 2, "2024-03-10", "2.5万", "通勤西装 :heart_eyes:", "images/p2_2.jpg"),
    ("p3", 1, "01-08", "35", "运动风 :fire: 小红书", "images/p3_1.jpg"),
]


def _metric(page, label: str) -> str:
    """The value of the main area's metric with this exact label."""
    metric = page.locator('[data-testid="stMain"] [data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")))
    return metric.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_data_page_imports_a_multi_image_crawl_from_a_server_path(browser, page, tmp_path):
    """Posts file and images folder typed into "File on the server" on an empty database; the posts file
    lies in another folder than the images, so `images/p1_1.jpg` is found only under the images folder
    itself (the `images/` prefix case)."""
    import csv

    from PIL import Image

    images, export = tmp_path / "images", tmp_path / "export"
    images.mkdir()
    export.mkdir()
    for i, row in enumerate(MULTI_IMAGE_CRAWL):
        Image.new("RGB", (48, 64), ((37 * i) % 256, 90, 160)).save(images / Path(row[5]).name, "JPEG")
    posts = export / "crawl.csv"
    with open(posts, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["post_id", "image_no", "post_date", "post_like", "post_content", "post_img"])
        writer.writerows(MULTI_IMAGE_CRAWL)

    with _streamlit(tmp_path / "empty.duckdb", tmp_path / "streamlit.log") as base:
        _open(page, base, "data", "Data")
        page.get_by_role("tab", name="File on the server").click()
        for label, value in (("Posts file path", posts), ("Images folder (optional)", images)):
            box = page.get_by_label(label, exact=True)
            box.fill(str(value))
            box.press("Enter")
            _wait_idle(page)
        page.get_by_text("Columns: 6 of 6 used", exact=True).wait_for()  # the header was read
        page.get_by_role("button", name="Import from path").click()
        page.get_by_role("heading", name="Last import").wait_for()
        page.get_by_text(re.compile(r"crawl\.csv: 6 accepted \+ 0 current rejects")).wait_for()  # the page's end
        _wait_idle(page)
        if os.environ.get("TREND_BROWSER_SHOTS"):
            page.set_viewport_size({"width": 1440, "height": 3000})
            page.wait_for_timeout(500)
            page.screenshot(path=os.path.join(os.environ["TREND_BROWSER_SHOTS"], "data_import.png"), full_page=True)
        _no_exception(page)
        shown = {label: _metric(page, label) for label in
                 ("rows read", "accepted", "rejected", "posts", "images", "added")}
        assert shown == {"rows read": "6", "accepted": "6", "rejected": "0", "posts": "3", "images": "6",
                         "added": "3"}
        assert page.get_by_role("tab", name="File on the server").get_attribute("aria-selected") == "true"
        assert page.get_by_label("Posts file path", exact=True).input_value() == str(posts)
        page.get_by_text("Rejected rows (0)", exact=True).wait_for()
        assert page.get_by_text("No rejected rows.", exact=True).count() == 1
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "6 rows accepted + 0 rejected = 6 rows read" in main
        assert "4 rows had no year (MM-DD): given 2024 (latest on or before 2024-03-10)" in main
        assert "were not found" not in main  # every image was found
        assert "crawl.csv: 6 accepted + 0 current rejects = 6; rows read 6" in main
        assert not re.search(r"\bnan\b", main, re.IGNORECASE), re.findall(r".{0,60}\bnan\b.{0,60}", main, re.I)
        sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stMetric"]').filter(has_text="Posts")
        assert sidebar.locator('[data-testid="stMetricValue"]').inner_text().strip() == "3"  # redrawn after the import
