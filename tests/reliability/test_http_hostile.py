"""Hostile clients of the HTTP server (issue 6): a real ``feedmill serve`` on a free port.

Requests that a client library would normalise (``..``, backslashes, NUL bytes, absolute
forms, oversized lines) go out as raw bytes on a socket. Every socket read has a timeout
and every process and thread a test starts is stopped and joined before it returns.

A secret file sits beside the data directory, another inside it, and a configured feed's
files are symlinks to the secret: its bytes must never come back, however the path is
spelled. The run API refuses missing and wrong tokens without creating a run row. Large
request lines, headers and bodies are refused with a 4xx and the server keeps answering;
500 connections at once, and 200 slow-loris connections, do not stop a normal client
from being served, and connections that never send a whole request are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import feeds.server
from feeds.article import Article, article_id
from feeds.build import build_feeds, feeds_dir
from feeds.config import Config, load_config, parse_config
from feeds.server import CLIENT_MAX_SIZE, make_app, start_server
from feeds.store import SQLiteStore

from serve_helper import TOKEN, Service, free_port
from support import FIXTURES, SEED_NAME, feedmill_command

SECRET = b"SECRET-7f3a9c-MUST-NEVER-BE-SERVED"
PASSWD_MARK = b"root:x:0:0"

CONFIG = f"""\
# {SECRET.decode()}
[service]
base_url = "http://127.0.0.1:8080"
title = "hostile clients"

[sources.seeds]
kind = "files"
path = "seeds"
glob = "*.txt"
language = "zh"
timezone = "Asia/Shanghai"

[sources.linked]
kind = "files"
path = "linked-docs"
glob = "*.txt"
"""


# --------------------------------------------------------------------------- helpers


def raw_request(port: int, data: bytes, *, timeout: float = 10.0, shut: bool = False) -> bytes:
    """Send ``data`` as it is; everything the server answers until it closes (or until
    ``timeout``). ``shut`` half-closes the socket after sending."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/\d\.\d (\d{3}) ", response)
    assert match, f"no status line in {response[:200]!r}"
    return int(match.group(1))


def get(target: bytes | str, port: int, extra: bytes = b"") -> bytes:
    if isinstance(target, str):
        target = target.encode()
    return raw_request(
        port,
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + extra
        + b"Connection: close\r\n\r\n",
    )


def assert_answers(port: int, within: float = 3.0) -> float:
    """A normal request is answered 200 within ``within`` seconds; its time."""
    started = time.monotonic()
    response = raw_request(
        port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=within
    )
    took = time.monotonic() - started
    assert response, f"no answer within {within}s"
    assert status_of(response) == 200, response[:300]
    assert took < within
    return took


def run_rows(project: Path) -> int:
    db = project / "var" / "feedmill.sqlite3"
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        connection.close()


