"""The HTTP side of ``feedmill serve`` (feeds.server, feeds.pages, feeds/static/feed.xsl).

Each test starts the real application on 127.0.0.1 (an ephemeral port) in a thread with
its own event loop, with a fake scheduler controller and a real data directory: a store
holding a few articles (some with hostile strings) and feed files written by
feeds.build. Requests go through http.client, so raw paths reach the server unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import http.client
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from feeds.article import Article, RelatedLink, article_id
from feeds.build import build_feeds, feeds_dir
from feeds.config import Config, parse_config
from feeds.errors import SourceBusy, UnknownSource
from feeds.pages import STYLESHEET_HREF, sanitize_html, with_stylesheet
from feeds.server import (
    CSP,
    _accepts_gzip,
    _if_none_match,
    cache_seconds,
    make_app,
    start_server,
)
from feeds.store import SQLiteStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOKEN = "correct horse battery staple"
SECRET = "SECRET-DO-NOT-SERVE"
HOSTILE_TITLE = "<script>alert(1)</script> 雪域新闻"
HOSTILE_AUTHOR = "<script>alert(2)</script>"
HOSTILE_SERVICE_TITLE = "Feeds <script>alert('cfg')</script> & co"
FEED_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FEED_NAMES = ("alpha", "beta", "gamma", "all")


# --------------------------------------------------------------------------- fixtures


def make_config(tmp: Path) -> Config:
    raw = {
        "service": {
            "base_url": "http://feeds.example:8080",
            "title": HOSTILE_SERVICE_TITLE,
            "description": "Every <i>article</i>.",
            "feed_size": 10,
        },
        "sources": {
            "alpha": {
                "kind": "files",
                "path": "alpha-docs",
                "title": 'Alpha <b>"bold"</b> & <script>alert(3)</script>',
                "link": "http://alpha.example/",
                "language": "zh",
                "script": "simplified",
                "timezone": "Asia/Shanghai",
                "every": "1h",
            },
            "beta": {"kind": "files", "path": "beta-docs", "title": "Beta", "cron": "*/10 * * * *"},
            "gamma": {"kind": "files", "path": "gamma-docs", "title": "Gamma (on demand)"},
        },
    }
    return parse_config(raw, tmp / "feedmill.toml")


def hostile_article() -> Article:
    return Article(
        source="alpha",
        key="hostile.txt",
        id=article_id("alpha", "hostile.txt"),
        title=HOSTILE_TITLE,
        authors=[HOSTILE_AUTHOR, "李四"],
        agency="新华社",
        publisher="中国西藏网",
        published=datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI),
        language="zh-CN",
        summary="摘要 <b>不是标签</b>",
        body_text="正文第一段",
        body_html=(
            '<p>正文第一段</p><script>alert("body")</script>'
            '<p onclick="alert(4)" onmouseover="alert(5)">点击 '
            '<a href="javascript:alert(6)">坏链接</a> '
            '<a href=" JaVa&#x09;ScRiPt:alert(7)">藏起来的坏链接</a> '
            '<a href="https://good.example/page">好链接</a>'
            '<img src="x.png" onerror="alert(8)"></p>'
            '<iframe src="https://evil.example/"></iframe>'
        ),
        rights="版权声明：<b>本网站</b>所有",
        related=[
            RelatedLink("恶意相关", "javascript:alert(9)"),
            RelatedLink("相关 <em>报道</em>", "https://related.example/story"),
        ],
    )


def plain_articles() -> list[Article]:
    return [
        Article(
            source="alpha",
            key="second.txt",
            id=article_id("alpha", "second.txt"),
            title="Second alpha entry",
            url="https://alpha.example/2",
            authors=["Ann Author"],
            published=datetime(2022, 12, 8, 9, 0, tzinfo=SHANGHAI),
            language="zh-CN",
            summary="The second one.",
            body_text="Body of the second entry.",
        ),
        Article(
            source="beta",
            key="b1",
            id=article_id("beta", "b1"),
            title="Beta entry & friends",
            url="https://beta.example/1",
            published=datetime(2023, 1, 2, 3, 4, tzinfo=UTC),
            language="en",
            body_text="Beta body.",
        ),
    ]


@dataclass
class FakeController:
    cfg: Config
    busy: dict[str, int] = field(default_factory=lambda: {"beta": 7})
    calls: list[str] = field(default_factory=list)
    next_run_id: int = 4242
    health_error: Exception | None = None

    def config(self) -> Config:
        return self.cfg

    async def run_now(self, source: str) -> int:
        self.calls.append(source)
        if source not in self.cfg.sources:
            raise UnknownSource(source)
        if source in self.busy:
            raise SourceBusy(source)
        return self.next_run_id

    def running(self) -> dict[str, int]:
        return dict(self.busy)

    def next_runs(self) -> dict[str, datetime | None]:
        return {"alpha": datetime(2030, 1, 1, 12, 0, tzinfo=UTC), "beta": None, "gamma": None}

    def health(self) -> dict[str, Any]:
        if self.health_error is not None:
            raise self.health_error
        return {"state": "running", "jobs": 2}


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        assert self.header("Content-Type") == "application/json; charset=utf-8"
        return json.loads(self.body)


class LiveServer:
    """The app on 127.0.0.1:<ephemeral> in a thread running its own event loop."""

    def __init__(self, controller: FakeController, data_dir: Path, token: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.controller = controller
        self.data_dir = data_dir
        self.token = token

    def __enter__(self) -> LiveServer:
        self.thread.start()

        async def start() -> Any:
            app = make_app(self.controller, self.data_dir, token=self.token)
            return await start_server(app, "127.0.0.1", 0)

        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.port = self.runner.addresses[0][1]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return Reply(response.status, response.headers, data)
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})

    def raw(self, request_bytes: bytes) -> bytes:
        """Send bytes exactly as given; the raw response (status line first)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(request_bytes)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)


