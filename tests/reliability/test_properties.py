"""Property-based tests of bad input (issue 6): arbitrary text into the cleaner and the
seed parser, arbitrary bytes into the decoder, arbitrary strings into every article field.

Arbitrary means every code point: C0 controls, lone surrogates, U+FFFE/U+FFFF, ``]]>``,
markup, right-to-left marks, pinyin-like parentheses, and a few huge strings. The
cleaner's output is always XML-safe and cleaning is idempotent; the parser either reads
a document or says why not (SeedFormatError), nothing else; and the RSS, Atom and JSON
Feed rendered from any articles are well-formed, parse back (lxml, feedparser without
bozo, json) and carry the same entry ids in the same order.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import feedparser
import pytest
from badinput_support import safe_xml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.decode import DecodeError, decode_document
from crawler.seedformat import MAX_TITLE_CHARS, SeedFormatError, parse_seed
from crawler.textclean import clean_line, clean_text, has_pinyin, strip_pinyin
from feeds.article import Article, RelatedLink, article_id
from feeds.render import FeedMeta, render_atom, render_json, render_rss

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that make text interesting to the cleaner, the parser and the serializers.
TRICKY = [
    "國(guó)", "(guó", "guó)", "?cái)", "（běi jīng）", "(WTO)", "(a)", "高原(北京)",
    "]]>", "<![CDATA[", "<script>alert(1)</script>", "&amp;", "&lol;", "&#0;", "&#xD800;",
    "\u202e", "\u200f", "\u2066", "\u061c", "\ufeff", "\u200b", "\u2028", "\u2029",
    "\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe",
    "\uffff", "\U0010ffff", "\r\n", "\r", "\n", "\t", "\u3000", "版权声明:", "- ",
    "本报讯(记者 王五)12月9日,", "2022年", "12月31日 23:59", "http://x.org/a?b=<c>",
    "’", '"', "'", "\\", "--", "…", "👍🏽", "e\u0301", "ǘ", "𠀋",
]  # fmt: skip
pieces = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
tricky_text = st.lists(pieces, max_size=40).map("".join)
any_text = st.one_of(
    st.text(),
    tricky_text,
    # a few huge strings: one piece repeated, or a 100,000-character line
    st.builds(lambda piece, n: piece * n, st.sampled_from(TRICKY), st.integers(1000, 20000)),
    st.builds(lambda c: c * 100_000, st.sampled_from(["长", "a", "(", "\x00", "\ud800"])),
)


# ----------------------------------------------------------------------------- cleaner


@PROPERTY
@given(any_text)
def test_cleaned_text_is_xml_safe_idempotent_and_fast(text: str) -> None:
    started = time.monotonic()
    for clean in (clean_text, clean_line):
        once = clean(text)
        assert not XML_FORBIDDEN.search(once)
        assert clean(once) == once
    assert "\n" not in clean_line(text)
    has_pinyin(text)
    has_pinyin(strip_pinyin(text))
    assert time.monotonic() - started < 5, len(text)


@PROPERTY
@given(any_text)
def test_simplified_cleaning_is_xml_safe_and_encodable(text: str) -> None:
    cleaned = clean_text(text, "simplified")
    assert not XML_FORBIDDEN.search(cleaned)
    cleaned.encode("utf-8")  # no lone surrogate survives


# ----------------------------------------------------------------------- seed parser


@PROPERTY
@given(any_text, st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 1, 1)))
def test_the_seed_parser_reads_or_refuses_any_text(text: str, file_time: datetime) -> None:
    try:
        doc = parse_seed(
            strip_pinyin(text), tz=SHANGHAI, file_time=file_time.replace(tzinfo=UTC), now=NOW
        )
    except SeedFormatError as exc:
        assert str(exc)
        return
    assert doc.title and "\n" not in doc.title and len(doc.title) <= MAX_TITLE_CHARS
    assert doc.published is not None and doc.published.tzinfo is not None
    assert doc.published <= NOW
    assert all(p and "\n" not in p for p in doc.paragraphs)


@PROPERTY
@given(
    st.one_of(st.binary(max_size=4096), any_text.map(lambda t: t.encode("utf-16-le", "replace")))
)
def test_the_decoder_reads_or_refuses_any_bytes(data: bytes) -> None:
    try:
        text = decode_document(data, "doc.txt")
    except DecodeError as exc:
        assert str(exc).startswith("doc.txt: ")
        return
    assert text and "\r" not in text  # (U+FEFF after a BOM is text: a zero-width space)


# ------------------------------------------------------------------------- renderer

dates = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-9, minutes=-30))]),
)
field = st.one_of(tricky_text, st.text(max_size=40))
urls = st.one_of(
    st.just(""),
    st.builds(lambda path: f"https://example.org/{path}", field),
    field,
)


@st.composite
def articles(draw: st.DrawFn) -> Article:
    source = draw(st.sampled_from(["seeds", "news"]))
    # Keys are paths and URLs: text without lone surrogates (see test_bad_files for a
    # file name that is not UTF-8).
    key = draw(
        st.one_of(field, st.just("a.txt")).map(lambda k: k.encode("utf-8", "replace").decode())
    )
    return Article(
        source=source,
        key=key,
        id=article_id(source, key),
        title=draw(field),
        url=draw(urls),
        authors=draw(st.lists(field, max_size=3)),
        agency=draw(field),
        publisher=draw(field),
        published=draw(dates),
        modified=draw(st.none() | dates),
        language=draw(st.sampled_from(["", "zh-CN", "en", "ar", "he"]) | field),
        summary=draw(field),
        body_text=draw(field),
        body_html=draw(
            st.sampled_from(["", "<p>x</p>", "<p>]]></p>", "<script>x</script>"]) | field
        ),
        rights=draw(field),
        categories=draw(st.lists(field, max_size=3)),
        related=draw(st.lists(st.builds(RelatedLink, field, urls), max_size=3)),
        image=draw(urls),
        first_seen=draw(dates),
        updated=draw(dates),
    )


def unique_ids(items: list[Article]) -> list[Article]:
    seen: set[str] = set()
    out = []
    for article in items:
        if article.id not in seen:
            seen.add(article.id)
            out.append(article)
    return out


@PROPERTY
@given(
    st.lists(articles(), min_size=0, max_size=6).map(unique_ids),
    field,
    field,
)
def test_feeds_of_arbitrary_articles_are_well_formed_with_the_same_ids(
    items: list[Article], title: str, description: str
) -> None:
    meta = FeedMeta(
        name="seeds",
        title=title,
        link="",
        description=description,
        language="zh-CN",
        base_url="http://127.0.0.1:8080/",
        generator="feedmill",
        generator_version="0.1.0",
    )
    expected = [f"urn:uuid:{article.id}" for article in items]
    for render in (render_rss, render_atom):
        data = render(meta, items)
        safe_xml(data)  # well-formed
        parsed = feedparser.parse(data)
        assert not parsed.bozo, (render.__name__, parsed.get("bozo_exception"))
        assert [entry.id for entry in parsed.entries] == expected
    document = json.loads(render_json(meta, items))
    assert [item["id"] for item in document["items"]] == expected


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_a_huge_field_renders_in_every_format(size: int) -> None:
    body = ("长" + "]]>" + "\x00" + "\ud800" + "<b>") * (size // 7)
    article = Article(
        source="seeds",
        key="huge.txt",
        id=article_id("seeds", "huge.txt"),
        title="巨大" * 1000,
        published=NOW,
        body_text=body,
        body_html=body,
        summary=body[:1000],
        first_seen=NOW,
        updated=NOW,
    )
    meta = FeedMeta("seeds", "t", "", "d", "zh-CN", "http://127.0.0.1:8080/")
    for render in (render_rss, render_atom):
        data = render(meta, [article])
        safe_xml(data)
        parsed = feedparser.parse(data)
        assert not parsed.bozo
        assert parsed.entries[0].id == f"urn:uuid:{article.id}"
    assert json.loads(render_json(meta, [article]))["items"][0]["id"] == f"urn:uuid:{article.id}"
