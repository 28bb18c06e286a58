"""crawler.upstream: upstream feeds and sitemaps to entries, safely."""

from __future__ import annotations

import calendar
import gzip
import pickle
import subprocess
import sys
import textwrap
import time
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler import upstream
from crawler.upstream import (
    UpstreamDocument,
    UpstreamEntry,
    UpstreamError,
    parse_feed_date,
    parse_upstream,
)

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))

RSS_URL = "https://news.example.com/feed.xml"
ATOM_URL = "https://atom.example.net/blog/feed.atom"
RDF_URL = "https://blog.example.org/index.rdf"
JSON_URL = "https://json.example.com/feed.json"
SITEMAP_URL = "https://www.example.cn/sitemap-news.xml"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_fixture(name: str, url: str, **kwargs: object) -> UpstreamDocument:
    return parse_upstream(fixture(name), url, **kwargs)  # type: ignore[arg-type]


def sitemap(count: int, *, namespace: str = "http://www.sitemaps.org/schemas/sitemap/0.9") -> bytes:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    urls = "".join(
        f"<url><loc>https://www.example.cn/a/{i}.html</loc><lastmod>2024-05-14</lastmod></url>"
        for i in range(count)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset{xmlns}>{urls}</urlset>'.encode()


def rss(items: str, *, prolog: str = "", encoding: str = "utf-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}'
        f"<rss version='2.0'><channel><title>T</title><link>https://x.example.com/</link>"
        f"{items}</channel></rss>"
    ).encode(encoding)


def html_text(fragment: str) -> str:
    return " ".join(
        lxml.html.fragment_fromstring(fragment, create_parent="div").text_content().split()
    )


def as_utc(value: datetime | None) -> tuple[int, ...] | None:
    return None if value is None else value.astimezone(UTC).timetuple()[:6]


def fp_utc(entry: feedparser.FeedParserDict, key: str) -> tuple[int, ...] | None:
    parsed = entry.get(f"{key}_parsed")
    return None if parsed is None else time.gmtime(calendar.timegm(parsed))[:6]


# --------------------------------------------------------------------------------------
# RSS 2.0
# --------------------------------------------------------------------------------------


def test_rss2_document() -> None:
    doc = parse_fixture("rss2.xml", RSS_URL)
    assert doc.kind == "rss"
    assert doc.title == "Example News & Views"
    assert doc.link == "https://news.example.com/"
    assert not doc.truncated
    assert doc.sitemaps == []
    assert len(doc.entries) == 3


def test_rss2_full_entry() -> None:
    first = parse_fixture("rss2.xml", RSS_URL).entries[0]
    assert first == UpstreamEntry(
        url="https://news.example.com/2024/05/market-rallies.html",  # relative, resolved
        title="Market rallies after rate cut",  # escaped tags stripped, whitespace collapsed
        guid="news-example-1001",
        published=datetime(2024, 5, 14, 8, 30, tzinfo=CST),
        modified=None,
        authors=["Li Wei", "Zhang San"],
        summary="Stocks rose on Tuesday. Second paragraph.",
        content_html=(
            "<p>Stocks rose on <em>Tuesday</em> after the central bank cut rates.</p>"
            '<p><img src="/img/chart.png" alt="chart"></p>'
        ),
        categories=["Markets", "Economy"],  # duplicates dropped, order kept
        image="https://cdn.example.com/market.jpg",
        language="zh-CN",  # from the channel
    )


def test_rss2_guid_permalink_author_and_enclosure_image() -> None:
    second = parse_fixture("rss2.xml", RSS_URL).entries[1]
    # No <link>: a guid without isPermaLink="false" that is a URL is the page.
    assert second.url == "https://news.example.com/2024/05/typhoon.html"
    assert second.guid == second.url
    assert second.authors == ["Weather Desk"]  # "mail (Name)" -> Name
    assert second.image == "https://cdn.example.com/typhoon.png"
    assert second.content_html == ""
    assert second.published == datetime(2024, 5, 13, 22, 0, tzinfo=UTC)


def test_rss2_link_whitespace_named_zone_and_audio_enclosure() -> None:
    third = parse_fixture("rss2.xml", RSS_URL).entries[2]
    assert third.url == "https://news.example.com/podcast/42"
    assert third.published == datetime(2024, 5, 13, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert third.image == ""  # an mp3 enclosure is not an image
    assert third.guid == ""


def test_rss2_agrees_with_feedparser() -> None:
    ours = parse_fixture("rss2.xml", RSS_URL)
    theirs = feedparser.parse(fixture("rss2.xml"), response_headers={"content-location": RSS_URL})
    assert theirs.version == "rss20"
    assert ours.title == theirs.feed.title
    assert ours.link == theirs.feed.link
    assert len(ours.entries) == len(theirs.entries)
    for mine, other in zip(ours.entries, theirs.entries, strict=True):
        assert mine.url == other.link
        assert mine.guid == other.get("id", "")
        assert as_utc(mine.published) == fp_utc(other, "published")
        assert mine.categories == [tag.term for tag in other.get("tags", [])]
        assert mine.authors == [a["name"] for a in other.get("authors", []) if a.get("name")]
        assert mine.title == html_text(other.title)  # feedparser keeps the markup
        if "content" in other:  # feedparser sanitizes markup; the text must agree
            assert html_text(mine.content_html) == html_text(other.content[0].value)


# --------------------------------------------------------------------------------------
# RSS 1.0 (RDF)
# --------------------------------------------------------------------------------------


def test_rss1_rdf() -> None:
    doc = parse_fixture("rss1.rdf", RDF_URL)
    assert (doc.kind, doc.title, doc.link) == ("rdf", "Example Blog", "https://blog.example.org/")
    first, second = doc.entries
    assert first.url == "https://blog.example.org/posts/first"
    assert first.guid == "https://blog.example.org/posts/first"  # rdf:about
    assert first.summary == "Hello world"
    assert first.authors == ["Ann Author"]
    assert first.categories == ["intro"]  # dc:subject
    assert first.published == datetime(2023, 3, 1, 9, 15, tzinfo=UTC)
    assert first.language == "en"
    # No <link>: rdf:about is the page; escaped content:encoded stays HTML.
    assert second.url == "https://blog.example.org/posts/second"
    assert second.content_html == "<p>Second <strong>post</strong> body</p>"
    assert second.published == datetime(2023, 3, 2, tzinfo=UTC)


def test_rss1_agrees_with_feedparser() -> None:
    ours = parse_fixture("rss1.rdf", RDF_URL)
    theirs = feedparser.parse(fixture("rss1.rdf"))
    assert theirs.version == "rss10"
    assert ours.title == theirs.feed.title
    for mine, other in zip(ours.entries, theirs.entries, strict=True):
        assert mine.title == other.title
        assert mine.guid == other.id
        # feedparser files dc:date under "updated"
        assert as_utc(mine.published) == fp_utc(other, "updated")


# --------------------------------------------------------------------------------------
# Atom
# --------------------------------------------------------------------------------------


def test_atom_document() -> None:
    doc = parse_fixture("atom.xml", ATOM_URL)
    assert doc.kind == "atom"
    assert doc.title == "Atom Example"
    assert doc.link == "https://atom.example.net/blog/"  # the link without rel, not rel=self
    assert len(doc.entries) == 3


def test_atom_xhtml_content_and_xml_base() -> None:
    first = parse_fixture("atom.xml", "https://elsewhere.example/feed").entries[0]
    # xml:base on the feed wins over the fetch URL for relative links.
    assert first.url == "https://atom.example.net/blog/posts/cafe-opens"
    assert first.image == "https://atom.example.net/media/cafe.jpg"  # rel=enclosure image
    assert first.title == "Café opens"  # type="html": tags stripped
    assert first.summary == "A new café opened downtown."
    assert first.guid == "tag:atom.example.net,2024:cafe"
    assert first.published == datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=1)))
    assert first.modified == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert first.authors == ["Marie Curie"]
    assert first.categories == ["Food & Drink", "local"]  # label, else term
    assert first.language == "en"  # inherited xml:lang
    html = first.content_html
    assert "xmlns" not in html and "<div" not in html  # the XHTML wrapper div is dropped
    assert '<a href="https://atom.example.net/blog/posts/menu">menu</a>' in html
    assert '<img src="https://atom.example.net/media/inside.jpg" alt="">' in html
    assert "<strong>short</strong>" in html