@contextlib.contextmanager
def open_files_at_least(wanted: int) -> Iterator[None]:
    """Raise this process's soft RLIMIT_NOFILE for the block (skip when the hard one is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open files limit is {hard}, below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class LimitedService(Service):
    """``feedmill serve`` started with a low soft RLIMIT_NOFILE (as under a login shell's
    1,024, only lower), to show the service raises its own limit."""

    def __init__(self, project: Path, port: int, nofile: int) -> None:
        self.project, self.port = project, port
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
        env["FEEDMILL_TOKEN"] = TOKEN
        self.log = project / f"serve-{port}.log"
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

        def lower_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [feedmill_command(), "serve", "--port", str(port)],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=lower_limit,
            )


def stop_service(service: Service) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(timeout=10)


# --------------------------------------------------------------------------- fixtures


def make_project(root: Path) -> Path:
    """A project whose store and feeds are written through the store and feed builder
    (not by a crawl), with no schedules (so every run row comes from a request), and
    secrets around it."""
    (root / "seeds").mkdir()
    shutil.copy(FIXTURES / "seeds" / SEED_NAME, root / "seeds" / SEED_NAME)
    (root / "linked-docs").mkdir()
    (root / "feedmill.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(root / "feedmill.toml")
    with SQLiteStore.in_data_dir(root / "var") as store:
        for source in ("seeds", "linked"):
            for number in range(3):
                key = f"{number}.txt"
                store.upsert(
                    Article(
                        source=source,
                        key=key,
                        id=article_id(source, key),
                        title=f"{source} article {number}",
                        published=datetime(2024, 1, 1 + number, tzinfo=UTC),
                        language="en",
                        body_text=f"Body of {source} article {number}.",
                    )
                )
        build_feeds(config, store, feeds_dir(root / "var"))
    feeds = root / "var" / "feeds"
    assert (feeds / "seeds.rss").is_file()
    # Secrets: beside the data directory, inside it, and reachable through symlinks
    # that sit in the feed folder under names the server does serve.
    (root / "secret.txt").write_bytes(SECRET)
    (root / "var" / "secret.rss").write_bytes(SECRET)
    for ext in ("rss", "atom", "json"):
        (feeds / f"linked.{ext}").unlink()
        (feeds / f"linked.{ext}").symlink_to(root / "secret.txt")
    (feeds / "up").symlink_to(root)
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    project = make_project(tmp_path_factory.mktemp("hostile"))
    service = Service(project, free_port())
    try:
        service.wait_ready()
        yield service
    finally:
        stop_service(service)


# --------------------------------------------------------------------------- binding


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            raw = bytes.fromhex(address_hex)
            if family == socket.AF_INET:
                address = socket.inet_ntop(family, raw[::-1])
            else:  # four host-order 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                address = socket.inet_ntop(family, words)
            found.add((address, int(port_hex, 16)))
    return found


def test_serve_binds_loopback_unless_told_otherwise(served: Service) -> None:
    assert listening_addresses(served.process.pid) == {("127.0.0.1", served.port)}


def test_serve_binds_the_host_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "feedmill.toml").write_text(CONFIG.split("[sources.linked]")[0], encoding="utf-8")
    service = Service(tmp_path, free_port(), "--host", "127.0.0.2")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not listening_addresses(service.process.pid):
            assert service.process.poll() is None, service.log.read_text()
            time.sleep(0.2)
        assert listening_addresses(service.process.pid) == {("127.0.0.2", service.port)}
    finally:
        stop_service(service)


# --------------------------------------------------------------------------- traversal


def traversal_targets(project: Path) -> list[bytes]:
    secret = str(project / "secret.txt").encode()
    quoted = secret.replace(b"/", b"%2f")
    return [
        b"/feeds/../secret.txt",
        b"/feeds/../../secret.txt",
        b"/feeds/../var/secret.rss",
        b"/../secret.txt",
        b"/../../../../../../etc/passwd",
        b"/feeds/../../../../../../etc/passwd",
        b"/feeds/..%2f..%2fsecret.txt",
        b"/feeds/..%2Fsecret.rss",
        b"/feeds/%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/feeds/%2e%2e/%2e%2e/secret.txt",
        b"/%2e%2e/%2e%2e/secret.txt",
        b"/feeds/%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        b"/feeds/%252e%252e%252f%252e%252e%252fsecret.txt",
        b"/feeds/%252e%252e%252fsecret.rss",
        b"/feeds/%25252e%25252e%25252fsecret.rss",
        b"/feeds/..\\..\\secret.txt",
        b"/feeds/..\\secret.rss",
        b"/feeds/..%5c..%5csecret.txt",
        b"/feeds/%2e%2e%5c%2e%2e%5csecret.txt",
        b"\\feeds\\..\\..\\secret.txt",
        b"/feeds/" + secret,
        b"/feeds/" + quoted,
        b"/feeds//etc/passwd",
        b"/feeds/%2fetc%2fpasswd",
        b"/" + secret,
        b"/" + quoted,
        b"//" + secret,
        b"/static/" + quoted,
        b"file://" + secret,
        b"http://127.0.0.1/feeds/../../secret.txt",
        b"http://127.0.0.1/../secret.txt",
        b"/feeds/seeds.rss%00",
        b"/feeds/seeds.rss%00.txt",
        b"/feeds/..%00/secret.txt",
        b"/feeds/%00../../secret.txt",
        b"/feeds/....//....//secret.txt",
        b"/feeds/.%2e/.%2e/secret.txt",
        b"/feeds/%c0%ae%c0%ae%c0%afsecret.txt",
        b"/feeds/%u002e%u002e%u2215secret.txt",
        b"/feeds/up/secret.txt",
        b"/feeds/up%2fsecret.txt",
        b"/feeds/up/var/secret.rss",
        b"/feeds/linked.rss",
        b"/feeds/linked.atom",
        b"/feeds/linked.json",
        b"/feeds/secret.rss",
        b"/static/..%2f..%2f..%2fsecret.txt",
        b"/static/../../secret.txt",
        b"/articles/..%2f..%2fsecret.txt",
        b"/articles/../secret.txt",
        b"/opml/../secret.txt",
        b"/api/sources/..%2f..%2fsecret.txt",
    ]


def test_path_traversal_never_serves_a_file_outside_the_feed_folder(served: Service) -> None:
    assert (served.project / "var" / "feeds" / "linked.rss").is_symlink()
    good = get("/feeds/seeds.rss", served.port)
    assert status_of(good) == 200 and b"<rss" in good  # the harness does reach feeds
    failures = []
    for target in traversal_targets(served.project):
        response = get(target, served.port)
        if not response:
            failures.append((target, "no answer"))
            continue
        status = status_of(response)
        if SECRET in response or PASSWD_MARK in response:
            failures.append((target, f"LEAKED with {status}"))
        elif not 400 <= status < 600:
            failures.append((target, status))
    assert not failures, failures
    assert_answers(served.port)


def test_raw_bytes_in_the_request_target_are_refused(served: Service) -> None:
    for target in (
        b"/feeds/seeds.rss\x00.txt",
        b"/feeds/..\x00/secret.txt",
        b"/feeds/../\xc0\xae\xc0\xae/secret.txt",
        b"/feeds/\xff\xfe/../../secret.txt",
    ):
        response = get(target, served.port)
        assert SECRET not in response
        if response:  # a refusal, or the connection simply closed
            assert 400 <= status_of(response) < 500, (target, response[:200])
    # A CR LF in the target ends the request line there (read as an HTTP/0.9 request
    # for the feed): the feed, and nothing of the rest reflected into the answer.
    response = get(b"/feeds/../secret.txt\r\nX-Injected: 1", served.port)
    assert SECRET not in response and b"X-Injected" not in response
    response = get(b"/feeds/seeds.rss\r\nX-Injected: 1", served.port)
    assert b"X-Injected" not in response
    assert_answers(served.port)


# --------------------------------------------------------------------------- run API


WRONG_AUTHORIZATIONS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[0]}",
    f"Bearer x{TOKEN}",
    f"Bearer {TOKEN.upper()}",
    f"Bearer {'a' * len(TOKEN)}",
    f"Bearer {'a' * 4000}",
    f"Bearer {TOKEN} {TOKEN}",
    f"Basic {TOKEN}",
    f"Token {TOKEN}",
    TOKEN,
    f"Bearer{TOKEN}",
    f"Bearer \u00e9{TOKEN}",
]


def authorization_header(value: str | None) -> bytes:
    return b"" if value is None else f"Authorization: {value}\r\n".encode()


def test_run_api_without_the_right_token_is_401_and_starts_nothing(served: Service) -> None:
    before = run_rows(served.project)
    for source in ("seeds", "nosuch"):
        for value in WRONG_AUTHORIZATIONS:
            response = raw_request(
                served.port,
                f"POST /api/sources/{source}/run HTTP/1.1\r\nHost: x\r\n".encode()
                + authorization_header(value)
                + b"Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            assert status_of(response) == 401, (source, value, response[:300])
            assert b"WWW-Authenticate: Bearer" in response
    # The token in the query string or the body is not a credential for the API.
    for target, body in (
        (f"/api/sources/seeds/run?token={TOKEN}", b""),
        ("/api/sources/seeds/run", f"token={TOKEN}".encode()),
    ):
        response = raw_request(
            served.port,
            f"POST {target} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body,
        )
        assert status_of(response) == 401, target
    # The dashboard form: a wrong token goes back to the page with a message, no run.
    for token in ("", "wrong", TOKEN[:-1], TOKEN + "%20", "%20" + TOKEN, TOKEN + "x"):
        body = f"token={token}".encode()
        response = raw_request(
            served.port,
            b"POST /sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body,
        )
        assert status_of(response) == 303, response[:300]
        assert b"flash=unauthorized" in response
    time.sleep(0.5)  # a run started by mistake would have its row by now
    assert run_rows(served.project) == before
    assert served.sources()["seeds"]["running"] is False


def test_the_right_token_does_start_a_run(served: Service) -> None:
    """The counter-check of the test above: the same request with the token makes a row."""
    before = run_rows(served.project)
    status, _ = served.post("/api/sources/linked/run", token=TOKEN)
    assert status == 202
    assert run_rows(served.project) == before + 1


def test_tokens_are_compared_with_compare_digest() -> None:
    source = inspect.getsource(feeds.server._Server._authorize)
    assert "compare_digest(" in source
    code = re.sub(r"#.*", "", source)
    assert not re.search(r"(token|digest|presented)\w*\s*[!=]=", code), source


def test_every_attempt_goes_through_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the presented token's length or prefix, the server compares two
    fixed-length digests with compare_digest (so timing says nothing about the token)."""
    calls: list[tuple[int, int]] = []

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(
        feeds.server, "hmac", types.SimpleNamespace(compare_digest=recording, new=hmac.new)
    )
    presented = [TOKEN[:n] for n in (1, 5, len(TOKEN) - 1)]
    presented += [TOKEN + "x", "x" + TOKEN, TOKEN.swapcase(), "z" * 8000]  # under the header limit
    with InProcessServer(tmp_path) as live:
        for token in presented:
            response = raw_request(
                live.port,
                b"POST /api/sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            assert status_of(response) == 401, token[:20]
        assert live.controller.calls == []
    digest = hashlib.sha256().digest_size
    assert calls == [(digest, digest)] * len(presented)


# --------------------------------------------------------------------------- limits


def test_oversized_requests_are_refused_and_the_server_keeps_answering(served: Service) -> None:
    port = served.port
    before = run_rows(served.project)
    cases = {
        "request line": b"GET /feeds/" + b"a" * 100_000 + b".rss HTTP/1.1\r\nHost: x\r\n\r\n",
        "long query": b"GET /healthz?" + b"q=1&" * 30_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "one header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        "many headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
        + b"\r\n",
        "many big headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(200))
        + b"\r\n",
        "API body, token": b"POST /api/sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Content-Length: 50000000\r\n\r\n"
        + b"x" * 200_000,
        "API body, no token": b"POST /api/sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Length: 50000000\r\n\r\n"
        + b"x" * 200_000,
        "API chunked body, token": b"POST /api/sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(20))
        + b"0\r\n\r\n",
        "form body": b"POST /sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Type: application/x-www-form-urlencoded\r\n"
        + b"Content-Length: 1000000\r\n\r\n"
        + b"token="
        + b"x" * 200_000,
        "form chunked body": b"POST /sources/seeds/run HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Type: application/x-www-form-urlencoded\r\n"
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(20))
        + b"0\r\n\r\n",
    }
    for what, request in cases.items():
        started = time.monotonic()
        response = raw_request(port, request, timeout=15)
        assert response, what
        status = status_of(response)
        assert status in (400, 401, 413, 414, 431), (what, response[:300])
        if what.startswith(("API body, token", "API chunked")):
            assert status == 413, (what, response[:300])
        assert time.monotonic() - started < 12, what
        assert_answers(port)
    assert run_rows(served.project) == before  # the valid token with a huge body ran nothing
    assert CLIENT_MAX_SIZE <= 1024 * 1024


