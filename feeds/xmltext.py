"""Text that is safe to put in XML 1.0.

XML 1.0 forbids most C0 controls, lone surrogates and U+FFFE/U+FFFF; lxml (and so
feedgen) raises on them, and a reader rejects a feed that contains one. Everything that
reaches a feed passes through :func:`xml_safe` first, whatever the source sent.

Almost every string is already clean, and a feed build passes a few hundred kilobytes
through here, so the common case is a check rather than a regular-expression
substitution: lxml's own text check (C code: UTF-8 encoding, which refuses lone
surrogates, and a scan for forbidden controls) plus two substring tests for U+FFFE and
U+FFFF. Together they accept exactly the characters ``_FORBIDDEN`` allows
(``tests/test_xmltext.py`` checks every code point); only a string that fails them pays
for the substitution.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

# Allowed: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# One scratch element per thread: lxml validates a string when it is assigned as text.
_PROBES = threading.local()


def _probe() -> etree._Element:
    probe = getattr(_PROBES, "element", None)
    if probe is None:
        probe = _PROBES.element = etree.Element("p")
    return probe


def xml_safe(text: str) -> str:
    """Return ``text`` without the characters XML 1.0 forbids (``text`` itself when it
    has none)."""
    if not text or (text.isascii() and text.isprintable()):
        return text
    try:
        _probe().text = text
    except ValueError:  # a forbidden control, or a lone surrogate (UnicodeEncodeError)
        return _FORBIDDEN.sub("", text)
    if "\ufffe" in text or "\uffff" in text:
        return _FORBIDDEN.sub("", text)
    return text
