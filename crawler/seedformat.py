"""The seed document format: a news page dumped as text.

Layout: a title line; body paragraphs, the first opening with a dateline/byline such as
``本报讯(中青报·中青网记者 杨宝光)12月9日,``; a ``版权声明:`` rights line; ``- `` lines
listing related articles. The parser only finds structure. It runs on text whose pinyin
annotations are already gone but whose script may still be Traditional, so its patterns
accept both scripts; converting the script is the normalise pipeline's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from feeds.article import RelatedLink


class SeedFormatError(ValueError):
    """The text is not a document of the seed format (no title, no body)."""


@dataclass(slots=True)
class SeedDocument:
    """The structure of one seed document, fields still uncleaned."""

    title: str
    paragraphs: list[str]
    rights: str = ""
    publisher: str = ""
    related: list[RelatedLink] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    agency: str = ""
    published: datetime | None = None
    date_guessed: bool = False


# A title is one line; a first line longer than this is a paragraph, not a title.
MAX_TITLE_CHARS = 200

_RIGHTS = re.compile(r"^(?:版[权權][声聲]明|[©Ⓒ]|Copyright\b)", re.IGNORECASE)
_RELATED = re.compile(r"^[-•·*]\s*(?P<text>\S.*)$")
_SOURCE_LINE = re.compile(r"^(?:文章)?(?:来源|來源|出处|出處)\s*[:：]\s*(?P<name>\S.*)$")
_EDITOR_LINE = re.compile(r"^(?:[(（])?(?:责任编辑|責任編輯|编辑|編輯)\s*[:：]")
_PUBLISHER_IN_RIGHTS = re.compile(r"(?:来源|來源)\s*[:：]\s*(?P<name>[^”\"」』,，。;；:：\s]+)")
_URL = re.compile(r"https?://[^\s<>\"'）)]+")
_MARKDOWN_LINK = re.compile(r"^\[(?P<title>[^\]]+)\]\((?P<url>https?://[^)\s]+)\)\s*$")

# 本报讯(…) / 本报北京12月9日电(…) / 新华社北京12月9日电(…) / 中青网讯(…)
_BYLINE = re.compile(
    r"^(?P<lead>[^()（）\s,，。]{0,20}?(?:讯|訊|电|電))?\s*"
    r"[(（](?P<credit>[^()（）]{1,80})[)）]"
)
_ROLE = re.compile(
    r"(?:特约记者|特約記者|见习记者|見習記者|实习生|實習生|通讯员|通訊員|记者|記者|摄影|攝影)"
)
_NAME_SPLIT = re.compile(r"[\s、,，;；/]+")
_ORGANISATION = re.compile(r"(?:报|報|网|網|社|台|刊|志|站|中心|日报|日報)$")
_DATE = re.compile(
    r"(?:(?P<year>(?:19|20)\d{2})\s*年\s*)?(?P<month>1[0-2]|0?[1-9])\s*月\s*"
    r"(?P<day>3[01]|[12]\d|0?[1-9])\s*日"
    r"(?:\s*(?P<hour>[01]?\d|2[0-3])\s*[:：时時]\s*(?P<minute>[0-5]\d))?"
)
_ISO_DATE = re.compile(
    r"(?P<year>(?:19|20)\d{2})[-/.](?P<month>1[0-2]|0?[1-9])[-/.](?P<day>3[01]|[12]\d|0?[1-9])"
    r"(?:[T\s]+(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d))?"
)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")


def parse_seed(text: str, *, tz: tzinfo, file_time: datetime, now: datetime) -> SeedDocument:
    """Find title, byline, date, body, rights and related links in one document.

    ``file_time`` (the file's modification time) supplies the year when the document
    gives none, and the whole date when there is no dateline; ``now`` caps the result,
    since a news article is never published in the future.
    """
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise SeedFormatError("empty document (no text lines)")
    title, rest = lines[0], lines[1:]
    if _RIGHTS.match(title) or _RELATED.match(title):
        raise SeedFormatError("no title line (the document starts with its rights or links)")
    if len(title) > MAX_TITLE_CHARS:
        raise SeedFormatError(
            f"no title line (the first line is {len(title)} characters, "
            f"more than {MAX_TITLE_CHARS})"
        )
    doc = SeedDocument(title=title, paragraphs=[])
    date_lines: list[str] = []
    for line in rest:
        if _RIGHTS.match(line):
            doc.rights = line if not doc.rights else f"{doc.rights}\n{line}"
            continue
        related = _RELATED.match(line)
        if related:
            doc.related.append(_related_link(related.group("text")))
            continue
        source = _SOURCE_LINE.match(line)
        if source and len(line) < 80:
            doc.publisher = doc.publisher or _first_token(source.group("name"))
            date_lines.append(line)
            continue
        if _EDITOR_LINE.match(line) and len(line) < 40:
            continue
        if _ISO_DATE.match(line) and len(line) < 60 and not doc.paragraphs:
            date_lines.append(line)
            continue
        doc.paragraphs.append(line)
    if not doc.publisher and doc.rights:
        match = _PUBLISHER_IN_RIGHTS.search(doc.rights)
        if match:
            doc.publisher = match.group("name")
    _read_byline(doc)
    _read_date(doc, date_lines, tz=tz, file_time=file_time, now=now)
    return doc


def _related_link(text: str) -> RelatedLink:
    text = text.strip()
    markdown = _MARKDOWN_LINK.match(text)
    if markdown:
        return RelatedLink(markdown.group("title").strip(), markdown.group("url"))
    url = _URL.search(text)
    if url:
        title = (text[: url.start()] + text[url.end() :]).strip(" \t-–—|:：()（）")
        return RelatedLink(title or url.group(0), url.group(0))
    return RelatedLink(text)


def _first_token(text: str) -> str:
    return re.split(r"[\s,，;；|]+", text.strip(), maxsplit=1)[0]


def _read_byline(doc: SeedDocument) -> None:
    """Authors and agency from ``本报讯(中青报·中青网记者 杨宝光)``-style openings."""
    if not doc.paragraphs:
        return
    match = _BYLINE.match(doc.paragraphs[0])
    if not match:
        return
    lead, credit = match.group("lead") or "", match.group("credit").strip()
    roles = list(_ROLE.finditer(credit))
    if roles:
        doc.agency = credit[: roles[0].start()].strip(" ·:：")
        names = _ROLE.sub(" ", credit[roles[0].start() :])
        doc.authors = [name for name in _NAME_SPLIT.split(names) if name]
    elif lead and _ORGANISATION.search(credit):
        doc.agency = credit
    elif lead:
        doc.authors = [name for name in _NAME_SPLIT.split(credit) if name]
    if not doc.agency and lead and not lead.startswith(("本报", "本報")):
        # 新华社北京12月9日电: the agency is the lead up to its place and date.
        agency = re.split(r"\d|[讯訊电電]", lead, maxsplit=1)[0]
        doc.agency = agency


def _read_date(
    doc: SeedDocument, date_lines: list[str], *, tz: tzinfo, file_time: datetime, now: datetime
) -> None:
    """The dateline's date, its year from the document or else the file time."""
    found: list[re.Match[str]] = []
    for line in date_lines:
        match = _ISO_DATE.search(line) or _DATE.search(line)
        if match:
            found.append(match)
            break
    if not found and doc.paragraphs:
        # The dateline sits in the byline's lead (新华社北京12月9日电) or right after the
        # byline; look only there, so that a date mentioned later in the story is not
        # taken for it.
        opening = doc.paragraphs[0][:160]
        byline = _BYLINE.match(opening)
        if byline and byline.group("lead"):
            found += [m for m in [_DATE.search(byline.group("lead"))] if m]
        head = opening[byline.end() if byline else 0 :][:40].lstrip(" ,，:：")
        found += [m for m in [_DATE.match(head)] if m]
        if not found and not byline:
            found += [m for m in [_DATE.search(opening[:60])] if m]
    local_file_time = file_time.astimezone(tz)
    if not found:
        doc.published = min(local_file_time, now.astimezone(tz))
        doc.date_guessed = True
        return
    # The year may come from one match (the lead) and the time of day from another.
    year_text = next((m.group("year") for m in found if m.group("year")), None)
    timed = next((m for m in found if m.group("hour")), found[0])
    guessed = False
    if year_text is None:
        title_year = _YEAR.search(doc.title)
        if title_year:
            year_text = title_year.group(1)
        else:
            year_text = str(local_file_time.year)
            guessed = True
    month, day = int(timed.group("month")), int(timed.group("day"))
    hour = int(timed.group("hour") or 0)
    minute = int(timed.group("minute") or 0)
    published = _make_date(int(year_text), month, day, hour, minute, tz)
    if published is None:
        doc.published = min(local_file_time, now.astimezone(tz))
        doc.date_guessed = True
        return
    latest = local_file_time if guessed else now
    # A dateline of 12月9日 in a file written in January belongs to the year before.
    while published > latest + timedelta(days=1):
        earlier = _make_date(published.year - 1, month, day, hour, minute, tz)
        if earlier is None:
            break
        published = earlier
    doc.published = min(published, now.astimezone(tz))
    doc.date_guessed = guessed


def _make_date(
    year: int, month: int, day: int, hour: int, minute: int, tz: tzinfo
) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:  # 2月30日, or 2月29日 in a year that has none
        return None
