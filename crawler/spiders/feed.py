"""The spider of ``feed`` sources: an upstream RSS/Atom/JSON feed or a sitemap, each
entry's page fetched for the full text, the entry's own content as the fallback."""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler import runstats
from crawler.htmlclean import clean_body_html, html_to_text
from crawler.items import ArticleItem
from crawler.spiders.pages import NOT_MODIFIED, PageSpider, article_key, failure_reason
from crawler.upstream import UpstreamEntry, UpstreamError, parse_upstream
from feeds.article import article_id

MAX_CHILD_SITEMAPS = 50


class FeedSpider(PageSpider):
    """Reads upstream feeds and sitemaps and turns their entries into full articles."""

    name = "feed"

    def start_requests_for_source(self) -> Iterable[Request]:
        for url in self.source.urls:
            yield self.conditional_request(url, self.parse_feed, depth=0)

    def parse_feed(self, response: Response, depth: int) -> Iterator[Any]:
        if response.status == NOT_MODIFIED:
            self.cached_links(response)
            self.logger.debug("%s: not modified", response.url)
            return
        try:
            document = parse_upstream(response.body, response.url, default_tz=self.source.tz)
        except UpstreamError as exc:
            self.crawler.stats.inc_value(runstats.DOCUMENTS_FAILED)
            self.logger.warning("%s", exc)
            return
        self.remember(response, [e.url for e in document.entries])
        if document.truncated:
            self.logger.warning(
                "%s: more entries than feedmill reads; the rest is ignored", response.url
            )
        if depth == 0:
            for child in document.sitemaps[:MAX_CHILD_SITEMAPS]:
                yield self.conditional_request(child, self.parse_feed, depth=1)
        entries = sorted(
            document.entries,
            key=lambda e: e.published or e.modified or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        if not document.entries and not document.sitemaps:
            self.logger.warning("%s: no entries in the feed", response.url)
        unusable = 0
        for entry in entries:
            url = entry.url
            if not url:
                if entry.content_html or entry.summary:
                    yield self.item_from_entry(entry, entry.guid or entry.title)
                else:
                    unusable += 1
                continue
            if not self.wants(url):
                continue
            if self.source.full_text:
                yield self.article_request(url, entry=entry).replace(errback=self.entry_page_failed)
            else:
                yield self.item_from_entry(entry, article_key(url))
        if unusable:
            self.crawler.stats.inc_value(runstats.DOCUMENTS_FAILED, unusable)
            self.logger.warning(
                "%s: skipped %d %s with neither a link nor any content",
                response.url,
                unusable,
                "entry" if unusable == 1 else "entries",
            )

    def parse_article(self, response: Response, key: str, **fallback: Any) -> Any:
        entry: UpstreamEntry | None = fallback.get("entry")
        if entry is None:  # re-extraction of a kept page
            return super().parse_article(response, key)
        self.crawler.stats.inc_value(runstats.DOCUMENTS_READ)
        page = self.extract(response)
        if not page.body_text.strip():
            self.logger.warning(
                "%s: no article text on the page; using the feed entry's content", response.url
            )
            return self.item_from_entry(entry, key)
        item = self.article_from_page(response, key, page)
        # What the feed states beats what extraction guessed.
        item.title = item.title or entry.title
        if entry.published and (item.date_guessed or not page.published):
            item.published, item.date_guessed = entry.published, False
        item.authors = item.authors or list(entry.authors)
        item.categories = item.categories or list(entry.categories)
        item.summary = item.summary or entry.summary
        item.image = item.image or entry.image
        return item

    def entry_page_failed(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        entry: UpstreamEntry = request.cb_kwargs["entry"]
        reason = failure_reason(failure)
        if entry.content_html or entry.summary:
            self.logger.warning("%s: %s; using the feed entry's content", request.url, reason)
            return self.item_from_entry(entry, request.cb_kwargs["key"])
        return self.article_failed(failure)

    def item_from_entry(self, entry: UpstreamEntry, key: str) -> ArticleItem:
        """An article made of the feed entry alone."""
        self.crawler.stats.inc_value("feedmill/articles_from_entry")
        body_html = clean_body_html(entry.content_html, entry.url) if entry.content_html else ""
        body_text = html_to_text(body_html) if body_html else entry.summary
        if not body_html and body_text:
            body_html = "".join(f"<p>{html.escape(p)}</p>" for p in body_text.split("\n") if p)
        now = datetime.now(UTC)
        return ArticleItem(
            source=self.name,
            key=key,
            id=article_id(self.name, key),
            url=entry.url,
            title=entry.title,
            authors=list(entry.authors),
            published=entry.published or entry.modified or now.astimezone(self.source.tz),
            date_guessed=not (entry.published or entry.modified),
            modified=entry.modified,
            language=entry.language or self.source.language,
            summary=entry.summary,
            body_text=body_text,
            body_html=body_html,
            categories=list(entry.categories),
            image=entry.image,
        )
