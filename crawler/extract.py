"""Extract an article from a fetched page, in layers.

:func:`extract_page` decodes the page (:mod:`crawler.htmldecode`), parses it once, and
fills each field from the best layer that has it:

1. ``rules`` — the source's site rules (:mod:`crawler.siterules`);
2. ``jsonld`` — the page's JSON-LD article object (:mod:`crawler.structured`);
3. ``meta`` — OpenGraph / ``<meta>`` / ``<link rel=canonical>`` / ``<html lang>``;
4. ``generic`` — trafilatura for the body (it selects the text; the links, inline markup
   and images of the selected blocks are then taken back from the page, see
   :func:`restore_from_source`), ``<title>`` for the title, htmldate for the publication
   date, link blocks for related reading (:mod:`crawler.related`).

``ExtractedPage.layers`` records which layer supplied each field.

Fast path: when site rules or a complete JSON-LD ``articleBody`` give the body, trafilatura
is not called at all (it is the expensive part: pages with structured data or rules must
not pay for generic extraction). A JSON-LD body that is a teaser (cut off with "…", or
hardly longer than the description) does not count.

Dates come out as aware datetimes; a date without a zone is taken in ``tz``, the source's
time zone. Text fields have their white space collapsed and nothing else: script
conversion and pinyin stripping happen later, in the pipeline's ``clean_text``.
"""

from __future__ import annotations

import email.utils
import logging
import re
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from html import unescape
from urllib.parse import urlsplit

from lxml import etree, html
from lxml.html import HtmlElement

from crawler.htmlclean import clean_body_tree, parse_fragment, serialize_children, tree_to_text
from crawler.htmldecode import decode_html
from crawler.related import find_related
from crawler.siterules import RuleFields, SiteRules, apply_rules
from crawler.structured import StructuredFields, read_structured, squash
from feeds.article import RelatedLink

__all__ = [
    "MAX_ELEMENTS",
    "TRAFILATURA_OPTIONS",
    "ExtractedPage",
    "clean_title",
    "extract_page",
    "parse_date",
    "parse_document",
    "restore_from_source",
    "trim_tree",
]

logger = logging.getLogger(__name__)

# Generic body extraction settings, chosen by F1 on the DEV benchmark sets (see
# bench/README.md). Comments are never article text.
#
# trafilatura only *selects* the text: with include_images/include_links its selection gets
# worse (image captions and galleries come along, and its link mode loses the text before
# a link on some markup), so it runs without them and restore_from_source() puts the links,
# inline markup and images of the selected blocks back from the page itself.
TRAFILATURA_OPTIONS: dict[str, object] = {
    "output_format": "html",
    "include_images": False,
    "include_links": False,
    "include_formatting": True,
    "include_tables": True,
    "include_comments": False,
    "favor_precision": True,
}

# Same parser settings as trafilatura's own, so the tree it gets is the one it expects.
_PARSER = html.HTMLParser(
    collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True
)
_BYTES_PARSER = html.HTMLParser(
    collect_ids=False,
    default_doctype=False,
    remove_comments=True,
    remove_pis=True,
    encoding="utf-8",
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

# trafilatura runs in fast mode (no fallback extractors: a third of its time); a result
# shorter than this (CJK characters count double) is redone in its default mode.
_SHORT_FAST_BODY = 600
_TAG = re.compile(r"<[^>]*>")
# A JSON-LD articleBody shorter than this (CJK characters count double) is a teaser.
_MIN_JSONLD_BODY = 300
_TRUNCATED = re.compile(r"(?:…|\.\.\.|&hellip;|\[…\]|\[\.\.\.\])\s*$")
_HTML_IN_TEXT = re.compile(r"<(?:p|br|div|body|span|h[1-6]|ul|ol|li|strong|em|a)\b", re.I)
_IMG_SRC = re.compile(r'<img\b[^>]*?\bsrc="([^"]+)"')
_NOT_A_PICTURE = re.compile(r"icon|logo|avatar|qrcode|erweima|sprite|blank|spacer", re.I)
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+\d*);", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


