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
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feeds.build import feeds_dir, remove_abandoned
from feeds.config import Config, scrapyd_nodes
from feeds.errors import ConfigError, FeedmillError, StoreError
from feeds.refresh import FeedRefresher
from feeds.server import make_app, start_server
from feeds.stores import database_url, is_postgres_url, open_store, redacted
from scheduler.jobs import Scheduler
from scheduler.leader import Leadership, leadership_for
from scheduler.runs import RunManager
from scheduler.state import ScheduleState
from scheduler.watch import ConfigWatcher

if TYPE_CHECKING:
    from scheduler.remote import ScrapydRunManager

    Manager = RunManager | ScrapydRunManager
else:
    Manager = RunManager

logger = logging.getLogger("feedmill.serve")

# How often a standby tries to take over (it leads within about two of these).
LEADER_INTERVAL = 2.0
# Open files the service asks for (each client connection holds one): the usual soft
# limit of 1,024 would let a few hundred idle clients stop it from accepting more.
WANTED_OPEN_FILES = 65536


class NotLeading(FeedmillError):
    """This serve process is the standby: the leader starts runs."""


class ServiceController:
    """The server's view of the scheduler side (feeds.server.Controller).

    The scheduler exists only while this process leads; a standby serves feeds, shows
    the persisted schedule and refuses to start runs (503, naming the leader).
    """

    def __init__(
        self,
        config: Config,
        manager: Manager,
        scheduler: Scheduler | None,
        leadership: Leadership | None = None,
        state: ScheduleState | None = None,
    ) -> None:
        self._config = config
        self.manager = manager
        self.scheduler = scheduler
        self.leadership = leadership
        self.state = state
        self.started = datetime.now().astimezone()
        self._persisted: tuple[float, dict[str, datetime]] = (0.0, {})

    def config(self) -> Config:
        return self._config

    def update_config(self, config: Config) -> None:
        self._config = config

    async def run_now(self, source: str) -> int:
        if self.scheduler is None and self.leadership is not None:
            holder = self.leadership.describe().get("holder") or "another feedmill serve"
            raise NotLeading(f"this node is the standby scheduler; runs are started by {holder}")
        return await self.manager.start(source, trigger="api")

    def running(self) -> dict[str, int]:
        return self.manager.running()

    def next_runs(self) -> dict[str, datetime | None]:
        if self.scheduler is not None:
            return self.scheduler.next_runs()
        persisted = self._persisted_runs()
        return {name: persisted.get(name) for name in self._config.sources}

    def _persisted_runs(self) -> dict[str, datetime]:
        """The leader's persisted schedule, read at most every 5 s (a standby's view)."""
        if self.state is None:
            return {}
        read_at, runs = self._persisted
        if time.monotonic() - read_at > 5.0:
            try:
                runs = self.state.load()
            except FeedmillError as exc:
                logger.warning("cannot read the persisted schedule: %s", exc)
            self._persisted = (time.monotonic(), runs)
        return runs

    def health(self) -> dict[str, Any]:
        if self.scheduler is not None:
            state = self.scheduler.state()
        else:
            state = {"state": "standby", "jobs": 0, "running": self.manager.running()}
        if self.leadership is not None:
            state["leadership"] = self.leadership.describe()
        return {**state, "since": self.started.isoformat(timespec="seconds")}


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
    database = database_url(config, data_dir)
    try:
        check_data_dir(data_dir)
        check_runner(config, database)
        open_store(database).close()  # the schema is current before anything starts
    except FeedmillError as exc:
        logger.error("%s", exc)
        return 1
    remove_abandoned(feeds_dir(data_dir))
    raise_open_files_limit()
    try:
        return asyncio.run(
            _serve(config, data_dir, database, host=host, port=port, token=token, grace=grace)
        )
    except OSError as exc:
        logger.error("%s", exc)
        return 1


def check_runner(config: Config, database: str) -> None:
    """Runs on Scrapyd nodes write the database from other machines: it must be shared."""
    if config.runner == "scrapyd" and not is_postgres_url(database):
        raise ConfigError(
            f"{config.path}: runner = 'scrapyd' needs a PostgreSQL database_url (or "
            "$FEEDMILL_DATABASE_URL): Scrapyd nodes cannot write this machine's SQLite file"
        )
    if config.runner == "scrapyd" and not scrapyd_nodes(config):
        raise ConfigError(f"{config.path}: runner = 'scrapyd' needs scrapyd_nodes")