@dataclass
class Site:
    config: Config
    data_dir: Path
    controller: FakeController
    hostile: Article

    @property
    def feeds(self) -> Path:
        return feeds_dir(self.data_dir)

    def serve(self, token: str | None = TOKEN) -> LiveServer:
        return LiveServer(self.controller, self.data_dir, token)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    config = make_config(tmp_path)
    data_dir = tmp_path / "data"
    hostile = hostile_article()
    with SQLiteStore.in_data_dir(data_dir) as store:
        for article in [hostile, *plain_articles()]:
            store.upsert(article)
        run = store.start_run("alpha", trigger="schedule")
        store.finish_run(run, "ok", {"fetched": 2, "new": 2})
        run = store.start_run("beta", trigger="manual")
        store.finish_run(run, "failed", error="boom <script>alert('err')</script>")
        build_feeds(config, store, feeds_dir(data_dir))
    # Things that must never be served, next to and above the feed folder.
    (tmp_path / "feedmill.toml").write_text(f"token = '{SECRET}'\n", encoding="utf-8")
    (data_dir / "secret.rss").write_text(SECRET, encoding="utf-8")
    (data_dir / "feedmill.toml").write_text(SECRET, encoding="utf-8")
    return Site(config, data_dir, FakeController(config), hostile)


@pytest.fixture
def server(site: Site) -> Iterator[LiveServer]:
    with site.serve() as live:
        yield live


# --------------------------------------------------------------------------- feeds


def test_feeds_are_served_with_their_content_types_and_bytes(
    site: Site, server: LiveServer
) -> None:
    for name in FEED_NAMES:
        for ext, content_type in FEED_TYPES.items():
            reply = server.get(f"/feeds/{name}.{ext}")
            assert reply.status == 200, (name, ext)
            assert reply.header("Content-Type") == content_type
            assert reply.body == (site.feeds / f"{name}.{ext}").read_bytes()
            assert reply.header("Vary") == "Accept-Encoding"
            assert reply.header("X-Content-Type-Options") == "nosniff"
    parsed = feedparser.parse(server.get("/feeds/alpha.rss").body)
    assert not parsed.bozo
    assert {e.title for e in parsed.entries} == {HOSTILE_TITLE, "Second alpha entry"}


def test_etag_and_if_none_match(server: LiveServer) -> None:
    first = server.get("/feeds/alpha.atom")
    etag = first.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"')  # strong
    assert server.get("/feeds/alpha.atom").header("ETag") == etag

    not_modified = server.get("/feeds/alpha.atom", If_None_Match=etag)
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.header("ETag") == etag
    assert not_modified.header("Cache-Control") == first.header("Cache-Control")
    assert not_modified.header("Last-Modified") == first.header("Last-Modified")

    assert server.get("/feeds/alpha.atom", If_None_Match=f'"nope", {etag}').status == 304
    assert server.get("/feeds/alpha.atom", If_None_Match=f'"a,b",{etag} ').status == 304
    assert server.get("/feeds/alpha.atom", If_None_Match="*").status == 304
    # Strong comparison: a weak tag, another tag or another feed's tag do not match.
    assert server.get("/feeds/alpha.atom", If_None_Match=f"W/{etag}").status == 200
    assert server.get("/feeds/alpha.atom", If_None_Match='"other"').status == 200
    assert server.get("/feeds/alpha.rss", If_None_Match=etag).status == 200
    assert server.get("/feeds/alpha.atom", If_None_Match="garbage").status == 200