def test_500_concurrent_connections_leave_the_server_answering(tmp_path: Path) -> None:
    """500 clients at once, against a service started with a soft limit of 256 open
    files: every one is answered and a normal request still is, promptly."""
    project = make_project(tmp_path)
    service = LimitedService(project, free_port(), nofile=256)
    try:
        service.wait_ready()
        with open_files_at_least(2048):
            results = asyncio.run(asyncio.wait_for(_concurrent(service.port, 500), 60))
        statuses, held_answer = results
        assert held_answer < 3.0  # with 500 idle connections held open
        assert statuses.count(200) == 500, {s: statuses.count(s) for s in set(statuses)}
        assert assert_answers(service.port, within=3.0) < 3.0
        assert service.process.poll() is None
    finally:
        stop_service(service)


async def _concurrent(port: int, count: int) -> tuple[list[int], float]:
    """Open ``count`` connections and hold them idle while a normal request is made; then
    have every one of them ask for a feed at once. (statuses, the normal request's time)"""
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))
    )
    try:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        held = time.monotonic() - started
        writer.close()
        assert status_of(answer) == 200

        async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
            writer.write(b"GET /feeds/seeds.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 30)
            return status_of(response) if response else 0

        statuses = await asyncio.gather(*(ask(r, w) for r, w in connections))
        return list(statuses), held
    finally:
        for _, writer in connections:
            writer.close()


def test_slow_loris_does_not_stop_other_clients(served: Service) -> None:
    """200 connections that send part of a request and then stall or trickle a byte at a
    time; meanwhile a normal client is served, each request well within a second."""
    with open_files_at_least(1024):
        timings = asyncio.run(asyncio.wait_for(_slow_loris(served.port, 200, 6.0), 60))
    assert len(timings) >= 10
    assert max(timings) < 2.0, timings
    assert statistics.median(timings) < 0.5, timings
    assert_answers(served.port)


async def _slow_loris(port: int, count: int, seconds: float) -> list[float]:
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))
    )
    partial = [b"GET /feeds/seeds.rss HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"GET /fe", b"P"]
    for number, (_, writer) in enumerate(connections):
        writer.write(partial[number % len(partial)])
    stop = asyncio.Event()

    async def trickle(writer: asyncio.StreamWriter) -> None:
        while not stop.is_set():
            with contextlib.suppress(ConnectionError):
                writer.write(b"a")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    tricklers = [asyncio.ensure_future(trickle(w)) for _, w in connections[::2]]
    timings = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /feeds/seeds.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 10)
            timings.append(time.monotonic() - started)
            writer.close()
            assert status_of(response) == 200
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.gather(*tricklers, return_exceptions=True)
        for _, writer in connections:
            writer.close()
    return timings


