"""A small HTTP server for tests: serves tests/fixtures/site on 127.0.0.1 with ETag and
Last-Modified (and 304 answers), logs every request, and has a few misbehaving routes."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class SiteServer:
    """``with SiteServer(root) as site:`` → ``site.url("/index.html")``, ``site.log``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        # Set when the server stops: a handler still waiting (the slow route) gives up,
        # so no thread outlives the test and writes to a closing interpreter.
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                status = server.respond(self)
                with server.lock:
                    server.log.append(("GET", self.path, status))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True  # server_close() joins the handler threads
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests_for(self, prefix: str) -> list[tuple[str, int]]:
        with self.lock:
            return [(path, status) for _, path, status in self.log if path.startswith(prefix)]

    def clear(self) -> None:
        with self.lock:
            self.log.clear()

    def respond(self, handler: BaseHTTPRequestHandler) -> int:
        path = handler.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/slow.html":
            if self.stopping.wait(10):
                return 0  # the test is over; answer nothing
            return self.send(handler, 200, b"<html><body><p>late</p></body></html>", "text/html")
        if path == "/error500.html":
            return self.send(handler, 500, b"boom", "text/plain")
        if path == "/huge.html":
            return self.send(handler, 200, b"<html><body>" + b"x" * (50 * 1024 * 1024), "text/html")
        file = (self.root / path.lstrip("/")).resolve()
        if path.endswith("/"):
            file = file / "index.html"
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            return self.send(handler, 404, b"not found", "text/plain")
        body = file.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        modified = email.utils.formatdate(file.stat().st_mtime, usegmt=True)
        if handler.headers.get("If-None-Match") == etag or (
            handler.headers.get("If-Modified-Since") == modified
            and not handler.headers.get("If-None-Match")
        ):
            return self.send(handler, 304, b"", None, {"ETag": etag, "Last-Modified": modified})
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix == ".xml":
            kind = "application/xml"
        return self.send(handler, 200, body, kind, {"ETag": etag, "Last-Modified": modified})

    @staticmethod
    def send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> int:
        # The client may be gone (a timeout in the crawler): not this server's problem.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.send_response(status)
            if content_type:
                handler.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if body and handler.command != "HEAD":
                handler.wfile.write(body)
        return status
