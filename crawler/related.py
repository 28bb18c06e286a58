"""Related-reading links a page lists next to its article.

A block counts when its ``id``/``class`` says so (``related``, ``recommend``, ``tuijian``,
``xgyd`` — 相关阅读 in pinyin initials — ``more-news``…) or when a short heading or label
introduces it (相关阅读, 相关新闻, 推荐阅读, 延伸阅读, Related, Read more, More from…).
The block must be made of links (most of its text is link text): a heading that happens
to start an ordinary paragraph does not turn the article into a link list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml import etree
from lxml.html import HtmlElement

from feeds.article import RelatedLink

__all__ = ["MAX_RELATED", "find_related"]

MAX_RELATED = 20

_BLOCK_NAME = re.compile(
    r"related|relate|recommend|tuijian|xgyd|xgxw|xiangguan|more[-_]?news|morenews|"
    r"read[-_]?more|readmore|further[-_]?reading|also[-_]?read|see[-_]?also|"
    r"more[-_]?from|more[-_]?stories|more[-_]?articles",
    re.IGNORECASE,
)
# A class/id like "unrelated" or "related-video-player" still counts; these do not.
_NOT_A_BLOCK = re.compile(r"relative|related[-_]?(?:tags?|topics?|keywords?)", re.IGNORECASE)
_LABEL_CORE = (
    r"(?:相关(?:阅读|新闻|文章|报道|链接|推荐|内容)?|推荐(?:阅读|新闻|文章)?|延伸阅读|"
    r"扩展阅读|猜你喜欢|热点推荐|related(?:[^\S\n]+(?:articles?|stories|news|posts?|content|"
    r"reading|coverage|links))?|read[^\S\n]+more|more[^\S\n]+from\b[^\n]*|"
    r"more[^\S\n]+stories|more[^\S\n]+on[^\S\n]+this|see[^\S\n]+also|also[^\S\n]+read|"
    r"further[^\S\n]+reading|you[^\S\n]+may[^\S\n]+also[^\S\n]+like)"
)
# A whole text that is a label (a little punctuation around it allowed: 【相关阅读】, Related:).
_LABEL = re.compile(rf"^[^\w\n]{{0,3}}{_LABEL_CORE}[^\w\n]{{0,3}}$", re.IGNORECASE)
# Cheap first test for a text node: a word every label has.
_LABEL_HINT = re.compile(
    r"相关|推荐|阅读|猜你|[Rr]elated|RELATED|[Mm]ore|MORE|[Aa]lso|ALSO|[Ff]urther"
)
_LABEL_TAGS = frozenset(
    {
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "b",
        "span",
        "div",
        "p",
        "dt",
        "em",
        "i",
        "caption",
        "legend",
        "header",
        "label",
        "li",
        "th",
        "td",
        "font",
        "section",
    }
)
_MORE = re.compile(
    r"^(?:更多|更多>+|more|more\s*»|查看更多|点击查看|全文|next|previous|上一篇|下一篇|返回|首页|home)$",
    re.IGNORECASE,
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_MAX_BLOCK_LINKS = 60
_MIN_LINK_TEXT_SHARE = 0.5
_SKIPPED = frozenset({"script", "style", "noscript", "template"})


def _text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _link_text_share(block: HtmlElement) -> float:
    total = len("".join(block.text_content().split()))
    if not total:
        return 0.0
    linked = sum(len("".join(a.text_content().split())) for a in block.iter("a"))
    return linked / total


def _is_link_list(block: HtmlElement) -> bool:
    links = sum(1 for a in block.iter("a") if a.get("href"))
    if not 1 <= links <= _MAX_BLOCK_LINKS:
        return False
    return _link_text_share(block) >= _MIN_LINK_TEXT_SHARE


# XPath string functions are slow in libxml2; fetching plain strings is not. Attribute
# values and short text nodes are matched in Python, then looked up by equality.
_ATTRIBUTE_VALUES = etree.XPath("//@class | //@id", smart_strings=False)
_TEXT_NODES = etree.XPath("//text()", smart_strings=False)
_BY_ATTRIBUTE = etree.XPath("//*[@class = $value or @id = $value]")
_BY_TEXT = etree.XPath("//text()[. = $value]")
_MAX_LABEL_TEXTS = 50


def _named_blocks(root: HtmlElement) -> Iterator[HtmlElement]:
    values = {
        value
        for value in set(_ATTRIBUTE_VALUES(root))
        if _BLOCK_NAME.search(value) and not _NOT_A_BLOCK.search(value)
    }
    for value in sorted(values):
        for element in _BY_ATTRIBUTE(root, value=value):
            if isinstance(element.tag, str) and element.tag not in ("body", "html", "a"):
                yield element


def _in_link(element: HtmlElement) -> bool:
    return any(ancestor.tag == "a" for ancestor in element.iterancestors())


def _label_candidates(root: HtmlElement) -> Iterator[HtmlElement]:
    """Elements whose own text (or a child's tail) is short and reads like a label."""
    texts = {
        text
        for text in set(_TEXT_NODES(root))
        if len(text) <= 80 and _LABEL_HINT.search(text) and _LABEL.match(" ".join(text.split()))
    }
    # One search of the page per distinct label: a page has a handful. A hostile one
    # (10,000 links titled "相关链接N") would make that quadratic, so only the first
    # _MAX_LABEL_TEXTS labels are looked for.
    for text in sorted(texts)[:_MAX_LABEL_TEXTS]:
        for node in _BY_TEXT(root, value=text):
            owner = node.getparent()
            if owner is not None and node.is_tail:
                owner = owner.getparent()
            if owner is not None and isinstance(owner.tag, str):
                yield owner


def _label_element(element: HtmlElement) -> HtmlElement | None:
    """``element`` when it is a label: its whole text must be the label (so running text
    never counts), it is no link and sits in none."""
    if element.tag in _SKIPPED or element.tag == "a" or element.tag not in _LABEL_TAGS:
        return None
    if _in_link(element) or not _LABEL.match(_text(element)):
        return None
    return element


def _labelled_blocks(root: HtmlElement) -> Iterator[HtmlElement]:
    """Blocks introduced by a label: the label's container when it holds the links
    too, else the elements after the label (up to the next heading)."""
    for candidate in _label_candidates(root):
        label = _label_element(candidate)
        if label is None:
            continue
        # climb while the label is its container's only content (h3 > span > "相关阅读")
        anchor = label
        while anchor.getparent() is not None and anchor.tag not in _HEADINGS:
            parent = anchor.getparent()
            if parent.tag in ("body", "html") or _text(parent) != _text(anchor):
                break
            anchor = parent
        parent = anchor.getparent()
        if parent is not None and parent.tag not in ("body", "html"):
            links = [a for a in parent.iter("a") if a.get("href")]
            if links and _is_link_list(parent):
                yield parent
                continue
        for sibling in list(anchor.itersiblings())[:3]:
            if not isinstance(sibling.tag, str):
                continue
            if sibling.tag in _HEADINGS or (
                sibling.tag in _LABEL_TAGS and _LABEL.match(_text(sibling) or "-")
            ):
                break
            if sibling.tag == "a" or _is_link_list(sibling):
                yield sibling


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# Section fronts and channel pages, not articles: /news/, /GB/123/index.html, /list.shtml
_INDEX_PAGE = re.compile(r"(?:/|/index\.\w+|/default\.\w+|/list\.\w+)$", re.IGNORECASE)


def _looks_like_headline(title: str) -> bool:
    """Article titles, not navigation: six CJK characters, or three words / 15 letters."""
    if not title or _MORE.match(title):
        return False
    if len(_CJK.findall(title)) >= 6:
        return True
    return len(title.split()) >= 3 or len(title) >= 15


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def _links(block: HtmlElement) -> Iterator[HtmlElement]:
    if block.tag == "a":
        yield block
    else:
        yield from block.iter("a")


def find_related(
    root: HtmlElement, base_url: str, *, exclude_urls: Iterable[str] = ()
) -> list[RelatedLink]:
    """Related links listed on the page: absolute http(s) URLs, not the page itself (nor
    ``exclude_urls``), first occurrence wins, at most :data:`MAX_RELATED`."""
    excluded = {_normalise(urljoin(base_url, u)) for u in (base_url, *exclude_urls) if u}
    seen: set[str] = set()
    found: list[RelatedLink] = []
    blocks: list[HtmlElement] = []
    for block in _named_blocks(root):
        if _is_link_list(block):
            blocks.append(block)
    blocks.extend(_labelled_blocks(root))
    for block in blocks:
        for link in _links(block):
            href = (link.get("href") or "").strip()
            if not href or href.startswith("#"):
                continue
            try:
                url = urljoin(base_url, href) if base_url else href
            except ValueError:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                continue
            if parts.path in ("", "/") and not parts.query:
                continue  # a site's home page is not an article
            key = _normalise(url)
            if key in excluded or key in seen:
                continue
            title = _text(link) or " ".join((link.get("title") or "").split())
            if not _looks_like_headline(title) or _INDEX_PAGE.search(parts.path):
                continue
            seen.add(key)
            found.append(RelatedLink(title=title, url=url.split("#", 1)[0]))
            if len(found) >= MAX_RELATED:
                return found
    return found