def test_atom_html_and_text_content() -> None:
    _, second, third = parse_fixture("atom.xml", ATOM_URL).entries
    assert second.url == "https://other.example.net/fr/nouvelles/2"  # entry-level xml:base
    assert second.title == "Deuxième <entrée>"  # type="text": literal, not markup
    assert second.content_html == "<p>Bonjour <b>monde</b></p>"
    assert second.language == "fr"
    assert second.published is None
    assert second.modified == datetime(2024, 1, 3, tzinfo=timezone(timedelta(hours=-5)))
    assert second.authors == ["Feed Owner"]  # inherited from the feed
    # rel="related" is skipped for the alternate; text content becomes escaped HTML.
    assert third.url == "https://atom.example.net/blog/posts/plain"
    assert third.content_html == (
        "<p>Line one &amp; two</p><p>Second paragraph &lt;not a tag&gt;</p>"
    )


def test_atom_agrees_with_feedparser() -> None:
    ours = parse_fixture("atom.xml", ATOM_URL)
    theirs = feedparser.parse(fixture("atom.xml"), response_headers={"content-location": ATOM_URL})
    assert theirs.version == "atom10"
    assert ours.title == theirs.feed.title
    assert ours.link == theirs.feed.link
    for mine, other in zip(ours.entries, theirs.entries, strict=True):
        assert mine.url == other.link
        assert mine.guid == other.id
        assert as_utc(mine.modified) == fp_utc(other, "updated")
        assert as_utc(mine.published) == fp_utc(other, "published")
        if other.get("authors"):
            assert mine.authors == [a["name"] for a in other.authors]
    assert ours.entries[1].content_html == theirs.entries[1].content[0].value


# --------------------------------------------------------------------------------------
# JSON Feed
# --------------------------------------------------------------------------------------


def test_json_feed() -> None:
    doc = parse_fixture("jsonfeed.json", JSON_URL)
    assert (doc.kind, doc.title, doc.link) == (
        "jsonfeed",
        "JSON Example",
        "https://json.example.com/",
    )
    assert len(doc.entries) == 3  # the non-object item is skipped
    first, second, third = doc.entries
    assert first == UpstreamEntry(
        url="https://json.example.com/posts/1",
        title="First JSON item",
        guid="1",
        published=datetime(2024, 2, 3, 4, 5, 6, tzinfo=CST),
        modified=datetime(2024, 2, 4, tzinfo=UTC),
        authors=["Item Author"],
        summary="A short summary",
        content_html="<p>Hello <b>JSON</b></p>",
        categories=["json", "feeds"],
        image="https://json.example.com/images/1.png",
        language="zh-Hans",
    )
    # id is the URL; content_text becomes escaped HTML; naive date gets default_tz;
    # authors and language come from the feed.
    assert second.url == "https://json.example.com/posts/2"
    assert second.content_html == "<p>Plain &lt;text&gt; &amp; more</p><p>New paragraph</p>"
    assert second.published == datetime(2024, 2, 5, 10, tzinfo=UTC)
    assert second.authors == ["House Author"]
    assert second.language == "en-GB"
    # Wrong types are tolerated: numeric id and title, tags not a list, bad date.
    assert third.url == "https://elsewhere.example.org/story"
    assert (third.guid, third.title, third.categories) == ("3", "42", [])
    assert third.published is None
    assert third.image == "https://json.example.com/a.jpg"  # image attachment


