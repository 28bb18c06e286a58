"""Feed files after a real crawl: parsed back with feedparser and checked field by field,
plus the W3C feed validator's rules that concern what feedmill writes."""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feeds.article import article_id

from support import SEED_NAME, run_feedmill

GUID = f"urn:uuid:{article_id('seeds', SEED_NAME)}"
TITLE = "2022年全国12355青少年服务台工作推进会召开"
ARTICLE_LINK = f"http://127.0.0.1:8080/articles/{article_id('seeds', SEED_NAME)}"
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}


@pytest.fixture
def feeds_dir(project: Path) -> Path:
    result = run_feedmill(project, "crawl")
    assert result.returncode == 0, result.stderr
    return project / "var" / "feeds"


@pytest.mark.parametrize("name", ["seeds", "all"])
def test_rss_entry_fields(feeds_dir: Path, name: str) -> None:
    parsed = feedparser.parse((feeds_dir / f"{name}.rss").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = parsed.entries[0]
    assert entry.id == GUID and entry.guidislink is False
    assert entry.title == TITLE
    assert entry.link == ARTICLE_LINK
    assert entry.published_parsed[:3] == (2022, 12, 8)  # midnight +08:00 is the 8th in UTC
    assert entry.author == "杨宝光"
    assert entry.summary.startswith("本报讯(中青报·中青网记者 杨宝光)12月9日")
    content = entry.content[0].value
    assert content.startswith("<p>本报讯")
    assert content.count("<p>") == 5
    assert (
        content.index("年度目标。")
        < content.index("相关阅读")
        < content.index("向基层宣讲党的二十大精神")
    )
    assert content.count("<li>") == 10


def test_rss_channel_and_raw_rules(feeds_dir: Path) -> None:
    raw = (feeds_dir / "seeds.rss").read_bytes()
    root = etree.fromstring(raw, SAFE_PARSER)
    channel = root.find("channel")
    assert root.get("version") == "2.0"
    for tag in ("title", "link", "description", "language", "lastBuildDate", "generator"):
        assert channel.findtext(tag), tag
    assert channel.findtext("language") == "zh-CN"
    assert channel.findtext("title") == "中国西藏网 · 新闻存档"
    self_link = channel.find("atom:link[@rel='self']", NS)
    assert self_link.get("href") == "http://127.0.0.1:8080/feeds/seeds.rss"
    assert self_link.get("type") == "application/rss+xml"
    item = channel.find("item")
    assert item.find("guid").get("isPermaLink") == "false"
    pub = parsedate_to_datetime(item.findtext("pubDate"))
    assert pub.isoformat() == "2022-12-09T00:00:00+08:00"  # the offset is kept
    assert item.findtext("dc:creator", namespaces=NS) == "杨宝光"
    assert item.find("author") is None  # RSS <author> must be an e-mail address
    assert item.find("content:encoded", NS) is not None
    # lastBuildDate is the newest entry's date, not the build time: no churn.
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == pub


def test_atom_entry_fields_and_required_elements(feeds_dir: Path) -> None:
    raw = (feeds_dir / "seeds.atom").read_bytes()
    parsed = feedparser.parse(raw)
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = parsed.entries[0]
    assert entry.id == GUID
    assert entry.title == TITLE
    assert entry.link == ARTICLE_LINK
    assert entry.author_detail.name == "杨宝光"
    assert entry.content[0].type == "text/html"
    assert "年度目标。" in entry.content[0].value
    root = etree.fromstring(raw, SAFE_PARSER)
    for tag in ("atom:id", "atom:title", "atom:updated", "atom:author/atom:name"):
        assert root.findtext(tag, namespaces=NS), tag
    atom_entry = root.find("atom:entry", NS)
    assert atom_entry.findtext("atom:published", namespaces=NS) == "2022-12-09T00:00:00+08:00"
    updated = atom_entry.findtext("atom:updated", namespaces=NS)
    assert datetime.fromisoformat(updated).utcoffset() is not None
    links = [
        link
        for link in atom_entry.findall("atom:link", NS)
        if link.get("rel", "alternate") == "alternate"
    ]
    assert [link.get("href") for link in links] == [ARTICLE_LINK]
    assert root.find("atom:link[@rel='self']", NS).get("href").endswith("/feeds/seeds.atom")


def test_json_feed_fields(feeds_dir: Path) -> None:
    feed = json.loads((feeds_dir / "seeds.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "http://127.0.0.1:8080/feeds/seeds.json"
    assert feed["language"] == "zh-CN"
    item = feed["items"][0]
    assert item["id"] == GUID
    assert item["url"] == ARTICLE_LINK
    assert item["title"] == TITLE
    assert item["date_published"] == "2022-12-09T00:00:00+08:00"
    assert item["authors"] == [{"name": "杨宝光"}]
    assert item["content_text"].count("\n") == 4
    assert item["_feedmill"]["agency"] == "中青报·中青网"
    assert item["_feedmill"]["publisher"] == "中国西藏网"
    assert len(item["_feedmill"]["related"]) == 10


def test_xml_forbidden_characters_never_reach_a_feed(project: Path) -> None:
    body = "这是一段普通的正文。" * 20
    bad = f"控制字符\x01标题\n本报讯(记者 张三)3月1日,{body}正文\x0b含有\x1f控制字符\ufffe。"
    (project / "seeds" / "controls.txt").write_text(bad, encoding="utf-8")
    result = run_feedmill(project, "crawl")
    assert result.returncode == 0, result.stderr
    for fmt in ("rss", "atom"):
        raw = (project / "var" / "feeds" / f"seeds.{fmt}").read_bytes()
        etree.fromstring(raw, SAFE_PARSER)  # well-formed
        assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", raw)
        parsed = feedparser.parse(raw)
        assert not parsed.bozo
        assert "控制字符标题" in [e.title for e in parsed.entries]


def test_html_in_text_fields_is_escaped(project: Path) -> None:
    doc = (
        "<script>alert(1)</script>标题 & 更多\n"
        "本报讯(记者 <b>张三</b>)3月1日,正文<img src=x onerror=alert(1)>。"
    )
    (project / "seeds" / "html.txt").write_text(doc, encoding="utf-8")
    assert run_feedmill(project, "crawl").returncode == 0
    raw = (project / "var" / "feeds" / "seeds.rss").read_bytes()
    assert b"<script>" not in raw
    parsed = feedparser.parse(raw)
    titles = [e.title for e in parsed.entries]
    assert "<script>alert(1)</script>标题 & 更多" in titles
    entry = parsed.entries[titles.index("<script>alert(1)</script>标题 & 更多")]
    assert "&lt;img" in entry.content[0].value  # body text is escaped into the HTML
