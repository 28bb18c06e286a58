"""crawler.decode: bytes of a document to text."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from crawler.decode import DecodeError, decode_document, normalise_encoding_label
from crawler.textclean import clean_text

SEED = Path(__file__).parent / "fixtures" / "seeds" / "000_50086ce4ead14abc.txt"
ORIGIN = "seeds/example.txt"


@pytest.fixture(scope="module")
def chinese() -> str:
    """The seed, cleaned and simplified: what GBK sites serve."""
    return clean_text(SEED.read_text(encoding="utf-8"), "simplified")


def random_bytes(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------------------
# Unicode encodings
# --------------------------------------------------------------------------------------


def test_utf8(chinese: str) -> None:
    assert decode_document(chinese.encode("utf-8"), ORIGIN) == chinese


def test_utf8_bom_is_removed(chinese: str) -> None:
    assert decode_document(codecs.BOM_UTF8 + chinese.encode("utf-8"), ORIGIN) == chinese


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_utf16_and_utf32_with_bom(chinese: str, bom: bytes, codec: str) -> None:
    assert decode_document(bom + chinese.encode(codec), ORIGIN) == chinese


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised_by_nul_bytes(chinese: str, codec: str) -> None:
    assert decode_document(chinese.encode(codec), ORIGIN) == chinese


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_ascii_utf16_without_bom(codec: str) -> None:
    text = "Plain English text\nwith two lines."
    assert decode_document(text.encode(codec), ORIGIN) == text


def test_plain_ascii() -> None:
    assert decode_document(b"hello\tworld\n", ORIGIN) == "hello\tworld\n"


# --------------------------------------------------------------------------------------
# GBK / GB18030
# --------------------------------------------------------------------------------------


def test_gbk_encoded_chinese(chinese: str) -> None:
    assert decode_document(chinese.encode("gbk"), ORIGIN) == chinese


def test_gb18030_only_characters() -> None:
    text = "朱镕基说：𠮷野家的“€”标志。\n第二行"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")  # 𠮷 needs GB18030's four-byte sequences
    assert decode_document(data, ORIGIN) == text


def test_gbk_with_crlf(chinese: str) -> None:
    data = chinese.replace("\n", "\r\n").encode("gbk")
    assert decode_document(data, ORIGIN) == chinese


def test_override_gb2312_decodes_gbk_only_character() -> None:
    data = "朱镕基".encode("gbk")
    with pytest.raises(UnicodeEncodeError):
        "镕".encode("gb2312")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    assert decode_document(data, ORIGIN, encoding="gb2312") == "朱镕基"


def test_override_wins_over_detection() -> None:
    data = "café".encode()
    assert decode_document(data, ORIGIN) == "café"
    assert decode_document(data, ORIGIN, encoding="latin-1") == "cafÃ©"


def test_override_that_does_not_fit_names_codec_and_position() -> None:
    with pytest.raises(DecodeError, match=r"seeds/example\.txt: not valid utf-8: .* at byte 3"):
        decode_document(b"caf\xe9", ORIGIN, encoding="UTF8")


def test_override_removes_bom(chinese: str) -> None:
    data = codecs.BOM_UTF8 + chinese.encode("utf-8")
    assert decode_document(data, ORIGIN, encoding="utf-8") == chinese


# --------------------------------------------------------------------------------------
# Line endings
# --------------------------------------------------------------------------------------


def test_crlf_and_cr_become_lf() -> None:
    assert decode_document(b"a\r\nb\rc\n\r\n", ORIGIN) == "a\nb\nc\n\n"


def test_utf16_crlf_becomes_lf() -> None:
    data = codecs.BOM_UTF16_LE + "第一行\r\n第二行\r\n".encode("utf-16-le")
    assert decode_document(data, ORIGIN) == "第一行\n第二行\n"


# --------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n\t\r\n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\n \n", codecs.BOM_UTF16_LE],
)
def test_empty_document_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError, match=r"^seeds/example\.txt: empty document$"):
        decode_document(data, ORIGIN)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random_bytes(4000),
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + random_bytes(2000, seed=2),
        b"\x7fELF\x02\x01\x01\x00" + bytes(8) + random_bytes(2000, seed=3),
        random_bytes(3000, seed=4),
        bytes(range(1, 32)) * 20,  # control characters, no NUL
    ],
    ids=["png", "zip", "elf", "random", "controls"],
)
def test_binary_data_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError, match=r"^seeds/example\.txt: binary data, not text$"):
        decode_document(data, ORIGIN)


def test_binary_data_is_refused_even_with_an_override() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random_bytes(4000)
    with pytest.raises(DecodeError, match="binary data, not text"):
        decode_document(data, ORIGIN, encoding="latin-1")


@pytest.mark.parametrize(
    "data",
    [
        "Ça a été très crème brûlée.".encode("latin-1"),  # accents before spaces: not GBK
        b"\x80 starts with a byte GB18030 does not use",
        b"\x81\x30\x81\x30" * 50,  # valid GB18030, but it decodes to C1 controls
        "中文文本".encode() + b"\xff\xfe\xfd",
    ],
    ids=["latin-1", "lone-0x80", "gb18030-controls", "broken-utf8"],
)
def test_invalid_utf8_that_is_not_plausible_gbk_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError, match=r"^seeds/example\.txt: neither UTF-8 \(.+ at byte \d+\)"):
        decode_document(data, ORIGIN)


def test_unknown_override_label_is_a_decode_error_naming_it() -> None:
    with pytest.raises(DecodeError, match=r"seeds/example\.txt: .*'klingon-8'"):
        decode_document(b"text", ORIGIN, encoding="klingon-8")


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


# --------------------------------------------------------------------------------------
# Large input
# --------------------------------------------------------------------------------------


def test_large_document_decodes_without_python_loops(chinese: str) -> None:
    data = (chinese + "\r\n").encode("gbk") * 3000  # ~10 MB
    text = decode_document(data, ORIGIN)
    assert text.count("\n") == (chinese.count("\n") + 1) * 3000
    assert "\r" not in text


# --------------------------------------------------------------------------------------
# normalise_encoding_label
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label", ["gb2312", "GB2312", "gbk", "x-gbk", "cp936", "gb_2312-80", " GBK ", "gb18030"]
)
def test_gbk_family_labels_become_gb18030(label: str) -> None:
    assert normalise_encoding_label(label) == "gb18030"


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        ("Latin-1", "iso8859-1"),
        ("UTF-16LE", "utf-16-le"),
        ("windows-1252", "cp1252"),
        ("Big5", "big5"),
    ],
)
def test_other_labels_become_python_codec_names(label: str, name: str) -> None:
    assert normalise_encoding_label(label) == name


@pytest.mark.parametrize("label", ["klingon-8", "", "base64", "rot13"])
def test_unknown_or_non_text_label_is_a_lookup_error_naming_it(label: str) -> None:
    with pytest.raises(LookupError, match=repr(label)):
        normalise_encoding_label(label)