@dataclass(slots=True)
class ExtractedPage:
    """What a page says about its article; "" / None / [] where it says nothing."""

    title: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    modified: datetime | None = None
    body_html: str = ""  # cleaned (crawler.htmlclean), absolute URLs, images kept
    body_text: str = ""  # paragraphs separated by "\n"
    summary: str = ""  # the page's own description (og/meta/JSON-LD)
    image: str = ""
    language: str = ""
    publisher: str = ""
    canonical_url: str = ""
    categories: list[str] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    encoding: str = ""
    encoding_mismatch: bool = False
    layers: dict[str, str] = field(default_factory=dict)  # field -> rules|jsonld|meta|generic
    elements_dropped: int = 0  # elements past MAX_ELEMENTS, not read (see trim_tree)


# --------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------


# Extraction costs ~0.2 ms of CPU per element on the crawl's only thread: a page of
# 30,000 paragraphs takes seconds, one of 16 MB (DOWNLOAD_MAXSIZE) minutes, and every
# other download of the crawl times out meanwhile. News pages have 1,000-10,000
# elements; what comes after the first MAX_ELEMENTS is dropped before extraction.
MAX_ELEMENTS = 30_000


def trim_tree(root: HtmlElement, limit: int = MAX_ELEMENTS) -> int:
    """Cut ``root`` after its ``limit``-th element in document order (that element's
    children and everything after it); the number of elements dropped."""
    last = None
    for count, element in enumerate(root.iter(), 1):
        if count > limit:
            last = element
            break
    if last is None:
        return 0
    total = sum(1 for _ in root.iter())
    node = last
    while node is not None and node is not root:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node = parent
    last_parent = last.getparent()
    if last_parent is not None:
        last_parent.remove(last)
    return total - sum(1 for _ in root.iter())


def parse_document(text: str) -> HtmlElement | None:
    """Parse a decoded page into an lxml ``<html>`` tree; None when there is no HTML."""
    if not text or not text.strip():
        return None
    text = _XML_DECLARATION.sub("", text, count=1)
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        return html.document_fromstring(text, parser=_PARSER)
    except ValueError:
        pass  # an encoding declaration the regex missed, or lxml refusing the str
    except etree.ParserError:
        return None
    try:
        return html.document_fromstring(text.encode("utf-8", "surrogatepass"), parser=_BYTES_PARSER)
    except (etree.ParserError, ValueError):
        return None


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for name in names.split()
}
_NUMERIC_DATE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:[T\s]|&nbsp;)*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})"
    r"(?:\s*[:：分]\s*(?P<S>\d{1,2})(?:[.,]\d+)?)?\s*秒?)?"
    r"\s*(?P<z>Z\b|[+-]\d{2}:?\d{2}\b|(?:UTC|GMT)(?:\s*[+-]\d{1,2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)
