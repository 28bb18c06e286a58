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

from feeds.runprotocol import (
    MARKER,
    NOT_REACHED,
    PARENT_PID_ENV,
    RUN_LOG_DIR_ENV,
    TIMEOUTS_ENV,
)

logger = logging.getLogger("crawler.run")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> bool:
    """Have the kernel SIGKILL this process when its parent ``parent`` dies; exit now if
    it is already gone. False where the kernel cannot do it (not Linux).

    A kill -9 of the process that started a crawl (``feedmill serve``) or of a crawl that
    forked reader processes must not leave children running with nobody to supervise,
    time out or reap them: a restarted service would mark their run interrupted and
    start another beside them.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        done = False
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)
    return done


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
    parent = os.environ.get(PARENT_PID_ENV, "")
    if parent.isdigit():
        die_with_parent(int(parent))
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
    state: dict[str, Any] = {"stopping": False, "reached": set(), "errors": 0}
    from twisted.internet import defer

    # Web and feed sources mostly wait on the network and on politeness delays: up to
    # CRAWLS_AT_ONCE of them run side by side, each committing every article before it
    # gives control back to the reactor (two crawls holding open SQLite write
    # transactions on one thread would wait for each other). Files sources are CPU-bound
    # and commit in batches: they run alone, after the others.
    at_once = max(1, settings.getint("CRAWLS_AT_ONCE", 8)) if batched else 1
    kinds = _kinds(settings, sources)
    together = [n for n in sources if kinds.get(n) != "files"] if at_once > 1 else []
    alone = [n for n in sources if n not in together]
    ids = _run_ids(settings)
    log_dir = os.environ.get(RUN_LOG_DIR_ENV, "")

    def crawl_one(name: str, shared: bool) -> Any:
        if state["stopping"]:
            return defer.succeed(None)
        state["reached"].add(name)
        logger.info(MARKER.format(source=name))
        handler = _run_log(log_dir, name, ids.get(name)) if log_dir and batched else None
        try:
            crawler = process.create_crawler(name)
            if name in timeouts:
                crawler.settings.set("CLOSESPIDER_TIMEOUT", timeouts[name], priority="cmdline")
            if shared:
                crawler.settings.set("STORE_BATCH_SIZE", 1, priority="cmdline")
            done = process.crawl(crawler, **spider_args)
        except Exception:
            done = defer.fail()

        def failed(failure: Any) -> None:
            state["errors"] += 1
            logger.error("crawl of source %r failed", name, exc_info=failure.value)

        def close_log(result: Any) -> Any:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
                handler.close()
            return result

        done.addErrback(failed)
        done.addBoth(close_log)
        return done

    @defer.inlineCallbacks
    def crawl_in_turn() -> Generator[Any, Any, None]:
        if together:
            limit = defer.DeferredSemaphore(at_once)
            yield defer.DeferredList([limit.run(crawl_one, n, True) for n in together])
        for name in alone:
            yield crawl_one(name, False)

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
    skipped = [name for name in sources if name not in state["reached"]]
    if skipped:
        _record_not_reached(settings, skipped)
    if build_combined and state["reached"]:
        from crawler.extensions import CHANGED_SOURCES

        if CHANGED_SOURCES or not _combined_exists(settings):
            _build_combined(settings)
    return 1 if state["errors"] else 0


def _kinds(settings: Any, sources: list[str]) -> dict[str, str]:
    """Source -> kind, for the sources the config has (unknown ones fail when crawled)."""
    from crawler.paths import config_of

    try:
        config = config_of(settings)
    except Exception:  # the crawl itself reports a broken config
        return {}
    return {name: config.sources[name].kind for name in sources if name in config.sources}


def _run_ids(settings: Any) -> dict[str, int]:
    from crawler.extensions import run_ids

    try:
        return run_ids(settings)
    except (ValueError, TypeError):
        return {}


class _SourceFilter(logging.Filter):
    """Records of one source's crawl: its spider's own, and those Scrapy tags with it."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def filter(self, record: logging.LogRecord) -> bool:
        spider = getattr(record, "spider", None)
        return record.name == self.source or getattr(spider, "name", None) == self.source


def _run_log(log_dir: str, source: str, run_id: int | None) -> logging.Handler | None:
    """A log file of its own for one run of a batch (``<dir>/<source>/<run id>.log``):
    the run manager attaches its tail to the run, as for a run with a child of its own."""
    if run_id is None:
        return None
    path = os.path.join(log_dir, source, f"{run_id}.log")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        logger.warning("no log file of its own for run %d of %r: %s", run_id, source, exc)
        return None
    root = logging.getLogger()
    template = next((h for h in root.handlers if h.formatter is not None), None)
    if template is not None:
        handler.setFormatter(template.formatter)
    handler.addFilter(_SourceFilter(source))
    root.addHandler(handler)
    return handler


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
    from crawler.paths import open_crawl_store

    ids = run_ids(settings)
    wanted = {name: ids[name] for name in sources if name in ids}
    if not wanted:
        return
    with open_crawl_store(settings) as store:
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
    from crawler.paths import config_of, open_crawl_store, output_dir
    from feeds.build import build_feeds, notify_hub
    from feeds.config import COMBINED_FEED
    from feeds.errors import FeedmillError

    try:
        config = config_of(settings)
        with open_crawl_store(settings) as store:
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
