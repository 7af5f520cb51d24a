"""Many analysts at once: median Map and Trends render time with N concurrent sessions, and the bytes
each render sends, measured against a real `streamlit run app.py` on this machine.

Usage: python bench/load.py [--db PATH] [--posts 3000] [--sessions 1,10] [--rounds 3]
                            [--pages map,map-hover,trends] [--url http://127.0.0.1:PORT] [--timeout 900]

1. database: --db (default: <tmp>/trend_load_<posts>.duckdb); when it holds no posts the demo of
   --posts posts is built there with the default settings (pipeline.build_demo), when it holds another
   number of posts it is refused.
2. server: `streamlit run app.py --server.address 127.0.0.1 --server.port <free port> -- --db PATH`
   (or --url: a server already running on this machine; only loopback addresses are accepted, the
   bench never talks to another machine).
3. warm-up: one session opens every measured page once (not counted), as the first analyst would.
4. load: for each N of --sessions, N sessions connect at once and each renders every page of --pages
   --rounds times in turn (map, map-hover, trends, map, ...). A session speaks Streamlit's websocket
   protocol as the browser does, without a browser: a BackMsg `rerun_script` naming the page (and, for
   map-hover, the Map page's "Mode" radio set to "Hover previews"), then ForwardMsgs until
   `script_finished`; like the browser it keeps the hashes of the cacheable messages it was sent and
   names them in the next request (the server then sends a reference instead of the message again).
   A render's time runs from sending the request to `script_finished`; its bytes are the websocket
   payloads received in between (protobuf, before any transport compression).
Reports, per N and page: renders, median / p90 / max seconds, median and max bytes per render, errors
(an exception element or a render that did not finish). Prints readable tables; the last line is JSON.
Bounded: every render waits at most --render-timeout s, the whole bench (database build included) --timeout s
(then the server is stopped and the bench exits with an error).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = {"map": ("map", None), "map-hover": ("map", ("map_mode", "Hover previews")), "trends": ("trends", None)}
GOAL_S = 3.0          # median Map and Trends render with 10 sessions
GOAL_MAP_BYTES = 2_000_000  # per map render


# -- loopback only ---------------------------------------------------------------------------------
def loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1; the bench refuses any other target."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- database ----------------------------------------------------------------------------------------
def ensure_db(path: Path, n_posts: int, seed: int) -> dict:
    """The demo database of n_posts posts at path (built when empty, refused when it holds another count)."""
    from trend_core import pipeline
    from trend_core.store import Store

    store = Store(path)
    held = store.count_posts()
    if held == 0:
        print(f"building the demo database: {n_posts} posts, seed {seed} -> {path}")
        start = time.perf_counter()
        pipeline.build_demo(store, n_posts=n_posts, seed=seed)
        return {"built": True, "build_s": round(time.perf_counter() - start, 1), "posts": n_posts}
    if held != n_posts:
        raise SystemExit(f"{path} holds {held} posts, not {n_posts}: pass another --db or --posts {held}")
    return {"built": False, "posts": held}


@contextlib.contextmanager
def streamlit_server(db: Path, log: Path, ready_s: float = 120):
    """`streamlit run app.py` on a free loopback port against db; yields the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--", "--db", str(db)]
    print("server:", " ".join(cmd[1:]))
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- one session -----------------------------------------------------------------------------------
@dataclass
class Render:
    page: str
    seconds: float
    bytes: int
    messages: int
    ok: bool
    error: str = ""