def test_json_feed_default_tz() -> None:
    doc = parse_fixture("jsonfeed.json", JSON_URL, default_tz=SHANGHAI)
    assert doc.entries[1].published == datetime(2024, 2, 5, 10, tzinfo=SHANGHAI)
    assert doc.entries[0].published == datetime(2024, 2, 3, 4, 5, 6, tzinfo=CST)


def test_json_feed_1_0_author_and_control_characters() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1", "title": "t\\u0000x",'
        b' "author": {"name": "Solo"}, "items": [{"id": "a", "title": "bad \\ud800 \\u0007 chars",'
        b' "url": "posts/a"}]}'
    )
    doc = parse_upstream(body, "https://j.example.com/feed/index.json")
    (entry,) = doc.entries
    assert doc.title == "tx"
    assert entry.authors == ["Solo"]
    assert entry.url == "https://j.example.com/feed/posts/a"
    assert "\ud800" not in entry.title and "\x07" not in entry.title
    assert entry.title.startswith("bad ")


# --------------------------------------------------------------------------------------
# Sitemaps
# --------------------------------------------------------------------------------------


def test_news_sitemap() -> None:
    doc = parse_fixture("news-sitemap.xml", SITEMAP_URL)
    assert doc.kind == "sitemap"
    assert [e.url for e in doc.entries] == [
        "https://www.example.cn/news/2024/0514/a1.html",
        "https://www.example.cn/news/2024/0514/a2.html",  # relative and padded: resolved
        "https://www.example.cn/news/2024/0513/a3.html",
    ]
    first, second, third = doc.entries
    assert first.title == "国务院召开常务会议"
    assert first.published == datetime(2024, 5, 14, 8, tzinfo=CST)
    assert first.modified == datetime(2024, 5, 14, 9, tzinfo=CST)
    assert first.language == "zh-cn"
    assert first.image == "https://img.example.cn/2024/a1.jpg"
    assert first.categories == ["国务院", "会议"]
    assert second.title == "第二条 & 新闻"
    assert second.modified is None
    assert third.published == datetime(2024, 5, 13, 20, tzinfo=CST)  # RFC 822 accepted too
    assert third.language == "zh-tw"


def test_news_sitemap_date_only_gets_default_tz() -> None:
    doc = parse_fixture("news-sitemap.xml", SITEMAP_URL, default_tz=SHANGHAI)
    assert doc.entries[1].published == datetime(2024, 5, 14, tzinfo=SHANGHAI)
    assert doc.entries[2].modified == datetime(2024, 5, 13, tzinfo=SHANGHAI)


def test_sitemap_index() -> None:
    doc = parse_fixture("sitemap-index.xml", "https://www.example.cn/sitemap.xml")
    assert doc.kind == "sitemapindex"
    assert doc.entries == []
    # Sitemap 0.84 namespace; relative resolved; javascript: and ftp: dropped.
    assert doc.sitemaps == [
        "https://www.example.cn/sitemap-news.xml",
        "https://www.example.cn/sitemap-2024-05.xml.gz",
    ]


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.sitemaps.org/schemas/sitemap/0.9",
        "http://www.google.com/schemas/sitemap/0.84",
        "http://www.google.com/schemas/sitemap/0.9",
        "",
    ],
)
def test_sitemap_namespaces_are_matched_on_local_names(namespace: str) -> None:
    doc = parse_upstream(sitemap(3, namespace=namespace), SITEMAP_URL)
    assert doc.kind == "sitemap"
    assert [e.url for e in doc.entries] == [f"https://www.example.cn/a/{i}.html" for i in range(3)]
    assert all(e.modified == datetime(2024, 5, 14, tzinfo=UTC) for e in doc.entries)


def test_gzipped_sitemap() -> None:
    plain = fixture("news-sitemap.xml")
    doc = parse_upstream(gzip.compress(plain), SITEMAP_URL + ".gz")
    assert doc == parse_upstream(plain, SITEMAP_URL + ".gz")
    assert len(doc.entries) == 3


def test_multi_member_gzip() -> None:
    body = sitemap(4)
    doc = parse_upstream(gzip.compress(body[:100]) + gzip.compress(body[100:]), SITEMAP_URL)
    assert len(doc.entries) == 4


def test_gzip_within_max_bytes_is_fine_and_beyond_is_not() -> None:
    body = sitemap(50)
    assert len(parse_upstream(gzip.compress(body), SITEMAP_URL, max_bytes=len(body)).entries) == 50
    with pytest.raises(UpstreamError, match=f"expands beyond {len(body) - 1} bytes"):
        parse_upstream(gzip.compress(body), SITEMAP_URL, max_bytes=len(body) - 1)


