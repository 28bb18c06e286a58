"""``feedmill serve``: the wiring of run manager, scheduler, config watcher and feed server.

Everything runs in one asyncio loop: APScheduler's AsyncIOScheduler fires runs, each
run is a child process (so a crashing or hanging spider cannot take the service down),
and the aiohttp server answers feed readers and the dashboard in between. This module
only connects the parts; each of them is tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import signal
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.build import feeds_dir, remove_abandoned
from feeds.config import Config
from feeds.errors import StoreError
from feeds.server import make_app, start_server
from feeds.store import SQLiteStore
from scheduler.jobs import Scheduler
from scheduler.runs import RunManager
from scheduler.watch import ConfigWatcher

logger = logging.getLogger("feedmill.serve")

# Runs the service starts itself; at start-up, any of them still "running" was cut off.
SERVICE_TRIGGERS = ("schedule", "api", "dashboard", "startup")
# Open files the service asks for (each client connection holds one): the usual soft
# limit of 1,024 would let a few hundred idle clients stop it from accepting more.
WANTED_OPEN_FILES = 65536


class ServiceController:
    """The server's view of the scheduler side (feeds.server.Controller)."""

    def __init__(self, config: Config, manager: RunManager, scheduler: Scheduler) -> None:
        self._config = config
        self.manager = manager
        self.scheduler = scheduler
        self.started = datetime.now().astimezone()

    def config(self) -> Config:
        return self._config

    def update_config(self, config: Config) -> None:
        self._config = config

    async def run_now(self, source: str) -> int:
        return await self.manager.start(source, trigger="api")

    def running(self) -> dict[str, int]:
        return self.manager.running()

    def next_runs(self) -> dict[str, datetime | None]:
        return self.scheduler.next_runs()

    def health(self) -> dict[str, Any]:
        return {**self.scheduler.state(), "since": self.started.isoformat(timespec="seconds")}


def check_data_dir(data_dir: Path) -> None:
    """Fail at start-up, with the reason, when the data directory cannot be written."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StoreError(f"data directory {data_dir} is not writable: {exc}") from exc


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit, never
    lower); the soft limit in force afterwards."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return -1
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            logger.warning("cannot raise the open files limit from %d: %s", soft, exc)
            return soft
        logger.debug("open files limit raised from %d to %d", soft, target)
        return target
    return soft


def serve(
    config: Config,
    data_dir: Path,
    *,
    host: str,
    port: int,
    token: str | None,
    grace: float = 30.0,
) -> int:
    """Run the service until SIGTERM/SIGINT; the exit status (0 after a clean stop)."""
    try:
        check_data_dir(data_dir)
        with SQLiteStore.in_data_dir(data_dir) as store:
            stale = store.interrupt_stale_runs(SERVICE_TRIGGERS)
    except StoreError as exc:
        logger.error("%s", exc)
        return 1
    if stale:
        logger.warning("%d run(s) were cut off when the service last stopped", stale)
    remove_abandoned(feeds_dir(data_dir))
    raise_open_files_limit()
    try:
        return asyncio.run(_serve(config, data_dir, host=host, port=port, token=token, grace=grace))
    except OSError as exc:
        logger.error("%s", exc)
        return 1


async def _let_runs_finish(manager: RunManager, grace: float) -> None:
    """Give running crawls ``grace`` seconds to end on their own, then stop the rest."""
    running = list(manager.running().values())
    if running:
        waits = [asyncio.ensure_future(manager.wait(run_id)) for run_id in running]
        _, pending = await asyncio.wait(waits, timeout=grace)
        for future in pending:
            future.cancel()
    with contextlib.suppress(Exception):
        await manager.shutdown(10.0)


async def _serve(
    config: Config, data_dir: Path, *, host: str, port: int, token: str | None, grace: float
) -> int:
    manager = RunManager.for_service(config, data_dir, grace=min(grace, 10.0))
    scheduler = Scheduler(manager, config, data_dir)
    controller = ServiceController(config, manager, scheduler)
    app = make_app(controller, data_dir, token=token)
    try:
        runner = await start_server(app, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE or "in use" in str(exc):
            logger.error("port %d on %s is taken: %s", port, host, exc)
        raise
    if not token:
        logger.warning("no FEEDMILL_TOKEN: the run-now API and dashboard buttons are disabled")

    def reload(new_config: Config) -> None:
        scheduler.reload(new_config)
        manager.update_config(new_config)
        controller.update_config(new_config)
        logger.info("configuration reloaded: %d sources", len(new_config.sources))

    watcher = ConfigWatcher(config.path, reload)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduler.start()
    watcher.start()
    logger.info(
        "feedmill serving http://%s:%d/ (%d sources, data in %s)",
        host,
        port,
        len(config.sources),
        data_dir,
    )
    try:
        await stop.wait()
    finally:
        logger.info("stopping: letting running crawls finish (up to %.0f s)", grace)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        watcher.stop()
        scheduler.shutdown()
        await _let_runs_finish(manager, grace)
        await runner.cleanup()
    logger.info("stopped")
    return 0
