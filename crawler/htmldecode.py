"""Turn the bytes of a fetched web page into text, the way a browser would, only stricter.

:func:`decode_html` decides the encoding in this order:

1. the per-source override (a source whose pages are known to lie);
2. a byte order mark;
3. the charset of the HTTP ``Content-Type`` header;
4. ``<meta charset>`` / ``<meta http-equiv="Content-Type">`` in the first ~4 KB of the
   page's own head. Scripts, styles and comments are skipped first: the Wayback Machine
   injects ``<script … charset="utf-8">`` tags *before* an archived page's real
   ``<meta charset=gb2312>``, and a script's charset describes the script, not the page;
5. without a declaration: strict UTF-8, then a guess (charset_normalizer).

GBK-family labels (gb2312, gbk, x-gbk, cp936) decode as ``gb18030``: sites labelled
gb2312 use GBK-only characters (镕 in 朱镕基) that Python's gb2312 codec rejects.
Latin-1 and ASCII labels decode as windows-1252, as browsers do.

A declaration can be wrong. When the declared codec cannot decode the bytes strictly but
another one can, that one is used and ``mismatch`` is set (the spider logs it). Bytes that
are valid UTF-8 with real multi-byte characters are UTF-8 even under a legacy label
(GBK or windows-1252 text is practically never valid UTF-8, while pages re-saved as UTF-8
that kept their old ``<meta charset=gb2312>`` are common); that also sets ``mismatch``.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

from crawler.decode import normalise_encoding_label

__all__ = ["DecodedPage", "declared_meta_charset", "decode_html", "resolve_label"]

logger = logging.getLogger(__name__)

# How much of the page the <meta> prescan reads: the raw window (Wayback's injected
# scripts take ~1 KB, some pages inline kilobytes of JS before their <meta>), and the
# page's own head text within it once scripts, styles and comments are cut out.
_PRESCAN_BYTES = 32768
_PRESCAN_CHARS = 4096

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels browsers decode as windows-1252 (WHATWG Encoding Standard).
_CP1252_CODECS = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252"})

_SKIPPED_BLOCKS = re.compile(
    rb"<!--.*?(?:-->|\Z)|<(script|style|template|noscript)\b.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_META_TAG = re.compile(rb"<meta\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    rb"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)
_CHARSET_IN_CONTENT = re.compile(rb"""charset\s*=\s*["']?\s*([-a-zA-Z0-9_.:]+)""", re.IGNORECASE)
_HEAD_END = re.compile(rb"</head\s*>|<body\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DecodedPage:
    """A decoded page: ``encoding`` is the Python codec used, ``declared`` the codec the
    override, header or page declared ("" when nothing did), and ``mismatch`` is True
    when the declaration had to be overruled because the bytes are in another encoding."""

    text: str
    encoding: str
    declared: str = ""
    mismatch: bool = False


def resolve_label(label: str | None) -> str | None:
    """The Python codec for a charset label as a browser reads it, or None when unknown.

    GBK-family labels become ``gb18030``; latin-1 and ASCII become ``cp1252``; a UTF-16
    label found *inside* the page cannot be right (the page was readable as ASCII), so
    callers handle that; here it maps to the UTF-16 codec.
    """
    if not label:
        return None
    label = label.strip().strip("\"'").strip()
    if not label:
        return None
    try:
        codec = normalise_encoding_label(label)
    except LookupError:
        return None
    if codec in _CP1252_CODECS:
        return "cp1252"
    return codec


def _meta_attributes(tag_body: bytes) -> dict[bytes, bytes]:
    attributes: dict[bytes, bytes] = {}
    for match in _ATTRIBUTE.finditer(tag_body):
        name = match.group(1).lower()
        value = match.group(2) or match.group(3) or match.group(4) or b""
        attributes.setdefault(name, value.strip())
    return attributes


def declared_meta_charset(body: bytes) -> str | None:
    """The charset label the page's own ``<meta>`` tags declare, or None.

    Only the head counts (up to ``</head>`` or ``<body>``), after scripts, styles,
    templates and comments are removed, so a ``<script charset=…>`` never counts."""
    window = body[:_PRESCAN_BYTES]
    head = _SKIPPED_BLOCKS.sub(b" ", window)
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    head = head[:_PRESCAN_CHARS]
    for match in _META_TAG.finditer(head):
        attributes = _meta_attributes(match.group(1))
        charset = attributes.get(b"charset")
        if charset:
            return charset.decode("ascii", "replace")
        if attributes.get(b"http-equiv", b"").lower() == b"content-type":
            found = _CHARSET_IN_CONTENT.search(attributes.get(b"content", b""))
            if found:
                return found.group(1).decode("ascii", "replace")
    return None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _real_utf8(body: bytes) -> str | None:
    """The bytes as UTF-8 when they are valid UTF-8 and hold multi-byte characters."""
    if body.isascii():
        return None
    return _strict(body, "utf-8")


def _guess(body: bytes) -> tuple[str, str] | None:
    """charset_normalizer's best guess with its decoded text, or None."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with requests/scrapy
        return None
    best = from_bytes(body).best()
    if best is None:
        return None
    codec = resolve_label(best.encoding)
    if codec is None:
        return None
    text = _strict(body, codec)
    return (codec, text) if text is not None else None


_HAN = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


def _plausible_chinese(text: str) -> bool:
    """GB18030 decodes most byte soup without error; real GBK pages are made of Han,
    CJK punctuation and full-width forms beyond ASCII."""
    sample = text[:20000]
    non_ascii = len(_NON_ASCII.findall(sample))
    return non_ascii > 0 and len(_HAN.findall(sample)) >= 0.9 * non_ascii


def _alternative(body: bytes, declared: str) -> tuple[str, str] | None:
    """A codec other than ``declared`` that decodes ``body`` strictly, with the text."""
    if declared != "utf-8":
        text = _strict(body, "utf-8")
        if text is not None:
            return "utf-8", text
    if declared != "gb18030":
        text = _strict(body, "gb18030")
        if text is not None and _plausible_chinese(text):
            return "gb18030", text
    guess = _guess(body)
    if guess is not None and guess[0] != declared:
        return guess
    return None


def _few_errors(body: bytes, codec: str) -> str | None:
    """The text when ``codec`` fails on only a stray byte or two (a truncated multi-byte
    character, one pasted Latin-1 byte): the declaration is right, the page is sloppy."""
    text = body.decode(codec, "replace")
    errors = text.count("\ufffd")
    return text if errors <= max(3, len(body) // 5000) else None


def _finish(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def decode_html(
    body: bytes,
    url: str,
    *,
    header_charset: str | None = None,
    override: str | None = None,
) -> DecodedPage:
    """Decode a fetched page. ``header_charset`` is the charset parameter of the HTTP
    Content-Type header; ``override`` a per-source encoding (wins over everything).
    ``url`` only appears in log messages. Never raises: undecodable bytes end up as
    U+FFFD in the declared (or best) encoding."""
    if not body:
        return DecodedPage("", resolve_label(override) or "utf-8", resolve_label(override) or "")

    declared: str | None = None
    source = ""
    if override:
        declared = resolve_label(override)
        if declared is None:
            logger.warning("%s: unknown encoding override %r ignored", url, override)
        else:
            source = "override"
    if declared is None:
        for bom, codec in _BOMS:
            if body.startswith(bom):
                text = body[len(bom) :].decode(codec, "replace")
                return DecodedPage(_finish(text), codec, codec)
    if declared is None and header_charset:
        declared = resolve_label(header_charset)
        if declared is None:
            logger.debug("%s: unknown charset %r in Content-Type", url, header_charset)
        else:
            source = "header"
    if declared is None:
        label = declared_meta_charset(body)
        declared = resolve_label(label)
        if declared is not None:
            source = "meta"
            if declared.startswith(("utf-16", "utf-32")):
                # the page was readable as ASCII to find this, so it is not UTF-16
                declared = "utf-8"

    if declared is None:
        text = _strict(body, "utf-8")
        if text is not None:
            return DecodedPage(_finish(text), "utf-8")
        text = _strict(body, "gb18030")
        if text is not None and _plausible_chinese(text):
            return DecodedPage(_finish(text), "gb18030")
        guess = _guess(body)
        if guess is not None:
            return DecodedPage(_finish(guess[1]), guess[0])
        return DecodedPage(_finish(body.decode("cp1252", "replace")), "cp1252")

    if declared != "utf-8" and source != "override":
        utf8 = _real_utf8(body)
        if utf8 is not None:
            logger.debug("%s: declared %s (%s) but the bytes are UTF-8", url, declared, source)
            return DecodedPage(_finish(utf8), "utf-8", declared, mismatch=True)

    text = _strict(body, declared)
    if text is not None:
        return DecodedPage(_finish(text), declared, declared)

    sloppy = _few_errors(body, declared)
    if sloppy is not None:
        return DecodedPage(_finish(sloppy), declared, declared)
    alternative = _alternative(body, declared)
    if alternative is not None:
        codec, text = alternative
        logger.debug("%s: declared %s (%s) but the bytes are %s", url, declared, source, codec)
        return DecodedPage(_finish(text), codec, declared, mismatch=True)
    return DecodedPage(_finish(body.decode(declared, "replace")), declared, declared)