def test_truncated_gzip_keeps_what_inflated() -> None:
    body = sitemap(2000)
    packed = gzip.compress(body)
    doc = parse_upstream(packed[: len(packed) // 2], SITEMAP_URL)
    assert 0 < len(doc.entries) < 2000
    assert doc.entries[0].url == "https://www.example.cn/a/0.html"


def test_corrupt_gzip_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="invalid gzip data"):
        parse_upstream(b"\x1f\x8b\x08\x00" + b"\xff" * 64, SITEMAP_URL)


def gzip_bomb(expanded: int) -> bytes:
    """``expanded`` bytes of zeros, gzipped, built in 1 MiB steps (little memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(expanded // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


def test_gzip_bomb_fails_fast() -> None:
    bomb = gzip_bomb(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(UpstreamError) as caught:
        parse_upstream(bomb, "https://evil.example/sitemap.xml.gz")
    assert str(caught.value) == (
        f"https://evil.example/sitemap.xml.gz: gzip data expands beyond {32 * 1024 * 1024} bytes"
    )


def test_body_larger_than_max_bytes() -> None:
    with pytest.raises(UpstreamError, match="more than 100"):
        parse_upstream(sitemap(10), SITEMAP_URL, max_bytes=100)


def test_large_sitemap_is_read_whole() -> None:
    # Its speed is a benchmark's business (tests assert behaviour, never timings).
    body = sitemap(10_000)
    doc = parse_upstream(body, SITEMAP_URL, max_entries=10_000)
    assert len(doc.entries) == 10_000 and not doc.truncated
    assert doc.entries[-1].url != doc.entries[0].url


def test_large_body_is_streamed_and_stops_after_max_entries() -> None:
    body = sitemap(200_000)
    assert len(body) > upstream._TREE_BYTES
    doc = parse_upstream(body, SITEMAP_URL)
    assert doc.truncated and len(doc.entries) == 5000
    assert doc.entries[-1].url == "https://www.example.cn/a/4999.html"
    everything = parse_upstream(sitemap(20_000), SITEMAP_URL, max_entries=20_000)
    assert len(everything.entries) == 20_000 and not everything.truncated


MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from crawler.upstream import parse_upstream
    body = open(sys.argv[1], "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    doc = parse_upstream(body, "https://www.example.cn/sitemap.xml", max_entries=10**6)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(len(doc.entries), (after - before) // 1024)
    """
)


def test_streaming_memory_stays_small(tmp_path: Path) -> None:
    # 170,000 <url>s without <loc> (no entries to keep): ~12 MB of XML, which as a tree
    # would take ~100 MB; streamed, each <url> is freed once handled.
    path = tmp_path / "sitemap.xml"
    with path.open("wb") as out:
        out.write(b"<urlset>")
        row = b"<url><lastmod>2024-05-14</lastmod><changefreq>daily</changefreq></url>"
        for _ in range(17):
            out.write(row * 10_000)
        out.write(b"</urlset>")
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    entries, grown_mib = map(int, probe.stdout.split())
    assert entries == 0
    assert grown_mib < 40


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("rss2.xml", RSS_URL),
        ("atom.xml", ATOM_URL),
        ("rss1.rdf", RDF_URL),
        ("news-sitemap.xml", SITEMAP_URL),
        ("sitemap-index.xml", SITEMAP_URL),
        ("malformed.rss", RSS_URL),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_streaming_gives_the_same_document(
    name: str, url: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = parse_fixture(name, url)
    monkeypatch.setattr(upstream, "_TREE_BYTES", 0)
    monkeypatch.setattr(upstream, "_XML_CHUNK", chunk)
    assert parse_fixture(name, url) == whole
    assert parse_fixture(name, url, max_entries=1) == parse_fixture(name, url, max_entries=1)


def test_channel_fields_after_the_items_still_count(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (
        b"<rss><channel><item><title>a</title><link>https://x.example.com/a</link></item>"
        b"<title>Late</title><link>https://x.example.com/</link><language>de</language>"
        b"</channel></rss>"
    )
    for tree_bytes in (upstream._TREE_BYTES, 0):
        monkeypatch.setattr(upstream, "_TREE_BYTES", tree_bytes)
        doc = parse_upstream(body, RSS_URL)
        assert (doc.title, doc.link) == ("Late", "https://x.example.com/")
        assert doc.entries[0].language == "de"


def test_element_bomb_inside_an_item_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_TREE_BYTES", 0)
    body = b"<rss><channel><item><title>t</title>" + b"<a/>" * 200_000 + b"</item></channel></rss>"
    with pytest.raises(UpstreamError, match="an item holds more than 100000 elements"):
        parse_upstream(body, RSS_URL)


def test_element_bomb_beside_the_items_is_refused() -> None:
    body = b"<rss><channel><title>t</title>" + b"<a/>" * 20_000 + b"</channel></rss>"
    with pytest.raises(UpstreamError, match="more than 10000 elements that are not items"):
        parse_upstream(body, RSS_URL)


def test_reference_bomb_is_refused_quickly() -> None:
    body = b"<rss><channel><item><title>" + b"&x;" * 1_000_000 + b"</title></item></channel></rss>"
    with pytest.raises(UpstreamError, match="more than 200000 broken references"):
        parse_upstream(body, RSS_URL)


# --------------------------------------------------------------------------------------
# max_entries
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("rss2.xml", RSS_URL),
        ("atom.xml", ATOM_URL),
        ("rss1.rdf", RDF_URL),
        ("jsonfeed.json", JSON_URL),
        ("news-sitemap.xml", SITEMAP_URL),
    ],
)
def test_max_entries_truncates(name: str, url: str) -> None:
    full = parse_fixture(name, url)
    cut = parse_fixture(name, url, max_entries=1)
    assert cut.truncated and not full.truncated
    assert cut.entries == full.entries[:1]
    exact = parse_fixture(name, url, max_entries=len(full.entries))
    assert not exact.truncated and exact.entries == full.entries


