"""What the spiders that fetch web pages share: article pages, seen URLs, re-extraction.

Two kinds of "seen" are kept apart. Listing pages and upstream feeds are fetched on every
run, conditionally (ETag/Last-Modified, so an unchanged one answers 304 and costs
nothing); article pages already in the store are not fetched again unless the source's
``refresh_after`` says they are due. Every fetched article page is kept (compressed) so
that ``feedmill reextract`` can re-run extraction after a rule change without the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from crawler import runstats
from crawler.decode import DecodeError, decode_document
from crawler.extract import MAX_ELEMENTS, ExtractedPage, extract_page
from crawler.items import ArticleItem
from crawler.paths import config_of, shared_store
from crawler.siterules import RulesDirectory, SiteRules, rules_from_config
from feeds.article import FetchedPage, article_id
from feeds.config import Source
from feeds.store import Validators
from feeds.stores import Store

NOT_MODIFIED = 304
ARTICLES_KNOWN = "feedmill/articles_known"
LISTINGS_NOT_MODIFIED = "feedmill/listings_not_modified"
PAGES_WITHOUT_ARTICLE = "feedmill/pages_without_article"


def article_key(url: str) -> str:
    """The key an article URL is stored under: canonical (sorted query, no fragment), so
    the same page linked two ways is one article."""
    return canonicalize_url(url, keep_fragments=False)


# Messages of the download failures whose exception says nothing by itself.
_QUIET_FAILURES = {
    "ResponseDataLossError": "the connection closed before the whole body arrived "
    "(shorter than its Content-Length, or cut off)",
    "_DataLoss": "the connection closed before the whole body arrived",
    "DownloadCancelledError": "download cancelled: larger than DOWNLOAD_MAXSIZE",
    "ResponseNeverReceived": "no response (the connection failed or was closed)",
    "ConnectionLost": "the connection was lost",
    "ConnectionDone": "the connection was closed",
}


def failure_reason(failure: Failure) -> str:
    """A log line's reason for a failed download: the HTTP status, or what went wrong in
    words (Twisted's data-loss and cancellation errors carry no message of their own)."""
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    message = failure.getErrorMessage() or ""
    for name, reason in _QUIET_FAILURES.items():
        if failure.type.__name__ == name or (not message.strip() and name in repr(failure.value)):
            return f"{reason}{': ' + message if message.strip() else ''}"
    if not message.strip() or message.startswith("[<twisted.python.failure.Failure"):
        inner = getattr(failure.value, "reasons", None)
        if inner:  # ResponseFailed and friends wrap a list of failures
            return "; ".join(failure_reason(f) for f in inner)
        return failure.type.__name__
    return message


def is_policy(failure: Failure) -> bool:
    """Whether a request was dropped on purpose (robots.txt, offsite), not because the
    page is broken: redirect loops and oversized bodies also raise IgnoreRequest."""
    if not failure.check(IgnoreRequest) or failure.check(HttpError):
        return False
    message = failure.getErrorMessage()
    return not any(word in message for word in ("redirect", "DOWNLOAD_MAXSIZE"))


_BINARY_SAMPLE = 4096


def is_binary(body: bytes) -> bool:
    """A body that is no text in any encoding a page uses: NUL bytes that are not the
    high bytes of UTF-16/32 text (an image, an archive, an executable)."""
    sample = body[:_BINARY_SAMPLE]
    if b"\0" not in sample:
        return False
    try:
        decode_document(body, "page")  # UTF-16 or UTF-32 text has NUL bytes too
    except DecodeError:
        return True
    return False


class PageSpider(Spider):
    """Base of the spiders that fetch article pages over HTTP (kinds ``web`` and ``feed``)."""

    source: ClassVar[Source]

    def __init__(self, *args: Any, reextract: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reextract = reextract not in ("", "0", "false", "no")
        self.allowed_domains = list(self.source.allowed_domains)
        self.known: dict[str, datetime] = {}
        self.queued: set[str] = set()
        self.store: Store | None = None
        self.config_rules = SiteRules()
        self.rules_dir: RulesDirectory | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> PageSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.store = shared_store(crawler)
        spider.known = spider.store.known_keys(spider.name)
        spider.config_rules = rules_from_config(
            spider.source.rules_table, f"source {spider.name!r}"
        )
        rules_dir = settings.get("SITE_RULES_DIR") or str(config_of(settings).path.parent / "rules")
        spider.rules_dir = RulesDirectory(Path(rules_dir))
        return spider

    async def start(self) -> AsyncIterator[Any]:
        if self.reextract:
            for item in self.reextract_items():
                yield item
            return
        for request in self.start_requests_for_source():
            yield request

    def start_requests_for_source(self) -> Iterable[Request]:
        raise NotImplementedError

    # -- conditional requests for listing pages and feeds -----------------------------

    def conditional_request(self, url: str, callback: Any, **cb_kwargs: Any) -> Request:
        """A request that asks "changed since last time?" and accepts a 304 answer."""
        headers = {}
        assert self.store is not None
        cached = self.store.validators(url)
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        return Request(
            url,
            callback=callback,
            errback=self.listing_failed,
            headers=headers,
            cb_kwargs=cb_kwargs,
            meta={"handle_httpstatus_list": [NOT_MODIFIED], "feedmill_listing": True},
            dont_filter=True,
        )

    def listing_failed(self, failure: Failure) -> None:
        """A listing page or feed that could not be fetched: a warning with the URL and
        the reason (Scrapy alone says "Ignoring response <404 …>" at INFO level)."""
        request = failure.request  # type: ignore[attr-defined]
        if is_policy(failure):
            self.logger.info("%s: not fetched: %s", request.url, failure.getErrorMessage())
            return
        self.crawler.stats.inc_value(runstats.DOCUMENTS_FAILED)
        self.logger.warning("%s: not fetched: %s", request.url, failure_reason(failure))

    def remember(self, response: Response, links: list[str], next_url: str = "") -> None:
        """Store the response's validators with the links it held (used on a 304)."""
        etag = response.headers.get(b"ETag", b"").decode("latin-1")
        modified = response.headers.get(b"Last-Modified", b"").decode("latin-1")
        if not etag and not modified:
            return
        assert self.store is not None
        self.store.put_validators(
            self.name, Validators(response.url, etag, modified, tuple(links), next_url)
        )

    def cached_links(self, response: Response) -> Validators:
        assert self.store is not None
        self.crawler.stats.inc_value(LISTINGS_NOT_MODIFIED)
        return self.store.validators(
            response.request.url if response.request else response.url
        ) or Validators(response.url)

    # -- article pages ---------------------------------------------------------------

    def wants(self, url: str) -> bool:
        """Whether an article URL should be fetched in this run (new, or due a refresh)."""
        key = article_key(url)
        if key in self.queued:
            return False
        if key in self.known:
            refresh = self.source.refresh_after
            if refresh is None or datetime.now(UTC) - self.known[key] < refresh:
                self.crawler.stats.inc_value(ARTICLES_KNOWN)
                return False
        if len(self.queued) >= self.source.max_articles:
            self.crawler.stats.inc_value("feedmill/articles_over_limit")
            return False
        self.queued.add(key)
        return True

    def article_request(self, url: str, **cb_kwargs: Any) -> Request:
        return Request(
            url,
            callback=self.parse_article,
            errback=self.article_failed,
            cb_kwargs={"key": article_key(url), **cb_kwargs},
        )

    def rules_for(self, url: str) -> SiteRules:
        file_rules = self.rules_dir.for_url(url) if self.rules_dir else None
        return self.config_rules.merged(file_rules) if file_rules else self.config_rules

    def extract(self, response: Response) -> ExtractedPage:
        charset = None
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
        if "charset=" in content_type.lower():
            charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
        page = extract_page(
            response.body,
            response.url,
            header_charset=charset,
            encoding=self.source.encoding,
            rules=self.rules_for(response.url),
            tz=self.source.tz,
        )
        if page.elements_dropped:
            self.logger.warning(
                "%s: more than %d HTML elements; the last %d were not read",
                response.url,
                MAX_ELEMENTS,
                page.elements_dropped,
            )
        if page.encoding_mismatch:
            self.logger.warning(
                "%s: declared charset does not match the bytes; decoded as %s",
                response.url,
                page.encoding,
            )
        return page

    def parse_article(self, response: Response, key: str, **fallback: Any) -> Any:
        """An article page to an item (or nothing, with a warning saying why)."""
        self.crawler.stats.inc_value(runstats.DOCUMENTS_READ)
        if is_binary(response.body):
            self.crawler.stats.inc_value(runstats.DOCUMENTS_FAILED)
            self.logger.warning(
                "%s: skipped: binary data, not a web page (Content-Type %s)",
                response.url,
                response.headers.get(b"Content-Type", b"none").decode("latin-1"),
            )
            return None
        page = self.extract(response)
        if not page.body_text.strip():
            self.crawler.stats.inc_value(PAGES_WITHOUT_ARTICLE)
            self.crawler.stats.inc_value(runstats.DOCUMENTS_FAILED)
            self.logger.warning("%s: skipped: no article text found on the page", response.url)
            return None
        return self.article_from_page(response, key, page)

    def article_from_page(self, response: Response, key: str, page: ExtractedPage) -> ArticleItem:
        fetched_at = datetime.now(UTC)
        headers = {
            name.decode("latin-1"): b", ".join(values).decode("latin-1")
            for name, values in response.headers.items()
            if name.lower() in (b"content-type", b"etag", b"last-modified", b"content-language")
        }
        return ArticleItem(
            source=self.name,
            key=key,
            id=article_id(self.name, key),
            url=page.canonical_url or response.url,
            title=page.title,
            authors=list(page.authors),
            publisher=page.publisher,
            published=page.published or fetched_at.astimezone(self.source.tz),
            date_guessed=page.published is None,
            modified=page.modified,
            language=page.language or self.source.language,
            summary=page.summary,
            body_text=page.body_text,
            body_html=page.body_html,
            categories=list(page.categories),
            related=list(page.related),
            image=page.image,
            fetched=FetchedPage(response.url, response.status, headers, response.body, fetched_at),
        )

    def article_failed(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        stats = self.crawler.stats
        if is_policy(failure):
            # Not fetched on purpose (robots.txt, offsite): a policy, not a failure.
            stats.inc_value("feedmill/articles_ignored")
            self.logger.info("%s: not fetched: %s", request.url, failure.getErrorMessage())
            return None
        stats.inc_value(runstats.DOCUMENTS_READ)
        stats.inc_value(runstats.DOCUMENTS_FAILED)
        self.logger.warning("%s: skipped: %s", request.url, failure_reason(failure))
        return None

    # -- re-extraction ---------------------------------------------------------------

    def reextract_items(self) -> Iterable[Any]:
        """Items from the kept pages of this source, through the same extraction."""
        assert self.store is not None
        count = 0
        for stored in self.store.pages(self.name):
            article = self.store.get(stored.id)
            if article is None:
                continue
            count += 1
            response = HtmlResponse(
                stored.url,
                status=stored.status,
                headers=stored.headers,
                body=stored.body,
                request=Request(stored.url),
            )
            item = self.parse_article(response, article.key)
            if item is not None:
                item.fetched = None  # the kept page stays as it is
                yield item
        self.logger.info("source %r: re-extracted %d kept pages", self.name, count)
