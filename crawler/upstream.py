"""Turn the bytes of an upstream feed or sitemap into entries.

A ``feed`` source points feedmill at an upstream RSS/Atom/JSON feed or a sitemap; the
spider fetches each entry's page for the full text and falls back to what the entry
itself carries when the page fails. :func:`parse_upstream` does the parsing: RSS
0.91/0.92/2.0, RSS 1.0 (RDF), Atom 1.0 (and the common parts of Atom 0.3), JSON Feed
1.0/1.1, sitemaps (with the Google News and image extensions) and sitemap indexes,
plain or gzipped.

Upstream bytes are hostile until proven otherwise:

* XML is parsed by lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
  huge_tree=False, recover=True``: nothing is fetched (XXE, external DTDs) and nothing
  expanded (billion laughs). Before parsing, references libxml2's recovery would mangle
  are repaired (:func:`_repair_references`): a bare ``&`` (``Tom & Jerry``) is escaped,
  HTML entities feeds use without declaring them (``&nbsp;``) become their characters,
  entities the document declares itself are removed, so no entity node ever reaches
  the tree; a document needing more than ``_MAX_REPAIRS`` repairs is refused.
* Gzip is inflated incrementally with a hard cap on the expanded size (``max_bytes``),
  so a gzip bomb costs ``max_bytes`` of memory at most and fails fast.
* Bodies above ``_TREE_BYTES`` are streamed: each item is handled when it ends and then
  freed, so memory holds one item, not a tree that can be 40 times the body; parsing
  stops after ``max_entries``. An item with absurdly many elements, or a channel with
  absurdly many non-items, is refused rather than buffered.
* A body that is not a feed at all (an HTML error page, binary junk, nothing) raises
  :class:`UpstreamError` naming the URL and the reason; bad dates, bad URLs and odd
  field types inside a feed never raise, they are dropped.

Element names are matched on local names, because namespaces vary in the wild (sitemap
0.84 vs 0.9, feeds that forget to declare ``content:`` or ``dc:``).
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import functools
import html
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

__all__ = [
    "UpstreamDocument",
    "UpstreamEntry",
    "UpstreamError",
    "parse_feed_date",
    "parse_upstream",
]

DEFAULT_MAX_ENTRIES = 5000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_CHUNK = 1024 * 1024
_SNIFF_BYTES = 2048

_XHTML_NS = "http://www.w3.org/1999/xhtml"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"


class UpstreamError(ValueError):
    """An upstream body that cannot be turned into entries; ``str()`` is "URL: reason"."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


@dataclass(slots=True)
class UpstreamEntry:
    """One article announced by an upstream feed or sitemap."""

    url: str  # absolute http(s) URL of the article page ("" if none)
    title: str = ""
    guid: str = ""
    published: datetime | None = None  # always aware
    modified: datetime | None = None  # always aware
    authors: list[str] = field(default_factory=list)
    summary: str = ""  # plain text
    content_html: str = ""  # full content when the feed carries it
    categories: list[str] = field(default_factory=list)
    image: str = ""
    language: str = ""


@dataclass(slots=True)
class UpstreamDocument:
    """A parsed upstream body: its kind, channel-level title/link and entries."""

    kind: str  # "rss", "atom", "rdf", "jsonfeed", "sitemap", "sitemapindex"
    title: str = ""
    link: str = ""
    entries: list[UpstreamEntry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # child sitemaps of a sitemap index
    truncated: bool = False  # the body held more than max_entries entries


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def parse_upstream(
    body: bytes,
    url: str,
    *,
    default_tz: tzinfo = UTC,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> UpstreamDocument:
    """Parse an upstream feed or sitemap fetched from ``url``.

    ``default_tz`` is attached to dates that carry no zone; ``max_entries`` caps the
    entries (or child sitemaps) returned and sets ``truncated`` when more were present;
    ``max_bytes`` caps the body and, for gzip, its expanded size.

    Raises :class:`UpstreamError` when the body is not a feed or sitemap at all.
    """
    if max_entries < 0:
        raise ValueError(f"max_entries must be >= 0, not {max_entries}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, not {max_bytes}")
    data = bytes(body)
    if len(data) > max_bytes:
        raise UpstreamError(url, f"body is {len(data)} bytes, more than {max_bytes}")
    for _ in range(2):  # sitemap.xml.gz sometimes arrives gzipped once more
        if data[:2] == _GZIP_MAGIC:
            data = _gunzip(data, url, max_bytes)

    data, unicode_known = _normalise_unicode(data)
    start = _first_non_space(data)
    if start < 0:
        raise UpstreamError(url, "empty response")
    first = data[start : start + 1]
    if first in (b"{", b"["):
        return _parse_json(data[start:], url, default_tz, max_entries)
    if first != b"<":
        offset = _find_markup(data, start)
        if offset < 0:
            raise UpstreamError(url, f"not a feed or sitemap ({_describe_non_markup(data, start)})")
        start = offset
    if start:
        data = data[start:]
    if _HTML_START.match(data[:_SNIFF_BYTES]):
        raise UpstreamError(url, "not a feed or sitemap (looks like HTML)")
    return _parse_xml(data, url, default_tz, max_entries, unicode_known)


# --------------------------------------------------------------------------------------
# Bytes: gzip, encodings, sniffing
# --------------------------------------------------------------------------------------


def _gunzip(data: bytes, url: str, max_bytes: int) -> bytes:
    """Inflate gzip ``data`` (all members) without ever holding more than max_bytes + 1."""
    out = bytearray()
    pending = data
    while True:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            while True:
                chunk = inflater.decompress(pending, min(_INFLATE_CHUNK, max_bytes - len(out) + 1))
                out += chunk
                if len(out) > max_bytes:
                    raise UpstreamError(url, f"gzip data expands beyond {max_bytes} bytes")
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and not chunk):
                    break
        except zlib.error as exc:
            raise UpstreamError(url, f"invalid gzip data ({exc})") from None
        if not inflater.eof:
            # Truncated download: keep what inflated (recovery parsing may salvage it).
            if not out:
                raise UpstreamError(url, "truncated gzip data")
            break
        pending = inflater.unused_data
        if pending[:2] != _GZIP_MAGIC:  # end, or trailing padding after the last member
            break
    return bytes(out)


_UNICODE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _normalise_unicode(data: bytes) -> tuple[bytes, bool]:
    """Strip a BOM and turn UTF-16/32 into UTF-8; say whether the result is known UTF-8.

    Everything after this works on an ASCII-compatible byte string.
    """
    for bom, codec in _UNICODE_BOMS:
        if data.startswith(bom):
            data = data[len(bom) :]
            if codec == "utf-8":
                return data, True
            return data.decode(codec, "replace").encode("utf-8"), True
    head = data[:4]
    if len(head) == 4:
        # No BOM: "<" or "{" followed or preceded by NUL bytes (XML 1.0 appendix F).
        codec = None
        if head[:3] == b"\0\0\0" and head[3]:
            codec = "utf-32-be"
        elif head[0] and head[1:] == b"\0\0\0":
            codec = "utf-32-le"
        elif not head[0] and head[1] and not head[2] and head[3]:
            codec = "utf-16-be"
        elif head[0] and not head[1] and head[2] and not head[3]:
            codec = "utf-16-le"
        if codec is not None:
            return data.decode(codec, "replace").encode("utf-8"), True
    return data, False


_NON_SPACE = re.compile(rb"[^ \t\r\n\f\v]")


def _first_non_space(data: bytes) -> int:
    match = _NON_SPACE.search(data)
    return match.start() if match else -1


# A feed behind junk (a PHP notice, a stray word) still starts one of these soon after.
_MARKUP_START = re.compile(
    rb"<(?:\?xml|rss[\s>]|feed[\s>]|urlset[\s>]|sitemapindex[\s>]|rdf:RDF[\s>])", re.I
)
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.I | re.S,
)
_HTML_ANYWHERE = re.compile(rb"<(?:!doctype\s+html|html[\s>]|body[\s>])", re.I)
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _find_markup(data: bytes, start: int) -> int:
    match = _MARKUP_START.search(data, start, start + _SNIFF_BYTES)
    return match.start() if match else -1