def test_if_modified_since(server: LiveServer) -> None:
    first = server.get("/feeds/beta.json")
    last_modified = first.header("Last-Modified")
    assert last_modified and last_modified.endswith("GMT")
    assert server.get("/feeds/beta.json", If_Modified_Since=last_modified).status == 304
    later = formatdate(parsedate_to_datetime(last_modified).timestamp() + 3600, usegmt=True)
    assert server.get("/feeds/beta.json", If_Modified_Since=later).status == 304
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 3600, usegmt=True)
    reply = server.get("/feeds/beta.json", If_Modified_Since=earlier)
    assert reply.status == 200 and reply.body == first.body
    assert server.get("/feeds/beta.json", If_Modified_Since="not a date").status == 200
    # If-None-Match wins: a mismatching tag means 200 even when the date says 304.
    both = server.get("/feeds/beta.json", If_None_Match='"old"', If_Modified_Since=last_modified)
    assert both.status == 200


def test_gzip_when_accepted(server: LiveServer) -> None:
    plain = server.get("/feeds/alpha.rss")
    packed = server.get("/feeds/alpha.rss", Accept_Encoding="br, gzip;q=0.8")
    assert packed.status == 200
    assert packed.header("Content-Encoding") == "gzip"
    assert packed.header("Vary") == "Accept-Encoding"
    assert packed.header("Content-Type") == FEED_TYPES["rss"]
    assert int(packed.header("Content-Length") or 0) == len(packed.body) < len(plain.body)
    assert gzip.decompress(packed.body) == plain.body
    assert packed.header("ETag") != plain.header("ETag")
    # The same version compressed again is the same bytes (precompressed once, cached).
    assert server.get("/feeds/alpha.rss", Accept_Encoding="gzip").body == packed.body
    gz_etag = packed.header("ETag") or ""
    revalidated = server.get("/feeds/alpha.rss", Accept_Encoding="gzip", If_None_Match=gz_etag)
    assert revalidated.status == 304 and revalidated.header("ETag") == gz_etag
    for refused in ("gzip;q=0", "identity", "br", ""):
        reply = server.get("/feeds/alpha.rss", Accept_Encoding=refused)
        assert reply.header("Content-Encoding") is None, refused
        assert reply.body == plain.body
    assert server.get("/feeds/alpha.rss", Accept_Encoding="*").header("Content-Encoding") == "gzip"


def test_head_has_the_headers_and_no_body(server: LiveServer) -> None:
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        get = server.request("GET", "/feeds/all.atom", headers)
        head = server.request("HEAD", "/feeds/all.atom", headers)
        assert head.status == 200 and head.body == b""
        for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary"):
            assert head.header(name) == get.header(name), name
        assert head.header("Content-Encoding") == get.header("Content-Encoding")
        assert head.header("Content-Length") == str(len(get.body))
    assert server.request("HEAD", "/feeds/nosuch.rss").status == 404


def test_cache_control_follows_the_schedule(site: Site, server: LiveServer) -> None:
    expected = {"alpha": 900, "beta": 150, "gamma": 3600, "all": 150}
    for name, seconds in expected.items():
        reply = server.get(f"/feeds/{name}.rss")
        assert reply.header("Cache-Control") == f"public, max-age={seconds}"
    config = parse_config(
        {
            "sources": {
                "fast": {"kind": "files", "path": "f", "every": "30s"},
                "slow": {"kind": "files", "path": "s", "every": "1d"},
                "daily": {"kind": "files", "path": "d", "cron": "0 6 * * *"},
            }
        },
        site.data_dir / "x.toml",
    )
    assert cache_seconds(config, "fast") == 60
    assert cache_seconds(config, "slow") == 3600
    assert cache_seconds(config, "daily") == 3600
    assert cache_seconds(config, "all") == 60


