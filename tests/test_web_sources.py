"""Web and feed sources end to end: real crawls of the fixture site served on 127.0.0.1.

The site (tests/fixtures/site) has listing pages with pagination, articles in UTF-8 and
GBK, one with JSON-LD, one that needs a site rule, one with related links, one without
text, a robots.txt, an upstream RSS feed and a news sitemap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.article import Article, article_id
from feeds.store import SQLiteStore

from site_server import SiteServer
from support import ROOT, run_feedmill

SHANGHAI = ZoneInfo("Asia/Shanghai")

CONFIG = """
[service]
base_url = "http://127.0.0.1:8080"

[sources.news]
kind = "web"
title = "测试新闻网"
start_urls = ["{base}/index.html"]
article_links = "ul.news-list a"
next_page = "a.next"
max_pages = 3
language = "zh"
script = "simplified"
timezone = "Asia/Shanghai"
{rules}

[sources.upstream]
kind = "feed"
url = "{base}/feed.xml"
language = "zh"
timezone = "Asia/Shanghai"

[sources.map]
kind = "feed"
url = "{base}/sitemap.xml"
timezone = "Asia/Shanghai"

[sources.broken]
kind = "feed"
url = "{base}/broken-feed.xml"
"""

CONFIG_RULES = """
[sources.news.rules]
title = "#story-title"
body = "div.story"
date = "//span[@class='when']"
author = ".who"
strip = [".share"]
"""


@pytest.fixture
def web_project(tmp_path: Path, site: SiteServer) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "feedmill.toml").write_text(
        CONFIG.format(base=site.base, rules=CONFIG_RULES), encoding="utf-8"
    )
    shutil.copy(ROOT / "scrapy.cfg", project / "scrapy.cfg")
    return project


def crawl(project: Path, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl SOURCE`` from the project folder, without AutoThrottle's start delay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMILL_", "SCRAPY_"))}
    args = [sys.executable, "-m", "scrapy", "crawl", source, "-s", "LOG_LEVEL=INFO"]
    args += ["-s", "AUTOTHROTTLE_ENABLED=0", *extra]
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def stored(project: Path, source: str, path: str, site: SiteServer) -> Article | None:
    from crawler.spiders.pages import article_key

    with SQLiteStore(project / "var" / "feedmill.sqlite3") as store:
        return store.get(article_id(source, article_key(site.url(path))))


def test_web_source_stores_articles_from_every_layer(web_project: Path, site: SiteServer) -> None:
    result = crawl(web_project, "news")
    a1 = stored(web_project, "news", "/news/a1.html", site)  # JSON-LD
    assert a1 is not None, result.stderr[-3000:]
    assert a1.title == "2022年全国青少年服务台工作推进会召开"
    assert a1.authors == ["杨宝光"]
    assert a1.published == datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI)
    assert a1.modified is not None
    assert "会议强调" in a1.body_text and "版权所有" not in a1.body_text
    assert a1.image == "https://img.example.org/a1.jpg"
    assert a1.language == "zh-CN"

    a2 = stored(web_project, "news", "/news/a2.html", site)  # GBK declared as gb2312
    assert a2 is not None
    assert a2.title == "高原文化传播有限公司发布年度报告"
    assert "朱镕基" in a2.body_text  # a GBK-only character decoded right
    assert "高原(北京)文化传播有限公司" in a2.body_text
    assert a2.published is not None and a2.published.date().isoformat() == "2023-02-14"

    a3 = stored(web_project, "news", "/news/a3.html#comments", site)  # site rules
    assert a3 is not None
    assert a3.title == "规则抽取测试文章"
    assert a3.authors == ["王五"]
    assert a3.published == datetime(2023, 3, 1, 8, 15, tzinfo=SHANGHAI)
    assert "分享到" not in a3.body_text and "评论" not in a3.body_text
    assert "<script" not in a3.body_html and "onload" not in a3.body_html
    assert f'src="{site.url("/img/photo.jpg")}"' in a3.body_html  # made absolute, kept

    a4 = stored(web_project, "news", "/news/a4.html?from=list", site)  # related links
    assert a4 is not None
    assert a4.authors == ["赵六"]
    assert a4.published == datetime(2023, 5, 4, 9, 0, tzinfo=SHANGHAI)
    related = {link.url: link.title for link in a4.related}
    assert related.get("https://other.example.org/story/9") == "外站的一篇相关报道"


def test_bad_pages_are_logged_and_the_run_completes(web_project: Path, site: SiteServer) -> None:
    result = crawl(web_project, "news")
    log = result.stderr
    assert "a5.html: skipped: no article text" in log
    assert "missing.html: skipped: HTTP 404" in log
    assert not site.requests_for("/private/")  # robots.txt obeyed
    with SQLiteStore(web_project / "var" / "feedmill.sqlite3") as store:
        run = store.runs("news")[0]
        assert store.counts()["news"] == 4
    assert run.outcome == "ok"
    assert (run.new, run.failed) == (4, 2)
    assert site.requests_for("/news/a1.html") == [("/news/a1.html", 200)]  # linked twice


def test_second_run_fetches_no_article_and_gets_304s(web_project: Path, site: SiteServer) -> None:
    crawl(web_project, "news")
    site.clear()
    crawl(web_project, "news")
    assert site.requests_for("/index.html") == [("/index.html", 304)]
    assert site.requests_for("/page2.html") == [("/page2.html", 304)]
    fetched = [path for path, _ in site.requests_for("/news/")]
    # Only pages that failed last time are tried again; stored articles are not.
    assert sorted(fetched) == ["/news/a5.html", "/news/missing.html"]
    with SQLiteStore(web_project / "var" / "feedmill.sqlite3") as store:
        run = store.runs("news")[0]
        assert store.counts()["news"] == 4
    assert run.new == 0


def test_listing_change_brings_only_the_new_article(web_project: Path, site: SiteServer) -> None:
    crawl(web_project, "news")
    index = site.root / "index.html"
    shutil.copy(site.root / "news" / "a4.html", site.root / "news" / "a6.html")
    index.write_text(
        index.read_text(encoding="utf-8").replace(
            '<ul class="news-list">',
            '<ul class="news-list"><li><a href="/news/a6.html">新</a></li>',
        ),
        encoding="utf-8",
    )
    site.clear()
    crawl(web_project, "news")
    assert site.requests_for("/index.html") == [("/index.html", 200)]
    assert ("/news/a6.html", 200) in site.requests_for("/news/")
    assert not [p for p, _ in site.requests_for("/news/") if p.startswith("/news/a1")]


def test_site_rule_file_in_ftr_format_is_applied(web_project: Path, site: SiteServer) -> None:
    config = web_project / "feedmill.toml"
    config.write_text(CONFIG.format(base=site.base, rules=""), encoding="utf-8")
    rules = web_project / "rules"
    rules.mkdir()
    (rules / "127.0.0.1.txt").write_text(
        "# test site\n"
        "title: //div[@id='story-title']\n"
        "body: //div[@class='story']\n"
        "date: //span[@class='when']\n"
        "author: //span[@class='who']\n"
        "strip_id_or_class: share\n"
        "prune: no\n"
        "test_url: http://127.0.0.1/news/a3.html\n",
        encoding="utf-8",
    )
    crawl(web_project, "news")
    a3 = stored(web_project, "news", "/news/a3.html", site)
    assert a3 is not None
    assert a3.title == "规则抽取测试文章"
    assert a3.authors == ["王五"]
    assert "分享到" not in a3.body_text and "评论" not in a3.body_text


def test_reextract_after_a_rule_change_needs_no_requests(
    web_project: Path, site: SiteServer
) -> None:
    config = web_project / "feedmill.toml"
    config.write_text(CONFIG.format(base=site.base, rules=""), encoding="utf-8")
    crawl(web_project, "news")
    before = stored(web_project, "news", "/news/a3.html", site)
    assert before is not None and before.title != "规则抽取测试文章"
    config.write_text(CONFIG.format(base=site.base, rules=CONFIG_RULES), encoding="utf-8")
    site.clear()
    result = run_feedmill(web_project, "reextract", "news")
    assert result.returncode == 0, result.stderr[-3000:]
    assert site.log == []  # not one request
    after = stored(web_project, "news", "/news/a3.html", site)
    assert after is not None and after.title == "规则抽取测试文章"
    assert after.id == before.id and after.first_seen == before.first_seen
    row = result.stdout.splitlines()[1].split()
    assert row[:3] == ["news", "web", "ok"] and int(row[5]) >= 1  # updated


def test_feed_source_fetches_full_text_and_falls_back_to_the_entry(
    web_project: Path, site: SiteServer
) -> None:
    result = crawl(web_project, "upstream")
    a1 = stored(web_project, "upstream", "/news/a1.html", site)
    assert a1 is not None, result.stderr[-3000:]
    assert "会议强调" in a1.body_text  # the page's full text, not the feed's summary
    gone = stored(web_project, "upstream", "/news/gone.html", site)
    assert gone is not None
    assert gone.body_text == "原网页已经删除,但订阅里有全文。\n第二段正文。"
    assert gone.authors == ["孙八"]
    assert gone.published == datetime(2022, 12, 10, 8, 0, tzinfo=SHANGHAI)
    assert "gone.html: HTTP 404; using the feed entry's content" in result.stderr
    site.clear()
    crawl(web_project, "upstream")
    assert site.requests_for("/feed.xml") == [("/feed.xml", 304)]
    assert site.requests_for("/news/") == []


def test_news_sitemap_source(web_project: Path, site: SiteServer) -> None:
    crawl(web_project, "map")
    a4 = stored(web_project, "map", "/news/a4.html?from=list", site)
    a2 = stored(web_project, "map", "/news/a2.html", site)
    assert a4 is not None and a2 is not None
    assert a4.title == "相关阅读测试文章"
    assert "朱镕基" in a2.body_text


def test_malformed_feed_is_a_clear_log_line(web_project: Path, site: SiteServer) -> None:
    result = crawl(web_project, "broken")
    assert "broken-feed.xml" in result.stderr
    assert "not a feed" in result.stderr
    with SQLiteStore(web_project / "var" / "feedmill.sqlite3") as store:
        run = store.runs("broken")[0]
    assert run.outcome == "ok" and run.failed == 1 and run.new == 0


def test_feedmill_crawl_of_a_web_source_writes_its_feeds(web_project: Path) -> None:
    result = run_feedmill(web_project, "crawl", "news")
    assert result.returncode == 0, result.stderr[-3000:]
    row = result.stdout.splitlines()[1].split()
    assert row[:5] == ["news", "web", "ok", "6", "4"]  # 5 pages read + one 404
    import feedparser

    parsed = feedparser.parse((web_project / "var" / "feeds" / "news.atom").read_bytes())
    assert not parsed.bozo
    assert len(parsed.entries) == 4
    assert parsed.entries[0].title == "相关阅读测试文章"  # newest first


def test_timeouts_oversized_pages_and_server_errors_do_not_stop_the_run(
    web_project: Path, site: SiteServer
) -> None:
    config = web_project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("/index.html", "/bad.html"), encoding="utf-8"
    )
    result = crawl(
        web_project,
        "news",
        "-s",
        "DOWNLOAD_TIMEOUT=2",
        "-s",
        "DOWNLOAD_MAXSIZE=1048576",
        "-s",
        "RETRY_TIMES=1",
        "-s",
        "RETRY_BACKOFF_BASE=0.2",
    )
    log = result.stderr
    assert "slow.html: skipped:" in log and "took longer than 2" in log
    assert "huge.html: skipped:" in log
    assert "error500.html: skipped: HTTP 500" in log
    assert [s for _, s in site.requests_for("/error500.html")] == [500, 500]  # one retry
    a4 = stored(web_project, "news", "/news/a4.html", site)
    assert a4 is not None
    with SQLiteStore(web_project / "var" / "feedmill.sqlite3") as store:
        run = store.runs("news")[0]
    assert run.outcome == "ok" and run.new == 1 and run.failed == 3


def test_refresh_after_refetches_stored_articles_when_due(
    web_project: Path, site: SiteServer
) -> None:
    config = web_project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "max_pages = 3", 'max_pages = 3\nrefresh_after = "1s"'
        ),
        encoding="utf-8",
    )
    crawl(web_project, "news")
    import time

    time.sleep(1.2)
    site.clear()
    crawl(web_project, "news")
    assert ("/news/a1.html", 200) in site.requests_for("/news/")
    with SQLiteStore(web_project / "var" / "feedmill.sqlite3") as store:
        run = store.runs("news")[0]
    assert (run.new, run.unchanged) == (0, 4)  # fetched again, nothing changed, no churn
