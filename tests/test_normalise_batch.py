"""clean_fields and the NormalisePipeline that uses it: one OpenCC call per article gives
exactly what cleaning field by field gave."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from crawler.items import ArticleItem, RelatedLink
from crawler.pipelines import NormalisePipeline, paragraphs_html, summarise
from crawler.seedformat import parse_seed
from crawler.textclean import _FIELD_SEPARATOR, clean_fields, clean_line, clean_text, to_script
from feeds.article import article_id, language_tag
from feeds.xmltext import xml_safe

SHANGHAI = ZoneInfo("Asia/Shanghai")


def seed_item(seed_text: str) -> ArticleItem:
    from crawler.textclean import strip_pinyin

    now = datetime(2023, 1, 1, tzinfo=UTC)
    doc = parse_seed(strip_pinyin(seed_text), tz=SHANGHAI, file_time=now, now=now)
    return ArticleItem(
        source="seeds",
        key="000.txt",
        title=doc.title,
        authors=doc.authors,
        agency=doc.agency,
        publisher=doc.publisher,
        published=doc.published,
        date_guessed=doc.date_guessed,
        language="zh",
        body_text="\n".join(doc.paragraphs),
        rights=doc.rights,
        related=doc.related,
    )


def field_by_field(item: ArticleItem, script: str | None) -> ArticleItem:
    """NormalisePipeline.process_item as it was before clean_fields (the reference)."""
    item.title = clean_line(item.title, script)
    item.authors = [name for name in (clean_line(a, script) for a in item.authors) if name]
    item.agency = clean_line(item.agency, script)
    item.publisher = clean_line(item.publisher, script)
    item.rights = clean_text(item.rights, script)
    item.body_text = clean_text(item.body_text, script)
    item.categories = [c for c in (clean_line(c, script) for c in item.categories) if c]
    item.related = [
        RelatedLink(clean_line(link.title, script), xml_safe(link.url.strip()))
        for link in item.related
        if link.title.strip() or link.url.strip()
    ]
    item.url = xml_safe(item.url.strip())
    item.image = xml_safe(item.image.strip())
    item.summary = clean_text(item.summary, script) if item.summary else ""
    item.summary = item.summary or summarise(item.body_text)
    if not item.body_html:
        item.body_html = paragraphs_html(item.body_text)
    item.language = language_tag(item.language, script)
    if not item.id:
        item.id = article_id(item.source, item.key)
    return item


def pipeline(script: str | None) -> NormalisePipeline:
    source = SimpleNamespace(script=script, tz=SHANGHAI)
    return NormalisePipeline(SimpleNamespace(spider=SimpleNamespace(source=source)))  # type: ignore[arg-type]


@pytest.mark.parametrize("script", ["simplified", "traditional", None])
def test_pipeline_matches_field_by_field_on_the_seed(seed_text: str, script: str | None) -> None:
    item = seed_item(seed_text)
    expected = field_by_field(copy.deepcopy(item), script)
    assert pipeline(script).process_item(item) == expected


@pytest.mark.parametrize("script", ["simplified", None])
def test_pipeline_matches_with_odd_fields(seed_text: str, script: str | None) -> None:
    item = seed_item(seed_text)
    item.authors = ["楊寶光", "", "  ", "張\ue000三"]
    item.categories = ["國(guó)內", "", "新聞\n要聞"]
    item.summary = "本報(bào)訊 摘要\u200b"
    item.related = [*item.related, RelatedLink("", " http://x.cn/a "), RelatedLink(" ", " ")]
    item.url = " http://example.cn/\x01 "
    expected = field_by_field(copy.deepcopy(item), script)
    assert pipeline(script).process_item(item) == expected


def test_separator_survives_opencc() -> None:
    fields = ["國會", "", "記者\n楊寶光", "臺灣"]
    joined = _FIELD_SEPARATOR.join(fields)
    for script in ("simplified", "traditional"):
        assert to_script(joined, script).split(_FIELD_SEPARATOR) == [
            to_script(f, script) for f in fields
        ]


@pytest.mark.parametrize("script", ["simplified", "traditional", None])
def test_clean_fields_equals_per_field_cleaning(seed_text: str, script: str | None) -> None:
    fields = [*seed_text.split("\n"), seed_text, "", " \n ", f"a{_FIELD_SEPARATOR}b", "\ue000"]
    flags = [i % 2 == 0 for i in range(len(fields))]
    expected = [
        (clean_line if f else clean_text)(t, script) for t, f in zip(fields, flags, strict=True)
    ]
    assert clean_fields(fields, script, lines=flags) == expected
    assert clean_fields(fields[:-2], script, lines=flags[:-2]) == expected[:-2]
    assert clean_fields([], script) == []


def test_clean_fields_checks_its_flags() -> None:
    with pytest.raises(ValueError):
        clean_fields(["a", "b"], None, lines=[True])
