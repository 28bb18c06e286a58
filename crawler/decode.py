"""Turn the bytes of a document into text.

Local documents and pages arrive without a trustworthy declared encoding: UTF-8 with or
without a BOM, UTF-16 from Windows tools (sometimes without a BOM), and GBK/GB2312 from
older Chinese sites. :func:`decode_document` tries, in order: the encoding a source
configures, a BOM, UTF-16 recognised by its NUL bytes, strict UTF-8, strict GB18030
(a superset of GBK and GB2312). It refuses to guess further: text decoded with the
wrong codec would be published as mojibake, so a document that fits none of these
raises :class:`DecodeError` and is skipped with a message naming the file.

Detection only looks at the first few KiB (``_SAMPLE_BYTES``); everything else is done
by codecs and bytes methods in C, so a 50 MB file costs one decode, not a Python loop.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["DecodeError", "decode_document", "normalise_encoding_label"]

_SAMPLE_BYTES = 8192
_SAMPLE_CHARS = 4096

# Labels that mean "GBK" in practice. Sites that declare gb2312 routinely use characters
# only GBK has (镕 in 朱镕基), and GB18030 decodes every GBK byte sequence the same way.
_GBK_LABELS = frozenset(
    {
        "gb2312",
        "gb_2312",
        "gb_2312-80",
        "gb2312-80",
        "gb2312-1980",
        "gbk",
        "x-gbk",
        "cp936",
        "ms936",
        "windows-936",
        "csgb2312",
        "csiso58gb231280",
        "iso-ir-58",
        "chinese",
        "euc-cn",
        "euccn",
    }
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Bytes that do not occur in text: C0 controls other than tab, LF, FF, CR and ESC
# (ISO-2022 uses ESC), plus DEL. bytes.translate(None, _TEXT_BYTES) keeps only these.
_BINARY_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_TEXT_BYTES = bytes(b for b in range(256) if b not in _BINARY_BYTES)

# Characters that do not occur in text: the same controls, C1 controls, private use,
# non-characters. Decoding binary data as UTF-16 or GB18030 produces plenty of them.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f\ue000-\uf8ff\ufffe\uffff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
# What Chinese text is made of beyond ASCII: Latin-1 symbols and the pinyin letters of
# GBK's row A8, spacing tone marks, Greek, Cyrillic, general punctuation, currency,
# letter-like symbols to dingbats (℃, arrows, box drawing, circled numbers), radicals,
# CJK punctuation, kana, bopomofo, enclosed/compatibility forms, Han (all planes),
# vertical and small forms, full-width forms.
_CHINESE_TEXT_CHARS = re.compile(
    "[\u00a0-\u024f\u02c6-\u02dd\u0391-\u03c9\u0401-\u0451\u2010-\u206f\u20a0-\u20cf"
    "\u2100-\u27bf\u2e80-\u2fdf\u3000-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe10-\ufe1f"
    "\ufe30-\ufe6f\uff00-\uffef\U00020000-\U0003134f]"
)

_MAX_BAD_SHARE = 0.02  # controls etc. tolerated in decoded text
_MIN_GBK_TEXT_SHARE = 0.9  # of the non-ASCII characters, for a GB18030 guess
_MIN_UTF16_NUL_SHARE = 0.02  # of the code units, NUL bytes on the "high" side


class DecodeError(ValueError):
    """A document's bytes could not be turned into text; the message names the document
    and the reason, so a log line is enough to find and fix the file."""


def normalise_encoding_label(label: str) -> str:
    """Return the Python codec name (lower case) for an encoding label from a config
    file, HTTP header or ``<meta charset>``.

    GBK family labels (gb2312, gbk, x-gbk, cp936, gb_2312-80, ...) become ``gb18030``:
    pages labelled gb2312 use GBK-only characters, and GB18030 is a superset of both.
    Raises LookupError naming the label when Python knows no such text encoding.
    """
    key = label.strip().lower() if isinstance(label, str) else ""
    if key in _GBK_LABELS:
        return "gb18030"
    try:
        info = codecs.lookup(key) if key else None
    except LookupError:
        info = None
    # bytes-to-bytes codecs (base64, zlib) are not text encodings
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise LookupError(f"unknown text encoding label: {label!r}")
    name = info.name.lower()
    return "gb18030" if name in ("gb2312", "gbk") else name


def _looks_like_text(text: str) -> bool:
    """Few control/private-use characters in the first few thousand characters."""
    sample = text[:_SAMPLE_CHARS]
    bad = len(_BAD_CHARS.findall(sample))
    return bad <= len(sample) * _MAX_BAD_SHARE


def _looks_like_gbk_text(text: str) -> bool:
    """Decoding as GB18030 succeeds for much that is not Chinese (Big5, Latin-1 with
    letters after the accents, UTF-8 with a broken byte), so ask for text made of what
    Chinese documents are made of: Han, CJK punctuation, full-width forms."""
    if not _looks_like_text(text):
        return False
    sample = text[:_SAMPLE_CHARS]
    non_ascii = len(_NON_ASCII.findall(sample))
    return len(_CHINESE_TEXT_CHARS.findall(sample)) >= non_ascii * _MIN_GBK_TEXT_SHARE


def _utf16_byte_order(sample: bytes) -> str | None:
    """Recognise UTF-16 without a BOM by its NUL bytes: ASCII characters (line breaks,
    digits, spaces, punctuation) have a zero high byte, at odd offsets in little-endian
    and even offsets in big-endian data. Binary data has NULs on both sides."""
    sample = sample[: len(sample) - len(sample) % 2]
    units = len(sample) // 2
    if not units:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    high, low, codec = (odd, even, "utf-16-le") if odd >= even else (even, odd, "utf-16-be")
    if high >= max(2, units * _MIN_UTF16_NUL_SHARE) and low * 4 <= high:
        return codec
    return None


def _decode_strict(data: bytes, encoding: str, origin: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"{origin}: not valid {encoding}: {exc.reason} at byte {exc.start}"
        ) from None


def _finish(text: str, origin: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text or text.isspace():
        raise DecodeError(f"{origin}: empty document")
    if not _looks_like_text(text):
        raise DecodeError(f"{origin}: binary data, not text")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_document(data: bytes, origin: str, encoding: str | None = None) -> str:
    """Decode a document's bytes; ``origin`` (path or URL) is only used in errors.

    Returns text with "\\n" line endings and no BOM. ``encoding`` overrides detection
    (for sources whose encoding is known; labels as in normalise_encoding_label).
    Raises DecodeError for empty documents, binary data, undecodable bytes and unknown
    encoding labels.
    """
    if not data or data.isspace():
        raise DecodeError(f"{origin}: empty document")

    if encoding:
        try:
            codec = normalise_encoding_label(encoding)
        except LookupError as exc:
            raise DecodeError(f"{origin}: {exc.args[0]}") from None
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        return _finish(_decode_strict(data, codec, origin), origin)

    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            if codec.startswith("utf-32") and len(body) % 4:
                continue  # FF FE 00 00 can also be a UTF-16 BOM followed by U+0000
            return _finish(_decode_strict(body, codec, origin), origin)

    sample = data[:_SAMPLE_BYTES]
    if 0 in sample:
        codec = _utf16_byte_order(sample)
        if codec is not None:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                pass
            else:
                if _looks_like_text(text):
                    return _finish(text, origin)
            raise DecodeError(f"{origin}: binary data, not text")
        # A stray NUL or two in real text (a damaged save) is no reason to lose the
        # document: the share check below decides, and cleaning drops the NULs.
    if len(sample.translate(None, _TEXT_BYTES)) > len(sample) * _MAX_BAD_SHARE:
        raise DecodeError(f"{origin}: binary data, not text")

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = f"{exc.reason} at byte {exc.start}"
    else:
        return _finish(text, origin)

    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        if _looks_like_gbk_text(text):
            return _finish(text, origin)
    raise DecodeError(f"{origin}: neither UTF-8 ({utf8_error}) nor plausible GB18030 text")
