"""Log lines for items that say which document and why, without dumping the article.

Scrapy's default formatter prints the whole item when one is dropped or fails; with a
5 MB body that buries the reason. Here each is one line naming the document.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.logformatter import LogFormatter, LogFormatterResult


def _name(item: Any) -> str:
    return f"{getattr(item, 'source', '?')}:{getattr(item, 'key', '?')}"


class ShortLogFormatter(LogFormatter):
    """Names items by ``source:key`` instead of printing them, and builds no per-item
    "scraped" record unless the crawl logs at DEBUG (Scrapy's loggers stay at DEBUG and
    filter in the handler, so each record would be made only to be thrown away)."""

    debug = True

    @classmethod
    def from_crawler(cls, crawler: Any) -> ShortLogFormatter:
        formatter = cls()
        level = crawler.settings.get("LOG_LEVEL", "DEBUG")
        formatter.debug = str(level).upper() in ("DEBUG", "10")
        return formatter

    def dropped(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.WARNING,
            "msg": "skipped %(item)s: %(reason)s",
            "args": {"item": _name(item), "reason": exception},
        }

    def item_error(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": logging.ERROR,
            "msg": "error processing %(item)s: %(reason)s",
            "args": {"item": _name(item), "reason": exception},
        }

    def scraped(self, item: Any, response: Any, spider: Any) -> LogFormatterResult | None:
        if not self.debug:
            return None
        return {"level": logging.DEBUG, "msg": "scraped %(item)s", "args": {"item": _name(item)}}