def test_max_entries_on_sitemap_index_and_default_cap() -> None:
    cut = parse_fixture("sitemap-index.xml", SITEMAP_URL, max_entries=1)
    assert cut.truncated and cut.sitemaps == ["https://www.example.cn/sitemap-news.xml"]
    doc = parse_upstream(sitemap(5001), SITEMAP_URL)
    assert doc.truncated and len(doc.entries) == 5000


def test_max_entries_zero() -> None:
    doc = parse_fixture("rss2.xml", RSS_URL, max_entries=0)
    assert doc.entries == [] and doc.truncated and doc.title == "Example News & Views"


# --------------------------------------------------------------------------------------
# Broken and hostile input
# --------------------------------------------------------------------------------------


def test_malformed_but_recoverable_rss() -> None:
    doc = parse_fixture("malformed.rss", "https://broken.example.com/feed")
    assert doc.title == "Broken & Co"
    first, second = doc.entries
    # Bare "&" and undeclared HTML entities survive instead of eating the text around them.
    assert first.title == "Tom & Jerry return — AT&T sponsors"
    assert first.url == "https://broken.example.com/a?x=1&y=2"
    assert first.summary == "CDATA keeps a bare & as is"
    assert first.published == datetime(2003, 6, 10, 4, tzinfo=UTC)
    assert second.url == "https://broken.example.com/b"
    assert second.summary == "Unclosed tag and a stray end"


def test_invalid_character_references_do_not_break_parsing() -> None:
    doc = parse_upstream(
        rss(
            "<item><title>a&#xD800;b &#0; c &#x1F600;</title><link>https://x.example.com/1</link>"
            "</item>"
        ),
        RSS_URL,
    )
    assert doc.entries[0].title == "a\ufffdb \ufffd c \U0001f600"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty response"),
        (b" \r\n\t ", "empty response"),
        (b"\xef\xbb\xbf  \n", "empty response"),
        (fixture("page.html"), "not a feed or sitemap (looks like HTML)"),
        (b"<html><body><p>unclosed", "not a feed or sitemap (looks like HTML)"),
        (
            b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            "not a feed or sitemap (looks like HTML)",
        ),
        (b"Warning: x\n<!doctype html><html></html>", "not a feed or sitemap (looks like HTML)"),
        (bytes(range(256)) * 4, "not a feed or sitemap (binary data)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "not a feed or sitemap (binary data)"),
        (b"<\x00\x01\x02\x03\x04\xff\xfe", "not a feed or sitemap (binary data)"),
        (b"just some words", "not a feed or sitemap (plain text)"),
        (b"<note><to>x</to></note>", "not a feed or sitemap (unknown XML root element <note>)"),
        (b"< not xml at all", "not a feed or sitemap (malformed XML"),
        (b'{"title": "no items"}', "not a feed or sitemap (JSON without an items list)"),
        (b"[1, 2, 3]", "not a feed or sitemap (JSON without an items list)"),
        (b'{"items": [', "not a feed or sitemap (invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not a feed or sitemap (JSON nested too deeply)"),
    ],
)
def test_not_a_feed(body: bytes, reason: str) -> None:
    url = "https://upstream.example.com/feed"
    with pytest.raises(UpstreamError) as caught:
        parse_upstream(body, url)
    assert str(caught.value).startswith(f"{url}: {reason}")
    assert caught.value.url == url
    assert isinstance(caught.value, ValueError)


def test_upstream_error_pickles() -> None:
    error = UpstreamError("https://x.example.com/f", "empty response")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.url, copy.reason, str(copy)) == (error.url, error.reason, str(error))


def test_junk_before_the_xml_declaration_is_skipped() -> None:
    body = b"<b>Notice</b>: undefined index in feed.php\n" + rss(
        "<item><title>ok</title><link>https://x.example.com/1</link></item>"
    )
    body = b"Notice: undefined index in feed.php\n" + body.split(b"\n", 1)[1]
    doc = parse_upstream(body, RSS_URL)
    assert [e.title for e in doc.entries] == ["ok"]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n<rss><channel><title>Laughs</title>"
    + b"<item><title>&lol9;</title><link>https://x.example.com/1</link>"
    + b"<description>&lol9;&lol9;</description></item></channel></rss>"
)


def test_billion_laughs_is_not_expanded() -> None:
    doc = parse_upstream(BILLION_LAUGHS, RSS_URL)
    assert "lol" not in repr(doc)
    assert len(repr(doc)) < 1000
    # The declared entities contribute nothing; the rest of the feed is intact.
    assert doc.title == "Laughs"
    assert [(e.url, e.title, e.summary) for e in doc.entries] == [
        ("https://x.example.com/1", "", "")
    ]


def test_quadratic_blowup_is_not_expanded() -> None:
    big = b"A" * 50_000
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + big + b'">]>'
        b"<rss><channel><item><title>" + b"&a;" * 50_000 + b"</title>"
        b"<link>https://x.example.com/1</link></item></channel></rss>"
    )
    try:
        output = repr(parse_upstream(body, RSS_URL))
    except UpstreamError as error:
        output = str(error)
    assert "AAAA" not in output