def _describe_non_markup(data: bytes, start: int) -> str:
    sample = data[start : start + _SNIFF_BYTES]
    if _HTML_ANYWHERE.search(sample):
        return "looks like HTML"
    if _is_binary(sample):
        return "binary data"
    return "plain text"


def _is_binary(sample: bytes) -> bool:
    """NUL bytes or more than 5% control characters: not text in any encoding feeds use."""
    if b"\0" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls * 20 > len(sample)


_ENCODING_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# fmt: off
_GBK_LABELS = frozenset({
    "gb2312", "gb_2312", "gb_2312-80", "gb2312-80", "gbk", "x-gbk", "cp936", "ms936",
    "windows-936", "csgb2312", "euc-cn", "euccn", "chinese", "gb18030",
})
# fmt: on
_LATIN1_LABELS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"}
)


_CHARSET_CODEC = re.compile(
    r"cp\d+|iso8859-\d+|mac-[a-z]+|koi8-[a-z]|gb\w*|big5\w*|euc_\w+|shift_\w+|iso2022_\w+"
    r"|hz|tis-620|johab|ptcp154|kz1048|hp-roman8|ascii|utf-8"
)


def _declared_codec(data: bytes) -> str | None:
    """The Python codec for the XML declaration's encoding, or None (absent/unknown/UTF)."""
    match = _ENCODING_DECLARATION.match(data, 0, 512)
    if not match:
        return None
    label = match.group(1).decode("ascii").strip().lower()
    if label in _GBK_LABELS:
        return "gb18030"
    if label in _LATIN1_LABELS:
        return "cp1252"  # what browsers and real feeds mean by it
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Character sets only: not "utf-16" (no NUL bytes, checked before: the declaration is
    # wrong), nor codecs such as base64, idna or punycode (slow, or not text at all).
    return name if _CHARSET_CODEC.fullmatch(name) else None


def _to_utf8(data: bytes, unicode_known: bool) -> bytes:
    """Re-encode ``data`` as UTF-8 (the XML parser is told so, whatever it declares)."""
    if unicode_known:
        return data if _is_utf8(data) else data.decode("utf-8", "replace").encode("utf-8")
    codec = _declared_codec(data)
    if codec not in (None, "utf-8"):
        return data.decode(codec, "replace").encode("utf-8")
    if _is_utf8(data):
        return data
    # Undeclared or declared UTF-8 but not UTF-8: Chinese sites serve GBK that way.
    try:
        return data.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode("utf-8")


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, checked a MiB at a time (no full-size text copy)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 1024 * 1024
    try:
        for offset in range(0, len(data), step):
            decoder.decode(view[offset : offset + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------


def _collapse(text: str) -> str:
    return " ".join(text.split())


_HTML_DROP = frozenset({"script", "style", "noscript", "template", "head", "title"})
# fmt: off
_HTML_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "ul",
})
# fmt: on


def _strip_html(text: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed."""
    if "<" not in text and "&" not in text:
        return _collapse(text)
    if not text.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except (etree.ParserError, ValueError):
        return _collapse(text)
    dropped = []
    for node in root.iter():
        tag = node.tag
        if not isinstance(tag, str):
            continue
        tag = tag.lower()
        if tag in _HTML_DROP:
            dropped.append(node)
        elif tag in _HTML_BLOCKS:
            node.text = " " + (node.text or "")
            node.tail = " " + (node.tail or "")
    for node in dropped:
        node.drop_tree()
    return _collapse(root.text_content())


def _text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs (blank lines separate paragraphs)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    return "".join(
        "<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs if p
    )


def _entity_text(name: str) -> str:
    """An entity node that reached the tree after all: an HTML one gives its characters,
    anything else nothing (never its definition)."""
    return _HTML5_ENTITIES.get(name + ";", "")


def _node_text(el: etree._Element) -> str:
    """All text under ``el``, in document order, entity references never expanded."""
    if not len(el):
        return el.text or ""
    parts = [el.text or ""]
    stack: list[tuple[etree._Element, Iterator[etree._Element]]] = [(el, iter(el))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if stack and node.tail:
                parts.append(node.tail)
            continue
        if isinstance(child, etree._Entity):
            parts.append(_entity_text(child.name))
        elif isinstance(child.tag, str):
            parts.append(child.text or "")
            stack.append((child, iter(child)))
            continue
        if child.tail:  # entity, comment or processing instruction
            parts.append(child.tail)
    return "".join(parts)


def _inner_markup(el: etree._Element) -> str:
    """``el``'s content as an HTML string: text as is, child elements serialized."""
    if not len(el):
        return el.text or ""
    parts = [html.escape(el.text or "", quote=False)]
    for child in el:
        if isinstance(child, etree._Entity):
            parts.append(html.escape(_entity_text(child.name), quote=False))
        elif isinstance(child.tag, str):
            parts.append(etree.tostring(child, encoding=str, method="html", with_tail=False))
        if child.tail:
            parts.append(html.escape(child.tail, quote=False))
    return "".join(parts)


def _split_tag(tag: str) -> tuple[str, str]:
    """(namespace, local name); an undeclared prefix ("dc:creator") counts as namespace."""
    if tag[:1] == "{":
        ns, _, local = tag[1:].rpartition("}")  # a namespace may contain "}", a name not
        return ns, local
    prefix, sep, local = tag.rpartition(":")
    return (prefix, local) if sep else ("", tag)


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return _split_tag(tag)[1]


def _is_media_ns(ns: str) -> bool:
    return "search.yahoo.com/mrss" in ns or ns == "media"


@functools.lru_cache(maxsize=1024)
def _tag_key(tag: str) -> tuple[str, str]:
    """(namespace, lowercased local name): the key children are matched on."""
    ns, local = _split_tag(tag)
    return ns, local.lower()


def _element_children(el: etree._Element) -> Iterator[tuple[str, str, etree._Element]]:
    """(namespace, lowercased local name, element) of the element children of ``el``."""
    for child in el.iterchildren(etree.Element):
        ns, local = _tag_key(child.tag)
        yield ns, local, child


def _dedupe(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return list(seen)


_JSON_BAD_CHARS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_JSON_BAD_CHARS.update({0xFFFE: None, 0xFFFF: None})


def _json_str(value: Any) -> str:
    """A JSON value as a clean string: strings (and numbers, for ids), else ""."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return ""
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return value.translate(_JSON_BAD_CHARS)


# --------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------

_URL_JUNK = str.maketrans("", "", "\t\r\n")


_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?", re.A)


def _absolute_url(ref: str, base: str) -> str:
    """``ref`` resolved against ``base`` if the result is http(s) with a host, else ""."""
    if _PLAIN_URL.fullmatch(ref):  # the common case, without urllib's cost
        return ref
    ref = ref.strip(" \t\r\n\f\v\xa0").translate(_URL_JUNK)
    if not ref:
        return ""
    ref = ref.replace(" ", "%20")
    try:
        if not ref.startswith(("http://", "https://")):
            ref = urljoin(base, ref)
        parts = urlsplit(ref)
        host = parts.hostname
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        return ""
    return ref


def _looks_like_image(url: str) -> bool:
    path = urlsplit(url).path.lower()
    return path.endswith((".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".bmp", ".svg"))


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
# RFC 822 zones plus the named zones feeds actually use. "CST" stays US Central (RFC 822).
_ZONE_HOURS: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "Z0": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AST": -4, "ADT": -3, "AKST": -9, "AKDT": -8, "HST": -10,
    "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8,
    "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
_OFFSET = re.compile(r"(?:(?:GMT|UTC|UT)\s*)?([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.A | re.I)
_COMMENT = re.compile(r"\([^)]*\)")
_INVALID = object()

_RFC822 = re.compile(
    r"""\s*
    (?:[A-Za-z]{2,}\.?\s*,?\s*)?                           # weekday, any spelling
    (\d{1,2})\s*[\s/-]\s*([A-Za-z]{3,})\.?\s*[\s/,-]\s*(\d{2,4})   # day month year
    (?:\s*,?\s*(?:T|at)?\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(am|pm)?)?
    \s*(.*?)\s*""",
    re.A | re.I | re.X,
)
_ISO8601 = re.compile(
    r"""\s*
    (\d{4})(?:([-/.])(\d{1,2})(?:\2(\d{1,2}))?|(\d{2})(\d{2}))?   # YYYY[-MM[-DD]] | YYYYMMDD
    (?:(?:T|\s+)(\d{1,2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?    # Thh:mm[:ss[.fff]]
    \s*(.*?)\s*""",
    re.A | re.I | re.X,
)


def _zone(text: str) -> object:
    """A tzinfo, None (no zone or an unknown name) or _INVALID (an impossible offset)."""
    text = _COMMENT.sub("", text).strip()
    if not text:
        return None
    if text in ("-0000", "-00:00"):
        return UTC  # RFC 2822: UTC, local zone unknown
    match = _OFFSET.fullmatch(text)
    if match:
        sign, hours, minutes = match.groups()
        hours_i, minutes_i = int(hours), int(minutes or 0)
        if hours_i > 23 or minutes_i > 59:
            return _INVALID
        delta = timedelta(hours=hours_i, minutes=minutes_i)
        return timezone(-delta if sign == "-" else delta) if delta else UTC
    hours_f = _ZONE_HOURS.get(text.upper())
    if hours_f is not None:
        return timezone(timedelta(hours=hours_f)) if hours_f else UTC
    return None


def _build_date(
    fields: tuple[int, ...], zone: object, default_tz: tzinfo, microsecond: int = 0
) -> datetime | None:
    if zone is _INVALID:
        return None
    tz = zone if isinstance(zone, tzinfo) else default_tz
    try:
        return _usable(datetime(*fields, microsecond, tzinfo=tz))
    except (ValueError, OverflowError, TypeError):
        return None


def _usable(value: datetime) -> datetime | None:
    """``value`` if it converts to UTC (9999-12-31T23:00-05:00 does not), else None."""
    if 1 < value.year < 9999:
        return value
    try:
        value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value


def _parse_iso(text: str, default_tz: tzinfo) -> datetime | None:
    match = _ISO8601.fullmatch(text)
    if not match:
        return None
    year, _, month, day, basic_month, basic_day, hour, minute, second, fraction, rest = (
        match.groups()
    )
    month = month or basic_month
    day = day or basic_day
    microsecond = int((fraction + "000000")[:6]) if fraction else 0
    fields = (
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
    )
    return _build_date(fields, _zone(rest), default_tz, microsecond)


def _parse_rfc822(text: str, default_tz: tzinfo) -> datetime | None:
    match = _RFC822.fullmatch(text)
    if not match:
        return None
    day, month_name, year, hour, minute, second, ampm, rest = match.groups()
    month = _MONTHS.get(month_name[:3].lower())
    if month is None:
        return None
    year_i = int(year)
    if len(year) == 2:
        year_i += 2000 if year_i < 50 else 1900
    elif len(year) == 3:
        year_i += 1900
    hour_i = int(hour or 0)
    if ampm:
        if not 1 <= hour_i <= 12:
            return None
        hour_i = hour_i % 12 + (12 if ampm.lower() == "pm" else 0)
    fields = (year_i, month, int(day), hour_i, int(minute or 0), int(second or 0))
    return _build_date(fields, _zone(rest), default_tz)


def parse_feed_date(value: str | None, default_tz: tzinfo = UTC) -> datetime | None:
    """An aware datetime from an RFC 822 or ISO 8601/W3C date, or None if unparseable.

    A date without a zone gets ``default_tz`` (only a zone in the text means UTC).
    """
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > 100:
        return None
    if "年" in text:  # 2022年12月09日 10:30
        text = text.replace("年", "-").replace("月", "-").replace("日", " ").strip()
    if text[:4].isascii() and text[:4].isdigit():
        if len(text) >= 10 and text[4] == "-":
            try:  # the common W3C shapes, in C
                parsed = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=default_tz)
                return _usable(parsed)
        return _parse_iso(text, default_tz)
    parsed = _parse_rfc822(text, default_tz)
    if parsed is not None:
        return parsed
    try:  # other shapes the stdlib knows ("Tue Jun 10 04:00:00 2003", ...)
        fallback = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if fallback.tzinfo is None:
        fallback = fallback.replace(tzinfo=default_tz)
    return _usable(fallback)


# --------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------


# Bodies up to this size are parsed into a tree at once (fast); larger ones are streamed
# and freed item by item, so memory holds one item rather than a document that may be
# 40 times its size as a tree, and parsing stops after max_entries.
_TREE_BYTES = 2 * 1024 * 1024
_XML_CHUNK = 256 * 1024
# Elements one item (or any other child of the channel) may hold when streaming before
# the document is refused: real items have tens, a few thousand with inline XHTML.
_MAX_ITEM_ELEMENTS = 100_000
# Children of the channel (or root) that are neither items nor channel fields; real
# channels have a few dozen.
_MAX_OTHER_ELEMENTS = 10_000
# Broken references repaired before parsing; real feeds have hundreds (``&nbsp;``).
_MAX_REPAIRS = 200_000

_PARSER_SETTINGS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "recover": True,
    "encoding": "utf-8",  # _to_utf8 made it so, whatever the declaration says
}


def _parse_tree(data: bytes, url: str) -> etree._Element | None:
    try:
        return etree.fromstring(data, etree.XMLParser(**_PARSER_SETTINGS), base_url=url or None)
    except etree.XMLSyntaxError:
        return None
    except ValueError:  # a base URL lxml refuses
        try:
            return etree.fromstring(data, etree.XMLParser(**_PARSER_SETTINGS))
        except etree.XMLSyntaxError:
            return None


def _pull_parser(url: str) -> etree.XMLPullParser:
    try:
        return etree.XMLPullParser(events=("end",), base_url=url or None, **_PARSER_SETTINGS)
    except ValueError:  # a base URL lxml refuses
        return etree.XMLPullParser(events=("end",), **_PARSER_SETTINGS)


def _stream(data: bytes, url: str, reader: _XmlReader) -> None:
    parser = _pull_parser(url)
    try:
        for offset in range(0, len(data), _XML_CHUNK):
            parser.feed(data[offset : offset + _XML_CHUNK])
            if reader.read(parser.read_events()):
                return
        with contextlib.suppress(etree.XMLSyntaxError):  # nothing (more) to recover
            parser.close()
        reader.read(parser.read_events())
    except etree.XMLSyntaxError:
        pass  # keep what was read


# References that are fine as they are: the five XML entities and character references
# that certainly name XML characters (most CJK text in feeds is written this way).
_SAFE_REFERENCE = (
    rb"(?:amp|lt|gt|quot|apos);"
    rb"|#(?:3[2-9]|[4-9][0-9]|[1-9][0-9]{2,3}|[1-4][0-9]{4});"
    rb"|#[xX](?:[2-9a-fA-F][0-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-cA-CeE][0-9a-fA-F]{3}"
    rb"|[fF][0-9a-eA-E][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{4});"
)
_NEEDS_REPAIR = re.compile(rb"&(?!" + _SAFE_REFERENCE + rb")")
# CDATA sections and comments are matched whole (an unterminated one to the end, so the
# scan stays linear) to be left alone; every other "&" that is not safe gets a look.
_REPAIR = re.compile(
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)"
    rb"|&(?!" + _SAFE_REFERENCE + rb")(?:(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z_:][\w:.-]*);)?",
    re.S,
)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s+([A-Za-z_:][\w:.-]*)")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_:]")
_ANY_DOCTYPE = re.compile(rb"<!doctype", re.I)
# After the first element, a DOCTYPE declaration (with its internal subset) is matched to
# be dropped; CDATA sections and comments are matched whole to be left alone.
_LATE_DOCTYPE = re.compile(
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)"
    rb"|<!DOCTYPE(?:[^\[>]*\[.*?(?:\]\s*>|\Z)|[^>]*(?:>|\Z))",
    re.S | re.I,
)


def _drop_late_doctypes(data: bytes) -> bytes:
    """Remove DOCTYPE declarations that come after the root element started.

    Such a declaration is not XML; libxml2's recovery reads it one way when it has the
    whole document and another when the document arrives in pieces, so a feed would
    say different things depending on its size. Dropped, it says nothing either way.
    """
    first = _FIRST_ELEMENT.search(data)
    if first is None:
        return data
    head, rest = data[: first.start()], data[first.start() :]
    return head + _LATE_DOCTYPE.sub(_drop_doctype, rest)


def _drop_doctype(match: re.Match[bytes]) -> bytes:
    text = match.group()
    return b"" if text[2:3] in (b"D", b"d") else text  # keep CDATA and comments


_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def _valid_char_ref(name: bytes) -> bool:
    """Whether ``#65`` / ``#x41`` names an XML character."""
    digits = name[2:] if name[1:2] in (b"x", b"X") else name[1:]
    if len(digits) > 8:
        return False
    code = int(digits, 16 if len(digits) < len(name) - 1 else 10)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


class _TooManyRepairs(Exception):
    pass


def _repair_references(data: bytes) -> bytes:
    """Fix the references libxml2 would mangle, before it sees them.

    * a bare "&" (``Tom & Jerry``) becomes ``&amp;``: recovery would drop it and the word
      after it;
    * an HTML entity (``&nbsp;``, ``&mdash;``) becomes character references: undeclared,
      it would be dropped, and recovery then also drops later ``&amp;`` in the same text;
    * an entity the document declares itself is removed: never fetched, never expanded,
      and no entity nodes reach the tree;
    * any other named reference becomes literal text (``&amp;foo;``), as a browser shows it;
    * a character reference to a non-character (``&#0;``, ``&#xD800;``) becomes U+FFFD:
      recovery would store a surrogate as bytes lxml cannot decode.
    """
    declared = frozenset(_ENTITY_DECLARATION.findall(data)) if b"<!ENTITY" in data else frozenset()
    budget = [_MAX_REPAIRS]

    def fix(match: re.Match[bytes]) -> bytes:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooManyRepairs
        text = match.group()
        if text[:1] != b"&":
            return text  # CDATA section or comment
        name = match.group(1)
        if name is None:
            return b"&amp;"
        if name[:1] == b"#":
            return text if _valid_char_ref(name) else b"&#xFFFD;"
        if name in _XML_ENTITIES:
            return text
        chars = _HTML5_ENTITIES.get(name.decode("ascii") + ";")
        if chars:
            return "".join(f"&#{ord(char)};" for char in chars).encode("ascii")
        if name in declared:
            return b""
        return b"&amp;" + text[1:]

    return _REPAIR.sub(fix, data)


def _parse_xml(
    data: bytes, url: str, default_tz: tzinfo, max_entries: int, unicode_known: bool
) -> UpstreamDocument:
    data = _to_utf8(data, unicode_known)
    if _ANY_DOCTYPE.search(data):
        data = _drop_late_doctypes(data)
    if _NEEDS_REPAIR.search(data):
        try:
            data = _repair_references(data)
        except _TooManyRepairs:
            raise UpstreamError(
                url, f"not a feed or sitemap (more than {_MAX_REPAIRS} broken references)"
            ) from None
    context = _Context(url, default_tz, max_entries, has_xml_base=b"xml:base" in data)
    reader = _XmlReader(context)
    try:
        if len(data) <= _TREE_BYTES:
            root = _parse_tree(data, url)
            if root is not None:
                reader.walk(root)
        else:
            _stream(data, url, reader)
    except UnicodeDecodeError:  # text recovered into invalid UTF-8 despite the repairs
        raise UpstreamError(url, "not a feed or sitemap (malformed XML: bad characters)") from None
    if reader.root is None:
        reason = "binary data" if _is_binary(data[:_SNIFF_BYTES]) else "malformed XML"
        raise UpstreamError(url, f"not a feed or sitemap ({reason})")
    return reader.finish()


_ROOT_KINDS = {
    "rss": "rss",
    "channel": "rss",  # a bare RSS channel
    "rdf": "rdf",
    "feed": "atom",
    "urlset": "sitemap",
    "sitemapindex": "sitemapindex",
}
_ITEM_NAMES = {"rss": "item", "rdf": "item", "atom": "entry", "sitemap": "url"}


class _XmlReader:
    """Builds the document from the parser's "end" events, one item at a time.

    Every child of the root (or of the RSS/RDF channel) is handled when it ends and then
    removed from the tree, so memory holds one item, not the document; parsing stops at
    the item after ``max_entries``. Channel-level values that items inherit (language,
    Atom authors) are applied at the end, wherever in the document they appeared.
    """

    def __init__(self, context: _Context) -> None:
        self.ctx = context
        self.root: etree._Element | None = None
        self.channel: etree._Element | None = None
        self.find_channel = False
        self.document = UpstreamDocument(kind="")
        self.item_name = ""
        self.items = 0
        self.pending = 0  # elements ended inside the current child of the channel
        self.others = 0  # children of the channel that are not items
        self.language = ""
        self.authors: list[str] = []
        self.text_link = ""
        self.alternates: list[tuple[bool, str]] = []

    def _start(self, el: etree._Element) -> None:
        root = el.getroottree().getroot()
        local = _split_tag(root.tag)[1]
        kind = _ROOT_KINDS.get(local.lower())
        if kind is None:
            if local.lower() in ("html", "head", "body"):
                raise UpstreamError(self.ctx.url, "not a feed or sitemap (looks like HTML)")
            raise UpstreamError(
                self.ctx.url, f"not a feed or sitemap (unknown XML root element <{local}>)"
            )
        self.root = root
        self.document.kind = kind
        self.item_name = _ITEM_NAMES.get(kind, "sitemap")
        if local.lower() == "channel":
            self.channel = root
        self.find_channel = kind in ("rss", "rdf") and self.channel is None

    def walk(self, root: etree._Element) -> None:
        """Handle a whole tree, in the order streaming would."""
        self._start(root)
        for child in root:
            if self.find_channel and _local_is(child, "channel"):
                self.channel = child
                self.find_channel = False
                for grandchild in child:
                    if self._child(grandchild, child):
                        return
            if self._child(child, root):
                return

    def read(self, events: Iterable[tuple[str, etree._Element]]) -> bool:
        """Handle parser events; True once max_entries is exceeded (stop parsing)."""
        root = self.root
        for _, el in events:
            if root is None:
                self._start(el)
                root = self.root
            parent = el.getparent()
            if parent is None:
                continue  # the root ended
            if parent is not root and parent is not self.channel:
                if (
                    self.find_channel
                    and parent.getparent() is root
                    and _local_is(parent, "channel")
                ):
                    self.channel = parent
                    self.find_channel = False
                else:
                    # Inside an item: it is handled, and freed, when it ends.
                    self.pending += 1
                    if self.pending > _MAX_ITEM_ELEMENTS:
                        raise UpstreamError(
                            self.ctx.url,
                            f"not a feed or sitemap (an item holds more than "
                            f"{_MAX_ITEM_ELEMENTS} elements)",
                        )
                    continue
            self.pending = 0
            if self._child(el, parent):
                return True
            el.clear()
            while el.getprevious() is not None:
                del parent[0]
        return False

    def _child(self, el: etree._Element, parent: etree._Element) -> bool:
        """A child of the root or channel has ended; True to stop parsing."""
        if not isinstance(el.tag, str):
            return False
        local = _tag_key(el.tag)[1]
        document = self.document
        if local == self.item_name:
            if self.items >= self.ctx.max_entries:
                document.truncated = True
                return True
            self.items += 1
            if document.kind == "sitemapindex":
                url = self._sitemap_loc(el)
                if url:
                    document.sitemaps.append(url)
                return False
            if document.kind == "sitemap":
                entry = _sitemap_url(el, self.ctx)
            else:
                entry = _feed_item(el, self.ctx, atom=document.kind == "atom")
            if entry is not None:
                document.entries.append(entry)
            return False
        head = self.channel if document.kind in ("rss", "rdf") else self.root
        if parent is head:
            self._head(el, local)
        self.others += 1
        if self.others > _MAX_OTHER_ELEMENTS:
            raise UpstreamError(
                self.ctx.url,
                f"not a feed or sitemap (more than {_MAX_OTHER_ELEMENTS} elements that are "
                f"not {self.item_name}s)",
            )
        return False

    def _sitemap_loc(self, el: etree._Element) -> str:
        for _, local, child in _element_children(el):
            if local == "loc":
                return self.ctx.link(_node_text(child), child)
        return ""

    def _head(self, el: etree._Element, local: str) -> None:
        """Channel-level title, link, language and (Atom) authors."""
        atom = self.document.kind == "atom"
        if local == "title" and not self.document.title:
            self.document.title = _text_construct(el, atom=atom)
        elif local == "link":
            href = el.get("href")
            if href is None:
                self.text_link = self.text_link or self.ctx.link(_node_text(el), el)
            elif (el.get("rel") or "alternate").strip().lower() == "alternate":
                url = self.ctx.link(href, el)
                if url:
                    html_type = "html" in (el.get("type") or "html").lower()
                    self.alternates.append((not html_type, url))
        elif local == "language" and not self.language:
            self.language = _collapse(_node_text(el))
        elif local == "author" and atom:
            name = _author_name(el)
            if name and name not in self.authors:
                self.authors.append(name)

    def finish(self) -> UpstreamDocument:
        document = self.document
        alternates = sorted(self.alternates, key=lambda pair: pair[0])
        document.link = self.text_link or (alternates[0][1] if alternates else "")
        language = self.language or (_language(self.root) if self.root is not None else "")
        for entry in document.entries:
            if not entry.language:
                entry.language = language
            if not entry.authors and self.authors:
                entry.authors = list(self.authors)
        return document


def _local_is(el: etree._Element, name: str) -> bool:
    tag = el.tag
    return isinstance(tag, str) and _tag_key(tag)[1] == name


@dataclass(slots=True)
class _Context:
    url: str
    default_tz: tzinfo
    max_entries: int
    has_xml_base: bool

    def base(self, el: etree._Element) -> str:
        if self.has_xml_base:
            base = el.base
            if base:
                return base
        return self.url

    def link(self, ref: str | None, el: etree._Element) -> str:
        return _absolute_url(ref, self.base(el)) if ref else ""

    def date(self, el: etree._Element) -> datetime | None:
        return parse_feed_date(_node_text(el), self.default_tz)


def _language(el: etree._Element) -> str:
    """xml:lang of ``el`` or its nearest ancestor."""
    node: etree._Element | None = el
    while node is not None:
        lang = node.get(_XML_LANG)
        if lang is not None:
            return lang.strip()
        node = node.getparent()
    return ""


# ---- RSS 0.9x/2.0, RSS 1.0 (RDF), Atom ----------------------------------------------------


def _author_name(el: etree._Element) -> str:
    """An author element: Atom <author><name>, or RSS text ("mail@x (Name)", "Name <mail>")."""
    for _, local, child in _element_children(el):
        if local == "name":
            return _collapse(_node_text(child))
    text = _collapse(_node_text(el))
    match = re.fullmatch(r"\S+@\S+\s*\((.+)\)", text)
    if match:
        return match.group(1).strip()
    match = re.fullmatch(r"(.+?)\s*<\S+@\S+>", text)
    if match:
        return match.group(1).strip().strip('"')
    return text


def _text_construct(el: etree._Element, *, atom: bool) -> str:
    """A title/summary as plain text. RSS text is HTML-ish; Atom says what it is."""
    kind = (el.get("type") or ("text" if atom else "html")).strip().lower()
    if el.get("mode") == "escaped" or kind in ("html", "text/html"):
        return _strip_html(_node_text(el))
    return _collapse(_node_text(el))


def _xhtml_markup(el: etree._Element, base: str) -> str:
    """Atom xhtml content: the wrapping div's children as HTML, XHTML namespace removed."""
    elements = [child for child in el if isinstance(child.tag, str)]
    container = el
    if len(elements) == 1 and _local(elements[0]) == "div" and not (el.text or "").strip():
        container = elements[0]
    container = copy.deepcopy(container)
    for node in container.iter(etree.Element):
        ns, local = _split_tag(node.tag)
        if ns == _XHTML_NS:
            with contextlib.suppress(ValueError):  # a name recovery let through (":p")
                node.tag = local
        for attribute in ("href", "src"):
            value = (node.get(attribute) or "").strip()
            with contextlib.suppress(ValueError):  # "http://[::1" and the like stay as they are
                if value and not urlsplit(value).scheme:
                    node.set(attribute, urljoin(base, value))
    etree.cleanup_namespaces(container)
    return _inner_markup(container)


def _content_html(el: etree._Element, ctx: _Context, *, atom: bool) -> str:
    """Atom <content> (or a stray RSS <content>) as HTML."""
    if el.get("src"):
        return ""  # out-of-line content: the page has it
    kind = (el.get("type") or ("text" if atom else "html")).strip().lower()
    if el.get("mode") == "escaped" or kind in ("html", "text/html"):
        return _inner_markup(el).strip()
    if kind in ("xhtml", "application/xhtml+xml"):
        return _xhtml_markup(el, ctx.base(el)).strip()
    if kind == "text" or kind.startswith("text/"):
        return _text_to_html(_node_text(el))
    return ""  # base64 or other media types


def _image_url(el: etree._Element, ctx: _Context) -> str:
    for attribute in ("url", "href"):
        value = el.get(attribute)
        if value:
            return ctx.link(value, el)
    for _, local, child in _element_children(el):
        if local == "url":
            return ctx.link(_node_text(child), child)
    return ctx.link(_node_text(el), el)


def _media_images(media: list[etree._Element], ctx: _Context) -> Iterator[str]:
    """Image URLs among media:content / media:thumbnail (also inside media:group)."""
    thumbnails: list[etree._Element] = []
    for el in media:
        local = _local(el).lower()
        if local == "group":
            yield from _media_images([c for c in el if isinstance(c.tag, str)], ctx)
        elif local == "thumbnail":
            thumbnails.append(el)
        elif local == "content":
            url = ctx.link(el.get("url"), el)
            if not url:
                continue
            medium = (el.get("medium") or "").lower()
            kind = (el.get("type") or "").lower()
            if (
                medium == "image"
                or kind.startswith("image/")
                or (not medium and not kind and _looks_like_image(url))
            ):
                yield url
    for el in thumbnails:
        url = ctx.link(el.get("url"), el)
        if url:
            yield url


def _pick_image(
    fields: dict[str, list[etree._Element]], media: list[etree._Element], ctx: _Context
) -> str:
    for url in _media_images(media, ctx):
        return url
    for el in fields.get("enclosure", ()):
        url = ctx.link(el.get("url"), el)
        kind = (el.get("type") or "").lower()
        if url and (kind.startswith("image/") or (not kind and _looks_like_image(url))):
            return url
    for el in fields.get("link", ()):
        if (el.get("rel") or "").strip().lower() == "enclosure":
            url = ctx.link(el.get("href"), el)
            if url and (el.get("type") or "").lower().startswith("image/"):
                return url
    for el in fields.get("image", ()):
        url = _image_url(el, ctx)
        if url:
            return url
    return ""


def _pick_link(fields: dict[str, list[etree._Element]], ctx: _Context) -> str:
    for el in fields.get("origlink", ()):  # FeedBurner's original article URL
        url = ctx.link(_node_text(el), el)
        if url:
            return url
    alternates: list[etree._Element] = []
    for el in fields.get("link", ()):
        href = el.get("href")
        if href is None:
            url = ctx.link(_node_text(el), el)
            if url:
                return url
            continue
        rel = (el.get("rel") or "alternate").strip().lower()
        if rel in ("alternate", "http://www.iana.org/assignments/relation/alternate"):
            alternates.append(el)
    alternates.sort(key=lambda el: "html" not in (el.get("type") or "html").lower())
    for el in alternates:
        url = ctx.link(el.get("href"), el)
        if url:
            return url
    return ""


def _first_text(fields: dict[str, list[etree._Element]], *names: str) -> etree._Element | None:
    for name in names:
        for el in fields.get(name, ()):
            if _node_text(el).strip():
                return el
    return None


def _first_date(
    fields: dict[str, list[etree._Element]], ctx: _Context, *names: str
) -> datetime | None:
    for name in names:
        for el in fields.get(name, ()):
            parsed = ctx.date(el)
            if parsed is not None:
                return parsed
    return None


def _fields(el: etree._Element) -> tuple[dict[str, list[etree._Element]], list[etree._Element]]:
    """Children by lowercased local name, and the Media RSS children apart."""
    fields: dict[str, list[etree._Element]] = {}
    media: list[etree._Element] = []
    for ns, local, child in _element_children(el):
        if _is_media_ns(ns):
            media.append(child)
        else:
            fields.setdefault(local, []).append(child)
    return fields, media


def _feed_item(
    el: etree._Element,
    ctx: _Context,
    *,
    atom: bool,
) -> UpstreamEntry | None:
    """An RSS <item>, RDF <item> or Atom <entry>."""
    fields, media = _fields(el)

    url = _pick_link(fields, ctx)
    guid = ""
    guid_el = _first_text(fields, "guid", "id")
    if guid_el is not None:
        guid = _collapse(_node_text(guid_el))
        if not url:
            permalink = (guid_el.get("isPermaLink") or "").strip().lower()
            if permalink == "true":
                url = ctx.link(guid, guid_el)
            elif permalink != "false" and guid.startswith(("http://", "https://")):
                url = _absolute_url(guid, ctx.url)
    about = el.get(_RDF_ABOUT) or el.get("about")
    if about:
        guid = guid or about.strip()
        url = url or ctx.link(about, el)

    title_el = _first_text(fields, "title")
    title = _text_construct(title_el, atom=atom) if title_el is not None else ""

    summary = ""
    summary_el = _first_text(fields, "description", "summary", "abstract")
    if summary_el is not None:
        summary = _text_construct(summary_el, atom=atom and _local(summary_el) == "summary")

    content_html = ""
    for el_content in fields.get("encoded", ()):
        content_html = _inner_markup(el_content).strip()
        if content_html:
            break
    if not content_html:
        for el_content in fields.get("content", ()):
            content_html = _content_html(el_content, ctx, atom=atom)
            if content_html:
                break

    published = _first_date(fields, ctx, "pubdate", "published", "issued", "date", "created")
    modified = _first_date(fields, ctx, "updated", "modified")

    entry_authors = _dedupe(
        _author_name(a) for name in ("author", "creator") for a in fields.get(name, ())
    )

    categories: list[str] = []
    for category in fields.get("category", ()):
        term = category.get("label") or category.get("term")
        categories.append(_collapse(term if term is not None else _node_text(category)))
    categories.extend(_collapse(_node_text(s)) for s in fields.get("subject", ()))

    entry_language = ""
    lang_el = _first_text(fields, "language")
    if lang_el is not None:
        entry_language = _collapse(_node_text(lang_el))
    entry_language = entry_language or _language(el)

    if not (url or title or guid or summary or content_html):
        return None
    return UpstreamEntry(
        url=url,
        title=title,
        guid=guid,
        published=published,
        modified=modified,
        authors=entry_authors,
        summary=summary,
        content_html=content_html,
        categories=_dedupe(categories),
        image=_pick_image(fields, media, ctx),
        language=entry_language,
    )


# ---- sitemaps ----------------------------------------------------------------------------


def _sitemap_url(el: etree._Element, ctx: _Context) -> UpstreamEntry | None:
    url = ""
    modified = published = None
    title = language = image = ""
    keywords: list[str] = []
    for _, local, child in _element_children(el):
        if local == "loc":
            url = ctx.link(_node_text(child), child)
        elif local == "lastmod":
            modified = ctx.date(child)
        elif local == "news":
            for _, news_local, news in _element_children(child):
                if news_local == "publication_date":
                    published = ctx.date(news)
                elif news_local == "title":
                    title = _strip_html(_node_text(news))
                elif news_local == "keywords":
                    keywords.extend(k.strip() for k in _node_text(news).split(","))
                elif news_local == "publication":
                    for _, pub_local, pub in _element_children(news):
                        if pub_local == "language":
                            language = _collapse(_node_text(pub))
        elif local == "image" and not image:
            for _, image_local, image_child in _element_children(child):
                if image_local == "loc":
                    image = ctx.link(_node_text(image_child), image_child)
                    break
    if not url:
        return None
    return UpstreamEntry(
        url=url,
        title=title,
        published=published,
        modified=modified,
        categories=_dedupe(keywords),
        image=image,
        language=language,
    )


# --------------------------------------------------------------------------------------
# JSON Feed
# --------------------------------------------------------------------------------------


def _decode_json_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def _json_authors(container: dict[str, Any]) -> list[str]:
    raw = container.get("authors")
    if not isinstance(raw, list):
        raw = [container.get("author")]  # JSON Feed 1.0
    names = []
    for author in raw:
        if isinstance(author, dict):
            names.append(_collapse(_json_str(author.get("name"))))
        elif isinstance(author, str):
            names.append(_collapse(_json_str(author)))
    return _dedupe(names)


def _json_item(
    item: dict[str, Any], base: str, tz: tzinfo, language: str, authors: list[str]
) -> UpstreamEntry | None:
    guid = _json_str(item.get("id")).strip()
    url = (
        _absolute_url(_json_str(item.get("url")), base)
        or _absolute_url(_json_str(item.get("external_url")), base)
        or (_absolute_url(guid, base) if guid.startswith(("http://", "https://")) else "")
    )
    content_html = _json_str(item.get("content_html")).strip()
    if not content_html:
        content_html = _text_to_html(_json_str(item.get("content_text")))
    image = _absolute_url(_json_str(item.get("image")), base) or _absolute_url(
        _json_str(item.get("banner_image")), base
    )
    attachments = item.get("attachments")
    if not image and isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, dict) and _json_str(attachment.get("mime_type")).startswith(
                "image/"
            ):
                image = _absolute_url(_json_str(attachment.get("url")), base)
                if image:
                    break
    tags = item.get("tags")
    categories = (
        _dedupe(_collapse(_json_str(tag)) for tag in tags) if isinstance(tags, list) else []
    )
    title = _collapse(_json_str(item.get("title")))
    summary = _collapse(_json_str(item.get("summary")))
    if not (url or title or guid or summary or content_html):
        return None
    return UpstreamEntry(
        url=url,
        title=title,
        guid=guid,
        published=parse_feed_date(_json_str(item.get("date_published")), tz),
        modified=parse_feed_date(_json_str(item.get("date_modified")), tz),
        authors=_json_authors(item) or list(authors),
        summary=summary,
        content_html=content_html,
        categories=categories,
        image=image,
        language=_json_str(item.get("language")).strip() or language,
    )


def _parse_json(data: bytes, url: str, tz: tzinfo, max_entries: int) -> UpstreamDocument:
    try:
        feed = json.loads(_decode_json_text(data))
    except RecursionError:
        raise UpstreamError(url, "not a feed or sitemap (JSON nested too deeply)") from None
    except ValueError as exc:
        if _is_binary(data[:_SNIFF_BYTES]):
            raise UpstreamError(url, "not a feed or sitemap (binary data)") from None
        raise UpstreamError(url, f"not a feed or sitemap (invalid JSON: {exc})") from None
    if not isinstance(feed, dict) or not isinstance(feed.get("items"), list):
        raise UpstreamError(url, "not a feed or sitemap (JSON without an items list)")
    document = UpstreamDocument(
        kind="jsonfeed",
        title=_collapse(_json_str(feed.get("title"))),
        link=_absolute_url(_json_str(feed.get("home_page_url")), url),
    )
    language = _json_str(feed.get("language")).strip()
    authors = _json_authors(feed)
    for item in feed["items"]:
        if not isinstance(item, dict):
            continue
        if len(document.entries) >= max_entries:
            document.truncated = True
            break
        entry = _json_item(item, url, tz, language, authors)
        if entry is not None:
            document.entries.append(entry)
    return document
