"""Reload feedmill.toml without a restart: on SIGHUP, or when the file changes.

The file is polled (its mtime, size and inode, every ``interval`` seconds) rather than
watched with inotify, so this works the same on every platform and for editors that
replace the file instead of writing it in place. A new config that does not load is
rejected with the reason logged, and the one in force stays; a good one is handed to
the callback (``Scheduler.reload``, typically).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from feeds.config import Config, load_config
from feeds.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0

OnChange = Callable[[Config], Awaitable[object] | object]
_Signature = tuple[int, int, int] | None


class ConfigWatcher:
    """Calls ``on_change(config)`` with each good new version of the config file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: OnChange,
        *,
        interval: float = DEFAULT_INTERVAL,
        reload_signal: int | None = signal.SIGHUP,
    ) -> None:
        self.path = Path(path).absolute()
        self.on_change = on_change
        self.interval = interval
        self.reload_signal = reload_signal
        self._signature: _Signature = None
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        """Start polling and listen for the reload signal (call from the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._signature = _signature(self.path)
        if self.reload_signal is not None:
            try:
                self._loop.add_signal_handler(self.reload_signal, self._on_signal)
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                # Not the main thread, or a platform without the signal: polling still works.
                logger.warning("config reload on signal unavailable: %s", exc)
                self.reload_signal = None
        self._poller = self._loop.create_task(self._poll())

    def stop(self) -> None:
        if self._loop is not None and self.reload_signal is not None:
            self._loop.remove_signal_handler(self.reload_signal)
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def reload(self, why: str = "requested") -> Config | None:
        """Load the file now; the new config when it was good and passed on, else None."""
        async with self._lock:
            self._signature = _signature(self.path)
            try:
                config = load_config(self.path)
            except ConfigError as exc:
                logger.error("config not reloaded (%s), keeping the one in force: %s", why, exc)
                return None
            logger.info("config reloaded (%s): %d source(s)", why, len(config.sources))
            try:
                result = self.on_change(config)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("applying the reloaded config failed")
                return None
            return config

    def _on_signal(self) -> None:
        assert self._loop is not None
        name = signal.Signals(self.reload_signal).name if self.reload_signal else "signal"
        task = self._loop.create_task(self.reload(name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            current = _signature(self.path)
            if current == self._signature:
                continue
            if current is None:
                self._signature = None
                logger.error("config file %s is gone; keeping the config in force", self.path)
                continue
            await self.reload("file changed")


def _signature(path: Path) -> _Signature:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