def make_manager(config: Config, data_dir: Path, database: str, *, grace: float) -> Manager:
    """The run manager the config asks for: local child processes, or Scrapyd jobs."""
    if config.runner == "scrapyd":
        from scheduler.remote import ScrapydRunManager

        return ScrapydRunManager(config, data_dir, database=database, grace=grace)
    return RunManager.for_service(config, data_dir, grace=grace, database=database)


async def _let_runs_finish(manager: Manager, grace: float) -> None:
    """Give running crawls ``grace`` seconds to end on their own, then stop the rest.

    Runs on Scrapyd nodes are not waited for: they go on there, and the next leader
    follows them."""
    running = list(manager.running().values())
    if running and isinstance(manager, RunManager):
        waits = [asyncio.ensure_future(manager.wait(run_id)) for run_id in running]
        _, pending = await asyncio.wait(waits, timeout=grace)
        for future in pending:
            future.cancel()
    with contextlib.suppress(Exception):
        await manager.shutdown(10.0)


async def _serve(
    config: Config,
    data_dir: Path,
    database: str,
    *,
    host: str,
    port: int,
    token: str | None,
    grace: float,
) -> int:
    manager = make_manager(config, data_dir, database, grace=min(grace, 10.0))
    state = ScheduleState(data_dir, database=database)
    controller = ServiceController(config, manager, None, state=state)
    changing = asyncio.Lock()

    async def on_change(leading: bool) -> None:
        async with changing:
            if leading and controller.scheduler is None:
                try:
                    await manager.adopt()
                except FeedmillError as exc:
                    logger.error("runs left by the last scheduler not settled: %s", exc)
                scheduler = Scheduler(manager, controller.config(), data_dir, state=state)
                scheduler.start()
                controller.scheduler = scheduler
                logger.info("this node schedules the sources now")
            elif not leading and controller.scheduler is not None:
                controller.scheduler.shutdown(persist=False)
                controller.scheduler = None
                await manager.release()
                logger.warning("this node stopped scheduling: another one leads now")

    leadership = leadership_for(
        database if is_postgres_url(database) else None,
        data_dir,
        on_change,
        interval=LEADER_INTERVAL,
        key=f"feedmill-scheduler:{redacted(database)}",
    )
    controller.leadership = leadership
    refresher = (
        FeedRefresher(controller.config, database, data_dir) if is_postgres_url(database) else None
    )
    app = make_app(controller, data_dir, token=token, database_url=database)
    try:
        runner = await start_server(app, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE or "in use" in str(exc):
            logger.error("port %d on %s is taken: %s", port, host, exc)
        raise
    if not token:
        logger.warning("no FEEDMILL_TOKEN: the run-now API and dashboard buttons are disabled")

    def reload(new_config: Config) -> None:
        old = controller.config()
        for key in ("runner", "database_url", "scrapyd_nodes", "scrapyd_project"):
            if getattr(new_config, key) != getattr(old, key):
                logger.warning("a new %s takes effect at the next restart, not on reload", key)
        if controller.scheduler is not None:
            controller.scheduler.reload(new_config)
        manager.update_config(new_config)
        controller.update_config(new_config)
        logger.info("configuration reloaded: %d sources", len(new_config.sources))

    watcher = ConfigWatcher(config.path, reload)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await leadership.start()
    if refresher is not None:
        await refresher.start()
    watcher.start()
    logger.info(
        "feedmill serving http://%s:%d/ (%d sources, %s runner, store %s, data in %s)",
        host,
        port,
        len(config.sources),
        config.runner,
        redacted(database),
        data_dir,
    )
    try:
        await stop.wait()
    finally:
        logger.info("stopping: letting running crawls finish (up to %.0f s)", grace)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        watcher.stop()
        if controller.scheduler is not None:
            controller.scheduler.shutdown()
        if refresher is not None:
            await refresher.stop()
        await _let_runs_finish(manager, grace)
        # Stops leading last: a standby takes over once the runs here are settled.
        await leadership.stop()
        await runner.cleanup()
    logger.info("stopped")
    return 0
