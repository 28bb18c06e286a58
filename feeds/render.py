"""Feed rendering: (feed metadata, articles) → RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes.

A pure module: no network, no files, no clock. The same input always gives the same bytes,
because the store only rewrites a feed file when its bytes change. The feed date is the
newest entry's :func:`entry_updated` (or ``FeedMeta.updated_fallback`` for an empty feed),
never the current time.

Every string that reaches a feed passes through :func:`xml_safe` (JSON too, so the three
formats carry the same text and a lone surrogate cannot break the UTF-8 encoding).
Text fields (titles, summaries, names) go in as text and are escaped by the serializer;
content HTML goes in as CDATA (RSS, unless it contains ``]]>``) or escaped text (Atom).

RSS and Atom are built by feedgen 1.0 (``FeedGenerator``/``FeedEntry``, ``rss_str`` and
``atom_str``), the project's feed library; JSON Feed, which feedgen does not write, is
built here. feedmill's own additions go through feedgen's extension API: the RSS
``<atom:link rel="hub">``, ``xml:lang`` on Atom entries, and ``dc:creator`` (a
one-element stand-in for feedgen's ``dc`` extension, which checks fifteen DC fields per
entry: a tenth of a whole build's time).

Speed (the performance issue, target 5): a build renders each feed in all three formats,
so :func:`render_feeds` prepares every entry once (cleaned text, dates, link, content
HTML) and hands the same :class:`_Entry` to the three serializers; prepared entries of
stored articles are also kept by content hash, so a rebuild after a run only prepares
the articles that changed. RSS and Atom come from one ``FeedGenerator`` per feed: the
fields both formats write the same way are set once, RSS is written, then the few that
differ (the feed's links, generator and subtitle; each entry's summary and content type)
are set again for Atom. Prepared text is already XML-safe (:func:`xml_safe`), so nothing
is cleaned twice.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.article import Article, RelatedLink, article_id, entry_updated
from feeds.xmltext import xml_safe

__all__ = [
    "FORMATS",
    "JSON_FEED_VERSION",
    "RENDERERS",
    "FeedMeta",
    "clear_cache",
    "content_html",
    "render_atom",
    "render_feeds",
    "render_json",
    "render_rss",
]

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
FORMATS = ("rss", "atom", "json")

_EXTENSIONS = {"rss": "rss", "atom": "atom", "json": "json"}
_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ATOM_LINK = f"{{{_ATOM_NS}}}link"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_DC_CREATOR = f"{{{_DC_NS}}}creator"
_MINUTE = timedelta(minutes=1)


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


def _same(text: str | None) -> str:
    return text or ""


_Clean = Callable[[str | None], str]


def _first_nonblank(*candidates: str, clean: _Clean = _clean) -> str:
    for candidate in candidates:
        cleaned = clean(candidate)
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
    if offset is not None and offset % _MINUTE:
        return dt.astimezone(UTC)
    return dt


def _id(article: Article, clean: _Clean = _clean) -> str:
    return clean(article.id).strip() or article_id(article.source, article.key)


def _guid(article: Article, clean: _Clean = _clean) -> str:
    """``article.guid``; an article the store has not given an id gets its computed one."""
    return clean(article.guid) if clean(article.id).strip() else f"urn:uuid:{_id(article)}"


def _updated(article: Article) -> datetime:
    return _aware(entry_updated(article))


def _published(article: Article) -> datetime:
    when = article.published or article.first_seen
    return _aware(when) if when is not None else _updated(article)


def _entry_link(meta: FeedMeta, article: Article, clean: _Clean = _clean) -> str:
    url = clean(article.url).strip()
    return url if _is_web_url(url) else _clean(meta.article_url(_id(article, clean)))


def _entry_title(article: Article, clean: _Clean = _clean) -> str:
    return _first_nonblank(article.title, clean=clean) or (
        "（无标题）" if _is_zh(article.language) else "(untitled)"
    )


def _authors(article: Article, clean: _Clean = _clean) -> list[str]:
    return [name for name in (clean(a).strip() for a in article.authors) if name]


def _categories(article: Article, clean: _Clean = _clean) -> list[str]:
    seen: dict[str, None] = {}
    for category in article.categories:
        cleaned = clean(category).strip()
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


def content_html(article: Article) -> str:
    """The article's full content as HTML: ``body_html`` (or ``body_text`` as escaped
    ``<p>`` paragraphs, one per non-blank line), then its related links, if any, as a
    heading and a list. Only http(s) URLs become links."""
    return _content_html(article, _related(article))


def _content_html(article: Article, related: Sequence[RelatedLink]) -> str:
    parts: list[str] = []
    if article.body_html.strip():
        parts.append(article.body_html.strip())
    else:
        parts.extend(
            f"<p>{html.escape(line.strip())}</p>"
            for line in article.body_text.splitlines()
            if line.strip()
        )
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


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class _Entry:
    """One article as every format shows it: cleaned, stripped, dated, linked. Prepared
    once per build (and kept by content hash), so RSS, Atom and JSON share the work."""

    guid: str
    title: str
    link: str
    published: datetime
    updated: datetime
    published_iso: str
    updated_iso: str
    summary: str  # cleaned and stripped; "" when none
    content: str  # cleaned content HTML; "" when none
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    rights: str
    language: str
    body_text: str
    image: str  # a web URL or ""
    source: str
    agency: str
    publisher: str
    related: tuple[tuple[str, str], ...]  # (title, url), cleaned


def _cleaner(article: Article) -> _Clean:
    """How to clean this article's text: :func:`_clean` per field, or nothing at all for
    the usual article, whose text holds nothing XML forbids (one check over all of it
    instead of twenty, a tenth of preparing an entry)."""
    parts = [
        article.id,
        article.url,
        article.title,
        article.summary,
        article.body_html,
        article.body_text,
        article.image,
        article.rights,
        article.language,
        article.source,
        article.agency,
        article.publisher,
        *article.authors,
        *article.categories,
    ]
    for link in article.related:
        parts.append(link.title)
        parts.append(link.url)
    text = "".join(part for part in parts if part)
    return _same if xml_safe(text) is text else _clean


def _prepare(meta: FeedMeta, article: Article) -> _Entry:
    clean = _cleaner(article)
    published = _published(article)
    updated = _updated(article)
    image = clean(article.image).strip()
    related = _related(article)
    return _Entry(
        guid=_guid(article, clean),
        title=_entry_title(article, clean),
        link=_entry_link(meta, article, clean),
        published=published,
        updated=updated,
        published_iso=published.isoformat(),
        updated_iso=updated.isoformat(),
        summary=clean(article.summary).strip(),
        content=clean(_content_html(article, related)),
        authors=tuple(_authors(article, clean)),
        categories=tuple(_categories(article, clean)),
        rights=clean(article.rights).strip(),
        language=clean(article.language).strip(),
        body_text=clean(article.body_text).strip(),
        image=image if _is_web_url(image) else "",
        source=clean(article.source),
        agency=clean(article.agency).strip(),
        publisher=clean(article.publisher).strip(),
        related=tuple((clean(link.title), clean(link.url)) for link in related),
    )


# Prepared entries of stored articles, by everything they are made of: the store changes
# ``content_hash`` whenever a content field changes, and the dates and the base URL (the
# fallback link) complete the key. Bounded: cleared when full.
_EntryKey = tuple[object, ...]
_ENTRY_CACHE: dict[_EntryKey, _Entry] = {}
_ENTRY_CACHE_MAX = 4096


def _entry(meta: FeedMeta, article: Article) -> _Entry:
    if not article.content_hash:  # not from the store: nothing vouches for the content
        return _prepare(meta, article)
    key = (
        article.id,
        article.content_hash,
        article.published,
        article.first_seen,
        article.updated,
        meta.base,
    )
    entry = _ENTRY_CACHE.get(key)
    if entry is None:
        entry = _prepare(meta, article)
        if len(_ENTRY_CACHE) >= _ENTRY_CACHE_MAX:
            _ENTRY_CACHE.clear()
        _ENTRY_CACHE[key] = entry
    return entry


def clear_cache() -> None:
    """Forget the prepared entries (a benchmark's cold runs; tests)."""
    _ENTRY_CACHE.clear()


def _entries(meta: FeedMeta, articles: Iterable[Article]) -> list[_Entry]:
    return [_entry(meta, article) for article in articles]


def _feed_updated(meta: FeedMeta, entries: Sequence[_Entry]) -> datetime:
    if not entries:
        return _aware(meta.updated_fallback).astimezone(UTC)
    return max(e.updated for e in entries).astimezone(UTC)


# --------------------------------------------------------------------------- feedgen glue


class _FeedExtension(BaseExtension):
    """Adds ``<atom:link rel="hub">`` to an RSS channel, after the self link (feedgen
    writes only the self link there); Atom gets its hub as an ordinary feed link."""

    def __init__(self) -> None:
        self.hub = ""

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            channel = feed[0]
            hub = etree.Element(_ATOM_LINK, href=self.hub, rel="hub")
            selfs = channel.findall(_ATOM_LINK)
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


class _DcExtension(BaseExtension):
    """Declares ``xmlns:dc`` on the RSS root (registered for RSS only)."""

    def extend_ns(self) -> dict[str, str]:
        return {"dc": _DC_NS}


class _DcEntryExtension(BaseEntryExtension):
    """``<dc:creator>`` on an RSS item: RSS's own ``<author>`` must be an e-mail address."""

    def __init__(self) -> None:
        self.creator = ""

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.creator:
            etree.SubElement(item, _DC_CREATOR).text = self.creator
        return item


def _generator(meta: FeedMeta, entries: Sequence[_Entry]) -> FeedGenerator:
    """A FeedGenerator with what RSS and Atom share: the feed's title, id, language and
    date, and one FeedEntry per entry with every field both formats show the same way
    (the fields only one format writes are ignored by the other: Atom's authors, rights
    and updated; RSS's dc:creator). :func:`_rss_part` and :func:`_atom_part` then set
    what differs, so one generator gives both documents."""
    fg = FeedGenerator()
    fg.register_extension("feedmill", _FeedExtension, _EntryExtension)
    fg.register_extension("dc", _DcExtension, _DcEntryExtension, atom=False, rss=True)
    fg.title(_feed_title(meta))
    fg.id(_clean(meta.feed_url("atom")))
    language = _clean(meta.language).strip()
    if language:
        fg.language(language)
    fg.updated(_feed_updated(meta, entries))  # atom:updated and RSS lastBuildDate
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.guid(entry.guid, permalink=False)  # also the Atom id
        fe.title(entry.title)
        # feedgen 1.0 writes an Atom entry link with href only (its rel/type code reads
        # the new element instead of the link): rel="alternate" is Atom's default anyway.
        fe.link(href=entry.link)
        fe.published(entry.published)  # RSS pubDate (feedgen formats it in the C locale)
        fe.updated(entry.updated)
        if entry.authors:
            fe.author([{"name": name} for name in entry.authors])
            fe.dc.creator = "、".join(entry.authors)
        if entry.categories:
            fe.category([{"term": category} for category in entry.categories])
        if entry.rights:
            fe.rights(entry.rights)
        if entry.language:
            fe.feedmill.language = entry.language
    return fg


def _rss_part(fg: FeedGenerator, meta: FeedMeta, entries: Sequence[_Entry]) -> bytes:
    """RSS 2.0 from :func:`_generator`'s generator: the RSS links, description, generator
    string and hub, then each entry's summary and content as RSS shows them."""
    title = _feed_title(meta)
    generator = _clean(meta.generator).strip()
    version = _clean(meta.generator_version).strip()
    fg.generator(f"{generator} {version}".strip() if generator else "")
    # feedgen writes the first rel=self link as atom:link and the *last* link as <link>.
    fg.link(
        [
            {"href": _clean(meta.feed_url("rss")), "rel": "self", "type": "application/rss+xml"},
            # feedgen refuses an RSS channel without a link: a configured link made only
            # of characters XML forbids falls back to feedmill's own root.
            {"href": _clean(meta.home_url) or _clean(f"{meta.base}/"), "rel": "alternate"},
        ],
        replace=True,
    )
    fg.description(_first_nonblank(meta.description) or title)
    fg.feedmill.hub = _clean(meta.hub).strip()
    for fe, entry in zip(fg.entry(), entries, strict=True):
        if entry.summary:
            # RSS readers treat <description> as HTML: escape so the summary stays text.
            fe.summary(html.escape(entry.summary, quote=False))
        body = entry.content
        if body:
            # lxml refuses "]]>" inside CDATA; escaped text is equivalent for readers.
            fe.content(body, type=None if "]]>" in body else "CDATA")
    return fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)


