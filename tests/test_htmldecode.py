"""crawler.htmldecode: the bytes of a fetched page to text, as a browser reads them."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

import pytest

from crawler.htmldecode import DecodedPage, declared_meta_charset, decode_html

URL = "https://news.example.cn/a/1.html"
PAGES = Path(__file__).parent / "fixtures" / "pages"
# 镕 is in GBK but not in GB2312: Python's gb2312 codec rejects it.
ZH = "朱镕基总理在北京会见了来访的代表团，双方就经济合作等问题交换了意见。"


def page(head: str = "", body: str = f"<p>{ZH}</p>") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>标题</title></head><body>{body}</body></html>"


# --------------------------------------------------------------------------------------
# Precedence: override > BOM > HTTP header > <meta> > UTF-8 > guess
# --------------------------------------------------------------------------------------

# "café" in windows-1252; as KOI8-R the same bytes read "cafИ": both decode strictly.
CAFE = b"<html><head><meta charset='koi8-r'></head><body><p>caf\xe9</p></body></html>"


def test_meta_charset_is_used_without_header() -> None:
    decoded = decode_html(CAFE, URL)
    assert decoded.encoding == "koi8-r"
    assert "cafИ" in decoded.text
    assert decoded.mismatch is False


def test_header_charset_beats_meta() -> None:
    decoded = decode_html(CAFE, URL, header_charset="windows-1252")
    assert decoded.encoding == "cp1252"
    assert "café" in decoded.text
    assert decoded.declared == "cp1252"


def test_bom_beats_header_and_meta() -> None:
    body = codecs.BOM_UTF8 + "<meta charset='koi8-r'><p>café</p>".encode()
    decoded = decode_html(body, URL, header_charset="windows-1252")
    assert decoded.encoding == "utf-8"
    assert decoded.text == "<meta charset='koi8-r'><p>café</p>"  # BOM removed


def test_utf16_bom() -> None:
    decoded = decode_html(codecs.BOM_UTF16_LE + page().encode("utf-16-le"), URL)
    assert decoded.encoding == "utf-16-le"
    assert ZH in decoded.text


def test_override_beats_everything() -> None:
    body = page('<meta charset="utf-8">').encode("gbk")
    decoded = decode_html(body, URL, header_charset="utf-8", override="gbk")
    assert decoded == DecodedPage(decoded.text, "gb18030", "gb18030", False)
    assert ZH in decoded.text


def test_latin1_label_reads_as_windows_1252() -> None:
    # browsers decode iso-8859-1 as windows-1252: 0x93/0x94 are curly quotes
    decoded = decode_html(b"<p>\x93quoted\x94</p>", URL, header_charset="ISO-8859-1")
    assert decoded.text == "<p>\u201cquoted\u201d</p>"


def test_http_equiv_content_type() -> None:
    head = '<meta http-equiv="Content-Type" content="text/html; charset=GBK">'
    decoded = decode_html(page(head).encode("gbk"), URL)
    assert decoded.encoding == "gb18030"
    assert decoded.declared == "gb18030"
    assert ZH in decoded.text


# --------------------------------------------------------------------------------------
# GBK family
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["gb2312", "GB2312", "gbk", "x-gbk", "cp936"])
def test_gbk_family_labels_decode_gbk_only_characters(label: str) -> None:
    with pytest.raises(UnicodeDecodeError):
        ZH.encode("gbk").decode("gb2312")  # the trap: the label's own codec fails
    decoded = decode_html(page(f'<meta charset="{label}">').encode("gbk"), URL)
    assert decoded.encoding == "gb18030"
    assert decoded.mismatch is False
    assert ZH in decoded.text


def test_undeclared_gbk_is_recognised() -> None:
    decoded = decode_html(page().encode("gbk"), URL)
    assert decoded.encoding == "gb18030"
    assert ZH in decoded.text


def test_undeclared_utf8() -> None:
    decoded = decode_html(page().encode("utf-8"), URL)
    assert (decoded.encoding, decoded.declared, decoded.mismatch) == ("utf-8", "", False)
    assert ZH in decoded.text


# --------------------------------------------------------------------------------------
# The Wayback Machine trap: injected <script charset="utf-8"> before the real <meta>
# --------------------------------------------------------------------------------------

WAYBACK_HEAD = (
    '<script src="//archive.org/includes/analytics.js?v=cf34f82" type="text/javascript">'
    "</script>\n"
    '<script type="text/javascript" src="/_static/js/bundle-playback.js" charset="utf-8">'
    "</script>\n"
    '<script type="text/javascript" src="/_static/js/wombat.js" charset="utf-8"></script>\n'
    '<script type="text/javascript">__wm.init("https://web.archive.org/web");</script>\n'
    '<link rel="stylesheet" type="text/css" href="/_static/css/banner-styles.css" />\n'
    "<!-- End Wayback Rewrite JS Include -->\n"
    '<meta http-equiv="Content-Type" content="text/html; charset=gb2312"/>\n'
)


def test_script_charset_is_not_a_page_declaration() -> None:
    body = page(WAYBACK_HEAD).encode("gbk")
    assert declared_meta_charset(body) == "gb2312"
    decoded = decode_html(body, URL)
    assert decoded.encoding == "gb18030"
    assert decoded.declared == "gb18030"
    assert decoded.mismatch is False
    assert ZH in decoded.text


def test_meta_inside_comment_or_script_text_is_ignored() -> None:
    head = (
        '<!-- <meta charset="koi8-r"> -->'
        "<script>document.write('<meta charset=\"koi8-r\">')</script>"
        '<meta charset="windows-1252">'
    )
    assert declared_meta_charset(page(head).encode()) == "windows-1252"


def test_meta_in_body_is_not_a_declaration() -> None:
    body = page("", '<p>x</p><meta charset="koi8-r">').encode()
    assert declared_meta_charset(body) is None


def test_wayback_archived_page() -> None:
    body = gzip.decompress((PAGES / "xinhuanet-he-2012-gb2312.html.gz").read_bytes())
    decoded = decode_html(body, "https://web.archive.org/web/20120611024252/http://x/")
    assert decoded.encoding == "gb18030"
    assert "话剧《约定无期限》河北各市巡演结束" in decoded.text


# --------------------------------------------------------------------------------------
# Wrong declarations
# --------------------------------------------------------------------------------------


def test_utf8_declared_but_gbk_bytes_sets_mismatch() -> None:
    decoded = decode_html(page('<meta charset="utf-8">').encode("gbk"), URL)
    assert decoded.encoding == "gb18030"
    assert decoded.declared == "utf-8"
    assert decoded.mismatch is True
    assert ZH in decoded.text


def test_gb2312_declared_but_utf8_bytes_sets_mismatch() -> None:
    # pages re-saved as UTF-8 that kept their old <meta charset=gb2312>
    decoded = decode_html(page('<meta charset="gb2312">').encode("utf-8"), URL)
    assert decoded.encoding == "utf-8"
    assert decoded.declared == "gb18030"
    assert decoded.mismatch is True
    assert ZH in decoded.text


def test_header_wrong_meta_right() -> None:
    decoded = decode_html(page('<meta charset="gbk">').encode("gbk"), URL, header_charset="utf-8")
    assert decoded.encoding == "gb18030"
    assert decoded.mismatch is True
    assert ZH in decoded.text


def test_a_stray_bad_byte_keeps_the_declaration() -> None:
    body = page('<meta charset="utf-8">', f"<p>{ZH}\xff</p>").encode("utf-8")
    body = body.replace("\xff".encode(), b"\xff")
    decoded = decode_html(body, URL)
    assert decoded.encoding == "utf-8"
    assert decoded.mismatch is False
    assert ZH in decoded.text
    assert "\ufffd" in decoded.text


def test_unknown_labels_are_ignored() -> None:
    body = page('<meta charset="no-such-charset">').encode("utf-8")
    decoded = decode_html(body, URL, header_charset="bogus", override="nonsense")
    assert decoded.encoding == "utf-8"
    assert ZH in decoded.text


def test_empty_body() -> None:
    assert decode_html(b"", URL).text == ""