def xxe_payloads(target: str) -> list[bytes]:
    item = b"<item><title>t &xxe; t</title><link>https://x.example.com/1</link>"
    return [
        # General external entity in text, in an attribute and in content:encoded.
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "%s">]>'
        b'<rss xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        b"<title>&xxe;</title>%s<description>&xxe;</description>"
        b"<content:encoded>&xxe;</content:encoded>"
        b'<enclosure url="https://x.example.com/&xxe;.jpg" type="image/jpeg"/>'
        b"</item></channel></rss>" % (target.encode(), item),
        # An external entity named like an HTML one.
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp SYSTEM "%s">]>'
        b"<rss><channel><item><title>a&nbsp;b</title><link>https://x.example.com/1</link>"
        b"</item></channel></rss>" % target.encode(),
        # Parameter entity and an external DTD.
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY %% p SYSTEM "%s"> %%p;]>'
        b"<rss><channel>%s</item></channel></rss>" % (target.encode(), item),
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "%s"><rss><channel>%s</item></channel></rss>'
        % (target.encode(), item),
        # Atom and sitemap carriers.
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "%s">]>'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&xxe;</title><entry><title>&xxe;'
        b'</title><link href="https://x.example.com/1"/><content type="xhtml">'
        b'<div xmlns="http://www.w3.org/1999/xhtml">&xxe;</div></content></entry></feed>'
        % target.encode(),
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "%s">]>'
        b"<urlset><url><loc>https://x.example.com/&xxe;</loc></url></urlset>" % target.encode(),
    ]


def outcome(body: bytes) -> str:
    """What a caller could ever see of a parse: the document, or the error message."""
    try:
        return repr(parse_upstream(body, RSS_URL))
    except UpstreamError as error:
        return str(error)


def test_xxe_does_not_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-42\n", encoding="utf-8")
    outputs = [outcome(body) for body in xxe_payloads(secret.as_uri())]
    assert len(outputs) == 6
    assert all("TOP-SECRET" not in output for output in outputs)
    # Where the entity stays declared it contributes nothing; where its declaration was
    # never loaded (parameter entity, external DTD) the reference is literal text.
    assert "title='t t'" in outputs[0]
    assert "title='t &xxe; t'" in outputs[2]
    # The rest of each document still parses.
    assert all("url='https://x.example.com/1'" in output for output in outputs[:4])


def test_xxe_etc_passwd() -> None:
    outputs = [outcome(body) for body in xxe_payloads("file:///etc/passwd")]
    assert outputs and all("root:" not in out and "/bin/" not in out for out in outputs)


def test_xxe_over_the_network_is_not_fetched() -> None:
    # An unroutable address: a fetch attempt would hang until a timeout.
    outputs = [outcome(body) for body in xxe_payloads("http://10.255.255.1/evil.dtd")]
    assert all("url='https://x.example.com/1'" in output for output in outputs[:4])


# --------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------


ZHU = "朱镕基考察"  # 镕 exists in GBK, not in GB2312


@pytest.mark.parametrize("label", ["gb2312", "GBK", "gb18030"])
def test_declared_gbk_family(label: str) -> None:
    body = rss(f"<item><title>{ZHU}</title><link>https://x.example.com/1</link></item>").decode()
    doc = parse_upstream(body.replace('"utf-8"', f'"{label}"').encode("gb18030"), RSS_URL)
    assert doc.entries[0].title == ZHU


def test_undeclared_gbk_is_detected() -> None:
    body = f"<rss><channel><item><title>{ZHU}</title></item></channel></rss>".encode("gbk")
    assert parse_upstream(body, RSS_URL).entries[0].title == ZHU


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_unicode_encodings(codec: str) -> None:
    text = f'<?xml version="1.0"?><rss><channel><item><title>{ZHU}</title></item></channel></rss>'
    assert parse_upstream(text.encode(codec), RSS_URL).entries[0].title == ZHU


def test_json_feed_in_utf16() -> None:
    body = '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "朱"}]}'
    assert parse_upstream(body.encode("utf-16"), JSON_URL).entries[0].title == "朱"


# --------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://x.example.com/a", "https://x.example.com/a"),
        ("  \n https://x.example.com/a \t", "https://x.example.com/a"),
        ("https://x.example.com/a\n/b", "https://x.example.com/a/b"),
        ("/a/b?c=1", "https://news.example.com/a/b?c=1"),
        ("rel/x.html", "https://news.example.com/rel/x.html"),
        ("//cdn.example.com/a", "https://cdn.example.com/a"),
        ("javascript:alert(1)", ""),
        ("mailto:a@example.com", ""),
        ("ftp://x.example.com/a", ""),
        ("data:text/html,hi", ""),
        ("http://[::1", ""),
        ("https:///nohost", ""),
        ("", ""),
    ],
)
def test_links(link: str, expected: str) -> None:
    body = rss(f"<item><title>x</title><link>{link}</link></item>")
    assert parse_upstream(body, RSS_URL).entries[0].url == expected


def test_guid_permalink_rules() -> None:
    items = (
        '<item><title>a</title><guid isPermaLink="false">https://x.example.com/not</guid></item>'
        '<item><title>b</title><guid isPermaLink="true">/perma/b</guid></item>'
        "<item><title>c</title><guid>tag:x.example.com,2024:c</guid></item>"
        "<item><title>d</title><guid>https://x.example.com/d</guid></item>"
    )
    doc = parse_upstream(rss(items), RSS_URL)
    assert [e.url for e in doc.entries] == [
        "",
        "https://news.example.com/perma/b",
        "",
        "https://x.example.com/d",
    ]
    assert doc.entries[0].guid == "https://x.example.com/not"


def test_feedburner_original_link_wins() -> None:
    item = (
        '<item xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><title>a</title>'
        "<link>https://feedproxy.google.com/~r/x/~3/abc/</link>"
        "<feedburner:origLink>https://x.example.com/real</feedburner:origLink></item>"
    )
    assert parse_upstream(rss(item), RSS_URL).entries[0].url == "https://x.example.com/real"