# --------------------------------------------------------------------------- in process


class FakeController:
    """The scheduler side, as the server sees it; records run requests."""

    def __init__(self, config: Config) -> None:
        self.cfg = config
        self.calls: list[str] = []

    def config(self) -> Config:
        return self.cfg

    async def run_now(self, source: str) -> int:
        self.calls.append(source)
        return 1

    def running(self) -> dict[str, int]:
        return {}

    def next_runs(self) -> dict[str, datetime | None]:
        return {}

    def health(self) -> dict[str, Any]:
        return {"state": "running"}


class InProcessServer:
    """The real aiohttp app on 127.0.0.1:<free port>, its loop in a thread that is joined
    on exit (a daemon thread left running once aborted pytest at interpreter exit)."""

    def __init__(self, tmp: Path, *, header_timeout: float | None = None) -> None:
        config = parse_config(
            {"sources": {"seeds": {"kind": "files", "path": "seeds"}}}, tmp / "feedmill.toml"
        )
        self.controller = FakeController(config)
        self.data_dir = tmp / "data"
        self.header_timeout = header_timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="in-process-server")

    def __enter__(self) -> InProcessServer:
        self.thread.start()

        async def start() -> Any:
            app = make_app(self.controller, self.data_dir, token=TOKEN)
            return await start_server(app, "127.0.0.1", 0, header_timeout=self.header_timeout)

        try:
            self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self.runner.addresses[0][1]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed ``sock`` (recv gives b"" or a reset), None if it
    is still open after ``within``."""
    started = time.monotonic()
    deadline = started + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionError:
            return time.monotonic() - started
        if not data:
            return time.monotonic() - started
    return None


def test_half_open_connections_are_closed_after_the_header_deadline(tmp_path: Path) -> None:
    """Idle, stalled and trickling connections are closed once the header deadline
    (here 1.5 s) has passed, while complete requests on other connections are served."""
    with InProcessServer(tmp_path, header_timeout=1.5) as live:
        sockets = [socket.create_connection(("127.0.0.1", live.port), timeout=5) for _ in range(60)]
        try:
            for number, sock in enumerate(sockets):
                if number % 3 == 1:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                elif number % 3 == 2:  # then one byte of a header value at a time
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            trickling = sockets[2::3]
            deadline = time.monotonic() + 6
            open_ones = set(range(len(sockets)))
            closed_at: dict[int, float] = {}
            started = time.monotonic()
            while open_ones and time.monotonic() < deadline:
                for number in list(open_ones):
                    sock = sockets[number]
                    if sock in trickling:
                        with contextlib.suppress(OSError):
                            sock.send(b"T")
                    sock.settimeout(0)
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionError:
                        data = b""
                    assert not data or b" 408 " in data or b" 400 " in data, data[:200]
                    closed_at[number] = time.monotonic() - started
                    open_ones.discard(number)
                assert_answers(live.port, within=2.0)
                time.sleep(0.2)
            assert not open_ones, f"{len(open_ones)} connections still open"
            assert min(closed_at.values()) > 1.0  # not before the deadline
        finally:
            for sock in sockets:
                sock.close()
        # A connection that sent a whole request is served and then kept alive: the
        # header deadline does not cut it.
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(sock.recv(65536)) == 200
            assert closed_by_server(sock, within=2.5) is None
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status_of(sock.recv(65536)) == 200


def test_a_trickled_body_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that sends a body one byte at a time gets 408 once the body deadline
    (here 1 s) has passed, nothing is started, and the connection is closed soon after
    (the rest of the body is drained for LINGERING_TIME at most)."""
    monkeypatch.setattr(feeds.server, "BODY_TIMEOUT", 1.0)
    with InProcessServer(tmp_path) as live:
        for target, extra in (
            ("/sources/seeds/run", b"Content-Type: application/x-www-form-urlencoded\r\n"),
            ("/api/sources/seeds/run", f"Authorization: Bearer {TOKEN}\r\n".encode()),
        ):
            with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
                sock.sendall(
                    f"POST {target} HTTP/1.1\r\nHost: x\r\n".encode()
                    + extra
                    + b"Content-Length: 1000\r\n\r\ntoken="
                )
                started = time.monotonic()
                response, answered, closed = b"", None, None
                while time.monotonic() - started < 8:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"x")
                    sock.settimeout(0.2)
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        continue
                    except ConnectionError:
                        chunk = b""
                    if not chunk:
                        closed = time.monotonic() - started
                        break
                    response += chunk
                    answered = answered or time.monotonic() - started
                assert status_of(response) == 408, (target, response[:300])
                assert answered is not None and 0.9 < answered < 2.5, answered
                limit = 1.0 + feeds.server.LINGERING_TIME + 1.5
                assert closed is not None and closed < limit, (target, closed)
        assert live.controller.calls == []
