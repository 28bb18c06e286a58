"""The seed-format parser: structure, byline, dateline and year rules on crafted documents."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crawler.seedformat import SeedFormatError, parse_seed
from crawler.textclean import strip_pinyin

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FILE_TIME = datetime(2023, 1, 15, 8, 0, tzinfo=UTC)


def parse(text: str, file_time: datetime = FILE_TIME, now: datetime = NOW):
    return parse_seed(text, tz=SHANGHAI, file_time=file_time, now=now)


def test_seed_document_structure(seed_text: str) -> None:
    doc = parse(strip_pinyin(seed_text))
    assert doc.title == "2022年全國12355青少年服務臺工作推進會召開"
    assert len(doc.paragraphs) == 5
    assert doc.paragraphs[0].startswith("本報訊(中青報·中青網記者 楊寶光)12月9日,")
    assert doc.paragraphs[-1].endswith("年度目標。")
    assert doc.rights.startswith("版權聲明:")
    assert doc.publisher == "中國西藏網"
    assert doc.authors == ["楊寶光"]
    assert doc.agency == "中青報·中青網"
    assert len(doc.related) == 10
    assert all(link.url == "" for link in doc.related)
    assert doc.published == datetime(2022, 12, 9, tzinfo=SHANGHAI)
    assert not doc.date_guessed


def test_year_comes_from_the_title_when_the_dateline_has_none() -> None:
    doc = parse("2019年工作会议召开\n本报讯(记者 张三)3月5日,会议召开。")
    assert doc.published == datetime(2019, 3, 5, tzinfo=SHANGHAI)
    assert not doc.date_guessed


def test_dateline_with_its_own_year_and_time() -> None:
    doc = parse("会议召开\n新华社北京2021年7月1日电(记者 李四 王五)7月1日 10:30,会议召开。")
    assert doc.published == datetime(2021, 7, 1, 10, 30, tzinfo=SHANGHAI)
    assert doc.authors == ["李四", "王五"]
    assert doc.agency == "新华社北京"


def test_year_from_file_time_never_in_the_future() -> None:
    # Dateline 12月9日, file written 2023-01-15: the article is from December 2022.
    doc = parse("会议召开\n本报讯(记者 张三)12月9日,会议召开。")
    assert doc.published == datetime(2022, 12, 9, tzinfo=SHANGHAI)
    assert doc.date_guessed  # the year is a guess: a touched file must not make an edit


def test_date_is_capped_at_now() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    doc = parse("2026年会议\n本报讯(记者 张三)12月9日,会议召开。", now=now)
    assert doc.published is not None and doc.published <= now
    assert doc.published.year == 2025


def test_no_dateline_falls_back_to_file_time() -> None:
    doc = parse("标题\n没有电头的正文。")
    assert doc.published == FILE_TIME.astimezone(SHANGHAI)
    assert doc.date_guessed


def test_date_mentioned_later_in_the_story_is_not_the_dateline() -> None:
    doc = parse("标题\n这是一段很长的正文,其中很久以后才提到" + "某" * 80 + "5月1日的活动。")
    assert doc.date_guessed


def test_byline_with_correspondent_and_no_agency() -> None:
    doc = parse("标题\n本报讯(记者 张三 通讯员 李四)5月2日,正文。")
    assert doc.authors == ["张三", "李四"]
    assert doc.agency == ""


def test_related_lines_with_urls() -> None:
    doc = parse(
        "标题\n正文。\n- 第一篇 https://example.org/1\n- [第二篇](https://example.org/2)\n- 第三篇"
    )
    assert [(r.title, r.url) for r in doc.related] == [
        ("第一篇", "https://example.org/1"),
        ("第二篇", "https://example.org/2"),
        ("第三篇", ""),
    ]


def test_real_parentheses_in_title_are_kept() -> None:
    assert parse("高原(北京)公司成立\n正文。").title == "高原(北京)公司成立"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("\n\n  \n", "empty"),
        ("版权声明:所有权利保留\n正文", "no title"),
        ("- 只有相关链接", "no title"),
        ("很" * 300 + "\n正文", "no title"),
    ],
)
def test_unparseable_documents_say_why(text: str, reason: str) -> None:
    with pytest.raises(SeedFormatError, match=reason):
        parse(text)


def test_title_only_document_parses_with_no_body() -> None:
    doc = parse("只有标题")
    assert doc.title == "只有标题"
    assert doc.paragraphs == []