def test_undeclared_prefixes_still_match() -> None:
    item = (
        "<item><title>a</title><link>https://x.example.com/a</link>"
        "<content:encoded><![CDATA[<p>body</p>]]></content:encoded>"
        "<dc:creator>Wang</dc:creator><dc:date>2024-01-02T03:04:05+08:00</dc:date></item>"
    )
    entry = parse_upstream(rss(item), RSS_URL).entries[0]
    assert entry.content_html == "<p>body</p>"
    assert entry.authors == ["Wang"]
    assert entry.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=CST)


def test_media_group_thumbnail_and_script_in_summary() -> None:
    item = (
        '<item xmlns:media="http://search.yahoo.com/mrss/"><title>a</title>'
        "<link>https://x.example.com/a</link>"
        "<description>&lt;script&gt;alert(1)&lt;/script&gt;Hi&lt;br&gt;there</description>"
        '<media:group><media:content url="https://x.example.com/v.mp4" type="video/mp4"/>'
        '<media:thumbnail url="/thumb.jpg"/></media:group></item>'
    )
    entry = parse_upstream(rss(item), RSS_URL).entries[0]
    assert entry.image == "https://news.example.com/thumb.jpg"
    assert entry.summary == "Hi there"


def test_empty_items_are_skipped() -> None:
    doc = parse_upstream(rss("<item></item><item><title> </title></item>"), RSS_URL)
    assert doc.entries == []


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 822 and its usual breakages
        ("Tue, 10 Jun 2003 04:00:00 GMT", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Mon, 10 Jun 2003 04:00:00 GMT", datetime(2003, 6, 10, 4, tzinfo=UTC)),  # bad weekday
        ("10 Jun 2003 04:00:00 +0800", datetime(2003, 6, 10, 4, tzinfo=CST)),  # no weekday
        (
            "Tue, 10 Jun 2003 04:00:00 EST",
            datetime(2003, 6, 10, 4, tzinfo=timezone(-timedelta(hours=5))),
        ),
        (
            "Tue, 10 Jun 2003 04:00:00 PDT",
            datetime(2003, 6, 10, 4, tzinfo=timezone(-timedelta(hours=7))),
        ),
        ("Tue, 10 Jun 2003 04:00:00 Z", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Tue, 10 Jun 2003 04:00:00 -0000", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        ("Tue, 10 Jun 2003 04:00:00 +08:00", datetime(2003, 6, 10, 4, tzinfo=CST)),
        ("Tue, 10 Jun 2003 04:00:00 GMT+8", datetime(2003, 6, 10, 4, tzinfo=CST)),
        ("Tue, 10 Jun 2003 04:00:00 +0000 (UTC)", datetime(2003, 6, 10, 4, tzinfo=UTC)),
        (
            "Tuesday, 10 June 2003 4:00 PM CET",
            datetime(2003, 6, 10, 16, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("Tue, 10 Jun 03 04:00:00 GMT", datetime(2003, 6, 10, 4, tzinfo=UTC)),  # 2-digit year
        ("Tue, 10 Jun 2003 04:00:00", datetime(2003, 6, 10, 4, tzinfo=SHANGHAI)),  # naive
        (
            "Tue, 10 Jun 2003 04:00:00 XYZ",
            datetime(2003, 6, 10, 4, tzinfo=SHANGHAI),
        ),  # unknown zone
        ("Tue, 10 Jun 2003", datetime(2003, 6, 10, tzinfo=SHANGHAI)),
        # ISO 8601 / W3C
        ("2022-12-09", datetime(2022, 12, 9, tzinfo=SHANGHAI)),
        ("2022-12-09T10:30:00+08:00", datetime(2022, 12, 9, 10, 30, tzinfo=CST)),
        ("2022-12-09T10:30:00Z", datetime(2022, 12, 9, 10, 30, tzinfo=UTC)),
        ("2022-12-09t10:30:00z", datetime(2022, 12, 9, 10, 30, tzinfo=UTC)),
        ("2022-12-09T10:30:00.123456789Z", datetime(2022, 12, 9, 10, 30, 0, 123456, tzinfo=UTC)),
        ("2022-12-09T10:30:00", datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI)),
        ("2022-12-09 10:30", datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI)),
        ("2022-12-09T10:30:00 +0800", datetime(2022, 12, 9, 10, 30, tzinfo=CST)),
        ("2022-12-09T10:30+08", datetime(2022, 12, 9, 10, 30, tzinfo=CST)),
        ("20221209T103000Z", datetime(2022, 12, 9, 10, 30, tzinfo=UTC)),
        ("2022-12", datetime(2022, 12, 1, tzinfo=SHANGHAI)),
        ("2022", datetime(2022, 1, 1, tzinfo=SHANGHAI)),
        ("2022/12/09 10:30", datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI)),
        ("2022年12月09日 10:30", datetime(2022, 12, 9, 10, 30, tzinfo=SHANGHAI)),
        ("  2022-12-09T10:30:00Z \n", datetime(2022, 12, 9, 10, 30, tzinfo=UTC)),
        # Unparseable: None, never an exception
        ("", None),
        ("   ", None),
        ("garbage", None),
        ("yesterday", None),
        ("2022-13-45", None),
        ("2022-12-09T25:00:00Z", None),
        ("Tue, 31 Feb 2003 04:00:00 GMT", None),
        ("Tue, 10 Jun 2003 04:00:00 +9999", None),
        ("0000-00-00", None),
        ("9999-12-31T23:59:59-23:59", None),  # not representable in UTC
        ("1" * 5000, None),
        ("١٢٣٤-٠١-٠١", None),  # non-ASCII digits
    ],
)
def test_dates(text: str, expected: datetime | None) -> None:
    parsed = parse_feed_date(text, SHANGHAI)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None
        assert parsed.tzinfo == expected.tzinfo or parsed.utcoffset() == expected.utcoffset()


