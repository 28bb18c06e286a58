"""Tests of feeds.render: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from articles.

Every format is parsed back (feedparser for RSS/Atom, lxml for the raw tree, json for
JSON Feed) and checked field by field.
"""

from __future__ import annotations

import email.utils
import html
import json
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.article import Article, RelatedLink, article_id, entry_updated
from feeds.render import (
    RENDERERS,
    FeedMeta,
    content_html,
    render_atom,
    render_json,
    render_rss,
)

ATOM = "http://www.w3.org/2005/Atom"
NS = {
    "atom": ATOM,
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BASE = "http://127.0.0.1:8080"


def parse_xml(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def parse_feed(data: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def make_meta(**overrides: object) -> FeedMeta:
    values: dict[str, object] = {
        "name": "seeds",
        "title": "种子文库",
        "link": "https://seeds.example.cn/",
        "description": "本地文档转成的订阅源",
        "language": "zh-CN",
        "base_url": BASE + "/",
        "generator": "feedmill",
        "generator_version": "0.1.0",
    }
    values.update(overrides)
    return FeedMeta(**values)  # type: ignore[arg-type]


def zh_article() -> Article:
    return Article(
        source="seeds",
        key="2024/政策解读.docx",
        id=article_id("seeds", "2024/政策解读.docx"),
        title="国务院常务会议研究部署稳经济措施",
        url="",
        authors=["张三", "李四"],
        agency="新华社",
        publisher="人民出版社",
        published=datetime(2024, 5, 1, 9, 30, tzinfo=SHANGHAI),
        language="zh-CN",
        summary="会议研究部署了一揽子稳经济措施。",
        body_text="第一段：会议在北京召开。\n\n第二段：与会代表就若干问题交换了意见。\n",
        rights="© 2024 新华社 版权所有",
        categories=["政治", "经济"],
        related=[
            RelatedLink(
                "政策解读：稳经济一揽子措施", "https://www.gov.cn/zhengce/2024-05/01/1.htm"
            ),
            RelatedLink("内部参考资料（无链接）", ""),
        ],
        first_seen=datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
        updated=datetime(2024, 5, 2, 3, 15, tzinfo=UTC),
    )


def en_article() -> Article:
    return Article(
        source="wire",
        key="https://example.com/news/markets-rally",
        id=article_id("wire", "https://example.com/news/markets-rally"),
        title="Markets rally as inflation cools",
        url="https://example.com/news/markets-rally",
        authors=["Jane Doe"],
        publisher="Example News",
        published=datetime(2024, 4, 30, 8, 0, tzinfo=NEW_YORK),
        modified=datetime(2024, 4, 30, 9, 45, tzinfo=NEW_YORK),
        language="en",
        summary="Stocks rose on Tuesday.",
        body_text="Stocks rose on Tuesday.\nAnalysts were surprised.",
        body_html="<p>Stocks rose on Tuesday.</p>\n<p>Analysts were surprised.</p>",
        categories=["Markets"],
        image="https://example.com/img/chart.png",
        first_seen=datetime(2024, 4, 30, 12, 1, tzinfo=UTC),
        updated=datetime(2024, 4, 30, 12, 1, tzinfo=UTC),
    )


def anonymous_article() -> Article:
    return Article(
        source="seeds",
        key="notes/unsigned.txt",
        id=article_id("seeds", "notes/unsigned.txt"),
        title="Unsigned note",
        published=datetime(2024, 4, 29, 23, 0, tzinfo=UTC),
        body_text="Nobody signed this.",
        first_seen=datetime(2024, 4, 29, 23, 5, tzinfo=UTC),
        updated=datetime(2024, 4, 29, 23, 5, tzinfo=UTC),
    )


def articles() -> list[Article]:
    return [zh_article(), en_article(), anonymous_article()]


def expected_link(meta: FeedMeta, article: Article) -> str:
    return article.url or meta.article_url(article.id)


# --------------------------------------------------------------------------- FeedMeta


def test_feed_meta_urls() -> None:
    meta = make_meta()
    assert meta.feed_url("rss") == f"{BASE}/feeds/seeds.rss"
    assert meta.feed_url("atom") == f"{BASE}/feeds/seeds.atom"
    assert meta.feed_url("json") == f"{BASE}/feeds/seeds.json"
    assert meta.article_url("abc") == f"{BASE}/articles/abc"
    with pytest.raises(ValueError, match="xml"):
        meta.feed_url("xml")


def test_renderers_table() -> None:
    assert {
        "rss": (render_rss, "application/rss+xml"),
        "atom": (render_atom, "application/atom+xml"),
        "json": (render_json, "application/feed+json"),
    } == RENDERERS


def test_feeds_package_does_not_import_scrapy_or_crawler() -> None:
    code = (
        "import sys, feeds.render; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('scrapy', 'crawler')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- content_html


def test_content_html_from_body_text_and_related_zh() -> None:
    out = content_html(zh_article())
    assert out == (
        "<p>第一段：会议在北京召开。</p>\n"
        "<p>第二段：与会代表就若干问题交换了意见。</p>\n"
        "<h2>相关阅读</h2>\n"
        "<ul>\n"
        '<li><a href="https://www.gov.cn/zhengce/2024-05/01/1.htm">政策解读：稳经济一揽子措施</a></li>\n'
        "<li>内部参考资料（无链接）</li>\n"
        "</ul>"
    )


def test_content_html_prefers_body_html_and_english_heading() -> None:
    article = en_article()
    article.related = [RelatedLink("More", "https://example.com/more")]
    out = content_html(article)
    assert out.startswith(article.body_html)
    assert out.endswith(
        '<h2>Related</h2>\n<ul>\n<li><a href="https://example.com/more">More</a></li>\n</ul>'
    )


def test_content_html_without_related_has_no_heading() -> None:
    out = content_html(anonymous_article())
    assert out == "<p>Nobody signed this.</p>"


def test_content_html_escapes_text_titles_and_urls() -> None:
    article = anonymous_article()
    article.body_text = 'a < b & "c"\n<script>alert(1)</script>'
    article.related = [
        RelatedLink('<b>"quoted"</b> & co', 'https://example.com/?a=1&b="2"'),
        RelatedLink("bad scheme", "javascript:alert(1)"),
        RelatedLink("ftp scheme", "ftp://example.com/file"),
    ]
    out = content_html(article)
    assert "<p>a &lt; b &amp; &quot;c&quot;</p>" in out
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in out
    assert "<script>" not in out
    assert (
        '<li><a href="https://example.com/?a=1&amp;b=&quot;2&quot;">'
        "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &amp; co</a></li>"
    ) in out
    assert "javascript:" not in out
    assert "<li>bad scheme</li>" in out
    assert "<li>ftp scheme</li>" in out


# --------------------------------------------------------------------------- RSS


def test_rss_channel() -> None:
    meta = make_meta()
    items = articles()
    data = render_rss(meta, items)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_xml(data)
    assert root.tag == "rss"
    assert root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "种子文库"
    assert channel.findtext("link") == "https://seeds.example.cn/"
    assert channel.findtext("description") == "本地文档转成的订阅源"
    assert channel.findtext("language") == "zh-CN"
    assert channel.findtext("generator") == "feedmill 0.1.0"
    newest = max(entry_updated(a) for a in items)
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest
    links = channel.findall("atom:link", NS)
    assert [(ln.get("rel"), ln.get("href"), ln.get("type")) for ln in links] == [
        ("self", f"{BASE}/feeds/seeds.rss", "application/rss+xml")
    ]

    parsed = parse_feed(data)
    assert parsed.version == "rss20"
    assert parsed.feed.title == "种子文库"
    assert parsed.feed.link == "https://seeds.example.cn/"
    assert parsed.feed.language == "zh-CN"


def test_rss_items() -> None:
    meta = make_meta()
    items = articles()
    data = render_rss(meta, items)
    parsed = parse_feed(data)
    channel = parse_xml(data).find("channel")
    assert channel is not None
    xml_items = channel.findall("item")

    assert [e.id for e in parsed.entries] == [a.guid for a in items]
    assert [e.title for e in parsed.entries] == [a.title for a in items]
    assert [e.link for e in parsed.entries] == [expected_link(meta, a) for a in items]
    assert parsed.entries[0].link == f"{BASE}/articles/{items[0].id}"
    assert parsed.entries[1].link == "https://example.com/news/markets-rally"
    for entry in parsed.entries:
        assert entry.guidislink is False

    for article, item in zip(items, xml_items, strict=True):
        guid = item.find("guid")
        assert guid is not None
        assert guid.text == article.guid
        assert guid.get("isPermaLink") == "false"
        pub = item.findtext("pubDate")
        assert email.utils.parsedate_to_datetime(pub) == article.published
        assert item.find("author") is None  # RSS <author> is an email; names go in dc:creator
    assert xml_items[0].findtext("pubDate") == "Wed, 01 May 2024 09:30:00 +0800"
    assert xml_items[1].findtext("pubDate") == "Tue, 30 Apr 2024 08:00:00 -0400"

    # authors
    assert [i.findtext("dc:creator", namespaces=NS) for i in xml_items] == [
        "张三、李四",
        "Jane Doe",
        None,
    ]
    assert parsed.entries[0].author == "张三、李四"
    assert "author" not in parsed.entries[2]

    # summary → description (as text), full content → content:encoded
    assert xml_items[0].findtext("description") == "会议研究部署了一揽子稳经济措施。"
    assert parsed.entries[0].summary == "会议研究部署了一揽子稳经济措施。"
    encoded = xml_items[0].findtext("content:encoded", namespaces=NS)
    assert encoded == content_html(items[0])
    assert parsed.entries[0].content[0].value == content_html(items[0])
    assert encoded.index("<p>第一段：会议在北京召开。</p>") < encoded.index("<h2>相关阅读</h2>")
    assert encoded.endswith("<li>内部参考资料（无链接）</li>\n</ul>")
    # rights are not per-item in RSS and are not folded into the content
    assert "版权所有" not in data.decode("utf-8")

    # categories
    assert [c.text for c in xml_items[0].findall("category")] == ["政治", "经济"]
    assert [t.term for t in parsed.entries[0].tags] == ["政治", "经济"]
    assert [t.term for t in parsed.entries[1].tags] == ["Markets"]


def test_rss_summary_is_text_not_markup() -> None:
    article = en_article()
    article.summary = "<b>bold</b> & <script>x</script>"
    channel = parse_xml(render_rss(make_meta(), [article])).find("channel")
    assert channel is not None
    description = channel.find("item").findtext("description")
    # RSS readers read <description> as HTML, so the text is HTML-escaped inside it.
    assert "<" not in description
    assert html.unescape(description) == article.summary


def test_rss_without_summary_puts_content_in_description() -> None:
    article = anonymous_article()
    channel = parse_xml(render_rss(make_meta(), [article])).find("channel")
    assert channel is not None
    assert channel.find("item").findtext("description") == "<p>Nobody signed this.</p>"


# --------------------------------------------------------------------------- Atom


def test_atom_feed_level() -> None:
    meta = make_meta()
    items = articles()
    data = render_atom(meta, items)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_xml(data)
    assert root.tag == f"{{{ATOM}}}feed"
    assert root.get(XML_LANG) == "zh-CN"
    assert root.findtext("atom:id", namespaces=NS) == f"{BASE}/feeds/seeds.atom"
    assert root.findtext("atom:title", namespaces=NS) == "种子文库"
    assert root.findtext("atom:subtitle", namespaces=NS) == "本地文档转成的订阅源"
    updated = datetime.fromisoformat(root.findtext("atom:updated", namespaces=NS))
    assert updated == max(entry_updated(a) for a in items)
    assert root.findtext("atom:author/atom:name", namespaces=NS) == "种子文库"
    generator = root.find("atom:generator", NS)
    assert generator is not None
    assert generator.text == "feedmill"
    assert generator.get("version") == "0.1.0"
    assert generator.get("uri") is None
    links = {ln.get("rel"): ln for ln in root.findall("atom:link", NS)}
    assert set(links) == {"alternate", "self"}
    assert links["alternate"].get("href") == "https://seeds.example.cn/"
    assert links["self"].get("href") == f"{BASE}/feeds/seeds.atom"
    assert links["self"].get("type") == "application/atom+xml"

    parsed = parse_feed(data)
    assert parsed.version == "atom10"
    assert parsed.feed.id == f"{BASE}/feeds/seeds.atom"
    assert parsed.feed.title == "种子文库"
    assert parsed.feed.subtitle == "本地文档转成的订阅源"
    assert parsed.feed.link == "https://seeds.example.cn/"


def test_atom_entries() -> None:
    meta = make_meta()
    items = articles()
    data = render_atom(meta, items)
    parsed = parse_feed(data)
    entries = parse_xml(data).findall("atom:entry", NS)

    assert [e.id for e in parsed.entries] == [a.guid for a in items]
    assert [e.title for e in parsed.entries] == [a.title for a in items]
    assert [e.link for e in parsed.entries] == [expected_link(meta, a) for a in items]

    for article, entry in zip(items, entries, strict=True):
        assert entry.findtext("atom:id", namespaces=NS) == article.guid
        published = entry.findtext("atom:published", namespaces=NS)
        updated = entry.findtext("atom:updated", namespaces=NS)
        assert datetime.fromisoformat(published) == article.published
        assert datetime.fromisoformat(updated) == entry_updated(article)
        names = [n.text for n in entry.findall("atom:author/atom:name", NS)]
        assert names == article.authors
    assert entries[0].findtext("atom:published", namespaces=NS) == "2024-05-01T09:30:00+08:00"
    assert entries[0].findtext("atom:updated", namespaces=NS) == "2024-05-02T03:15:00+00:00"
    assert entries[1].findtext("atom:published", namespaces=NS) == "2024-04-30T08:00:00-04:00"
    assert entries[1].findtext("atom:updated", namespaces=NS) == "2024-04-30T09:45:00-04:00"

    assert [a.name for a in parsed.entries[0].authors] == ["张三", "李四"]

    summary = entries[0].find("atom:summary", NS)
    assert summary is not None
    assert summary.get("type") == "text"
    assert summary.text == items[0].summary
    content = entries[0].find("atom:content", NS)
    assert content is not None
    assert content.get("type") == "html"
    assert content.text == content_html(items[0])
    assert parsed.entries[0].content[0].value == content_html(items[0])
    assert content.text.endswith("<li>内部参考资料（无链接）</li>\n</ul>")

    assert entries[0].findtext("atom:rights", namespaces=NS) == "© 2024 新华社 版权所有"
    assert entries[1].find("atom:rights", NS) is None
    assert [c.get("term") for c in entries[0].findall("atom:category", NS)] == ["政治", "经济"]
    assert [t.term for t in parsed.entries[1].tags] == ["Markets"]
    assert [e.get(XML_LANG) for e in entries] == ["zh-CN", "en", None]


def test_atom_author_fallback_uses_meta_author() -> None:
    data = render_atom(make_meta(author="编辑部"), [anonymous_article()])
    root = parse_xml(data)
    assert root.findtext("atom:author/atom:name", namespaces=NS) == "编辑部"
    # the entry has none of its own, so it inherits the feed's: valid Atom
    assert root.find("atom:entry/atom:author", NS) is None


def test_atom_no_subtitle_or_lang_when_empty() -> None:
    root = parse_xml(render_atom(make_meta(description="", language=""), articles()))
    assert root.find("atom:subtitle", NS) is None
    assert root.get(XML_LANG) is None


# --------------------------------------------------------------------------- JSON Feed


def test_json_feed() -> None:
    meta = make_meta(author="编辑部")
    items = articles()
    feed = json.loads(render_json(meta, items).decode("utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "种子文库"
    assert feed["home_page_url"] == "https://seeds.example.cn/"
    assert feed["feed_url"] == f"{BASE}/feeds/seeds.json"
    assert feed["description"] == "本地文档转成的订阅源"
    assert feed["language"] == "zh-CN"
    assert feed["authors"] == [{"name": "编辑部"}]
    assert "hubs" not in feed

    out = feed["items"]
    assert [i["id"] for i in out] == [a.guid for a in items]
    assert [i["title"] for i in out] == [a.title for a in items]
    assert [i["url"] for i in out] == [expected_link(meta, a) for a in items]

    zh = out[0]
    assert zh["date_published"] == "2024-05-01T09:30:00+08:00"
    assert zh["date_modified"] == "2024-05-02T03:15:00+00:00"
    assert zh["authors"] == [{"name": "张三"}, {"name": "李四"}]
    assert zh["summary"] == "会议研究部署了一揽子稳经济措施。"
    assert zh["content_html"] == content_html(items[0])
    assert zh["content_text"] == items[0].body_text.strip()
    assert zh["tags"] == ["政治", "经济"]
    assert zh["language"] == "zh-CN"
    assert "image" not in zh
    assert zh["_feedmill"] == {
        "source": "seeds",
        "agency": "新华社",
        "publisher": "人民出版社",
        "rights": "© 2024 新华社 版权所有",
        "related": [
            {
                "title": "政策解读：稳经济一揽子措施",
                "url": "https://www.gov.cn/zhengce/2024-05/01/1.htm",
            },
            {"title": "内部参考资料（无链接）", "url": ""},
        ],
    }

    en = out[1]
    assert en["image"] == "https://example.com/img/chart.png"
    assert en["date_published"] == "2024-04-30T08:00:00-04:00"
    assert en["date_modified"] == "2024-04-30T09:45:00-04:00"
    assert en["authors"] == [{"name": "Jane Doe"}]
    assert en["_feedmill"]["publisher"] == "Example News"

    anonymous = out[2]
    assert "authors" not in anonymous
    assert "language" not in anonymous
    assert "tags" not in anonymous
    for item in out:
        datetime.fromisoformat(item["date_published"])
        assert item["date_published"][-6] in "+-"


def test_json_is_utf8_not_ascii_escaped() -> None:
    data = render_json(make_meta(), [zh_article()])
    assert "国务院".encode() in data
    assert b"\\u" not in data


# --------------------------------------------------------------------------- every format


FORMATS = ["rss", "atom", "json"]


def ids_of(fmt: str, data: bytes) -> list[str]:
    if fmt == "json":
        return [item["id"] for item in json.loads(data)["items"]]
    root = parse_xml(data)
    if fmt == "rss":
        return [guid.text for guid in root.iter("guid")]
    return [e.findtext("atom:id", namespaces=NS) for e in root.findall("atom:entry", NS)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic(fmt: str) -> None:
    render = RENDERERS[fmt][0]
    first = render(make_meta(hub="https://hub.example.com/"), articles())
    second = render(make_meta(hub="https://hub.example.com/"), articles())
    assert first == second


@pytest.mark.parametrize("fmt", FORMATS)
def test_order_kept(fmt: str) -> None:
    render = RENDERERS[fmt][0]
    items = list(reversed(articles()))  # whatever order comes in goes out
    assert ids_of(fmt, render(make_meta(), items)) == [a.guid for a in items]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed(fmt: str) -> None:
    fallback = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = RENDERERS[fmt][0](make_meta(updated_fallback=fallback), [])
    assert ids_of(fmt, data) == []
    if fmt == "json":
        feed = json.loads(data)
        assert feed["items"] == []
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        return
    parse_feed(data)
    root = parse_xml(data)
    if fmt == "rss":
        date = email.utils.parsedate_to_datetime(root.find("channel").findtext("lastBuildDate"))
    else:
        date = datetime.fromisoformat(root.findtext("atom:updated", namespaces=NS))
    assert date == fallback


def test_empty_feed_default_date_is_fixed() -> None:
    root = parse_xml(render_atom(make_meta(), []))
    assert root.findtext("atom:updated", namespaces=NS) == "1970-01-01T00:00:00+00:00"


def test_empty_link_falls_back_to_base_url() -> None:
    meta = make_meta(link="")
    channel = parse_xml(render_rss(meta, [])).find("channel")
    assert channel.findtext("link") == f"{BASE}/"
    atom = parse_xml(render_atom(meta, []))
    alternate = [ln for ln in atom.findall("atom:link", NS) if ln.get("rel") == "alternate"]
    assert alternate[0].get("href") == f"{BASE}/"
    assert json.loads(render_json(meta, []))["home_page_url"] == f"{BASE}/"


def test_hub_links() -> None:
    hub = "https://pubsubhubbub.example.com/"
    meta = make_meta(hub=hub)
    channel = parse_xml(render_rss(meta, articles())).find("channel")
    rss_links = {ln.get("rel"): ln.get("href") for ln in channel.findall("atom:link", NS)}
    assert rss_links == {"self": f"{BASE}/feeds/seeds.rss", "hub": hub}
    atom = parse_xml(render_atom(meta, articles()))
    atom_links = {ln.get("rel"): ln.get("href") for ln in atom.findall("atom:link", NS)}
    assert atom_links["hub"] == hub
    assert atom_links["self"] == f"{BASE}/feeds/seeds.atom"
    assert json.loads(render_json(meta, articles()))["hubs"] == [{"type": "WebSub", "url": hub}]
    parse_feed(render_rss(meta, articles()))
    parse_feed(render_atom(meta, articles()))


def test_xml_forbidden_characters_are_stripped() -> None:
    article = zh_article()
    article.title = "标题\x00带\x0b控制\x1f字符\ud800\ufffe"
    article.summary = "摘要\x01"
    article.body_text = "正文\x08第一段"
    article.authors = ["张\x00三"]
    article.categories = ["政\x0c治"]
    meta = make_meta(title="种子\x00文库", description="描\x0b述")
    for fmt in FORMATS:
        data = RENDERERS[fmt][0](meta, [article])
        text = data.decode("utf-8")  # a lone surrogate would not even encode
        for bad in ("\x00", "\x0b", "\x1f", "\x01", "\x08", "\x0c", "\ufffe"):
            assert bad not in text
        assert "标题带控制字符" in text
        if fmt == "json":
            assert json.loads(data)["items"][0]["title"] == "标题带控制字符"
        else:
            parse_xml(data)
            parsed = parse_feed(data)
            assert parsed.entries[0].title == "标题带控制字符"
            assert parsed.feed.title == "种子文库"


HOSTILE_TITLE = "<script>alert(1)</script> & \"quotes\" 'apos' ]]>"


def hostile_article() -> Article:
    article = en_article()
    article.title = HOSTILE_TITLE
    article.summary = 'Tom & Jerry <b>say</b> "hi" ]]>'
    article.authors = ["<img src=x onerror=alert(1)>"]
    article.body_html = "<p>before ]]> after</p><script>alert(2)</script>"
    article.categories = ['"cat" & <dog>']
    return article


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_hostile_strings_escaped_xml(fmt: str) -> None:
    article = hostile_article()
    data = RENDERERS[fmt][0](make_meta(), [article])
    root = parse_xml(data)  # well-formed despite "]]>" in the content
    tags = {etree.QName(el).localname for el in root.iter() if isinstance(el.tag, str)}
    assert "script" not in tags
    assert "img" not in tags
    parsed = parse_feed(data)
    entry = parsed.entries[0]
    assert entry.title == HOSTILE_TITLE
    # feedparser sanitizes the HTML it hands out; the raw text is checked with lxml below
    assert entry.content[0].value.startswith("<p>before ]]> after</p>")
    if fmt == "rss":
        item = root.find("channel/item")
        assert item.findtext("title") == HOSTILE_TITLE
        assert item.findtext("content:encoded", namespaces=NS) == content_html(article)
        assert item.findtext("dc:creator", namespaces=NS) == article.authors[0]
        assert html.unescape(item.findtext("description")) == article.summary
        assert item.findtext("category") == '"cat" & <dog>'
    else:
        entry_el = root.find("atom:entry", NS)
        assert entry_el.findtext("atom:title", namespaces=NS) == HOSTILE_TITLE
        assert entry_el.findtext("atom:summary", namespaces=NS) == article.summary
        assert entry_el.findtext("atom:content", namespaces=NS) == content_html(article)
        assert entry_el.findtext("atom:author/atom:name", namespaces=NS) == article.authors[0]
        assert entry_el.find("atom:category", NS).get("term") == '"cat" & <dog>'


def test_rss_uses_cdata_when_possible() -> None:
    data = render_rss(make_meta(), [zh_article()])
    assert b"<content:encoded><![CDATA[<p>" in data


def test_hostile_strings_json() -> None:
    article = hostile_article()
    item = json.loads(render_json(make_meta(), [article]))["items"][0]
    assert item["title"] == HOSTILE_TITLE
    assert item["summary"] == article.summary
    assert item["authors"] == [{"name": article.authors[0]}]
    assert item["content_html"] == content_html(article)


def test_blank_title_gets_a_placeholder() -> None:
    article = zh_article()
    article.title = "  "
    for fmt in ("rss", "atom"):
        parsed = parse_feed(RENDERERS[fmt][0](make_meta(), [article]))
        assert parsed.entries[0].title == "（无标题）"
    assert json.loads(render_json(make_meta(), [article]))["items"][0]["title"] == "（无标题）"


def test_non_web_article_url_uses_feedmill_page() -> None:
    article = en_article()
    article.url = "javascript:alert(1)"
    for fmt in FORMATS:
        data = RENDERERS[fmt][0](make_meta(), [article])
        assert b"javascript:" not in data
    item = json.loads(render_json(make_meta(), [article]))["items"][0]
    assert item["url"] == f"{BASE}/articles/{article.id}"


def test_date_fallbacks_and_odd_offsets() -> None:
    no_published = anonymous_article()
    no_published.published = None  # → first_seen
    naive = en_article()
    naive.published = datetime(2024, 4, 30, 8, 0)  # no tzinfo: taken as UTC
    naive.modified = None
    naive.first_seen = naive.updated = None
    lmt = zh_article()
    lmt.published = datetime(1900, 1, 1, 12, 0, tzinfo=SHANGHAI)  # LMT +08:05:43
    lmt.first_seen = lmt.updated = None
    items = [no_published, naive, lmt]
    feed = json.loads(render_json(make_meta(), items))
    assert [i["date_published"] for i in feed["items"]] == [
        "2024-04-29T23:05:00+00:00",
        "2024-04-30T08:00:00+00:00",
        "1900-01-01T03:54:17+00:00",
    ]
    for fmt in ("rss", "atom"):
        parsed = parse_feed(RENDERERS[fmt][0](make_meta(), items))
        assert len(parsed.entries) == 3
    entries = parse_xml(render_atom(make_meta(), items)).findall("atom:entry", NS)
    assert entries[0].findtext("atom:published", namespaces=NS) == "2024-04-29T23:05:00+00:00"


# --------------------------------------------------------------------------- property


NASTY = [
    "]]>",
    "<script>",
    "</a>",
    "&",
    "&amp;",
    '"',
    "'",
    "\x00",
    "\x0b",
    "\ud800",
    "\ufffe",
    "\r\n",
]
any_text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=5)), max_size=8).map("".join),
)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=st.lists(st.uuids(), min_size=1, max_size=3, unique=True),
    title=any_text,
    summary=any_text,
    body_text=any_text,
    body_html=any_text,
    author=any_text,
)
def test_property_any_text_renders(ids, title, summary, body_text, body_html, author) -> None:
    items = [
        Article(
            source="prop",
            key=str(uid),
            id=str(uid),
            title=title,
            summary=summary,
            body_text=body_text,
            body_html=body_html,
            authors=[author],
            related=[RelatedLink(title, "https://example.com/" + str(uid))],
            published=datetime(2024, 1, 1, 8, 0, tzinfo=SHANGHAI),
        )
        for uid in ids
    ]
    meta = make_meta(title=title or "t", description=summary, author=author)
    guids = [f"urn:uuid:{uid}" for uid in ids]
    for fmt in FORMATS:
        data = RENDERERS[fmt][0](meta, items)
        assert ids_of(fmt, data) == guids
