"""Feed files as a cache of the shared database, kept fresh by every feed server.

With a PostgreSQL store, crawls run on other machines (Scrapyd nodes, or the leading
scheduler's children) and no crawl writes this server's feed files. So each ``feedmill
serve`` renders its own copy from the database: all feeds at start-up, then, every
``interval`` seconds, the feeds of the sources whose runs ended since the last look
(one indexed query on ``runs.finished``). A feed whose inputs did not change is not even
rendered again (``feeds.build``'s inputs digest), and the same inputs give the same bytes
on every node, so any node can answer any reader.

The look-back overlaps by ``overlap`` seconds: run end times come from the machines
that ran them, whose clocks may differ a little from this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feeds.build import build_feeds, feeds_dir
from feeds.config import COMBINED_FEED, Config
from feeds.errors import FeedmillError
from feeds.stores import Store, open_store, redacted

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0
DEFAULT_OVERLAP = timedelta(seconds=60)


class FeedRefresher:
    """Renders this node's feed files from the database, as runs end anywhere."""

    def __init__(
        self,
        config: Callable[[], Config],
        database: str,
        data_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> None:
        self.config = config
        self.database = database
        self.out_dir = feeds_dir(Path(data_dir))
        self.interval = interval
        self.overlap = overlap
        self.builds = 0  # rounds that rendered something (for tests and the dashboard)
        self._seen: dict[str, datetime] = {}  # source -> the latest run end handled
        self._since: datetime | None = None
        self._store: Store | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Render every feed now (the ones already current cost a query), then follow."""
        await asyncio.to_thread(self._refresh_all)
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._close)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self._refresh_changed)
            except (FeedmillError, OSError) as exc:
                logger.warning("feeds not refreshed from %s: %s", redacted(self.database), exc)
                await asyncio.to_thread(self._close)
            except Exception:
                logger.exception("feeds not refreshed from %s", redacted(self.database))
                await asyncio.to_thread(self._close)

    # -- worker thread ---------------------------------------------------------------

    def _open(self) -> Store:
        if self._store is None:
            self._store = open_store(self.database)
        return self._store

    def _close(self) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    def _refresh_all(self) -> None:
        self._since = datetime.now(UTC)
        try:
            config = self.config()
            build_feeds(config, self._open(), self.out_dir)
            self.builds += 1
        except (FeedmillError, OSError) as exc:
            logger.warning("feeds not built from %s: %s", redacted(self.database), exc)
            self._close()

    def _refresh_changed(self) -> list[str]:
        """One round: rebuild the feeds of sources whose runs ended since the last one."""
        now = datetime.now(UTC)
        since = (self._since or now) - self.overlap
        store = self._open()
        ended = store.sources_finished_since(since)
        changed = [
            source
            for source, end in ended.items()
            if self._seen.get(source) is None or end > self._seen[source]
        ]
        self._since = now
        if not changed:
            return []
        config = self.config()
        names = [source for source in changed if source in config.sources]
        if names:
            build_feeds(config, store, self.out_dir, [*names, COMBINED_FEED])
            self.builds += 1
            logger.info("feeds of %s rendered from the database", ", ".join(names))
        for source in changed:
            self._seen[source] = ended[source]
        return names
