"""Feed options: include/exclude filters, named combined feeds, WebSub hub pings."""

from __future__ import annotations

import threading
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest

from feeds.article import Article, article_id
from feeds.build import build_feeds, notify_hub
from feeds.config import parse_config
from feeds.errors import ConfigError
from feeds.store import SQLiteStore

SHANGHAI = ZoneInfo("Asia/Shanghai")


def config_for(tmp_path: Path, extra: str = "", hub: str = ""):
    import tomllib

    text = f"""
[service]
base_url = "http://127.0.0.1:8080"
{f'hub = "{hub}"' if hub else ""}

[sources.a]
kind = "files"
path = "a"
exclude = {{ title = "广告" }}

[sources.b]
kind = "files"
path = "b"
include = {{ body = "青年|youth", author = "^张" }}
{extra}
"""
    return parse_config(tomllib.loads(text), tmp_path / "feedmill.toml")


def add(store: SQLiteStore, source: str, key: str, title: str, body: str, author: str, day: int):
    article = Article(
        source=source,
        key=key,
        title=title,
        body_text=body,
        authors=[author],
        published=datetime(2023, 1, day, tzinfo=SHANGHAI),
    )
    article.id = article_id(source, key)
    store.upsert(article)


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore.in_data_dir(tmp_path / "var") as opened:
        add(opened, "a", "1", "新闻一", "正文", "李四", 1)
        add(opened, "a", "2", "广告:促销", "买", "李四", 2)
        add(opened, "b", "3", "青年节", "青年志愿者", "王五", 3)
        add(opened, "b", "4", "另一篇", "无关", "张三", 4)
        add(opened, "b", "5", "第三篇", "无关", "王五", 5)
        yield opened


def titles(path: Path) -> list[str]:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo
    return [entry.title for entry in parsed.entries]


def test_exclude_and_include_filters_shape_a_source_feed(tmp_path: Path, store) -> None:
    config = config_for(tmp_path)
    build_feeds(config, store, tmp_path / "feeds")
    assert titles(tmp_path / "feeds" / "a.rss") == ["新闻一"]
    assert titles(tmp_path / "feeds" / "b.rss") == ["另一篇", "青年节"]  # body or author match
    assert len(titles(tmp_path / "feeds" / "all.rss")) == 5  # the combined feed is unfiltered


def test_named_feed_combines_chosen_sources(tmp_path: Path, store) -> None:
    config = config_for(
        tmp_path,
        '[feeds.youth]\nsources = ["a", "b"]\ntitle = "青年"\ninclude = { title = "青年|新闻" }\n',
    )
    written = build_feeds(config, store, tmp_path / "feeds", ["a"])
    assert {f.name for f in written} == {"a", "youth"}  # rewritten with its source
    assert titles(tmp_path / "feeds" / "youth.atom") == ["青年节", "新闻一"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[feeds.x]\nsources = ["nope"]\n', "no source named 'nope'"),
        ('[feeds.a]\nsources = ["a"]\n', "clash"),
        ('[feeds.x]\nsources = ["a"]\ninclude = { colour = "x" }\n', "include.colour"),
        ('[feeds.x]\nsources = ["a"]\nexclude = { title = "(" }\n', "invalid regular expression"),
    ],
)
def test_bad_feed_options_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_for(tmp_path, extra)


class Hub:
    """A WebSub hub that records publish pings."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hub.pings.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"


def test_websub_hub_is_linked_and_pinged_only_for_changed_feeds(tmp_path: Path, store) -> None:
    hub = Hub()
    try:
        config = config_for(tmp_path, hub=hub.url)
        written = build_feeds(config, store, tmp_path / "feeds", ["a"])
        assert notify_hub(config, written) == 3
        assert sorted(p["hub.url"][0] for p in hub.pings) == [
            "http://127.0.0.1:8080/feeds/a.atom",
            "http://127.0.0.1:8080/feeds/a.json",
            "http://127.0.0.1:8080/feeds/a.rss",
        ]
        assert all(p["hub.mode"] == ["publish"] for p in hub.pings)
        rss = (tmp_path / "feeds" / "a.rss").read_text(encoding="utf-8")
        atom = (tmp_path / "feeds" / "a.atom").read_text(encoding="utf-8")
        assert f'href="{hub.url}"' in rss and 'rel="hub"' in rss
        assert f'href="{hub.url}"' in atom and 'rel="hub"' in atom
        again = build_feeds(config, store, tmp_path / "feeds", ["a"])
        assert notify_hub(config, again) == 0  # nothing changed, nobody pinged
        assert len(hub.pings) == 3
    finally:
        hub.server.shutdown()
        hub.server.server_close()


def test_unreachable_hub_is_a_warning_not_an_error(tmp_path: Path, store, caplog) -> None:
    config = config_for(tmp_path, hub="http://127.0.0.1:9/hub")
    written = build_feeds(config, store, tmp_path / "feeds", ["a"])
    assert notify_hub(config, written) == 0
    assert "cannot publish" in caplog.text