@dataclass
class Session:
    """One browser tab, as far as the server can tell: a websocket, widget ids it has seen, cached hashes."""
    url: str
    render_timeout: float
    ws: object = None
    widget_ids: dict[str, str] = field(default_factory=dict)  # user key -> widget id (from the elements)
    cached: set[str] = field(default_factory=set)

    async def __aenter__(self) -> Session:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=30,
                                ping_interval=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    def _note_widget(self, element) -> None:
        kind = element.WhichOneof("type")
        wid = getattr(getattr(element, kind, None), "id", "") if kind else ""
        if isinstance(wid, str) and wid:
            # user-keyed widget ids end with '-<key>'
            self.widget_ids[wid.rsplit("-", 1)[-1]] = wid

    async def render(self, name: str) -> Render:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        page_name, widget = PAGES[name]
        msg = BackMsg()
        state = msg.rerun_script
        state.page_name = page_name
        state.cached_message_hashes.extend(sorted(self.cached))
        if widget is not None:
            key, value = widget
            if key not in self.widget_ids:
                return Render(name, 0.0, 0, 0, False, f"no widget {key!r} seen yet (render {page_name} first)")
            ws_state = state.widget_states.widgets.add()
            ws_state.id = self.widget_ids[key]
            ws_state.string_value = value
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        received = count = 0
        error = ""
        try:
            async with asyncio.timeout(self.render_timeout):
                while True:
                    payload = await self.ws.recv()
                    received += len(payload)
                    count += 1
                    fwd = ForwardMsg()
                    fwd.ParseFromString(payload)
                    kind = fwd.WhichOneof("type")
                    if fwd.metadata.cacheable and fwd.hash:
                        self.cached.add(fwd.hash)
                    if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                        element = fwd.delta.new_element
                        if element.WhichOneof("type") == "exception" and not error:
                            error = f"{element.exception.type}: {element.exception.message}"[:300]
                        self._note_widget(element)
                    elif kind == "page_not_found":
                        error = f"page not found: {page_name}"
                    elif kind == "script_finished":
                        if fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                            break
                        if fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                            error = error or f"script finished with status {fwd.script_finished}"
                            break
        except TimeoutError:
            error = f"no script_finished within {self.render_timeout:.0f} s"
        return Render(name, time.perf_counter() - start, received, count, not error, error)


async def session_run(url: str, pages: list[str], rounds: int, render_timeout: float,
                      start_gate: asyncio.Event | None = None) -> list[Render]:
    async with Session(url, render_timeout) as session:
        if start_gate is not None:
            await start_gate.wait()
        out = []
        for _ in range(rounds):
            for name in pages:
                out.append(await session.render(name))
        return out


