"""feeds.xmltext.xml_safe: its fast check accepts exactly what the XML 1.0 Char rule
allows, so skipping the substitution for clean text never lets a forbidden one through."""

from __future__ import annotations

import re

from feeds.xmltext import xml_safe

# The XML 1.0 Char production, written out independently of the module.
ALLOWED = re.compile("[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def test_every_code_point() -> None:
    """Each code point alone, between clean text and as the only non-ASCII character."""
    for code in range(0x110000):
        char = chr(code)
        allowed = ALLOWED.fullmatch(char) is not None
        for text in (char, f"ab{char}cd", f"中{char}"):
            expected = text if allowed else text.replace(char, "")
            assert xml_safe(text) == expected, hex(code)


def test_clean_text_is_returned_as_is() -> None:
    text = "新华社北京电 ‘quoted’ \t\n\r 🙂"
    assert xml_safe(text) is text
    assert xml_safe("") == ""


def test_mixed_forbidden_characters_all_removed() -> None:
    assert xml_safe("a\x00b\ud800c\ufffed\uffffe\x1ff\x7f") == "abcdef\x7f"