_WORD_DATE = re.compile(
    r"(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)?\s+(?P<m1>[a-z]{3,9})\.?,?\s+(?P<y1>(?:19|20)\d{2})"
    r"|(?P<m2>[a-z]{3,9})\.?\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y2>(?:19|20)\d{2}))"
    r"(?:[,\s]+(?:at\s+)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?)?"
    r"\s*(?P<z>Z\b|[+-]\d{2}:?\d{2}\b|(?:UTC|GMT)(?:\s*[+-]\d{1,2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)


_RFC2822 = re.compile(r"^(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}")


def _zone(text: str | None) -> tzinfo | None:
    if not text:
        return None
    text = text.strip().upper()
    if text == "Z":
        return UTC
    text = text.removeprefix("UTC").removeprefix("GMT").strip()
    if not text:
        return UTC
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", text)
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    if offset >= timedelta(hours=24):
        return None
    return timezone(sign * offset) if offset else UTC


def _plausible(value: datetime) -> bool:
    now = datetime.now(UTC)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(1990, 1, 1, tzinfo=UTC) <= aware <= now + timedelta(days=2)


def _localise(value: datetime, tz: tzinfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def parse_date(value: str, tz: tzinfo = UTC) -> datetime | None:
    """Parse a date as pages write them: ISO 8601, RFC 2822, ``2024年5月13日 08:01``,
    ``2024/05/13``, ``Nov 18, 2019 10:00 AM``, ``18 November 2019``, Unix timestamps.
    Returns an aware datetime (naive values get ``tz``), or None."""
    text = squash(value)
    if not text:
        return None
    result: datetime | None = None
    if text.isdigit() and len(text) in (10, 13):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        result = datetime.fromtimestamp(seconds, UTC)
    if result is None:
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            result = None
    if result is None and _RFC2822.match(text):
        try:
            result = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            result = None
    if result is None:
        result = _regex_date(text)
    if result is None or not _plausible(result):
        return None
    return _localise(result, tz)


def _regex_date(text: str) -> datetime | None:
    match = _NUMERIC_DATE.search(text)
    ampm = None
    if match:
        year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    else:
        match = _WORD_DATE.search(text)
        if not match:
            return None
        month_name = (match["m1"] or match["m2"]).lower()
        if month_name not in _MONTHS:
            return None
        month = _MONTHS[month_name]
        year = int(match["y1"] or match["y2"])
        day = int(match["d1"] or match["d2"])
        ampm = (match["ampm"] or "").replace(".", "").lower()
    hour = int(match["H"] or 0)
    minute = int(match["M"] or 0)
    second = int(match["S"] or 0)
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=_zone(match["z"]))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# Titles
# --------------------------------------------------------------------------------------

_TITLE_SEPARATOR = re.compile(r"(\s+[-–—|:·»/]\s+|\s*[|｜_]\s*|\s*-{2,}\s*|\s*——\s*)")
_TRIM_SEPARATORS = " \t-–—|｜_:·»/"


def clean_title(
    title: str, site_names: tuple[str, ...] = (), *, heuristic: bool = True, url: str = ""
) -> str:
    """A page title without the site name: ``Headline | Site``, ``标题_新闻_新浪网``,
    ``WSJ - Headline``. Known ``site_names`` are removed from either end; with
    ``heuristic``, short trailing segments are dropped too, and a short leading one when
    its words are in the host name of ``url``."""
    title = squash(title)
    for name in site_names:
        name = squash(name)
        if not name or len(title) <= len(name) + 3:
            continue
        if title.endswith(name):
            title = title[: -len(name)].rstrip(_TRIM_SEPARATORS) or title
        elif title.startswith(name):
            title = title[len(name) :].lstrip(_TRIM_SEPARATORS) or title
    if not heuristic:
        return title
    pieces = _TITLE_SEPARATOR.split(title)
    if len(pieces) < 3:
        return title
    texts = pieces[0::2]
    separators = pieces[1::2]
    total = sum(len(t) for t in texts)

    def short(piece: str) -> bool:
        return len(piece) <= min(30, 0.4 * total)

    start, end = 0, len(texts)
    while end - start > 1 and short(texts[end - 1]):
        end -= 1
    host = urlsplit(url).netloc.lower() if url else ""

    def names_the_site(piece: str) -> bool:
        words = re.findall(r"\w+", piece.lower())
        return bool(host and words) and all(word in host for word in words)

    while end - start > 1 and short(texts[start]) and names_the_site(texts[start]):
        start += 1
    kept = texts[start]
    for index in range(start + 1, end):
        kept += separators[index - 1] + texts[index]
    return kept.strip() or title


# --------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------


def _weight(text: str) -> int:
    return len(text) + len(_CJK.findall(text[:5000]))


def _plain_paragraphs(text: str) -> str:
    """JSON-LD articleBody (plain text) as ``<p>`` paragraphs, escaped."""
    paragraphs = (squash(line) for line in text.splitlines())
    return "".join(
        f"<p>{p.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</p>"
        for p in paragraphs
        if p
    )


# Characters the HTML parser may drop or rewrite: text holding one goes the long way.
_PARSER_SENSITIVE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _plain_body(text: str) -> tuple[str, str] | None:
    """JSON-LD articleBody (plain text) as (html, text) without parsing the ``<p>``s just
    made (what :func:`_finish_body` of :func:`_plain_paragraphs` would return: cleaning
    has nothing to do on attribute-less paragraphs of squashed text). None when the text
    holds characters the parser could treat differently."""
    paragraphs = [p for p in (squash(line) for line in text.splitlines()) if p]
    if any(_PARSER_SENSITIVE.search(p) for p in paragraphs):
        return None
    body_html = "".join(
        f"<p>{p.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</p>"
        for p in paragraphs
    )
    return body_html, "\n".join(paragraphs)


def _finish_body(fragment: str, base_url: str) -> tuple[str, str]:
    """Clean an HTML fragment; returns (body_html, body_text)."""
    root = parse_fragment(fragment)
    if root is None:
        return "", ""
    clean_body_tree(root, base_url)
    return serialize_children(root), tree_to_text(root)


def _finish_elements(elements: list[HtmlElement], base_url: str) -> tuple[str, str]:
    """Like :func:`_finish_body` on the elements' serialisation, without the round trip
    through a string: copies of the elements in a ``<div>``, cleaned."""
    root = html.Element("div")
    for element in elements:
        copy = deepcopy(element)
        copy.tail = None
        root.append(copy)
    clean_body_tree(root, base_url)
    return serialize_children(root), tree_to_text(root)


def _jsonld_body(jsonld: StructuredFields, base_url: str) -> tuple[str, str] | None:
    """The JSON-LD articleBody as (html, text) when it is the whole article."""
    body = jsonld.body
    if not body:
        return None
    if not _HTML_IN_TEXT.search(body):
        for _ in range(2):  # some CMSs escape twice: &amp;quot;
            if not _ENTITY.search(body):
                break
            body = unescape(body)
    if _TRUNCATED.search(body):
        return None
    if _HTML_IN_TEXT.search(body):
        body_html, body_text = _finish_body(body, base_url)
    else:
        plain = _plain_body(body)
        if plain is None:
            plain = _finish_body(_plain_paragraphs(body), base_url)
        body_html, body_text = plain
    if _weight(body_text) < _MIN_JSONLD_BODY:
        return None
    summary = squash(jsonld.summary)
    flat = squash(body_text)
    if summary and flat.startswith(summary[:50]) and len(flat) < 1.5 * len(summary):
        return None
    return body_html, body_text


# Page blocks whose text can be a block of trafilatura's output: text blocks first; layout
# wrappers holding text directly (<div>text<br>text</div>) only when those leave some over.
_TEXT_BLOCKS = (
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "blockquote",
    "pre",
    "td",
    "th",
    "dt",
    "dd",
    "figcaption",
)
_WRAPPER_BLOCKS = ("div", "section", "article", "font", "center", "span")
_OUTPUT_BLOCKS = frozenset(
    {"p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dt", "dd"}
)
_BLOCK_CHILDREN = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "ul",
        "ol",
        "table",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "figure",
        "li",
        "dl",
    }
)
_IMAGE_NOISE = re.compile(
    r"related|relate|recommend|promo|advert|\bads?\b|ad[-_]|sponsor|share|social|avatar|"
    r"author|byline|logo|icon|newsletter|subscribe|comment|sidebar|widget|banner|qrcode|"
    r"erweima|tuijian|xgyd",
    re.IGNORECASE,
)
_IMAGE_LINK = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:[?#].*)?$", re.IGNORECASE)
_MIN_IMAGE_SIDE = 50


def _key(text: str) -> str:
    return "".join(text.split())


def _is_leaf_block(element: HtmlElement) -> bool:
    return not any(isinstance(child.tag, str) and child.tag in _BLOCK_CHILDREN for child in element)


def _index_blocks(
    root: HtmlElement, tags: tuple[str, ...], wanted: set[str]
) -> dict[str, list[HtmlElement]]:
    """Page blocks of ``tags`` whose white-space-free text is one of ``wanted``."""
    index: dict[str, list[HtmlElement]] = {}
    wrappers = tags is _WRAPPER_BLOCKS
    for element in root.iter(*tags):
        if wrappers and not (element.text and element.text.strip() and _is_leaf_block(element)):
            continue
        key = _key(element.text_content())
        if key in wanted:
            index.setdefault(key, []).append(element)
    return index


def _pixels(value: str | None) -> int | None:
    value = (value or "").strip().lower().removesuffix("px")
    return int(value) if value.isdigit() else None


def _image_usable(image: HtmlElement, stop: HtmlElement) -> bool:
    """An image among the article's paragraphs that belongs to the article: not an icon,
    avatar, ad, share button or a thumbnail linking to another page."""
    for size in (_pixels(image.get("width")), _pixels(image.get("height"))):
        if size is not None and size < _MIN_IMAGE_SIDE:
            return False
    for ancestor in image.iterancestors():
        if ancestor is stop:
            break
        if ancestor.tag == "a" and not _IMAGE_LINK.search(ancestor.get("href") or ""):
            return False
        name = f"{ancestor.get('class', '')} {ancestor.get('id', '')}"
        if name.strip() and _IMAGE_NOISE.search(name):
            return False
    return True


def _common_ancestor(elements: list[HtmlElement]) -> HtmlElement | None:
    if not elements:
        return None
    chain = [elements[0], *elements[0].iterancestors()]
    depth = {id(node): i for i, node in enumerate(chain)}
    best = 0
    for element in elements[1:]:
        for node in (element, *element.iterancestors()):
            if id(node) in depth:
                best = max(best, depth[id(node)])
                break
    return chain[best]


def _match_blocks(body: HtmlElement, root: HtmlElement) -> list[tuple[HtmlElement, HtmlElement]]:
    """Pairs (output block, page block) of identical text, in output order."""
    blocks = [
        (block, _key(block.text_content()))
        for block in body.iter(*_OUTPUT_BLOCKS)
        if _is_leaf_block(block)
    ]
    wanted = {key for _, key in blocks if key}
    index = _index_blocks(root, _TEXT_BLOCKS, wanted)
    missing = wanted - index.keys()
    if missing:
        for key, found in _index_blocks(root, _WRAPPER_BLOCKS, missing).items():
            index[key] = found
    matches = []
    position: dict[str, int] = {}
    for block, key in blocks:
        candidates = index.get(key)
        if not candidates or position.get(key, 0) >= len(candidates):
            continue
        matches.append((block, candidates[position.get(key, 0)]))
        position[key] = position.get(key, 0) + 1
    return matches


def restore_from_source(body: HtmlElement, root: HtmlElement) -> None:
    """Give the blocks trafilatura selected (``body``, its HTML output parsed) their
    links and inline markup back from the page (``root``): a block whose text equals a
    page block's text takes that block's content. Images (with their figures) that sit
    in the article's container before or between the selected blocks are put back in
    place. The text does not change: only blocks of identical text are swapped, and
    figure captions are not text (see tree_to_text)."""
    matches = _match_blocks(body, root)
    if not matches:
        return
    for block, source in matches:
        tail = block.tail
        for child in list(block):
            block.remove(child)
        block.text = source.text
        for child in source:
            block.append(deepcopy(child))
        block.tail = tail

    sources = [source for _, source in matches]
    container = _common_ancestor(sources)
    if container is None:
        return
    # document order inside the container; the list keeps the proxies (and ids) alive
    elements = list(container.iter())
    order = {id(element): i for i, element in enumerate(elements)}
    positions = sorted(
        (order[id(source)], index)
        for index, (_, source) in enumerate(matches)
        if id(source) in order
    )
    if not positions:
        return
    inside = {id(node) for source in sources for node in source.iter("img")}
    whole_page = container.tag in ("body", "html")
    seen: set[str] = set()
    for image in container.iter("img"):
        if id(image) in inside:
            continue
        position = order.get(id(image), -1)
        following = next((i for pos, i in positions if pos > position), None)
        if following is None:
            continue  # after the article's last paragraph: related stories, ads
        if position < positions[0][0] and whole_page:
            continue  # before the article, with no article container to bound it
        src = image.get("src") or image.get("data-src") or image.get("data-original") or ""
        if src in seen or not _image_usable(image, container):
            continue
        seen.add(src)
        figure = next(
            (a for a in image.iterancestors() if a.tag == "figure" and id(a) in order), None
        )
        if figure is not None:
            inside.update(id(inner) for inner in figure.iter("img"))
        copy = deepcopy(figure if figure is not None else image)
        copy.tail = None
        anchor = matches[following][0]
        while anchor.getparent() is not None and anchor.getparent() is not body:
            anchor = anchor.getparent()
        anchor.addprevious(copy)


def _trafilatura(root: HtmlElement, url: str, *, fast: bool) -> str | None:
    """``trafilatura.extract(root, url=url, fast=fast, **TRAFILATURA_OPTIONS)``, the same
    output without the simhash fingerprint extract() computes for every non-text format:
    metadata we never ask for, and 40% of its time on a 40 KB page."""
    # Imported on first use: trafilatura (with courlan, justext…) takes ~0.2 s to import,
    # which a crawl whose pages all have rules or JSON-LD bodies, and every refresh that
    # fetches no article, would pay for nothing.
    import trafilatura

    try:
        options = _trafilatura_options(url, fast)
        if options is None:  # pragma: no cover - another trafilatura layout
            return trafilatura.extract(root, url=url or None, fast=fast, **TRAFILATURA_OPTIONS)
        from trafilatura.core import determine_returnstring

        document = trafilatura.bare_extraction(root, options=options)
        if document is None:
            return None
        return determine_returnstring(document, options)
    except (ValueError, TypeError, etree.LxmlError) as exc:  # pragma: no cover - defensive
        logger.debug("%s: trafilatura failed: %s", url, exc)
        return None


def _trafilatura_options(url: str, fast: bool) -> object | None:
    """TRAFILATURA_OPTIONS as trafilatura's Extractor (None when it has none)."""
    try:
        from trafilatura.settings import Extractor
    except ImportError:  # pragma: no cover - trafilatura < 1.9
        return None
    o = TRAFILATURA_OPTIONS
    return Extractor(
        output_format=str(o["output_format"]),
        fast=fast,
        precision=bool(o["favor_precision"]),
        comments=bool(o["include_comments"]),
        formatting=bool(o["include_formatting"]),
        links=bool(o["include_links"]),
        images=bool(o["include_images"]),
        tables=bool(o["include_tables"]),
        url=url or None,
    )


# trafilatura unwraps inline elements (spans, links) itself, which leaves libxml2 with
# runs of adjacent text nodes, and its XPath text() searches are quadratic in such runs:
# one paragraph of 10,000 links or spans (a hostile page, a tag cloud) kept a crawl's
# only thread busy for 15 s, long enough to time out every other download. Inside an
# element with more children than this, inline markup is unwrapped first (its text
# stays) and each run of text nodes merged into one.
_CROWDED_CHILDREN = 200
_INLINE_TAGS = (
    "a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "mark", "q", "s",
    "small", "span", "strike", "strong", "sub", "sup", "time", "u",
)  # fmt: skip


def _unwrap_crowded_inline(root: HtmlElement) -> None:
    crowded = [el for el in root.iter() if len(el) > _CROWDED_CHILDREN]
    for element in crowded:
        if element.getparent() is None and element is not root:
            continue  # inside an element unwrapped already
        etree.strip_tags(element, *_INLINE_TAGS)
        # Setting .text or .tail replaces the run of text nodes behind it with one node.
        element.text = element.text
        for node in element.iterdescendants():
            if isinstance(node.tag, str):
                node.text = node.text
            node.tail = node.tail


def _generic_body(root: HtmlElement, url: str) -> tuple[str, str] | None:
    """The page's main text as (html, text): trafilatura picks the text, then the links,
    inline markup and images of the chosen blocks are taken back from the page."""
    _unwrap_crowded_inline(root)
    fragment = _trafilatura(root, url, fast=True)
    if not fragment or _weight(_TAG.sub("", fragment)) < _SHORT_FAST_BODY:
        # a short result: let trafilatura compare with its fallback extractors
        fragment = _trafilatura(root, url, fast=False) or fragment
    if not fragment:
        return None
    body = parse_fragment(fragment)
    if body is None:
        return None
    restore_from_source(body, root)
    clean_body_tree(body, url)
    text = tree_to_text(body)
    return (serialize_children(body), text) if text else None


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------


def _rule_fields(root: HtmlElement, rules: SiteRules | None, url: str) -> RuleFields | None:
    if rules is None:
        return None
    try:
        return apply_rules(root, rules, url, serialise_body=False)
    except NotImplementedError:
        logger.debug("%s: site rules are not implemented yet; skipping them", url)
        return None


def _title_element_text(root: HtmlElement) -> str:
    head = root.find("head")
    title = head.find("title") if head is not None else None
    if title is None:
        title = root.find(".//title")
    return squash(title.text_content()) if title is not None else ""


def _h1_text(root: HtmlElement) -> str:
    for h1 in root.iter("h1"):
        text = squash(h1.text_content())
        if text:
            return text
    return ""


def _generic_title(root: HtmlElement, site_names: tuple[str, ...], url: str) -> str:
    title = _title_element_text(root)
    h1 = _h1_text(root)
    if title and h1 and len(h1) >= 4 and h1 in title:
        return h1  # the page's own heading, inside "<h1> - Site" : the cleanest form
    if title:
        return clean_title(title, site_names, url=url)
    return h1


def _generic_date(root: HtmlElement, url: str, tz: tzinfo) -> datetime | None:
    from htmldate import find_date  # on first use, like trafilatura

    try:
        found = find_date(
            root,
            extensive_search=True,
            original_date=True,
            outputformat="%Y-%m-%dT%H:%M:%S%z",
            url=url or None,
        )
    except (ValueError, TypeError, etree.LxmlError) as exc:  # pragma: no cover - defensive
        logger.debug("%s: htmldate failed: %s", url, exc)
        return None
    return parse_date(found, tz) if found else None


def _is_midnight(value: datetime) -> bool:
    return (value.hour, value.minute, value.second) == (0, 0, 0)


def _time_on_page(day: datetime, root: HtmlElement, tz: tzinfo) -> datetime:
    """``day`` (a date without a time) with the time the page prints next to that date
    (``2024年05月17日08:59  来源：…``, ``2023-11-17 20:52:15``), if it prints one."""
    body = root.find("body")
    text = (body if body is not None else root).text_content()
    for match in _NUMERIC_DATE.finditer(text):
        if match["H"] is None:
            continue
        if (int(match["y"]), int(match["m"]), int(match["d"])) != (day.year, day.month, day.day):
            continue
        found = _regex_date(match.group(0))
        if found is not None and not _is_midnight(found):
            return _localise(found, day.tzinfo or tz)
    return day


def extract_page(
    body: bytes,
    url: str,
    *,
    header_charset: str | None = None,
    encoding: str | None = None,
    rules: SiteRules | None = None,
    tz: tzinfo = UTC,
) -> ExtractedPage:
    """Extract the article of a fetched page (see the module docstring).

    ``header_charset`` is the HTTP Content-Type charset, ``encoding`` the source's encoding
    override, ``rules`` the source's site rules, ``tz`` its time zone (for naive dates).
    """
    decoded = decode_html(body, url, header_charset=header_charset, override=encoding)
    page = ExtractedPage(encoding=decoded.encoding, encoding_mismatch=decoded.mismatch)
    root = parse_document(decoded.text)
    if root is None:
        return page
    page.elements_dropped = trim_tree(root)
    layers = page.layers

    # structured data first: site rules may strip parts of the tree in place
    structured = read_structured(root, url)
    jsonld, meta = structured.jsonld, structured.meta
    found = _rule_fields(root, rules, url)

    def pick(name: str, *candidates: tuple[str, object]) -> object:
        for layer, value in candidates:
            if value:
                layers[name] = layer
                return value
        return None

    rule = found or RuleFields()

    # body: rules, JSON-LD articleBody, trafilatura
    body_pair: tuple[str, str] | None = None
    if rule.body_elements or rule.body_html:
        if rule.body_elements:
            pair = _finish_elements(rule.body_elements, url)
        else:
            pair = _finish_body(rule.body_html, url)
        if pair[1]:
            body_pair, layers["body"] = pair, "rules"
    if body_pair is None:
        body_pair = _jsonld_body(jsonld, url)
        if body_pair is not None:
            layers["body"] = "jsonld"
    if body_pair is None:
        body_pair = _generic_body(root, url)
        if body_pair is not None:
            layers["body"] = "generic"
    if body_pair is not None:
        page.body_html, page.body_text = body_pair

    site_names = tuple(n for n in (meta.publisher, jsonld.publisher) if n)
    title = pick(
        "title",
        ("rules", squash(rule.title)),
        ("jsonld", jsonld.title),
        ("meta", clean_title(meta.title, site_names, url=url) if meta.title else ""),
    )
    if not title:
        title = _generic_title(root, site_names, url)
        if title:
            layers["title"] = "generic"
    page.title = str(title or "")

    authors = pick(
        "authors",
        ("rules", [squash(a) for a in rule.authors if squash(a)]),
        ("jsonld", jsonld.authors),
        ("meta", meta.authors),
    )
    page.authors = list(authors or [])

    for layer, raw in (
        ("rules", rule.date),
        ("jsonld", jsonld.published),
        ("meta", meta.published),
    ):
        if page.published is None and raw:
            page.published = parse_date(raw, tz)
            if page.published is not None:
                layers["published"] = layer
    if page.published is None:
        page.published = _generic_date(root, url, tz)
        if page.published is not None:
            layers["published"] = "generic"
    if page.published is not None and _is_midnight(page.published):
        page.published = _time_on_page(page.published, root, tz)
    for layer, raw in (("jsonld", jsonld.modified), ("meta", meta.modified)):
        if page.modified is None and raw:
            page.modified = parse_date(raw, tz)
            if page.modified is not None:
                layers["modified"] = layer

    page.summary = str(pick("summary", ("jsonld", jsonld.summary), ("meta", meta.summary)) or "")
    image = pick("image", ("jsonld", jsonld.image), ("meta", meta.image))
    if not image and page.body_html:
        for found in _IMG_SRC.finditer(page.body_html):
            if not _NOT_A_PICTURE.search(found.group(1)):
                image = unescape(found.group(1))
                layers["image"] = "generic"
                break
    page.image = str(image or "")
    page.language = str(
        pick("language", ("jsonld", jsonld.language), ("meta", meta.language)) or ""
    )
    page.publisher = str(
        pick("publisher", ("jsonld", jsonld.publisher), ("meta", meta.publisher)) or ""
    )
    page.canonical_url = str(
        pick("canonical_url", ("jsonld", jsonld.canonical_url), ("meta", meta.canonical_url)) or ""
    )
    categories = [c for c in jsonld.categories if c != page.title]
    layer = "jsonld"
    if not categories:
        categories, layer = [c for c in meta.categories if c != page.title], "meta"
    if categories:
        page.categories, layers["categories"] = categories, layer

    if rule.related:
        page.related, layers["related"] = list(rule.related), "rules"
    else:
        excluded = tuple(u for u in (page.canonical_url,) if u)
        page.related = find_related(root, url, exclude_urls=excluded)
        if page.related:
            layers["related"] = "generic"
    return page
