"""Make an article body safe and tidy for a feed: :func:`clean_body_html` and
:func:`html_to_text`.

Feed readers render ``body_html`` inside their own pages, so nothing executable may pass:
scripts, styles, frames, plugins, forms, comments, ``on*`` handlers and ``javascript:``
URLs all go. What stays is the structure of the text (paragraphs, headings, lists,
quotes, figures, tables, links, emphasis, images), with every URL made absolute against
the page, lazy-loaded images given their real ``src``, and tracking pixels dropped.
Layout wrappers (``div``, ``section``, ``span``, ``font``…) are unwrapped; a wrapper that
holds only inline content becomes a ``<p>`` so paragraphs built from ``<div>``s survive.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import etree, html
from lxml.html import HtmlElement

__all__ = [
    "clean_body_html",
    "clean_body_tree",
    "html_to_text",
    "parse_fragment",
    "serialize_children",
    "tree_to_text",
]

# Removed with everything inside.
_KILL_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "frame",
        "frameset",
        "param",
        "form",
        "input",
        "button",
        "select",
        "option",
        "optgroup",
        "textarea",
        "datalist",
        "output",
        "link",
        "meta",
        "base",
        "title",
        "head",
        "svg",
        "math",
        "canvas",
        "source",
        "track",
        "map",
        "area",
        "dialog",
        "menu",
        "nav",
    }
)
# Unwrapped: their content is fallback for readers without the plugin (and libxml2 nests
# whatever follows a void <embed> inside it).
_UNWRAP_TAGS = frozenset({"object", "embed", "applet", "audio", "video", "picture"})
# Kept as they are (attributes filtered).
_KEEP_TAGS = frozenset(
    {
        "p",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "code",
        "figure",
        "figcaption",
        "table",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "a",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "s",
        "sub",
        "sup",
        "small",
        "mark",
        "q",
        "cite",
        "abbr",
        "del",
        "ins",
        "time",
        "br",
        "hr",
        "img",
    }
)
_RENAME = {"h1": "h2", "strike": "s", "tt": "code", "kbd": "code", "samp": "code", "var": "em"}
# Block-level elements: a wrapper containing one of these is unwrapped, not made a <p>.
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "address",
        "center",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "table",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "hr",
        "details",
        "summary",
        "fieldset",
        "hgroup",
        "picture",
    }
)
# Wrappers that become a paragraph when they hold only inline content.
_PARAGRAPH_WRAPPERS = frozenset(
    {
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "center",
        "address",
        "details",
        "summary",
        "fieldset",
        "hgroup",
        "body",
    }
)
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "srcset", "alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "ol": frozenset({"start", "reversed", "type"}),
    "li": frozenset({"value"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "time": frozenset({"datetime"}),
    "abbr": frozenset({"title"}),
}
_NO_ATTRIBUTES: frozenset[str] = frozenset()
# Elements that stay even when empty.
_EMPTY_OK = frozenset({"br", "hr", "img", "td", "th", "tr"})

_LAZY_SRC = (
    "data-src",
    "data-original",
    "data-lazy-src",
    "data-lazy",
    "data-actualsrc",
    "data-original-src",
    "data-echo",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
)
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset", "data-original-set")
_PLACEHOLDER_SRC = re.compile(
    r"^data:|blank\.(?:gif|png)|spacer\.gif|pixel\.gif|transparent\.(?:gif|png)|"
    r"placeholder|loading\.(?:gif|svg|png)|lazy[-_]?load|grey\.gif|/1x1\.",
    re.IGNORECASE,
)
_TRACKER_HOSTS = re.compile(
    r"(?:^|\.)(?:doubleclick\.net|google-analytics\.com|googletagmanager\.com|"
    r"scorecardresearch\.com|quantserve\.com|facebook\.com/tr|pixel\.wp\.com|"
    r"stats\.wordpress\.com|feedburner\.com|feeds\.feedburner\.com|hm\.baidu\.com|"
    r"cnzz\.com|51\.la|pixel\.quantserve\.com|sb\.scorecardresearch\.com|"
    r"analytics\.twitter\.com|bat\.bing\.com|chartbeat\.net|omtrdc\.net|2o7\.net)$",
    re.IGNORECASE,
)
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel", ""})
_SPACE = re.compile(r"[^\S\n]+")


def _absolute(value: str, base_url: str) -> str | None:
    """``value`` resolved against ``base_url``; None for script and other unsafe URLs."""
    value = value.strip()
    if not value:
        return None
    scheme = urlsplit(value).scheme.lower() if ":" in value else ""
    if scheme not in _SAFE_SCHEMES:
        return None
    if not base_url:
        return value
    try:
        return urljoin(base_url, value)
    except ValueError:
        return None


def _absolute_srcset(value: str, base_url: str) -> str:
    candidates = []
    for candidate in value.split(","):
        parts = candidate.split()
        if not parts:
            continue
        url = _absolute(parts[0], base_url)
        if url is None or url.startswith("data:"):
            continue
        candidates.append(" ".join([url, *parts[1:]]))
    return ", ".join(candidates)


def _is_tiny(value: str | None) -> bool:
    if value is None:
        return False
    value = value.strip().lower().removesuffix("px").strip()
    return value in ("0", "1")


def _fix_image(img: HtmlElement, base_url: str) -> bool:
    """Resolve lazy loading and absolutise; False when the image must go (pixel, no src)."""
    src = (img.get("src") or "").strip()
    if not src or _PLACEHOLDER_SRC.search(src):
        for attribute in _LAZY_SRC:
            lazy = (img.get(attribute) or "").strip()
            if lazy and not lazy.startswith("data:"):
                src = lazy
                break
    srcset = (img.get("srcset") or "").strip()
    if not srcset or _PLACEHOLDER_SRC.search(srcset):
        srcset = next((img.get(a, "").strip() for a in _LAZY_SRCSET if img.get(a)), "")
    if src.startswith("data:") or not src:
        src = ""
    if not src and srcset:
        src = srcset.split(",")[0].split()[0] if srcset.split() else ""
    absolute = _absolute(src, base_url) if src else None
    if not absolute or absolute.startswith(("mailto:", "tel:")):
        return False
    if _is_tiny(img.get("width")) and _is_tiny(img.get("height")):
        return False
    style = (img.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or ("width:1px" in style and "height:1px" in style):
        return False
    host = urlsplit(absolute).netloc.lower()
    if _TRACKER_HOSTS.search(host) or "/pixel" in absolute.lower().split("?")[0][-12:]:
        return False
    img.set("src", absolute)
    if srcset:
        srcset = _absolute_srcset(srcset, base_url)
        if srcset:
            img.set("srcset", srcset)
    else:
        img.attrib.pop("srcset", None)
    return True


def _drop(element: HtmlElement) -> None:
    """Remove ``element`` and its content, keeping its tail text."""
    element.drop_tree()


def _has_block_child(element: HtmlElement) -> bool:
    return any(isinstance(child.tag, str) and child.tag in _BLOCK_TAGS for child in element)


def parse_fragment(fragment: str) -> HtmlElement | None:
    """A ``<div>`` holding the fragment's content (a whole document's body works too)."""
    if not fragment or not fragment.strip():
        return None
    fragment = re.sub(r"^\s*<\?xml[^>]*\?>", "", fragment)
    try:
        document = html.document_fromstring(fragment)
    except (etree.ParserError, ValueError):
        return None
    body = document.find("body")
    if body is None:
        body = document
    body.tag = "div"
    body.attrib.clear()
    return body


_NOT_ELEMENTS = etree.XPath(".//comment()|.//processing-instruction()")


def clean_body_tree(root: HtmlElement, base_url: str) -> HtmlElement:
    """Clean ``root`` (a container element) in place and return it."""
    # comments, processing instructions, entities: not elements
    for node in _NOT_ELEMENTS(root):
        _remove_node(node)

    for element in list(root.iter()):
        if element is root:
            continue
        original = element.tag
        if not isinstance(original, str):
            _remove_node(element)
            continue
        if element.getparent() is None:
            continue  # inside something already removed
        tag = original.lower()
        if ":" in tag:  # <o:p>, <fb:like>, <ix:…>
            element.drop_tag()
            continue
        if tag in _KILL_TAGS:
            _drop(element)
            continue
        if tag in _UNWRAP_TAGS:
            element.drop_tag()
            continue
        tag = _RENAME.get(tag, tag)
        if tag == "img":
            if not _fix_image(element, base_url):
                _drop(element)
                continue
        elif tag == "a":
            href = element.get("href")
            url = _absolute(href, base_url) if href else None
            if url is None:
                element.attrib.pop("href", None)
            else:
                element.set("href", url)
        if tag not in _KEEP_TAGS:
            if tag in _PARAGRAPH_WRAPPERS and not _has_block_child(element):
                tag = "p"
            else:
                element.drop_tag()
                continue
        if tag != original:
            element.tag = tag
        names = element.keys()
        if names:
            allowed = _ALLOWED_ATTRIBUTES.get(tag, _NO_ATTRIBUTES)
            for name in names:
                if name not in allowed:
                    del element.attrib[name]
        if tag == "blockquote" or tag == "q":
            cite = element.get("cite")
            if cite is not None:
                url = _absolute(cite, base_url)
                if url is None:
                    del element.attrib["cite"]
                else:
                    element.set("cite", url)

    _remove_empty(root)
    return root


def _remove_node(node: etree._Element) -> None:
    parent = node.getparent()
    if parent is None:
        return
    tail = node.tail
    previous = node.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(node)


_TABLE_PARTS = frozenset({"table", "thead", "tbody", "tfoot", "tr", "caption"})
_INDENTED = frozenset({"p", "li", "h2", "h3", "h4", "h5", "h6", "blockquote", "dd", "dt"})


def _remove_empty(root: HtmlElement) -> None:
    """Drop elements left with neither text nor an image (empty <p>, <a>, <li>, layout
    tables); unwrap links left without a target; drop the indentation paragraphs start
    with (Chinese pages indent with ideographic spaces)."""
    for element in reversed(list(root.iter())):
        if element is root or not isinstance(element.tag, str):
            continue
        tag = element.tag
        if tag == "a" and "href" not in element.attrib:
            element.drop_tag()
            continue
        if tag in _TABLE_PARTS:
            if not element.text_content().strip() and element.find(".//img") is None:
                element.drop_tree()
            continue
        if tag in _EMPTY_OK:
            continue
        text = element.text
        if text and tag in _INDENTED and text[0].isspace():
            element.text = text = text.lstrip()
        if (text and not text.isspace()) or len(element):
            continue
        element.drop_tree()


def serialize_children(root: HtmlElement) -> str:
    """The content of ``root`` as an HTML fragment string (no wrapper element)."""
    if not root.attrib and isinstance(root.tag, str):
        # one serialiser call for the whole tree, wrapper cut off, instead of one per child
        whole = html.tostring(root, encoding="unicode", with_tail=False)
        opening, closing = f"<{root.tag}>", f"</{root.tag}>"
        if whole.startswith(opening) and whole.endswith(closing):
            return whole[len(opening) : -len(closing)].strip()
    parts = []
    if root.text and root.text.strip():
        parts.append(_escape(root.text))
    for child in root:
        parts.append(html.tostring(child, encoding="unicode", with_tail=True))
    return "".join(parts).strip()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean_body_html(fragment: str, base_url: str) -> str:
    """Return ``fragment`` cleaned (see the module docstring) as an HTML fragment string
    without ``<html>``/``<body>`` wrappers; "" when nothing is left."""
    root = parse_fragment(fragment)
    if root is None:
        return ""
    return serialize_children(clean_body_tree(root, base_url))


# --------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------

# Elements after which a new paragraph starts.
_CELL_TAGS = frozenset({"td", "th"})
_NOT_TEXT = frozenset({"script", "style", "template", "noscript", "figcaption"})
_TEXT_BLOCKS = (_BLOCK_TAGS - _CELL_TAGS) | {"br", "img", "body", "html"}


def tree_to_text(root: HtmlElement) -> str:
    """The text of ``root``: one paragraph per line, white space collapsed. Figure
    captions are left out: they describe an image, they are not the article's text."""
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            line = " ".join("".join(current).split())
            if line:
                lines.append(line)
            current.clear()

    def walk(element: HtmlElement) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _NOT_TEXT:
            return
        block = tag in _TEXT_BLOCKS
        if block:
            flush()
        if element.text and tag:
            current.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                current.append(child.tail)
        if tag in _CELL_TAGS:
            current.append(" ")
        elif block:
            flush()

    walk(root)
    flush()
    return "\n".join(lines)


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment, paragraphs separated by "\\n"."""
    root = parse_fragment(fragment)
    if root is None:
        return ""
    return tree_to_text(root)
