"""Item pipelines: normalise → validate → dedupe → store.

Every source kind goes through the same four steps, so a web article is cleaned, checked
and stored exactly like a seed document.
"""

from __future__ import annotations

import html
import logging
import time
from collections import Counter
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler import runstats
from crawler.items import ArticleItem, RelatedLink
from crawler.paths import shared_store
from crawler.textclean import clean_fields, has_pinyin
from feeds.article import article_id, language_tag
from feeds.errors import StoreError
from feeds.store import Outcome, StoredPage
from feeds.stores import Store
from feeds.xmltext import xml_safe

logger = logging.getLogger(__name__)

SUMMARY_CHARS = 200


def summarise(body_text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph, cut at a sentence end (else a character) near ``limit``."""
    first = body_text.split("\n", 1)[0].strip()
    if len(first) <= limit:
        return first
    cut = max(first.rfind(mark, 0, limit) for mark in "。!?！？.;；")
    if cut >= limit // 2:
        return first[: cut + 1]
    return first[:limit].rstrip() + "…"


def paragraphs_html(body_text: str) -> str:
    """Body text as escaped ``<p>`` paragraphs, one per line."""
    return "".join(
        f"<p>{html.escape(line, quote=False)}</p>" for line in body_text.split("\n") if line
    )


def _source_of(crawler: Crawler) -> Any:
    return getattr(crawler.spider, "source", None)


def normalise_item(item: ArticleItem, source: Any) -> ArticleItem:
    """What NormalisePipeline does to an item, as a plain function of the item and its
    source (``script``, ``tz``), so that a spider may run it where it reads the
    documents (crawler.spiders.files does, in parallel processes) and mark the item."""
    script = getattr(source, "script", None)
    # One clean_fields call for every text field: one OpenCC conversion per item
    # instead of one per field (the same result as clean_line/clean_text on each).
    related = [link for link in item.related if link.title.strip() or link.url.strip()]
    n_authors, n_categories = len(item.authors), len(item.categories)
    lines = [item.title, item.agency, item.publisher, *item.authors, *item.categories]
    lines += [link.title for link in related]
    texts = [item.rights, item.body_text] + ([item.summary] if item.summary else [])
    cleaned = clean_fields(lines + texts, script, lines=[True] * len(lines) + [False] * len(texts))
    item.title, item.agency, item.publisher = cleaned[:3]
    at = 3
    item.authors = [name for name in cleaned[at : at + n_authors] if name]
    at += n_authors
    item.categories = [c for c in cleaned[at : at + n_categories] if c]
    at += n_categories
    item.related = [
        RelatedLink(title, xml_safe(link.url.strip()))
        for title, link in zip(cleaned[at : at + len(related)], related, strict=True)
    ]
    at += len(related)
    item.rights, item.body_text = cleaned[at : at + 2]
    item.summary = cleaned[at + 2] if item.summary else ""
    item.url = xml_safe(item.url.strip())
    item.image = xml_safe(item.image.strip())
    item.summary = item.summary or summarise(item.body_text)
    if not item.body_html:
        item.body_html = paragraphs_html(item.body_text)
    item.language = language_tag(item.language, script)
    if item.published is not None and item.published.tzinfo is None and source is not None:
        item.published = item.published.replace(tzinfo=source.tz)
    if not item.id:
        item.id = article_id(item.source, item.key)
    item.normalised = True
    return item


class NormalisePipeline:
    """Cleans every text field: pinyin annotations, script, whitespace, XML-forbidden
    characters; fills the id, language tag, summary and HTML body."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalisePipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        if item.normalised:  # cleaned already, by the same function, in a reader process
            return item
        return normalise_item(item, _source_of(self.crawler))


class ValidatePipeline:
    """Drops articles a reader could not use (no title, no body, no date), saying why."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        problem = None
        if not item.title:
            problem = "no title"
        elif not item.body_text:
            problem = "no body text (a title only)"
        elif item.published is None or item.published.tzinfo is None:
            problem = "no time-zone-aware publication date"
        if problem:
            self.crawler.stats.inc_value(runstats.ARTICLES_DROPPED)
            raise DropItem(problem)
        if has_pinyin(item.title) or has_pinyin(item.body_text):
            logger.warning("%s: pinyin fragments survived cleaning", item.key)
        return item


class DedupePipeline:
    """Drops a second item with the same id within one run (the first one wins)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        if item.id in self.seen:
            self.crawler.stats.inc_value(runstats.ARTICLES_DROPPED)
            raise DropItem("duplicate of an article already read in this run")
        self.seen.add(item.id)
        return item


class StorePipeline:
    """Upserts articles by id in batched transactions.

    Counts reach the stats only when their batch is committed, so a run never reports an
    article as stored that a crash or a full disk took back.
    """

    def __init__(self, crawler: Crawler, batch_size: int, batch_seconds: float):
        self.crawler = crawler
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.store: Store | None = None
        self.pending: Counter[Outcome] = Counter()
        # File signatures of the batch, written in one statement when it commits.
        self.signatures: list[tuple[str, str, str]] = []
        self.batch_started = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        settings = crawler.settings
        return cls(
            crawler,
            settings.getint("STORE_BATCH_SIZE", 500),
            settings.getfloat("STORE_BATCH_SECONDS", 2.0),
        )

    def open_spider(self) -> None:
        self.store = shared_store(self.crawler)
        logger.debug("storing articles in %s", self.store.path)

    def close_spider(self) -> None:
        if self.store is not None:
            self._commit()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        store = self.store
        assert store is not None
        try:
            if not store.in_transaction:
                store.begin()
                self.batch_started = time.monotonic()
            outcome = store.upsert(item)
            if item.source_signature:
                self.signatures.append((item.id, item.source, item.source_signature))
            if item.fetched is not None:
                page = item.fetched
                store.put_page(
                    StoredPage(
                        item.id,
                        item.source,
                        page.url,
                        page.fetched_at,
                        page.status,
                        page.headers,
                        page.body,
                    )
                )
        except StoreError as exc:
            self._fail_batch(exc, extra=1)
            raise
        self.pending[outcome] += 1
        if (
            sum(self.pending.values()) >= self.batch_size
            or time.monotonic() - self.batch_started >= self.batch_seconds
        ):
            self._commit()
        logger.debug("%s: %s (%s)", item.key, outcome, item.id)
        return item

    def _commit(self) -> None:
        assert self.store is not None
        if not self.store.in_transaction:
            return
        try:
            if self.signatures:
                self.store.put_file_signatures(self.signatures)
                self.signatures.clear()
            self.store.commit()
        except StoreError as exc:
            self._fail_batch(exc)
            raise
        stats = self.crawler.stats
        stats.inc_value(runstats.ARTICLES_NEW, self.pending[Outcome.NEW])
        stats.inc_value(runstats.ARTICLES_UPDATED, self.pending[Outcome.UPDATED])
        stats.inc_value(runstats.ARTICLES_UNCHANGED, self.pending[Outcome.UNCHANGED])
        self.pending.clear()

    def _fail_batch(self, exc: StoreError, extra: int = 0) -> None:
        """The batch is lost: roll it back and count its articles as not stored."""
        assert self.store is not None
        lost = sum(self.pending.values()) + extra
        self.store.rollback()
        self.pending.clear()
        self.signatures.clear()
        stats = self.crawler.stats
        stats.inc_value(runstats.ARTICLES_NOT_STORED, lost)
        stats.set_value(runstats.ERROR, str(exc))
        logger.error("%d article(s) not stored: %s", lost, exc)