def test_a_changed_file_gets_a_new_etag(site: Site, server: LiveServer) -> None:
    old = server.get("/feeds/gamma.json")
    path = site.feeds / "gamma.json"
    new_bytes = old.body.replace(b'"items":[]', b'"items":[ ]')
    assert new_bytes != old.body
    tmp = path.with_name(".gamma.json.tmp")
    tmp.write_bytes(new_bytes)
    os.replace(tmp, path)
    fresh = server.get("/feeds/gamma.json", If_None_Match=old.header("ETag") or "")
    assert fresh.status == 200
    assert fresh.body == new_bytes
    assert fresh.header("ETag") != old.header("ETag")


def test_a_missing_feed_is_built_from_the_store(site: Site, server: LiveServer) -> None:
    for name in ("alpha.rss", "all.json"):
        (site.feeds / name).unlink()
        reply = server.get(f"/feeds/{name}")
        assert reply.status == 200
        assert (site.feeds / name).read_bytes() == reply.body
    assert b"Second alpha entry" in server.get("/feeds/alpha.rss").body


def test_unknown_feeds_are_404(site: Site, server: LiveServer) -> None:
    for path in (
        "/feeds/nosuch.rss",
        "/feeds/alpha.xml",
        "/feeds/ALPHA.rss",
        "/feeds/alpha",
        "/feeds/alpha.rss.tmp",
        "/feeds/.alpha.rss",
        "/feeds/",
        "/feeds",
    ):
        reply = server.get(path)
        assert reply.status == 404, path
        assert reply.json() == {"error": "no such feed"} or reply.json()["error"]
    assert not (site.feeds / "nosuch.rss").exists()


