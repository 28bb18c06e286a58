"""The renderer's bytes are the bytes of the feedgen renderer the project started with.

``feeds.render`` builds RSS and Atom with feedgen 1.0, as its first version did, but
prepares each entry once for the three formats (cached by content hash) and makes both
documents from one ``FeedGenerator`` per feed, where the first version built a generator
per format. This file keeps that first renderer (``feeds/render.py`` at commit 1547bd7),
verbatim but for its imports (and ``xml_safe`` as the regular expression it was), as the
reference: every test renders the same input with both and compares the bytes, for
hand-picked edge cases and for generated articles. (Between 16cd9d2 and the return to
feedgen the renderer built the trees by hand; ``test_render_golden.py`` holds the bytes
that version wrote and checks they are unchanged.)
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds import render
from feeds.article import Article, RelatedLink, article_id, entry_updated
from feeds.render import FeedMeta

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _FORBIDDEN.sub("", text)


# ======================================================================= the reference
# (feeds/render.py as of commit 1547bd7, feedgen 1.0)

# --------------------------------------------------------------------------- helpers


def _clean(text: str | None) -> str:
    return xml_safe(text or "")


def _first_nonblank(*candidates: str) -> str:
    for candidate in candidates:
        cleaned = _clean(candidate)
        if cleaned.strip():
            return cleaned
    return ""


@functools.lru_cache(maxsize=16384)
def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _is_zh(language: str) -> bool:
    return language.strip().lower().startswith("zh")


def _aware(dt: datetime) -> datetime:
    """``dt`` with a time zone a feed can state: naive → UTC (the store writes aware
    times, this is only a guard), and an offset with seconds (old LMT zones) → UTC,
    since neither RFC 822 nor RFC 3339 can express it."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    offset = dt.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        return dt.astimezone(UTC)
    return dt


def _id(article: Article) -> str:
    return _clean(article.id).strip() or article_id(article.source, article.key)


def _guid(article: Article) -> str:
    """``article.guid``; an article the store has not given an id gets its computed one."""
    return _clean(article.guid) if _clean(article.id).strip() else f"urn:uuid:{_id(article)}"


def _updated(article: Article) -> datetime:
    return _aware(entry_updated(article))


def _published(article: Article) -> datetime:
    when = article.published or article.first_seen
    return _aware(when) if when is not None else _updated(article)


def _feed_updated(meta: FeedMeta, articles: Sequence[Article]) -> datetime:
    if not articles:
        return _aware(meta.updated_fallback).astimezone(UTC)
    return max(_updated(a) for a in articles).astimezone(UTC)


def _entry_link(meta: FeedMeta, article: Article) -> str:
    url = _clean(article.url).strip()
    return url if _is_web_url(url) else _clean(meta.article_url(_id(article)))


def _entry_title(article: Article) -> str:
    return _first_nonblank(article.title) or (
        "（无标题）" if _is_zh(article.language) else "(untitled)"
    )


def _authors(article: Article) -> list[str]:
    return [name for name in (_clean(a).strip() for a in article.authors) if name]


def _categories(article: Article) -> list[str]:
    seen: dict[str, None] = {}
    for category in article.categories:
        cleaned = _clean(category).strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


def _related(article: Article) -> list[RelatedLink]:
    """The related links worth listing: a title or a web URL; non-web URLs dropped."""
    out = []
    for link in article.related:
        url = link.url.strip() if _is_web_url(link.url) else ""
        title = link.title.strip()
        if title or url:
            out.append(RelatedLink(title=title or url, url=url))
    return out


def _feed_title(meta: FeedMeta) -> str:
    return _first_nonblank(meta.title, meta.name) or "feedmill"


# --------------------------------------------------------------------------- content


# Content HTML by (id, content hash): a build renders each article three times (RSS,
# Atom, JSON) and the cleaned HTML is the most expensive part of each; bounded.
_CONTENT_CACHE: dict[tuple[str, str], str] = {}
_CONTENT_CACHE_MAX = 4096


