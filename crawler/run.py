"""Run several sources in one Scrapy process: ``python -m crawler.run SOURCE...``.

The CLI and the scheduler start crawls as child processes (a crashing or hanging spider
stays contained), and one child per batch of sources rather than per source, since
starting Python with Scrapy costs about half a second of CPU: with 1,000 sources on a
15-minute schedule that alone would keep most of a core busy.

The sources of a batch are crawled one after another, not side by side. Each crawl holds
its own SQLite connection with a write transaction open across items (the store pipeline
commits in batches); two crawls interleaved on one reactor thread would wait for each
other's lock on that very thread. Parallelism comes from running several children.

Each crawl starts with a marker line (``MARKER``) in the log, so the scheduler can give
every run its own slice of a batch's log. ``FEEDMILL_RUN_TIMEOUTS`` (JSON, source ->
seconds) becomes each crawl's ``CLOSESPIDER_TIMEOUT``; a SIGTERM/SIGINT stops the crawl
under way and records the sources not reached yet as cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Generator
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from feeds.runprotocol import MARKER, NOT_REACHED, TIMEOUTS_ENV

logger = logging.getLogger("crawler.run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description=__doc__)
    parser.add_argument("sources", nargs="+", metavar="SOURCE")
    parser.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a Scrapy setting, as with scrapy crawl -s",
    )
    parser.add_argument(
        "-a",
        dest="spider_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a spider argument for every source, as with scrapy crawl -a",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    settings = get_project_settings()
    for pair in args.set:
        name, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--set wants NAME=VALUE, got {pair!r}")
        settings.set(name, value, priority="cmdline")
    spider_args = {}
    for pair in args.spider_args:
        name, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"-a wants NAME=VALUE, got {pair!r}")
        spider_args[name] = value
    timeouts = _timeouts(os.environ.get(TIMEOUTS_ENV, ""))
    sources = list(dict.fromkeys(args.sources))
    batched = len(sources) > 1
    build_combined = batched and settings.getbool("FEED_BUILDER_ENABLED", True)
    if build_combined:
        # Each crawl writes its own feeds as it ends; the combined feed once, below.
        settings.set("FEED_BUILDER_COMBINED", False, priority="cmdline")

    process = CrawlerProcess(settings)
    state = {"stopping": False, "reached": 0, "errors": 0}
    from twisted.internet import defer

    @defer.inlineCallbacks
    def crawl_in_turn() -> Generator[Any, Any, None]:
        for name in sources:
            if state["stopping"]:
                break
            state["reached"] += 1
            logger.info(MARKER.format(source=name))
            try:
                crawler = process.create_crawler(name)
                if name in timeouts:
                    crawler.settings.set("CLOSESPIDER_TIMEOUT", timeouts[name], priority="cmdline")
                yield process.crawl(crawler, **spider_args)
            except Exception:
                state["errors"] += 1
                logger.exception("crawl of source %r failed", name)

    def stop_reactor(_: object) -> None:
        from twisted.internet import reactor

        if reactor.running:
            reactor.stop()

    def watch_signals() -> None:
        # Scrapy installs its handlers at start-up; chain ours in front of them.
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def handler(num: int, frame: Any, previous: Any = previous) -> None:
                state["stopping"] = True
                if callable(previous):
                    previous(num, frame)

            signal.signal(signum, handler)

    done = crawl_in_turn()  # the first crawl installs the configured reactor: import it after
    from twisted.internet import reactor

    # Scrapy's own start-up trigger is registered later (in process.start()); a call
    # scheduled from ours runs once every start-up trigger has, so ours wraps its handlers.
    reactor.addSystemEventTrigger("after", "startup", reactor.callLater, 0, watch_signals)
    done.addBoth(stop_reactor)
    if not done.called:
        process.start(stop_after_crawl=False)
    skipped = sources[state["reached"] :]
    if skipped:
        _record_not_reached(settings, skipped)
    if build_combined and state["reached"]:
        from crawler.extensions import CHANGED_SOURCES

        if CHANGED_SOURCES or not _combined_exists(settings):
            _build_combined(settings)
    return 1 if state["errors"] else 0


def _timeouts(text: str) -> dict[str, float]:
    if not text:
        return {}
    try:
        return {str(k): float(v) for k, v in json.loads(text).items()}
    except (ValueError, AttributeError, TypeError):
        logger.warning("ignoring %s, not a JSON object of seconds: %r", TIMEOUTS_ENV, text)
        return {}


def _record_not_reached(settings: Any, sources: list[str]) -> None:
    """Close the runs a parent recorded for sources this batch never started."""
    from crawler.extensions import run_ids
    from crawler.paths import store_path
    from feeds.store import SQLiteStore

    ids = run_ids(settings)
    wanted = {name: ids[name] for name in sources if name in ids}
    if not wanted:
        return
    with SQLiteStore(store_path(settings)) as store:
        for name, run_id in wanted.items():
            run = store.get_run(run_id)
            if run is not None and run.outcome == "running":
                store.finish_run(run_id, "cancelled", error=NOT_REACHED)
                logger.info("run %d of source %r cancelled: %s", run_id, name, NOT_REACHED)


def _combined_exists(settings: Any) -> bool:
    from crawler.extensions import feeds_current
    from crawler.paths import config_of, output_dir
    from feeds.config import COMBINED_FEED

    config = config_of(settings)
    return feeds_current(config, output_dir(settings, config), COMBINED_FEED)


def _build_combined(settings: Any) -> None:
    """Write the combined feed once for the whole batch."""
    from crawler.paths import config_of, output_dir, store_path
    from feeds.build import build_feeds, notify_hub
    from feeds.config import COMBINED_FEED
    from feeds.errors import FeedmillError
    from feeds.store import SQLiteStore

    try:
        config = config_of(settings)
        with SQLiteStore(store_path(settings)) as store:
            written = build_feeds(config, store, output_dir(settings, config), [COMBINED_FEED])
        notify_hub(config, written)
    except (FeedmillError, OSError) as exc:
        logger.error("combined feed not written: %s", exc)


def exit_now(code: int) -> None:
    """Flush the logs and leave without the interpreter's teardown.

    Everything the run writes (store, feeds, run records) is committed and closed by
    now; tearing down Scrapy's, Twisted's and lxml's module state cost ~0.35 s of CPU per
    child, a third of what refreshing a source costs when it has a process of its own.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