TRAVERSALS = [
    "/feeds/../feedmill.toml",
    "/feeds/../../feedmill.toml",
    "/feeds/..%2ffeedmill.toml",
    "/feeds/..%2Fsecret.rss",
    "/feeds/%2e%2e%2fsecret.rss",
    "/feeds/%2e%2e/secret.rss",
    "/feeds/%2E%2E%2F%2E%2E%2Ffeedmill.toml",
    "/feeds/%252e%252e%252fsecret.rss",
    "/feeds/%25252e%25252e%25252fsecret.rss",
    "/feeds/..\\secret.rss",
    "/feeds/..%5csecret.rss",
    "/feeds/%2e%2e%5c%2e%2e%5cfeedmill.toml",
    "/feeds//etc/passwd",
    "/feeds/%2fetc%2fpasswd",
    "/feeds/....//secret.rss",
    "/feeds/alpha.rss%00",
    "/feeds/alpha.rss%00.txt",
    "/feeds/alpha.rss%0a",
    "/feeds/alpha.rss/..%2f..%2fsecret.rss",
    "/feeds/%c0%ae%c0%ae%c0%afsecret.rss",
    "/static/../feedmill.toml",
    "/static/..%2ffeedmill.toml",
    "/static/%2e%2e%2f%2e%2e%2fserver.py",
    "/static/..%5cserver.py",
    "/articles/..%2f..%2ffeedmill.toml",
    "/articles/../secret.rss",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_never_leaves_the_feed_folder(server: LiveServer, path: str) -> None:
    reply = server.get(path)
    assert reply.status == 404, (path, reply.status, reply.body[:200])
    assert SECRET.encode() not in reply.body
    assert b"import" not in reply.body  # not a Python source file either


def test_traversal_bytes_sent_raw(server: LiveServer) -> None:
    for target in (b"/feeds/../secret.rss", b"/feeds/..\\..\\feedmill.toml", b"/feeds/.%2e/x.rss"):
        response = server.raw(
            b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        status = response.split(b"\r\n", 1)[0]
        assert status.startswith(b"HTTP/1.1 404"), (target, status)
        assert SECRET.encode() not in response


# --------------------------------------------------------------------------- pages


def test_article_page_is_escaped_and_sanitised(site: Site, server: LiveServer) -> None:
    reply = server.get(f"/articles/{site.hostile.id}")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.header("Content-Security-Policy") == CSP
    assert reply.header("X-Content-Type-Options") == "nosniff"
    page = reply.text
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 雪域新闻" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;、李四 · 新华社 · 中国西藏网" in page
    assert "javascript" not in page.lower()
    assert "onclick" not in page and "onerror" not in page and "onmouseover" not in page
    assert "<iframe" not in page
    assert 'href="https://good.example/page"' in page
    assert 'href="https://related.example/story"' in page
    assert "相关 &lt;em&gt;报道&lt;/em&gt;" in page
    assert "恶意相关" in page  # kept as text, without its link
    assert "版权声明：&lt;b&gt;本网站&lt;/b&gt;所有" in page
    assert '<html lang="zh-CN">' in page
    assert "2022-12-09 10:30 +0800" in page
    tree = etree.HTML(reply.body)
    assert tree.xpath("//h1")[0].text == HOSTILE_TITLE
    assert not tree.xpath("//script | //@*[starts-with(name(), 'on')]")


def test_article_page_etag_and_404s(site: Site, server: LiveServer) -> None:
    second = article_id("alpha", "second.txt")
    reply = server.get(f"/articles/{second}")
    assert reply.status == 200
    assert 'href="https://alpha.example/2"' in reply.text  # link to the source URL
    etag = reply.header("ETag") or ""
    assert server.get(f"/articles/{second}", If_None_Match=etag).status == 304
    for path in (
        "/articles/00000000-0000-0000-0000-000000000000",
        f"/articles/{second.upper()}",
        f"/articles/{second}x",
        "/articles/not-a-uuid",
        "/articles/1",
        "/articles/",
    ):
        missing = server.get(path)
        assert missing.status == 404, path
        assert "error" in missing.json()


def test_opml_lists_every_feed(site: Site, server: LiveServer) -> None:
    reply = server.get("/opml")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/x-opml; charset=utf-8"
    root = etree.fromstring(reply.body)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == HOSTILE_SERVICE_TITLE
    outlines = root.findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        f"http://feeds.example:8080/feeds/{name}.rss" for name in FEED_NAMES
    ]
    assert all(o.get("type") == "rss" for o in outlines)
    assert outlines[0].get("title") == site.config.sources["alpha"].title
    assert outlines[0].get("htmlUrl") == "http://alpha.example/"
    assert outlines[1].get("htmlUrl") == "http://feeds.example:8080/"
    assert outlines[3].get("title") == HOSTILE_SERVICE_TITLE
    assert server.get("/opml", If_None_Match=reply.header("ETag") or "").status == 304


def test_dashboard(site: Site, server: LiveServer) -> None:
    reply = server.get("/")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.header("Content-Security-Policy") == CSP
    assert reply.header("X-Content-Type-Options") == "nosniff"
    page = reply.text
    assert "<script" not in page.lower()
    assert "Feeds &lt;script&gt;alert(&#x27;cfg&#x27;)&lt;/script&gt; &amp; co" in page
    assert "Alpha &lt;b&gt;&quot;bold&quot;&lt;/b&gt;" in page
    assert "boom &lt;script&gt;" in page  # the failed run's error, escaped
    tree = etree.HTML(reply.body)
    alternates = {
        (link.get("type"), link.get("href"))
        for link in tree.xpath("/html/head/link[@rel='alternate']")
    }
    types = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
    types["json"] = "application/feed+json"
    assert alternates == {
        (types[ext], f"http://feeds.example:8080/feeds/{name}.{ext}")
        for name in FEED_NAMES
        for ext in types
    }
    titles = tree.xpath("/html/head/link[@rel='alternate']/@title")
    assert f"{HOSTILE_SERVICE_TITLE} (RSS)" in titles
    assert tree.xpath("//a[@href='http://feeds.example:8080/opml']")
    forms = tree.xpath("//form[@method='post']")
    assert [f.get("action") for f in forms] == [f"/sources/{n}/run" for n in site.config.sources]
    assert all(f.xpath(".//input[@type='password'][@name='token']") for f in forms)
    row = {name: tree.xpath(f"//tr[@id='source-{name}']")[0] for name in site.config.sources}
    assert row["alpha"].xpath(".//span[contains(@class, 'status ok')]")
    assert row["beta"].xpath(".//span[contains(@class, 'status running')]")
    assert row["gamma"].xpath(".//span[text()='never run']")
    assert "2 new" in etree.tostring(row["alpha"], encoding="unicode")
    assert row["alpha"].xpath(".//time[@datetime='2030-01-01T12:00:00+00:00']")


def test_dashboard_run_form(site: Site, server: LiveServer) -> None:
    def submit(name: str, token: str) -> str:
        reply = server.request(
            "POST",
            f"/sources/{name}/run",
            {"Content-Type": "application/x-www-form-urlencoded"},
            urlencode({"token": token}).encode(),
        )
        assert reply.status == 303
        location = reply.header("Location") or ""
        assert location.startswith("/?")
        return server.get(location).text

    assert "Started run 4242 of alpha." in submit("alpha", TOKEN)
    assert "beta is already running" in submit("beta", TOKEN)
    assert "There is no such source." in submit("nosuch", TOKEN)
    assert "Wrong or missing token." in submit("alpha", "guess")
    assert site.controller.calls == ["alpha", "beta"]
    # The flash comes from a fixed list; crafted query strings cannot inject text.
    crafted = server.get("/?" + urlencode({"flash": "<script>x</script>", "source": "a"})).text
    assert "<script>x" not in crafted and "&lt;script&gt;x" not in crafted
    forged = server.get("/?" + urlencode({"flash": "started", "source": "<b>", "run": "<i>"}))
    assert "Started run ? of the source." in forged.text


def test_dashboard_run_form_without_token_configured(site: Site) -> None:
    with site.serve(token=None) as live:
        page = live.get("/").text
        assert "disabled" in page and 'type="password"' not in page
        reply = live.request(
            "POST",
            "/sources/alpha/run",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"token=",
        )
        assert reply.status == 303
        assert "disabled: set FEEDMILL_TOKEN" in live.get(reply.header("Location") or "").text
    assert site.controller.calls == []


# --------------------------------------------------------------------------- API


def test_healthz(server: LiveServer) -> None:
    reply = server.get("/healthz")
    assert reply.status == 200
    assert reply.json() == {
        "status": "ok",
        "scheduler": {"state": "running", "jobs": 2},
        "sources": 3,
    }


def test_api_sources(server: LiveServer) -> None:
    sources = server.get("/api/sources").json()
    assert [s["name"] for s in sources] == ["alpha", "beta", "gamma"]
    keys = {"name", "kind", "title", "schedule", "next_run", "running", "last_run", "articles"}
    assert all(keys | {"feeds"} <= set(s) for s in sources)
    alpha, beta, gamma = sources
    assert alpha["kind"] == "files" and alpha["schedule"] == "every 1h"
    assert alpha["next_run"] == "2030-01-01T12:00:00+00:00"
    assert alpha["running"] is False and beta["running"] is True
    assert alpha["articles"] == 2 and beta["articles"] == 1 and gamma["articles"] == 0
    assert alpha["last_run"]["outcome"] == "ok"
    assert alpha["last_run"]["counts"] == {
        "fetched": 2,
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert {"id", "outcome", "started", "finished", "counts", "error"} <= set(alpha["last_run"])
    assert beta["last_run"]["outcome"] == "failed"
    assert beta["last_run"]["error"].startswith("boom")
    assert beta["schedule"] == "cron */10 * * * *"
    assert gamma["last_run"] is None and gamma["schedule"] == "on demand"
    assert alpha["feeds"] == {
        ext: f"http://feeds.example:8080/feeds/alpha.{ext}" for ext in ("rss", "atom", "json")
    }


def test_api_runs(server: LiveServer) -> None:
    runs = server.get("/api/runs").json()
    assert [r["source"] for r in runs] == ["beta", "alpha"]  # newest first
    assert runs[0]["outcome"] == "failed" and runs[1]["counts"]["new"] == 2
    only = server.get("/api/runs?source=alpha&limit=5").json()
    assert [r["source"] for r in only] == ["alpha"]
    assert len(server.get("/api/runs?limit=1").json()) == 1
    assert server.get("/api/runs?source=nosuch").status == 404
    for bad in ("abc", "0", "-1", "100000", "%C2%B2", "1.5"):
        assert server.get(f"/api/runs?limit={bad}").status == 400


def test_run_api_is_disabled_without_a_token(site: Site) -> None:
    with site.serve(token=None) as live:
        for headers in ({}, {"Authorization": "Bearer anything"}):
            reply = live.request("POST", "/api/sources/alpha/run", headers)
            assert reply.status == 403
            assert reply.json() == {"error": "disabled: set FEEDMILL_TOKEN"}
    with site.serve(token="") as live:
        assert live.request("POST", "/api/sources/alpha/run").status == 403
    assert site.controller.calls == []


def test_run_api_with_a_token(site: Site, server: LiveServer) -> None:
    def post(name: str, authorization: str | None) -> Reply:
        headers = {"Authorization": authorization} if authorization is not None else {}
        return server.request("POST", f"/api/sources/{name}/run", headers)

    for authorization in (None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
        reply = post("alpha", authorization)
        assert reply.status == 401, authorization
        assert (reply.header("WWW-Authenticate") or "").startswith("Bearer")
        assert "error" in reply.json()
    assert site.controller.calls == []

    started = post("alpha", f"Bearer {TOKEN}")
    assert started.status == 202
    assert started.json() == {"run_id": 4242, "source": "alpha"}
    assert post("alpha", f"bearer {TOKEN}").status == 202  # the scheme is case-insensitive
    busy = post("beta", f"Bearer {TOKEN}")
    assert busy.status == 409 and busy.json()["run_id"] == 7
    assert post("nosuch", f"Bearer {TOKEN}").status == 404
    assert post("..%2falpha", f"Bearer {TOKEN}").status == 404
    assert site.controller.calls == ["alpha", "alpha", "beta"]
    assert server.get("/api/sources/alpha/run").status == 405


# --------------------------------------------------------------------------- limits, errors


def test_oversized_requests_are_refused(server: LiveServer) -> None:
    big_header = server.request("GET", "/healthz", {"X-Big": "a" * 10_000})
    assert 400 <= big_header.status < 500
    long_line = server.get("/feeds/" + "a" * 10_000 + ".rss")
    assert 400 <= long_line.status < 500
    body = urlencode({"token": "x" * 70_000}).encode()
    too_big = server.request(
        "POST",
        "/sources/alpha/run",
        {"Content-Type": "application/x-www-form-urlencoded"},
        body,
    )
    assert too_big.status == 413
    assert server.get("/healthz").status == 200  # still serving


def test_unknown_paths_and_methods(server: LiveServer) -> None:
    for path in ("/nope", "/feeds.rss", "/api", "/static/", "/static/server.py", "/favicon.ico"):
        reply = server.get(path)
        assert reply.status == 404, path
        assert reply.json() == {"error": "not found"} or "error" in reply.json()
    wrong = server.request("DELETE", "/feeds/alpha.rss")
    assert wrong.status == 405 and "GET" in (wrong.header("Allow") or "")
    assert wrong.json() == {"error": "method not allowed"}


def test_errors_are_short_and_logged(
    site: Site, server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="feeds.server")
    assert server.get("/feeds/alpha.rss").status == 200
    site.controller.health_error = RuntimeError("kaboom in the scheduler")
    reply = server.get("/healthz")
    assert reply.status == 500
    assert reply.json() == {"error": "internal error"}
    assert b"kaboom" not in reply.body and b"Traceback" not in reply.body
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info and "kaboom" in str(errors[0].exc_info[1])
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("GET /feeds/alpha.rss -> 200" in m for m in debug)
    assert any("GET /healthz -> 500" in m for m in debug)


def test_start_server_reports_a_taken_port(site: Site) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        async def attempt() -> None:
            app = make_app(site.controller, site.data_dir, token=None)
            await start_server(app, "127.0.0.1", port)

        with pytest.raises(OSError) as caught:
            asyncio.run(attempt())
    assert caught.value.errno == errno.EADDRINUSE
    assert f"cannot listen on 127.0.0.1:{port}" in str(caught.value)
    assert "in use" in str(caught.value)


# --------------------------------------------------------------------------- stylesheet


def test_static_stylesheet(server: LiveServer) -> None:
    reply = server.get("/static/feed.xsl")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/xsl; charset=utf-8"
    assert reply.header("ETag")
    assert etree.XSLT(etree.fromstring(reply.body)) is not None
    assert server.get("/static/feed.xsl", If_None_Match=reply.header("ETag") or "").status == 304


def transform(site: Site, name: str) -> etree._XSLTResultTree:
    xslt = etree.XSLT(etree.parse(str(Path(__file__).parent.parent / "feeds/static/feed.xsl")))
    return xslt(etree.parse(str(site.feeds / name)))


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xsl_renders_feeds_as_html(site: Site, fmt: str) -> None:
    result = transform(site, f"alpha.{fmt}")
    page = str(result)
    assert page.startswith("<!DOCTYPE html")
    root = result.getroot()
    assert root.tag == "html" and root.get("lang") == "zh-CN"
    assert root.findtext("head/title").startswith("Alpha")
    titles = [a.text for a in root.iterfind(".//ol[@class='entries']/li/h2/a")]
    assert titles == [HOSTILE_TITLE, "Second alpha entry"]
    links = root.xpath("//ol[@class='entries']/li/h2/a/@href")
    assert links == [
        f"http://feeds.example:8080/articles/{site.hostile.id}",
        "https://alpha.example/2",
    ]
    assert "copy its URL" in page and f"http://feeds.example:8080/feeds/alpha.{fmt}" in page
    assert "2022-12-09" in page or "09 Dec 2022" in page
    assert "&lt;script&gt;alert(1)" in page
    assert not root.xpath("//script")
    summaries = [p.text.strip() for p in root.iterfind(".//p[@class='summary']")]
    assert summaries == ["摘要 <b>不是标签</b>", "The second one."]  # text, shown as written


def test_xsl_renders_the_combined_and_an_empty_feed(site: Site) -> None:
    everything = transform(site, "all.atom").getroot()
    assert len(everything.xpath("//ol[@class='entries']/li")) == 3
    empty = transform(site, "gamma.rss").getroot()
    assert empty.xpath("//ol[@class='entries']") and not empty.xpath("//li")
    assert empty.findtext("body/h1/a") == "Gamma (on demand)"


def test_with_stylesheet(site: Site) -> None:
    for name in ("alpha.rss", "alpha.atom"):
        original = (site.feeds / name).read_bytes()
        styled = with_stylesheet(original, STYLESHEET_HREF)
        assert styled.startswith(
            b"<?xml version='1.0' encoding='UTF-8'?>\n"
            b'<?xml-stylesheet type="text/xsl" href="/static/feed.xsl"?>\n<'
        )
        assert with_stylesheet(styled, STYLESHEET_HREF) == styled  # idempotent
        tree = etree.fromstring(styled).getroottree()
        pi = tree.getroot().getprevious()
        assert isinstance(pi, etree._XSLTProcessingInstruction)
        assert pi.get("href") == "/static/feed.xsl" and pi.get("type") == "text/xsl"
        assert etree.tostring(tree.getroot()) == etree.tostring(etree.fromstring(original))
        parsed = feedparser.parse(styled)
        assert not parsed.bozo and len(parsed.entries) == 2
    assert with_stylesheet(b"<rss/>", "/s.xsl?a=1&b=2") == (
        b'<?xml-stylesheet type="text/xsl" href="/s.xsl?a=1&amp;b=2"?>\n<rss/>'
    )
    with pytest.raises(ValueError):
        with_stylesheet(b"<rss/>", 'x"?><evil/>')


# --------------------------------------------------------------------------- helpers


def test_sanitize_html() -> None:
    dirty = (
        '<p onclick="x()">a<script>bad()</script>b</p>'
        '<a href="  java\tscript:alert(1)">j</a><a href="vbscript:x">v</a>'
        '<a href="data:text/html,<b>x</b>">d</a><a href="/rel">r</a>'
        '<img src="data:image/png;base64,AAAA" srcset="javascript:x 1x">'
        '<img src="data:image/svg+xml,<svg onload=alert(1)>">'
        "<svg><script>alert(1)</script></svg><style>p{}</style>"
        '<form action="https://evil.example/"><input name=x></form><!-- c -->tail'
    )
    clean = sanitize_html(dirty)
    tree = etree.HTML(clean)
    assert not tree.xpath("//script | //style | //svg | //form | //input | //comment()")
    assert not tree.xpath("//@*[starts-with(name(), 'on')]")
    assert tree.xpath("//a/@href") == ["/rel"]
    assert tree.xpath("//img/@src") == ["data:image/png;base64,AAAA"]
    assert not tree.xpath("//@srcset")
    assert "ab" in clean and "tail" in clean
    assert sanitize_html("   ") == '<div class="body"></div>'


def test_header_parsing_helpers() -> None:
    tags = ('"a"', '"b-gz"')
    assert _if_none_match('"a"', tags) == '"a"'
    assert _if_none_match(' "x" , "b-gz"', tags) == '"b-gz"'
    assert _if_none_match('"x,y", "a"', tags) == '"a"'
    assert _if_none_match("*", tags) == "*"
    assert _if_none_match('W/"a"', tags) is None
    assert _if_none_match('"a', tags) is None
    assert _if_none_match("", tags) is None
    assert _accepts_gzip("gzip")
    assert _accepts_gzip("deflate, GZIP;q=0.5")
    assert _accepts_gzip("x-gzip")
    assert _accepts_gzip("*;q=0.1")
    assert not _accepts_gzip("gzip;q=0")
    assert not _accepts_gzip("gzip;q=0, *")
    assert not _accepts_gzip("identity, *;q=0")
    assert not _accepts_gzip("")
    assert not _accepts_gzip("br")