def _content(article: Article) -> str:
    """``xml_safe(content_html(article))``, cached for articles read from the store."""
    if not article.content_hash:
        return _clean(content_html(article))
    key = (article.id, article.content_hash)
    cached = _CONTENT_CACHE.get(key)
    if cached is None:
        cached = _clean(content_html(article))
        if len(_CONTENT_CACHE) >= _CONTENT_CACHE_MAX:
            _CONTENT_CACHE.clear()
        _CONTENT_CACHE[key] = cached
    return cached


def content_html(article: Article) -> str:
    """The article's full content as HTML: ``body_html`` (or ``body_text`` as escaped
    ``<p>`` paragraphs, one per non-blank line), then its related links, if any, as a
    heading and a list. Only http(s) URLs become links."""
    parts: list[str] = []
    if article.body_html.strip():
        parts.append(article.body_html.strip())
    else:
        parts.extend(
            f"<p>{html.escape(line.strip())}</p>"
            for line in article.body_text.splitlines()
            if line.strip()
        )
    related = _related(article)
    if related:
        heading = "相关阅读" if _is_zh(article.language) else "Related"
        parts.append(f"<h2>{heading}</h2>")
        parts.append("<ul>")
        for link in related:
            title = html.escape(link.title, quote=True)
            if link.url:
                href = html.escape(link.url, quote=True)
                parts.append(f'<li><a href="{href}">{title}</a></li>')
            else:
                parts.append(f"<li>{title}</li>")
        parts.append("</ul>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- feedgen glue


class _FeedExtension(BaseExtension):
    """Adds ``<atom:link rel="hub">`` to an RSS channel (feedgen writes only the self link)."""

    def __init__(self) -> None:
        self.hub = ""

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            channel = feed[0]
            hub = etree.Element(f"{{{_ATOM_NS}}}link", href=self.hub, rel="hub")
            selfs = channel.findall(f"{{{_ATOM_NS}}}link")
            if selfs:
                selfs[-1].addnext(hub)
            else:
                channel.append(hub)
        return feed


class _EntryExtension(BaseEntryExtension):
    """Sets ``xml:lang`` on an Atom entry (the combined feed mixes languages)."""

    def __init__(self) -> None:
        self.language = ""

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.language:
            entry.set(_XML_LANG, self.language)
        return entry


def _generator(meta: FeedMeta, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension(
        "feedmill", _FeedExtension, _EntryExtension, atom=fmt == "atom", rss=fmt == "rss"
    )
    fg.title(_feed_title(meta))
    fg.id(_clean(meta.feed_url("atom")))
    language = _clean(meta.language).strip()
    if language:
        fg.language(language)
    generator = _clean(meta.generator).strip()
    version = _clean(meta.generator_version).strip()
    if fmt == "rss":
        fg.generator(f"{generator} {version}".strip() if generator else "")
    else:
        fg.generator(generator, version=version or None)
    return fg


# --------------------------------------------------------------------------- RSS


def render_rss(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator and atom:link self (and hub)."""
    fg = _generator(meta, "rss")
    fg.load_extension("dc", atom=False, rss=True)
    # feedgen writes the first rel=self link as atom:link and the *last* link as <link>.
    fg.link(href=_clean(meta.feed_url("rss")), rel="self", type="application/rss+xml")
    fg.link(href=_clean(meta.home_url), rel="alternate")
    fg.description(_first_nonblank(meta.description) or _feed_title(meta))
    fg.lastBuildDate(_feed_updated(meta, articles))
    hub = _clean(meta.hub).strip()
    if hub:
        fg.feedmill.hub = hub

    for article in articles:
        fe = fg.add_entry(order="append")
        fe.guid(_guid(article), permalink=False)
        fe.title(_entry_title(article))
        fe.link(href=_entry_link(meta, article))
        fe.pubDate(_published(article))
        summary = _clean(article.summary).strip()
        if summary:
            # RSS readers treat <description> as HTML: escape so the summary stays text.
            fe.summary(html.escape(summary, quote=False))
        body = _content(article)
        if body:
            # lxml refuses "]]>" inside CDATA; escaped text is equivalent for readers.
            fe.content(body, type=None if "]]>" in body else "CDATA")
        authors = _authors(article)
        if authors:
            fe.dc.dc_creator("、".join(authors))
        for category in _categories(article):
            fe.category(term=category)
    return fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)


# --------------------------------------------------------------------------- Atom


def render_atom(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """Atom 1.0; a feed-level author covers entries that name none."""
    fg = _generator(meta, "atom")
    fg.author(name=_first_nonblank(meta.author, meta.title, meta.name) or "feedmill")
    fg.link(href=_clean(meta.home_url), rel="alternate", type="text/html")
    fg.link(href=_clean(meta.feed_url("atom")), rel="self", type="application/atom+xml")
    hub = _clean(meta.hub).strip()
    if hub:
        fg.link(href=hub, rel="hub")
    description = _clean(meta.description).strip()
    if description:
        fg.subtitle(description)
    fg.updated(_feed_updated(meta, articles))

    for article in articles:
        fe = fg.add_entry(order="append")
        fe.id(_guid(article))
        fe.title(_entry_title(article))
        fe.link(href=_entry_link(meta, article), rel="alternate", type="text/html")
        fe.published(_published(article))
        fe.updated(_updated(article))
        for name in _authors(article):
            fe.author(name=name)
        summary = _clean(article.summary).strip()
        if summary:
            fe.summary(summary, type="text")
        body = _content(article)
        if body:
            fe.content(body, type="html")
        rights = _clean(article.rights).strip()
        if rights:
            fe.rights(rights)
        for category in _categories(article):
            fe.category(term=category)
        language = _clean(article.language).strip()
        if language:
            fe.feedmill.language = language
    return fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)


# --------------------------------------------------------------------------- JSON Feed


def _json_item(meta: FeedMeta, article: Article) -> dict[str, object]:
    item: dict[str, object] = {
        "id": _guid(article),
        "url": _entry_link(meta, article),
        "title": _entry_title(article),
        "content_html": _content(article),
    }
    body_text = _clean(article.body_text).strip()
    if body_text:
        item["content_text"] = body_text
    summary = _clean(article.summary).strip()
    if summary:
        item["summary"] = summary
    image = _clean(article.image).strip()
    if _is_web_url(image):
        item["image"] = image
    item["date_published"] = _published(article).isoformat()
    item["date_modified"] = _updated(article).isoformat()
    authors = _authors(article)
    if authors:
        item["authors"] = [{"name": name} for name in authors]
    categories = _categories(article)
    if categories:
        item["tags"] = categories
    language = _clean(article.language).strip()
    if language:
        item["language"] = language
    item["_feedmill"] = {
        "source": _clean(article.source),
        "agency": _clean(article.agency).strip(),
        "publisher": _clean(article.publisher).strip(),
        "rights": _clean(article.rights).strip(),
        "related": [
            {"title": _clean(link.title), "url": _clean(link.url)} for link in _related(article)
        ],
    }
    return item


def render_json(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """JSON Feed 1.1, UTF-8, keys in a fixed order."""
    feed: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": _feed_title(meta),
        "home_page_url": _clean(meta.home_url),
        "feed_url": _clean(meta.feed_url("json")),
    }
    description = _clean(meta.description).strip()
    if description:
        feed["description"] = description
    language = _clean(meta.language).strip()
    if language:
        feed["language"] = language
    author = _clean(meta.author).strip()
    if author:
        feed["authors"] = [{"name": author}]
    hub = _clean(meta.hub).strip()
    if hub:
        feed["hubs"] = [{"type": "WebSub", "url": hub}]
    feed["items"] = [_json_item(meta, article) for article in articles]
    # Compact: the C encoder (indent= falls back to the pure-Python one, half the cost).
    text = json.dumps(feed, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


# ======================================================================= the comparison

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEWFOUNDLAND = timezone(-timedelta(hours=3, minutes=30))
LMT = ZoneInfo("Asia/Kolkata")  # before 1942 its offsets have seconds (LMT, +05:53:28)
FORMATS = ("rss", "atom", "json")
REFERENCE = {"rss": render_rss, "atom": render_atom, "json": render_json}


def meta(**overrides: object) -> FeedMeta:
    values: dict[str, object] = {
        "name": "seeds",
        "title": "种子文库",
        "link": "https://seeds.example.cn/",
        "description": "本地文档转成的订阅源",
        "language": "zh-CN",
        "base_url": "http://127.0.0.1:8080/",
        "generator": "feedmill",
        "generator_version": "0.1.0",
        "author": "种子",
    }
    values.update(overrides)
    return FeedMeta(**values)  # type: ignore[arg-type]


def article(n: int = 0, **overrides: object) -> Article:
    key = f"docs/{n}.txt"
    values: dict[str, object] = {
        "source": "seeds",
        "key": key,
        "id": article_id("seeds", key),
        "title": f"标题 {n}",
        "url": f"https://news.example.cn/{n}.html",
        "authors": ["张三", "李四"],
        "agency": "新华社",
        "publisher": "人民网",
        "published": datetime(2024, 5, 1, 9, 30, tzinfo=SHANGHAI) - timedelta(hours=n),
        "language": "zh-CN",
        "summary": "摘要 & <b>不是标签</b>",
        "body_text": "第一段。\n\n第二段 <script>。",
        "body_html": "<p>第一段。</p>\n<p>第二段。</p>",
        "rights": "© 2024",
        "categories": ["政治", "经济", "政治", "  "],
        "related": [RelatedLink("相关", "https://r.example.cn/1"), RelatedLink("无链接", "")],
        "image": "https://img.example.cn/1.jpg",
        "first_seen": datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
        "updated": datetime(2024, 5, 2, 3, 15, tzinfo=UTC),
    }
    values.update(overrides)
    return Article(**values)  # type: ignore[arg-type]


def assert_same(feed_meta: FeedMeta, articles: Sequence[Article]) -> None:
    """Every format, through RENDERERS and through render_feeds, equals the reference."""
    _CONTENT_CACHE.clear()  # the reference's own cache keys on (id, content_hash) only
    expected = {fmt: REFERENCE[fmt](feed_meta, articles) for fmt in FORMATS}
    for fmt in FORMATS:
        assert render.RENDERERS[fmt][0](feed_meta, articles) == expected[fmt], fmt
    assert render.render_feeds(feed_meta, articles) == expected


CASES: dict[str, tuple[FeedMeta, list[Article]]] = {
    "typical": (meta(), [article(n) for n in range(5)]),
    "empty feed": (meta(), []),
    "empty feed, fallback date": (
        meta(updated_fallback=datetime(2020, 2, 2, 2, 2, tzinfo=SHANGHAI)),
        [],
    ),
    "hub, no language, no generator version": (
        meta(hub="https://hub.example.org/", language="", generator_version=""),
        [article(1)],
    ),
    "no generator": (meta(generator="", generator_version="9"), [article(1)]),
    "blank meta": (
        meta(title=" ", description="", link="", author="", name="x-1"),
        [article(1)],
    ),
    "english, body_text only, no summary": (
        meta(language="en"),
        [article(2, language="en", summary="", body_html="", rights="", image="ftp://x/y")],
    ),
    "no body, no summary": (meta(), [article(3, summary="", body_text="", body_html="")]),
    "summary only": (meta(), [article(3, body_text="", body_html="", related=[])]),
    "body with ]]>": (meta(), [article(4, body_html="<p>a ]]> b</p>", summary="")]),
    "body with ]]> and a summary": (meta(), [article(4, body_html="<p>x]]>y</p>")]),
    "no authors, no categories, no related": (
        meta(),
        [article(5, authors=[" ", ""], categories=[], related=[], language="")],
    ),
    "non-web url and blank titles": (
        meta(),
        [
            article(6, url="javascript:alert(1)", title="  "),
            article(7, url="", title="", language="en"),
            article(8, id="", url="/relative"),
        ],
    ),
    "hostile strings": (
        meta(title="<b>&amp;</b>", description='"quoted" & <tags>'),
        [
            article(
                9,
                title="<script>alert('x')</script> & co",
                summary="]]><![CDATA[",
                authors=["A <a@b>", "B & C"],
                categories=["<c>", 'q"uote'],
                rights="<rights/>",
                related=[RelatedLink('x" onclick="y', "https://e.org/?a=1&b=<2>")],
            )
        ],
    ),
    "forbidden characters": (
        meta(title="T\x00\x01itle\ufffe", hub="https://h\x0b.org/"),
        [
            article(
                10,
                title="bad\x08\ud800title\uffff",
                summary="s\x1f",
                body_html="<p>\x00body\ud83d</p>",
                body_text="t\x0c",
                authors=["\x02"],
                categories=["\x03c"],
                url="https://e.org/\x7f\x1b",
                related=[RelatedLink("r\x04", "https://r.org/\x05")],
            )
        ],
    ),
    "dates: naive, LMT offsets, negative offsets, old years": (
        meta(),
        [
            article(11, published=datetime(2024, 1, 1, 0, 0), first_seen=None, updated=None),
            article(12, published=datetime(1900, 6, 1, 12, 0, tzinfo=LMT)),
            article(
                13,
                published=datetime(
                    2023, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=3, minutes=30))
                ),
                modified=datetime(2024, 2, 29, 1, 2, 3, 456789, tzinfo=UTC),
            ),
            article(14, published=datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC)),
            article(15, published=None, first_seen=datetime(2024, 7, 1, tzinfo=UTC)),
        ],
    ),
    "stored articles (cached entries)": (
        meta(),
        [article(n, content_hash=f"{n:064x}") for n in range(3)],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_bytes_as_feedgen(case: str) -> None:
    feed_meta, articles = CASES[case]
    assert_same(feed_meta, articles)


def test_cached_entries_follow_the_content_hash() -> None:
    """A stored article's prepared entry is reused only while its content hash (and
    dates) are the same; an edit gives a new hash, and the new text is rendered."""
    first = article(1, content_hash="a" * 64)
    assert_same(meta(), [first])
    assert_same(meta(), [first])  # from the cache
    edited = article(1, title="改过的标题", content_hash="b" * 64)
    assert b"\xe6\x94\xb9\xe8\xbf\x87" in render.render_rss(meta(), [edited])
    assert_same(meta(), [edited])
    # The same article under another base URL (its fallback link) is its own entry.
    linkless = article(2, url="", content_hash="c" * 64)
    assert_same(meta(base_url="http://a.example/"), [linkless])
    assert_same(meta(base_url="http://b.example/"), [linkless])


_text = st.text(
    alphabet=st.characters(codec=None, categories=None, exclude_categories=()),
    max_size=40,
)
_dates = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, SHANGHAI, LMT, timezone(timedelta(hours=-9, minutes=-30))])
    | st.none(),
)


@st.composite
def articles(draw: st.DrawFn) -> Article:
    source = draw(st.sampled_from(["seeds", "wire"]))
    key = draw(_text)
    published = draw(_dates | st.none())
    first_seen = draw(_dates)
    return Article(
        source=source,
        key=key,
        id=draw(st.sampled_from([article_id(source, key), ""])),
        title=draw(_text),
        url=draw(st.sampled_from(["", "https://e.org/a", "mailto:x@y"]) | _text),
        authors=draw(st.lists(_text, max_size=3)),
        agency=draw(_text),
        publisher=draw(_text),
        published=published,
        modified=draw(_dates | st.none()),
        language=draw(st.sampled_from(["", "zh-CN", "en", " zh "]) | _text),
        summary=draw(_text),
        body_text=draw(_text),
        body_html=draw(st.sampled_from(["", "<p>x</p>", "a]]>b"]) | _text),
        rights=draw(_text),
        categories=draw(st.lists(_text, max_size=3)),
        related=[
            RelatedLink(title, url)
            for title, url in draw(
                st.lists(
                    st.tuples(_text, st.sampled_from(["", "https://r.org/x"]) | _text), max_size=2
                )
            )
        ],
        image=draw(st.sampled_from(["", "https://i.org/x.png"]) | _text),
        first_seen=first_seen,
        updated=draw(st.sampled_from([None, first_seen]) | _dates),
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(articles(), max_size=4),
    title=_text,
    description=_text,
    language=st.sampled_from(["", "zh-CN", "en"]) | _text,
    hub=st.sampled_from(["", "https://hub.example/"]) | _text,
)
def test_generated_articles_same_bytes(
    items: list[Article], title: str, description: str, language: str, hub: str
) -> None:
    dated = [a for a in items if a.published or a.modified or a.first_seen]
    feed_meta = meta(title=title, description=description, language=language, hub=hub)
    try:
        REFERENCE["rss"](feed_meta, dated)
    except (ValueError, TypeError):
        # The reference refused the input (naive and aware dates mixed, which no stored
        # article has): nothing to compare against.
        return
    assert_same(feed_meta, dated)