def _atom_part(fg: FeedGenerator, meta: FeedMeta, entries: Sequence[_Entry]) -> bytes:
    """Atom 1.0 from :func:`_generator`'s generator (after :func:`_rss_part` or not):
    the Atom author, links, generator and subtitle, then each entry's summary and
    content as Atom shows them. A feed-level author covers entries that name none."""
    generator = _clean(meta.generator).strip()
    version = _clean(meta.generator_version).strip()
    fg.generator(generator, version=version or None)
    fg.author(name=_first_nonblank(meta.author, meta.title, meta.name) or "feedmill")
    links = [
        {"href": _clean(meta.home_url), "rel": "alternate", "type": "text/html"},
        {"href": _clean(meta.feed_url("atom")), "rel": "self", "type": "application/atom+xml"},
    ]
    hub = _clean(meta.hub).strip()
    if hub:
        links.append({"href": hub, "rel": "hub"})
    fg.link(links, replace=True)
    # RSS's description is Atom's subtitle in feedgen: "" (no element) when none.
    fg.subtitle(_clean(meta.description).strip())
    for fe, entry in zip(fg.entry(), entries, strict=True):
        if entry.summary:
            fe.summary(entry.summary, type="text")
        if entry.content:
            fe.content(entry.content, type="html")
    return fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)