async def load(url: str, n: int, pages: list[str], rounds: int, render_timeout: float) -> tuple[list[Render], float]:
    gate = asyncio.Event()
    tasks = [asyncio.create_task(session_run(url, pages, rounds, render_timeout, gate)) for _ in range(n)]
    await asyncio.sleep(0.5)  # every session connected, then all start together
    start = time.perf_counter()
    gate.set()
    results = await asyncio.gather(*tasks)
    return [r for rs in results for r in rs], time.perf_counter() - start


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def summarise(renders: list[Render], pages: list[str]) -> dict:
    out = {}
    for name in pages:
        rs = [r for r in renders if r.page == name]
        ok = [r for r in rs if r.ok]
        secs = [r.seconds for r in ok] or [float("nan")]
        sizes = [r.bytes for r in ok] or [0]
        out[name] = {"renders": len(rs), "errors": len(rs) - len(ok), "median_s": round(statistics.median(secs), 3),
                     "p90_s": round(p90(secs), 3), "max_s": round(max(secs), 3),
                     "median_bytes": int(statistics.median(sizes)), "max_bytes": int(max(sizes)),
                     "first_error": next((r.error for r in rs if not r.ok), "")}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, help="DuckDB file (default: <tmp>/trend_load_<posts>.duckdb)")
    ap.add_argument("--posts", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions", default="1,10", help="concurrent sessions, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="renders of each page per session")
    ap.add_argument("--pages", default="map,map-hover,trends", help=f"from {','.join(PAGES)}")
    ap.add_argument("--url", help="a running server on this machine (loopback only) instead of starting one")
    ap.add_argument("--render-timeout", type=float, default=180.0)
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole bench, seconds (build included)")
    args = ap.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise SystemExit(f"unknown pages {unknown}: choose from {list(PAGES)}")
    if "map-hover" in pages and "map" not in pages:
        pages.insert(pages.index("map-hover"), "map")  # the hover mode needs the Map page's radio id first
    counts = [int(s) for s in args.sessions.split(",") if s.strip()]
    print("command: python bench/load.py " + " ".join(sys.argv[1:] if argv is None else argv))

    async def run_all(base: str) -> dict:
        parsed = urlparse(base)
        if parsed.scheme not in ("http", "https") or not loopback(parsed.hostname or ""):
            raise SystemExit(f"refusing {base}: the bench only talks to a server on this machine (127.0.0.1)")
        ws_url = f"{'wss' if parsed.scheme == 'https' else 'ws'}://{parsed.netloc}/_stcore/stream"
        start = time.perf_counter()
        warm = await session_run(ws_url, pages, 1, args.render_timeout)
        result: dict = {"warmup": [{"page": r.page, "seconds": round(r.seconds, 2), "bytes": r.bytes, "ok": r.ok,
                                    "error": r.error} for r in warm], "runs": []}
        print(f"\nwarm-up ({time.perf_counter() - start:.1f} s): "
              + ", ".join(f"{r.page} {r.seconds:.2f} s {r.bytes / 1e6:.2f} MB{'' if r.ok else ' ERROR ' + r.error}"
                          for r in warm))
        for n in counts:
            renders, wall = await load(ws_url, n, pages, args.rounds, args.render_timeout)
            summary = summarise(renders, pages)
            result["runs"].append({"sessions": n, "rounds": args.rounds, "wall_s": round(wall, 2), "pages": summary})
            print(f"\n== {n} concurrent session{'s' if n != 1 else ''} x {args.rounds} rounds "
                  f"({wall:.1f} s wall) ==")
            print(f"{'page':<10} {'renders':>7} {'median s':>9} {'p90 s':>7} {'max s':>7} {'median MB':>10} "
                  f"{'max MB':>7} {'errors':>6}")
            for name, s in summary.items():
                print(f"{name:<10} {s['renders']:>7} {s['median_s']:>9.2f} {s['p90_s']:>7.2f} {s['max_s']:>7.2f} "
                      f"{s['median_bytes'] / 1e6:>10.3f} {s['max_bytes'] / 1e6:>7.3f} {s['errors']:>6}"
                      + (f"  {s['first_error']}" if s["first_error"] else ""))
        return result

    def past_deadline(signum, frame):
        raise SystemExit(f"the bench ran past --timeout {args.timeout:.0f} s")

    signal.signal(signal.SIGALRM, past_deadline)  # stops a build, a server start or a render alike
    signal.setitimer(signal.ITIMER_REAL, args.timeout)

    info: dict = {"posts": args.posts, "sessions": counts, "rounds": args.rounds, "pages": pages,
                  "cpus": os.cpu_count()}
    if args.url:
        info |= asyncio.run(run_all(args.url.rstrip("/")))
    else:
        db = args.db or Path(tempfile.gettempdir()) / f"trend_load_{args.posts}.duckdb"
        info["db"] = str(db)
        info["database"] = ensure_db(db, args.posts, args.seed)
        with tempfile.TemporaryDirectory(prefix="trend_load_") as tmp, \
                streamlit_server(db, Path(tmp) / "streamlit.log") as base:
            info |= asyncio.run(run_all(base))
    signal.setitimer(signal.ITIMER_REAL, 0)
    goal = next((r for r in info["runs"] if r["sessions"] == 10), None)
    if goal is not None:
        worst = max(goal["pages"][p]["median_s"] for p in goal["pages"])
        map_bytes = max(goal["pages"][p]["max_bytes"] for p in goal["pages"] if p.startswith("map"))
        print(f"\ngoal (10 sessions): median render {worst:.2f} s (goal <= {GOAL_S} s), largest map render "
              f"{map_bytes / 1e6:.2f} MB (goal <= {GOAL_MAP_BYTES / 1e6:.0f} MB)")
    print(json.dumps(info))
    return info


if __name__ == "__main__":
    main()
