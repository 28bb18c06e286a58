"""Extensions that tie a crawl to the store: record the run, then rebuild its feeds.

They hang off Scrapy's signals, so ``scrapy crawl seeds``, ``feedmill crawl`` and the
scheduler's child processes all record runs and write feeds the same way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler import runstats
from crawler.paths import config_of, output_dir, shared_store
from feeds.build import EXTENSIONS, build_feeds, feed_path, notify_hub
from feeds.config import COMBINED_FEED, Config
from feeds.errors import FeedmillError
from feeds.stores import Store

logger = logging.getLogger(__name__)

# Sources whose feeds a crawl in this process rewrote: a batch writes the combined feed
# at its end only when one of its sources changed (crawler.run).
CHANGED_SOURCES: set[str] = set()

# Close reasons that are not failures of the source.
_OUTCOMES = {"finished": "ok", "shutdown": "cancelled", "closespider_timeout": "timeout"}


def run_ids(settings: Any) -> dict[str, int]:
    """``FEEDMILL_RUN_IDS``: the runs a parent process already recorded, by source."""
    value = settings.get("FEEDMILL_RUN_IDS") or {}
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): int(v) for k, v in dict(value).items()}


class RunRecorder:
    """Records each run of a source in the store: start, end, outcome and counts.

    A parent that starts the run (the CLI, the scheduler) records the start itself and
    passes the run id in ``FEEDMILL_RUN_IDS``, so a child that dies is still on record.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run_id: int | None = None
        self.known_ids = run_ids(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        if not crawler.settings.getbool("RUN_RECORDER_ENABLED", True):
            raise NotConfigured  # switched off on purpose: no "Disabled" warning
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.run_id = self.known_ids.get(spider.name)
        if self.run_id is None:
            self.run_id = shared_store(self.crawler).start_run(spider.name, trigger="scrapy")
        spider.logger.info("run %d of source %r started", self.run_id, spider.name)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.run_id is None:
            return
        stats = self.crawler.stats.get_stats()
        counts = runstats.run_counts(stats)
        outcome = _OUTCOMES.get(reason, "failed")
        error = str(stats.get(runstats.ERROR, "") or "")
        if outcome == "ok" and stats.get(runstats.ARTICLES_NOT_STORED):
            outcome = "failed"
        if outcome != "ok" and not error:
            error = f"spider closed: {reason}"
        shared_store(self.crawler).finish_run(self.run_id, outcome, counts, error=error)
        spider.logger.info(
            "run %d of source %r: %s; read %d, new %d, updated %d, unchanged %d, failed %d",
            self.run_id,
            spider.name,
            outcome,
            *(counts[k] for k in ("fetched", "new", "updated", "unchanged", "failed")),
        )


class FeedBuilder:
    """Rewrites the source's feeds and the combined feed when a crawl closes.

    ``FEED_BUILDER_COMBINED = False`` leaves the combined feed out: a batch of sources
    in one process (``crawler.run``) writes it once at the end instead of per source.

    Files whose bytes would not change are left alone, so this is cheap after a run that
    changed nothing; it also recreates feed files that were deleted.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedBuilder:
        if not crawler.settings.getbool("FEED_BUILDER_ENABLED", True):
            # The CLI builds once for a whole batch; switched off on purpose, so no
            # "Disabled" warning (Scrapy logs one only when NotConfigured has a message).
            raise NotConfigured
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_closed(self, spider: Spider, reason: str) -> None:
        settings = self.crawler.settings
        try:
            config = config_of(settings)
            out_dir = output_dir(settings, config)
            counts = runstats.run_counts(self.crawler.stats.get_stats())
            store = shared_store(self.crawler)
            if (
                counts["new"] == 0
                and counts["updated"] == 0
                and feeds_current(config, out_dir, spider.name, store)
            ):
                # Nothing stored changed, and the files were written after the config
                # and the last stored change: rendering again would give the same bytes.
                logger.debug("source %r: no changes, feeds left as they are", spider.name)
                return
            CHANGED_SOURCES.add(spider.name)
            names = [spider.name]
            if settings.getbool("FEED_BUILDER_COMBINED", True):
                names.append(COMBINED_FEED)
            written = build_feeds(config, store, out_dir, names)
            notify_hub(config, written)
        except (FeedmillError, OSError) as exc:
            logger.error("source %r: feeds not written: %s", spider.name, exc)


def feeds_current(config: Config, out_dir: Path, name: str, store: Store | None = None) -> bool:
    """Whether every feed file of ``name`` exists and was written after the config file
    (so its title, size, filters and links are the ones in force) and, given the store,
    after the source's last stored change."""
    try:
        since = Path(config.path).stat().st_mtime
    except OSError:
        return False
    if store is not None:
        changed = store.last_change(name)
        if changed is not None:
            since = max(since, changed.timestamp())
    for fmt in EXTENSIONS:
        try:
            if feed_path(out_dir, name, fmt).stat().st_mtime < since:
                return False
        except OSError:
            return False
    return True


class CloseGuard:
    """Works around a Scrapy 2.19 hang when a crawl that yields items from ``start()``
    is stopped (Ctrl-C, SIGTERM, the scheduler's timeout).

    The engine waits for the scraper to go idle, but an item that was in the pipelines
    when closing began decrements the in-flight count without re-checking, so the wait
    never ends. While the engine is stopping, this re-checks twice a second; it does
    nothing on a normal run. Remove it once Scrapy re-checks on its own.
    """

    interval = 0.5

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CloseGuard:
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        from twisted.internet import task

        self.task = task.LoopingCall(self.check)
        self.task.start(self.interval, now=False)

    def check(self) -> None:
        scraper = getattr(self.crawler.engine, "scraper", None)
        slot = getattr(scraper, "slot", None)
        if slot is not None and slot.closing is not None and not slot.closing.called:
            scraper._check_if_closing()

    def spider_closed(self, spider: Spider) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
