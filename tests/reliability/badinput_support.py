"""Helpers of the bad-input reliability tests (issue 6): running a crawl child and
measuring its peak memory, and checking that the feeds it leaves are valid."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

from support import ROOT

# A crawl child that reads a gzip bomb or a billion-laughs feed must stay below this.
RSS_LIMIT_BYTES = 400 * 1024 * 1024


@dataclass
class CrawlResult:
    returncode: int
    log: str
    peak_rss: int  # bytes, of the crawl child (and the children it waited for)
    seconds: float


def crawl_child(
    project: Path, *sources: str, settings: dict[str, str] | None = None, timeout: float = 120
) -> CrawlResult:
    """``python -m crawler.run SOURCE...`` in ``project`` (config ``feedmill.toml``, data in
    ``var/``), as the CLI and the scheduler start it; its peak RSS from ``os.wait4``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMILL_", "SCRAPY_"))}
    env["FEEDMILL_CONFIG"] = str(project / "feedmill.toml")
    env["FEEDMILL_DATA_DIR"] = str(project / "var")
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "crawler.run"]
    merged = {"LOG_LEVEL": "INFO", "AUTOTHROTTLE_ENABLED": "0", **(settings or {})}
    for name, value in merged.items():
        command += ["-s", f"{name}={value}"]
    command += list(sources)
    log_path = project / f"crawl-{time.monotonic_ns()}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=log)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                child.returncode = -9
                raise AssertionError(
                    f"crawl of {sources} still running after {timeout}s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    return CrawlResult(
        child.returncode,
        log_path.read_text(encoding="utf-8", errors="replace"),
        usage.ru_maxrss * 1024,  # kilobytes on Linux
        seconds,
    )


def safe_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return etree.fromstring(data, parser)


def feed_ids(feeds_dir: Path, name: str) -> dict[str, list[str]]:
    """Parse the RSS, Atom and JSON files of feed ``name`` strictly (lxml, feedparser
    without bozo, json) and return each format's entry ids, checked to be unique."""
    ids: dict[str, list[str]] = {}
    for fmt in ("rss", "atom"):
        data = (feeds_dir / f"{name}.{fmt}").read_bytes()
        safe_xml(data)  # well-formed XML, or XMLSyntaxError
        parsed = feedparser.parse(data)
        assert not parsed.bozo, f"{name}.{fmt}: {parsed.get('bozo_exception')}"
        ids[fmt] = [entry.id for entry in parsed.entries]
    document = json.loads((feeds_dir / f"{name}.json").read_bytes())
    ids["json"] = [item["id"] for item in document["items"]]
    for fmt, values in ids.items():
        assert len(values) == len(set(values)), f"{name}.{fmt}: duplicate entry ids"
    assert ids["rss"] == ids["atom"] == ids["json"], ids
    return ids


def articles(store_path: Path, source: str | None = None) -> list[tuple[str, str, str, str]]:
    """(id, key, title, first_seen) of the stored articles (of ``source``), by key."""
    with sqlite3.connect(store_path) as db:
        query = "SELECT id, key, title, first_seen FROM articles"
        rows = (
            db.execute(query + " WHERE source = ? ORDER BY key", (source,))
            if source
            else db.execute(query + " ORDER BY key")
        ).fetchall()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def all_text(store_path: Path) -> str:
    """Every text column of every article, for "this never reached the store" checks."""
    with sqlite3.connect(store_path) as db:
        rows = db.execute(
            "SELECT title, url, authors, summary, body_text, body_html, rights FROM articles"
        ).fetchall()
    return "\n".join(str(value) for row in rows for value in row)


# --------------------------------------------------------------------------- test server


Route = Callable[[BaseHTTPRequestHandler], int]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a crawler that hangs up (timeouts, size limits) is expected here


class HostileServer:
    """A threaded HTTP server on 127.0.0.1 whose routes misbehave on purpose.

    ``with HostileServer() as server:`` then ``server.routes["/x"] = handler``; a route
    gets the request handler and returns the status it sent. Handlers that wait (slow
    answers, endless bodies) watch ``server.stopping``; leaving the ``with`` block stops
    the server and joins every handler thread, so nothing outlives the test.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a client that stalls mid-request does not hold a thread forever

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                route = server.routes.get(path)
                try:
                    if route is None:
                        status = send(self, 404, b"not found", "text/plain")
                    else:
                        status = route(self)
                except (BrokenPipeError, ConnectionResetError):
                    status = 0
                    self.close_connection = True
                with server.lock:
                    server.log.append((self.path, status))

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True  # server_close() joins the handler threads
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requested(self, prefix: str) -> list[tuple[str, int]]:
        with self.lock:
            return [(path, status) for path, status in self.log if path.startswith(prefix)]


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str | None = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> int:
    """A complete response with a right Content-Length (unless ``headers`` gives one)."""
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    extra = dict(headers or {})
    if "Content-Length" not in extra:
        extra["Content-Length"] = str(len(body))
    for name, value in extra.items():
        handler.send_header(name, value)
    handler.end_headers()
    if body:
        handler.wfile.write(body)
    return status


def page(route_body: bytes, **kwargs: Any) -> Route:
    """A route that always answers 200 with ``route_body``."""
    return lambda handler: send(handler, 200, route_body, **kwargs)


def gzip_bomb(expanded: int, member: int = 16 * 1024 * 1024) -> bytes:
    """gzip data that inflates to ``expanded`` bytes of zeros, ~1,000 times smaller:
    one compressed member, repeated (concatenated gzip members are one valid stream)."""
    one = gzip.compress(b"\0" * member, compresslevel=9)
    return one * max(1, expanded // member)