def test_naive_feed_dates_get_default_tz() -> None:
    item = (
        "<item><title>a</title><link>https://x.example.com/a</link>"
        "<pubDate>2024-05-14 08:30:00</pubDate><dc:modified>bad date</dc:modified></item>"
    )
    entry = parse_upstream(rss(item), RSS_URL, default_tz=SHANGHAI).entries[0]
    assert entry.published == datetime(2024, 5, 14, 8, 30, tzinfo=SHANGHAI)
    assert entry.published.utcoffset() == timedelta(hours=8)
    assert entry.modified is None
    default = parse_upstream(rss(item), RSS_URL).entries[0]
    assert default.published == datetime(2024, 5, 14, 8, 30, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def check_document(doc: UpstreamDocument) -> None:
    assert doc.kind in {"rss", "atom", "rdf", "jsonfeed", "sitemap", "sitemapindex"}
    for entry in doc.entries:
        assert entry.url == "" or entry.url.startswith(("http://", "https://"))
        assert entry.image == "" or entry.image.startswith(("http://", "https://"))
        for value in (entry.published, entry.modified):
            assert value is None or value.tzinfo is not None
    for url in doc.sitemaps:
        assert url.startswith(("http://", "https://"))


# Arbitrary bytes, also behind the prefixes that steer them to each parser.
ANY_BYTES = st.binary(max_size=2048)
PREFIXED = st.tuples(
    st.sampled_from(
        [b"", b"<", b"<?xml version='1.0'?>", b"<rss><channel><item><title>", b"<feed>",
         b"<urlset><url><loc>", b"{", b'{"items": [{"title": "', b"\xef\xbb\xbf<", b"\xff\xfe<"]
    ),
    ANY_BYTES,
).map(b"".join)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ANY_BYTES, PREFIXED, PREFIXED.map(gzip.compress)))
def test_arbitrary_bytes_raise_only_upstream_error(body: bytes) -> None:
    try:
        doc = parse_upstream(body, "https://fuzz.example.com/feed")
    except UpstreamError as error:
        assert str(error).startswith("https://fuzz.example.com/feed: ")
    else:
        check_document(doc)


TOKENS = [
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="gbk"?>',
    '<?xml version="1.0" encoding="no-such-codec"?>',
    '<!DOCTYPE x [<!ENTITY a "b&a;">]>',
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    "<rss>", "</rss>", "<channel>", "</channel>", "<item>", "</item>", "<title>", "</title>",
    "<link>", "</link>", '<link rel="alternate" href="x"/>', "<guid>", "</guid>",
    "<pubDate>", "</pubDate>", "<description>", "</description>",
    "<content:encoded>", "</content:encoded>", '<media:content url="a.jpg"/>',
    '<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>", "<entry>", "</entry>",
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">', "</div></content>",
    '<content type="html">', "</content>", '<a xml:base="javascript:x/">', "</a>",
    "<urlset>", "</urlset>", "<url>", "</url>", "<loc>", "</loc>", "<lastmod>", "</lastmod>",
    "<sitemapindex>", "<sitemap>", "</sitemap>", "<news:news>", "<news:publication_date>",
    "<rdf:RDF>", "</rdf:RDF>", "<![CDATA[", "]]>", "<!--", "-->", "&amp;", "&nbsp;", "&",
    "&#xD800;", "&#0;", "&e;", "&a;", "https://a.example.com/x", "/rel", "http://[::1",
    "Tue, 10 Jun 2003 04:00:00 GMT", "9999-12-31T23:59:59-23:59", "朱镕基", "\x00", " ",
    "{", "}", '"items": [', '{"url": 1, "title": [], "date_published": {}}', "]", ",",
    '"version": "https://jsonfeed.org/version/1.1"', '"\\ud800"', "null",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(TOKENS), max_size=40),
    st.sampled_from(["utf-8", "gb18030", "utf-16"]),
    st.booleans(),
    st.sampled_from([None, 1, 5, 64]),
)
# A DOCTYPE after the root element: recovery read it differently whole and in pieces.
@example(
    tokens=["<sitemapindex>", "<title>", '<!DOCTYPE x [<!ENTITY a "b&a;">]>'],
    codec="utf-8",
    gzipped=False,
    stream_chunk=1,
)
def test_feed_like_soup_raises_only_upstream_error(
    tokens: list[str], codec: str, gzipped: bool, stream_chunk: int | None
) -> None:
    body = "".join(tokens).encode(codec, "surrogatepass" if codec != "gb18030" else "replace")
    if gzipped:
        body = gzip.compress(body)

    def outcome() -> UpstreamDocument | str:
        try:
            return parse_upstream(body, "https://fuzz.example.com/feed", default_tz=SHANGHAI)
        except UpstreamError as error:
            assert str(error).startswith("https://fuzz.example.com/feed: ")
            return str(error)

    result = outcome()
    if isinstance(result, UpstreamDocument):
        check_document(result)
        assert "root:" not in repr(result)
    if stream_chunk is not None:  # streaming reads the same thing, in any chunking
        with (
            mock.patch.object(upstream, "_TREE_BYTES", 0),
            mock.patch.object(upstream, "_XML_CHUNK", stream_chunk),
        ):
            assert outcome() == result