def _rss(meta: FeedMeta, entries: Sequence[_Entry]) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator and atom:link self (and hub)."""
    return _rss_part(_generator(meta, entries), meta, entries)


def _atom(meta: FeedMeta, entries: Sequence[_Entry]) -> bytes:
    """Atom 1.0; a feed-level author covers entries that name none."""
    return _atom_part(_generator(meta, entries), meta, entries)


def render_rss(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator and atom:link self (and hub)."""
    return _rss(meta, _entries(meta, articles))


def render_atom(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """Atom 1.0; a feed-level author covers entries that name none."""
    return _atom(meta, _entries(meta, articles))


# --------------------------------------------------------------------------- JSON Feed


def _json_item(entry: _Entry) -> dict[str, object]:
    item: dict[str, object] = {
        "id": entry.guid,
        "url": entry.link,
        "title": entry.title,
        "content_html": entry.content,
    }
    if entry.body_text:
        item["content_text"] = entry.body_text
    if entry.summary:
        item["summary"] = entry.summary
    if entry.image:
        item["image"] = entry.image
    item["date_published"] = entry.published_iso
    item["date_modified"] = entry.updated_iso
    if entry.authors:
        item["authors"] = [{"name": name} for name in entry.authors]
    if entry.categories:
        item["tags"] = list(entry.categories)
    if entry.language:
        item["language"] = entry.language
    item["_feedmill"] = {
        "source": entry.source,
        "agency": entry.agency,
        "publisher": entry.publisher,
        "rights": entry.rights,
        "related": [{"title": title, "url": url} for title, url in entry.related],
    }
    return item


def _json(meta: FeedMeta, entries: Sequence[_Entry]) -> bytes:
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
    feed["items"] = [_json_item(entry) for entry in entries]
    # Compact: the C encoder (indent= falls back to the pure-Python one, half the cost).
    text = json.dumps(feed, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def render_json(meta: FeedMeta, articles: Sequence[Article]) -> bytes:
    """JSON Feed 1.1, UTF-8, keys in a fixed order."""
    return _json(meta, _entries(meta, articles))


# --------------------------------------------------------------------------- all three


_SERIALIZERS: dict[str, Callable[[FeedMeta, Sequence[_Entry]], bytes]] = {
    "rss": _rss,
    "atom": _atom,
    "json": _json,
}


def render_feeds(
    meta: FeedMeta, articles: Sequence[Article], formats: Iterable[str] = FORMATS
) -> dict[str, bytes]:
    """Each of ``formats`` (default all three) as :data:`RENDERERS` would render it, with
    the entries prepared once for all of them and one FeedGenerator for RSS and Atom
    (what a build does)."""
    wanted = list(formats)
    for fmt in wanted:
        if fmt not in _SERIALIZERS:
            raise ValueError(f"unknown feed format {fmt!r}; expected one of rss, atom, json")
    entries = _entries(meta, articles)
    out: dict[str, bytes] = {}
    fg = _generator(meta, entries) if "rss" in wanted or "atom" in wanted else None
    # RSS first: the Atom part overwrites the summaries and content types it set.
    if fg is not None and "rss" in wanted:
        out["rss"] = _rss_part(fg, meta, entries)
    if fg is not None and "atom" in wanted:
        out["atom"] = _atom_part(fg, meta, entries)
    if "json" in wanted:
        out["json"] = _json(meta, entries)
    return {fmt: out[fmt] for fmt in wanted}


RENDERERS: dict[str, tuple[Callable[[FeedMeta, Sequence[Article]], bytes], str]] = {
    "rss": (render_rss, "application/rss+xml"),
    "atom": (render_atom, "application/atom+xml"),
    "json": (render_json, "application/feed+json"),
}
