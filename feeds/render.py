"""Feed rendering: (feed metadata, articles) → RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes.

A pure module: no network, no files, no clock. The same input always gives the same bytes,
because the store only rewrites a feed file when its bytes change. feedgen would stamp the
current time into ``lastBuildDate``/``updated`` and its own name into ``generator``; both are
set explicitly here (the feed date is the newest entry's :func:`entry_updated`, or
``FeedMeta.updated_fallback`` for an empty feed).

Every string that reaches a feed passes through :func:`xml_safe` (JSON too, so the three
formats carry the same text and a lone surrogate cannot break the UTF-8 encoding).
Text fields (titles, summaries, names) go in as text and are escaped by the serializer;
content HTML goes in as CDATA (RSS, unless it contains ``]]>``) or escaped text (Atom).
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.article import Article, RelatedLink, article_id, entry_updated
from feeds.xmltext import xml_safe

__all__ = [
    "JSON_FEED_VERSION",
    "RENDERERS",
    "FeedMeta",
    "content_html",
    "render_atom",
    "render_json",
    "render_rss",
]

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

_EXTENSIONS = {"rss": "rss", "atom": "atom", "json": "json"}
_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a feed says about itself; the articles come separately."""

    name: str  # "seeds", or "all" for the combined feed
    title: str
    link: str  # the site's home page; "" → base_url + "/"
    description: str
    language: str  # BCP 47; "" when unknown or mixed
    base_url: str  # where feedmill serves, e.g. "http://127.0.0.1:8080"
    generator: str = "feedmill"
    generator_version: str = ""
    author: str = ""  # Atom feed author; "" → the title
    hub: str = ""  # WebSub hub URL
    updated_fallback: datetime = _EPOCH  # the feed date when there are no entries

    @property
    def base(self) -> str:
        """``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def home_url(self) -> str:
        """The site's home page: ``link``, or feedmill's own root."""
        return self.link or f"{self.base}/"

    def feed_url(self, fmt: str) -> str:
        """Where feedmill serves this feed in ``fmt`` ("rss", "atom" or "json")."""
        try:
            ext = _EXTENSIONS[fmt]
        except KeyError:
            raise ValueError(
                f"unknown feed format {fmt!r}; expected one of rss, atom, json"
            ) from None
        return f"{self.base}/feeds/{quote(self.name, safe='')}.{ext}"

    def article_url(self, article_id: str) -> str:
        """feedmill's own page for an article (used when the article has no URL)."""
        return f"{self.base}/articles/{quote(article_id, safe='')}"


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


RENDERERS: dict[str, tuple[Callable[[FeedMeta, Sequence[Article]], bytes], str]] = {
    "rss": (render_rss, "application/rss+xml"),
    "atom": (render_atom, "application/atom+xml"),
    "json": (render_json, "application/feed+json"),
}
