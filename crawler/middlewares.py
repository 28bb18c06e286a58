"""Downloader middleware: retries that back off instead of hammering a failing site, and
a meta-refresh check that does not decode every page to find out there is none.

Scrapy's RetryMiddleware re-queues a failed request at once. Here each retry waits
``RETRY_BACKOFF_BASE * 2**(attempt - 1)`` seconds (capped at ``RETRY_BACKOFF_MAX``), or
what the server asked for in ``Retry-After`` on a 429/503, before it is sent again.
"""

from __future__ import annotations

import asyncio
import email.utils
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from w3lib.url import canonicalize_url

DELAY_KEY = "feedmill_retry_delay"
# Scrapy looks for <meta http-equiv="refresh"> in the first 4096 characters of the text.
_REFRESH_WINDOW = 4 * 4096


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware whose retried requests carry a delay (see RetryDelayMiddleware)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            result.meta[DELAY_KEY] = self._delay(result, response)
        return result

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            result.meta[DELAY_KEY] = self._delay(result, None)
        return result

    def _delay(self, request: Request, response: Response | None) -> float:
        attempt = int(request.meta.get("retry_times", 1))
        delay = self.base * 2 ** (attempt - 1)
        if response is not None and response.status in (429, 503):
            asked = retry_after(response.headers.get(b"Retry-After", b"").decode("latin-1"))
            if asked is not None:
                delay = max(delay, asked)
        return min(delay, self.cap)


class RetryDelayMiddleware:
    """Holds a retried request back for the delay BackoffRetryMiddleware put on it."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryDelayMiddleware:
        return cls()

    async def process_request(self, request: Request) -> None:
        delay = request.meta.pop(DELAY_KEY, 0)
        if delay:
            await asyncio.sleep(delay)


class QuickMetaRefreshMiddleware(MetaRefreshMiddleware):
    """MetaRefreshMiddleware that skips pages whose first bytes cannot hold a refresh.

    Scrapy decodes the whole response (with encoding detection) and runs its regexes on
    every HTML page, ~0.25 ms of a 40 KB page, though a meta refresh needs the ASCII word
    "refresh" within the text's first 4096 characters. Pages without it in their first
    16 KB are passed on as they are; pages in a UTF-16/32 encoding (NUL bytes) still get
    the full check."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if isinstance(response, HtmlResponse):
            window = response.body[:_REFRESH_WINDOW]
            if b"\x00" not in window and b"refresh" not in window.lower():
                return response
        return super().process_response(request, response)


class RedirectLoopMiddleware:
    """Fails a redirect back to a URL of its own chain (a loop) with a clear reason.

    Scrapy's RedirectMiddleware would follow it, and the scheduler's duplicate filter
    would then drop the request without a word: no log line, no errback, the article
    neither stored nor counted as failed. Its ``process_response`` runs before
    RedirectMiddleware's (a higher order number), and raising IgnoreRequest there
    reaches the request's errback.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectLoopMiddleware:
        return cls()

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in _REDIRECTS or request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location")
        if not location:
            return response
        target = canonicalize_url(urljoin(request.url, location.decode("latin-1")))
        chain = [*request.meta.get("redirect_urls", ()), request.url]
        if target in {canonicalize_url(url) for url in chain}:
            hops = " -> ".join([*chain, target])
            raise IgnoreRequest(f"redirect loop ({hops})")
        return response


_REDIRECTS = frozenset((301, 302, 303, 307, 308))


def retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
