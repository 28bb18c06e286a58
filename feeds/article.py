"""The article record: what a spider yields, what the store keeps, what a feed renders.

One dataclass serves all three so that a field added here flows from extraction to the
feeds without a second definition to keep in step. Scrapy reads it through ItemAdapter
(``crawler.items`` re-exports it as the item class); the store adds the bookkeeping
fields (``content_hash``, ``first_seen``, ``updated``) when it writes or reads a row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Namespace for article ids: uuid5(namespace, "<source>\n<key>") is the same on every
# machine and every run, so a guid in a reader never changes for the same document.
ID_NAMESPACE = uuid.UUID("5b0f6a52-6f1e-4c2a-9d53-4f6565646d69")


@dataclass(frozen=True, slots=True)
class RelatedLink:
    """A link the document lists as related reading; ``url`` is "" when the document gives none."""

    title: str
    url: str = ""


@dataclass(slots=True)
class FetchedPage:
    """The HTTP response an article was extracted from; the store keeps it (compressed)
    so that extraction can be re-run after a rule change without fetching again."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime


@dataclass(slots=True)
class Article:
    """One article. ``source`` and ``key`` (file path relative to the source folder, or
    canonical URL) identify it; everything else is content."""

    source: str
    key: str
    title: str = ""
    url: str = ""
    authors: list[str] = field(default_factory=list)
    agency: str = ""
    publisher: str = ""
    published: datetime | None = None
    # True when ``published`` is a guess (file time, fetch time): a later guess must not
    # count as an edit, so the hash leaves it out and the store keeps the first one.
    date_guessed: bool = False
    modified: datetime | None = None
    language: str = ""
    summary: str = ""
    body_text: str = ""
    body_html: str = ""
    rights: str = ""
    categories: list[str] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    image: str = ""
    id: str = ""
    # The page it came from, for the store to keep; not content, not a column.
    fetched: FetchedPage | None = field(default=None, repr=False, compare=False)
    # What the local file looked like when read (size, mtime, reading settings): the
    # next run skips the file while this is unchanged. Not content, not a column.
    source_signature: str = field(default="", repr=False, compare=False)
    # True once the normalise step (crawler.pipelines.normalise_item) has run on it: a
    # spider that cleans in parallel reader processes marks its items, and the
    # normalise pipeline does not clean them a second time. Not content, not a column.
    normalised: bool = field(default=False, repr=False, compare=False)
    # Set by the store, never by a spider.
    content_hash: str = ""
    first_seen: datetime | None = None
    updated: datetime | None = None

    @property
    def author(self) -> str:
        """The authors as one display string (Chinese bylines list names with 、)."""
        return "、".join(self.authors)

    @property
    def guid(self) -> str:
        """The feed guid / Atom id: a URN, so it is never mistaken for a permalink."""
        return f"urn:uuid:{self.id}"


def article_id(source: str, key: str) -> str:
    """The stable id of the article ``key`` of ``source``; editing the document keeps it.

    ``str(uuid.uuid5(ID_NAMESPACE, f"{source}\\n{key}"))``, computed without building a
    UUID object (a fifth of the cost): a refresh computes one per file it skips. A key
    with a lone surrogate (no crawl stores one, but an id must never raise) is hashed
    with its code units as they are; every other key hashes exactly as uuid5 does.
    """
    name = f"{source}\n{key}".encode("utf-8", "surrogatepass")
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + name).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ID_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def language_tag(language: str, script: str | None) -> str:
    """A BCP 47 tag: ``zh`` with Simplified script is ``zh-CN``, with Traditional ``zh-TW``."""
    if language.lower() == "zh" and script == "simplified":
        return "zh-CN"
    if language.lower() == "zh" and script == "traditional":
        return "zh-TW"
    return language


# Fields that make up an article's content; an edit to any of them is an update.
CONTENT_FIELDS = (
    "title",
    "url",
    "authors",
    "agency",
    "publisher",
    "published",
    "modified",
    "language",
    "summary",
    "body_text",
    "body_html",
    "rights",
    "categories",
    "related",
    "image",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, RelatedLink):
        return [value.title, value.url]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def content_hash(article: Article) -> str:
    """A digest of the content fields, so a re-read of an unchanged document is a no-op.

    A guessed publication date is left out: touching a file must not make an edit.

    The digest is SHA-256 of the fields as sorted-key, compact JSON (what stores already
    hold), built here field by field instead of through a generic value walk: it runs
    once per stored article, and the walk cost as much as the hashing.
    """
    published, modified = article.published, article.modified
    data = {
        "title": article.title,
        "url": article.url,
        "authors": article.authors,
        "agency": article.agency,
        "publisher": article.publisher,
        "modified": modified.isoformat() if modified is not None else None,
        "language": article.language,
        "summary": article.summary,
        "body_text": article.body_text,
        "body_html": article.body_html,
        "rights": article.rights,
        "categories": article.categories,
        "related": [[link.title, link.url] for link in article.related],
        "image": article.image,
    }
    if not article.date_guessed:
        data["published"] = published.isoformat() if published is not None else None
    if not _plain(article.authors) or not _plain(article.categories):
        data["authors"] = _jsonable(article.authors)
        data["categories"] = _jsonable(article.categories)
    blob = _HASH_ENCODER.encode(data)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _plain(values: list[Any]) -> bool:
    return all(type(value) is str for value in values)


_HASH_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_updated(article: Article) -> datetime:
    """The time a reader should see as "updated": the article's own modification time,
    the time the store saw it change, or its publication time, whichever is latest."""
    candidates = [t for t in (article.published, article.modified) if t is not None]
    if article.updated and article.first_seen and article.updated > article.first_seen:
        candidates.append(article.updated)
    if not candidates and article.first_seen is not None:
        candidates.append(article.first_seen)
    if not candidates:
        raise ValueError(f"article {article.id or article.key!r} has no date at all")
    return max(candidates)
