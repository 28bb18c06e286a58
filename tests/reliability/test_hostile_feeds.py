"""Hostile upstream feeds (issue 6, "Bad input: web"): malformed feeds, external
entities (XXE), entity expansion ("billion laughs", quadratic blow-up), gzip bombs,
deeply nested JSON and oversized feeds, each the URL of a ``feed`` source, all crawled
by one real crawl child against a local server.

No entity is ever resolved or expanded: a planted secret file and /etc/passwd never
reach the store or the feeds, no external DTD is fetched, the laughs stay unexpanded
and the child's peak memory stays bounded. Each refused feed gives a log line naming
its URL and the reason, the good source beside them is stored, the feeds stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from badinput_support import (
    RSS_LIMIT_BYTES,
    CrawlResult,
    HostileServer,
    all_text,
    articles,
    crawl_child,
    feed_ids,
    gzip_bomb,
    page,
    send,
)

SECRET = "PLANTED-SECRET-b71f0e-NEVER-PUBLISH"
PASSWD = "root:x:0:0"
RSS_TYPE = "application/rss+xml"


def rss(items: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>上游</title><link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


def item(n: int | str, title: str, body: str) -> str:
    return (
        f"<item><title>{title}</title><link>http://example.org/{n}.html</link>"
        f"<guid>http://example.org/{n}.html</guid><pubDate>Tue, 10 Dec 2024 08:00:00 +0800"
        f"</pubDate><description>{body}</description></item>"
    )


def laughs(levels: int = 9) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels + 1):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return f"<!DOCTYPE rss [{''.join(entities)}]>"


def feeds(server: HostileServer, secret_file: Path) -> dict[str, tuple[bytes, str, str]]:
    """Source name -> (the feed's bytes, its path, what the log must say of it; "" when
    the feed may be read, without its entities)."""
    dtd = server.url("/evil.dtd")
    quadratic = '<!DOCTYPE rss [<!ENTITY big "' + "x" * 50_000 + '">]>'
    many = "".join(item(n, f"第{n}条", "正文。") for n in range(20_000))
    return {
        "good": (rss(item(1, "正常条目", "正常的正文。") + item(2, "第二条", "第二段。")), "", ""),
        "malformed": (b"<rss><channel><item><title>\xff\xfe<<<&&&", "", "skipped"),
        "htmlpage": (b"<html><body><p>a web page</p></body></html>", "", "not a feed"),
        "emptyfeed": (b"", "", "empty"),
        "xxe": (
            rss(
                item(3, "外部实体 &passwd;", "密码文件:&passwd; 秘密:&secret;"),
                f'<!DOCTYPE rss [<!ENTITY passwd SYSTEM "file:///etc/passwd">'
                f'<!ENTITY secret SYSTEM "file://{secret_file}">]>',
            ),
            "",
            "",
        ),
        "xxeparam": (
            rss(
                item(4, "参数实体", "&exfil;"),
                f'<!DOCTYPE rss SYSTEM "{dtd}" [<!ENTITY % remote SYSTEM "{dtd}">%remote;'
                f'<!ENTITY % file SYSTEM "file://{secret_file}">]>',
            ),
            "",
            "",
        ),
        "laughs": (rss(item(5, "笑声 &lol9;", "&lol9;"), laughs()), "", ""),
        "quadratic": (
            rss(item(6, "二次膨胀", "&big;" * 50_000), quadratic),
            "",
            "",
        ),
        "gzbomb": (gzip_bomb(1 << 30), "/feeds/gzbomb.xml.gz", "expands beyond"),
        "encbomb": (gzip_bomb(1 << 30), "/feeds/encbomb.xml", "DOWNLOAD_MAXSIZE"),
        "deepjson": (b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 200_000
                     + b"]" * 200_000 + b"}", "/feeds/deep.json", "nested too deeply"),
        "manyitems": (rss(many), "", "more entries than feedmill reads"),
        "gone": (b"gone", "", "not fetched: HTTP 404"),
        "broken": (b"boom", "", "not fetched: HTTP 500"),
    }  # fmt: skip


CONFIG_SOURCE = """
[sources.{name}]
kind = "feed"
url = "{url}"
full_text = false
max_articles = 20
timezone = "Asia/Shanghai"
"""


@dataclass
class Outcome:
    project: Path
    server: HostileServer
    urls: dict[str, str]
    reasons: dict[str, str]
    crawl: CrawlResult


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    project = tmp_path_factory.mktemp("hostile-feeds")
    secret_file = project / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    with HostileServer() as server:
        config = '[service]\nbase_url = "http://127.0.0.1:8080"\n'
        urls, reasons = {}, {}
        for name, (body, path, reason) in feeds(server, secret_file).items():
            path = path or f"/feeds/{name}.xml"
            headers = {"Content-Encoding": "gzip"} if name == "encbomb" else None
            kind = "application/gzip" if path.endswith(".gz") else RSS_TYPE
            status = {"gone": 404, "broken": 500}.get(name, 200)
            server.routes[path] = lambda h, b=body, k=kind, e=headers, c=status: send(
                h, c, b, content_type=k, headers=e
            )
            urls[name], reasons[name] = server.url(path), reason
            config += CONFIG_SOURCE.format(name=name, url=urls[name])
        server.routes["/evil.dtd"] = page(f'<!ENTITY exfil "{SECRET}">'.encode(), content_type=None)
        (project / "feedmill.toml").write_text(config, encoding="utf-8")
        crawl = crawl_child(project, *urls, settings={"RETRY_TIMES": "0"}, timeout=150)
        yield Outcome(project, server, urls, reasons, crawl)


def test_the_crawl_completes_with_bounded_memory(outcome: Outcome) -> None:
    crawl = outcome.crawl
    assert crawl.returncode == 0, crawl.log[-4000:]
    assert "Traceback" not in crawl.log and "Spider error" not in crawl.log, crawl.log[-6000:]
    assert crawl.peak_rss < RSS_LIMIT_BYTES, f"peak RSS {crawl.peak_rss / 2**20:.0f} MiB"
    print(f"peak RSS of the crawl child: {crawl.peak_rss / 2**20:.0f} MiB in {crawl.seconds:.1f}s")


@pytest.mark.parametrize(
    "name",
    [
        *("malformed", "htmlpage", "emptyfeed", "gzbomb", "encbomb", "deepjson", "manyitems"),
        *("gone", "broken"),
    ],
)
def test_each_refused_feed_has_a_log_line_with_the_url_and_the_reason(
    outcome: Outcome, name: str
) -> None:
    url, reason = outcome.urls[name], outcome.reasons[name]
    lines = [line for line in outcome.crawl.log.splitlines() if url in line]
    assert any("WARNING" in line and reason in line for line in lines), "\n".join(lines)


def test_no_entity_is_resolved_or_expanded(outcome: Outcome) -> None:
    text = all_text(outcome.project / "var" / "feedmill.sqlite3")
    for marker in (SECRET, PASSWD, "lollollollol", "x" * 60_000):
        assert marker not in text
    for feed in (outcome.project / "var" / "feeds").iterdir():
        data = feed.read_bytes()
        assert SECRET.encode() not in data and PASSWD.encode() not in data
        assert b"lollollollol" not in data
    assert outcome.server.requested("/evil.dtd") == []  # no external DTD fetched


def test_the_good_source_and_readable_entries_are_stored(outcome: Outcome) -> None:
    store = outcome.project / "var" / "feedmill.sqlite3"
    assert [title for _, _, title, _ in articles(store, "good")] == ["正常条目", "第二条"]
    assert len(articles(store, "manyitems")) == 20  # max_articles of the 5,000 read
    for name in ("xxe", "xxeparam", "laughs", "quadratic"):
        rows = articles(store, name)
        lines = [line for line in outcome.crawl.log.splitlines() if f" {name}:" in line]
        # Either read without its entities, or refused with a reason: never expanded.
        assert rows or any("WARNING" in line for line in lines), (name, lines)


@pytest.mark.parametrize("name", ["good", "xxe", "laughs", "manyitems", "all"])
def test_feeds_stay_valid(outcome: Outcome, name: str) -> None:
    feed_ids(outcome.project / "var" / "feeds", name)


def test_feed_json_files_are_json(outcome: Outcome) -> None:
    for feed in (outcome.project / "var" / "feeds").glob("*.json"):
        json.loads(feed.read_bytes())
