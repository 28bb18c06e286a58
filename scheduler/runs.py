"""Runs of sources as child processes, one at a time per source, with a timeout.

A run is ``python -m crawler.run ... SOURCE`` in a child process (a crashing or hanging
spider stays contained, and this package never imports Scrapy); runs asked for close
together can share one child, which crawls them in turn (see RunManager). The run is
recorded in the store *before* the child starts and its id passed down in
``FEEDMILL_RUN_IDS``; the child records the end, the counts and rewrites the feeds. When
the child is gone the manager reads the row back: a run still ``running`` (the child
crashed, hung or was killed) is finished here with the reason, and the last lines of the
child's log are attached either way.

Store calls run in worker threads (``asyncio.to_thread``), each with its own short-lived
connection, so a crawl holding the write lock never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import tomllib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.build import feeds_dir, remove_abandoned
from feeds.config import DATABASE_URL_ENV, DEFAULT_RUN_TIMEOUT, Config, parse_config
from feeds.errors import ConfigError, FeedmillError, SourceBusy, UnknownSource
from feeds.runprotocol import MARKER, PARENT_PID_ENV, RUN_LOG_DIR_ENV, TIMEOUTS_ENV
from feeds.store import RUN_COUNTS, STORE_FILE, Run
from feeds.stores import Store, open_store

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
DEFAULT_GRACE = 10.0
LOG_TAIL_LINES = 50
_LOG_TAIL_BYTES = 64 * 1024
_BATCH_LOG_BYTES = 8 * 1024 * 1024  # a batch's log is cut into one part per run
_FINISHED_KEPT = 1000  # outcomes of ended runs kept for wait()

# Runs the service starts itself; when a scheduler starts leading, any of them still
# "running" without a live child here was cut off (its child died with its parent).
SERVICE_TRIGGERS = ("schedule", "api", "dashboard", "startup", "retry")
INTERRUPTED = "the service stopped before the run ended"

CommandFor = Callable[[list[str], dict[str, int]], list[str]]
TimeoutFor = Callable[[str], float]


@dataclass(frozen=True)
class NextRun:
    """A scheduled run's source's next time, recorded together with the run."""

    at: datetime | None


class RunError(FeedmillError):
    """A run could not be started (the child process did not spawn)."""


class ShuttingDown(FeedmillError):
    """The run manager is shutting down and starts nothing more."""


def crawler_command(sources: list[str], run_ids: dict[str, int]) -> list[str]:
    """The child that crawls ``sources`` in turn: ``python -m crawler.run`` with their runs."""
    return [
        sys.executable,
        "-m",
        "crawler.run",
        "-s",
        f"FEEDMILL_RUN_IDS={json.dumps(run_ids)}",
        "-s",
        "LOG_LEVEL=INFO",
        *sources,
    ]


@dataclass(eq=False)
class _Run:
    source: str
    trigger: str
    run_id: int | None = None
    batch: _Batch | None = None
    started: float = field(default_factory=time.monotonic)
    timeout: float = DEFAULT_TIMEOUT
    done: asyncio.Future[str] | None = None
    next_run: NextRun | None = None


@dataclass(eq=False)
class _Batch:
    """Runs that share one child process (a single run is a batch of one)."""

    runs: list[_Run]
    opened: float = field(default_factory=time.monotonic)
    sealed: bool = False  # no more runs join it (full, or handed to a child)
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    stop_reason: str | None = None  # "timeout" or "cancelled" once the manager stops it
    stop_error: str = ""
    term_sent: bool = False
    spawned: asyncio.Future[None] | None = None

    @property
    def timeout(self) -> float:
        """The child's hard limit: its sources run one after another."""
        return sum(run.timeout for run in self.runs)


class RunBook:
    """What both run managers share: the run records in the store, the outcomes of
    ended runs kept for :meth:`wait`, and each source's time limit.

    A subclass sets ``config``, ``database``, ``default_timeout`` and ``_timeout_for``,
    and keeps its runs under way in ``_runs`` (by source) and ``_by_id``; each run has
    ``source``, ``run_id`` and a ``done`` future.
    """

    config: Config
    database: str | Path
    default_timeout: float
    _timeout_for: TimeoutFor | float | None
    _runs: dict[str, Any]
    _by_id: dict[int, Any]
    _finished: OrderedDict[int, str]
    _closing: bool

    def timeout_for(self, source: str) -> float:
        """Seconds a run of ``source`` may take: ``timeout_for`` when given, else the
        source's ``timeout`` in feedmill.toml when it sets one, else ``default_timeout``."""
        value = self._timeout_for
        if value is not None:
            return float(value(source) if callable(value) else value)
        configured = getattr(self.config.sources.get(source), "timeout", None)
        if configured is not None and configured != DEFAULT_RUN_TIMEOUT:
            return configured.total_seconds()
        return self.default_timeout

    def _check_startable(self, source: str) -> None:
        """ShuttingDown once the manager is closing; UnknownSource for a source the
        config does not have."""
        if self._closing:
            raise ShuttingDown("feedmill is shutting down: no new runs")
        if source not in self.config.sources:
            known = ", ".join(self.config.sources) or "none"
            raise UnknownSource(f"{self.config.path}: no source named {source!r} (known: {known})")

    async def wait(self, run_id: int) -> str:
        """The outcome of run ``run_id`` once it has ended (KeyError for an unknown id)."""
        run = self._by_id.get(run_id)
        if run is not None and run.done is not None:
            return await asyncio.shield(run.done)
        if run_id in self._finished:
            return self._finished[run_id]
        row = await asyncio.to_thread(self._get_run, run_id)
        if row is None:
            raise KeyError(f"no run {run_id}")
        if row.outcome == "running":
            raise KeyError(f"run {run_id} is not one this manager follows")
        return row.outcome

    def _end(self, run: Any, outcome: str) -> None:
        if self._runs.get(run.source) is run:
            del self._runs[run.source]
        if run.run_id is not None:
            self._by_id.pop(run.run_id, None)
            self._finished[run.run_id] = outcome
            while len(self._finished) > _FINISHED_KEPT:
                self._finished.popitem(last=False)
        if run.done is not None and not run.done.done():
            run.done.set_result(outcome)

    # -- store access (worker threads) -------------------------------------------------

    def _store(self) -> Store:
        return open_store(self.database)

    def _start_run(self, source: str, trigger: str, next_run: NextRun | None = None) -> int:
        """Record the run; with ``next_run`` (a scheduled run) also the source's next
        scheduled time, in the same transaction: a scheduler that dies at any point
        leaves either both (the run is on record, and a new leader settles it) or
        neither (the run is still due), never a schedule moved on without its run."""
        with self._store() as store, store.transaction():
            if next_run is not None:
                store.save_schedule_state({source: next_run.at})
            return store.start_run(source, trigger=trigger)

    def _get_run(self, run_id: int) -> Run | None:
        with self._store() as store:
            return store.get_run(run_id)


class RunManager(RunBook):
    """Starts runs of sources in child processes and sees them to their end.

    Runs that are asked for within ``batch_window`` seconds of each other share one
    child (up to ``batch_size`` of them; ``python -m crawler.run`` crawls them in turn),
    and at most ``max_children`` children run at once; a batch waiting for a free slot
    keeps taking runs until it is full. Starting Python with Scrapy costs about half a
    second of CPU, which batching pays once per batch instead of once per source. The
    defaults (window 0, batch of 1, no limit) give every run its own child at once.

    ``command_for(sources, run_ids)`` builds the child's command line (default:
    :func:`crawler_command`); tests substitute processes that hang or crash.
    ``timeout_for`` is a number of seconds or ``source -> seconds`` (default: the
    source's ``timeout`` in feedmill.toml if it sets one, else ``default_timeout``). A
    batched child gets each source's timeout (the crawl is closed in the child) and the
    sum as its own limit; at the limit the child gets SIGTERM, then SIGKILL after
    ``grace`` seconds.
    """

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        grace: float = DEFAULT_GRACE,
        default_timeout: float = DEFAULT_TIMEOUT,
        timeout_for: TimeoutFor | float | None = None,
        command_for: CommandFor | None = None,
        batch_window: float = 0.0,
        batch_size: int = 1,
        max_children: int | None = None,
        database: str | Path | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir).absolute()
        # A database URL, or the SQLite file in the data directory (the default).
        self.database: str | Path = database or self.data_dir / STORE_FILE
        self.grace = grace
        self.default_timeout = default_timeout
        self._timeout_for = timeout_for
        self.command_for: CommandFor = command_for or crawler_command
        self.batch_window = max(0.0, batch_window)
        self.batch_size = max(1, batch_size)
        self.max_children = max_children if max_children and max_children > 0 else None
        self._runs: dict[str, _Run] = {}  # source -> its run under way (or being started)
        self._by_id: dict[int, _Run] = {}
        self._finished: OrderedDict[int, str] = OrderedDict()
        self._queue: deque[_Batch] = deque()  # batches waiting for a child
        self._active: set[_Batch] = set()  # batches with a child (or spawning one)
        self._timer: asyncio.TimerHandle | None = None
        self._launches: set[asyncio.Future[object]] = set()  # recording + spawning
        self._tasks: set[asyncio.Future[object]] = set()  # supervisors and stops
        self._closing = False
        self.children_started = 0
        self._batching_from_config = False
        # Create the store (schema, WAL) now rather than in the first run's thread.
        open_store(self.database).close()
        self._config_text: bytes | None = None
        self._capture_config_text(config)

    # -- configuration -----------------------------------------------------------------

    @classmethod
    def for_service(
        cls, config: Config, data_dir: Path, *, grace: float, database: str | Path | None = None
    ) -> RunManager:
        """The manager ``feedmill serve`` uses: batching and workers from feedmill.toml."""
        manager = cls(config, data_dir, grace=grace, database=database)
        manager._batching_from_config = True
        manager._apply_batching(config)
        return manager

    def update_config(self, config: Config) -> None:
        """Use ``config`` for runs started from now on; runs under way are left alone."""
        self.config = config
        self._capture_config_text(config)
        if self._batching_from_config:
            self._apply_batching(config)

    def _apply_batching(self, config: Config) -> None:
        self.batch_window = config.batch_window.total_seconds()
        self.batch_size = config.batch_size
        self.max_children = config.workers

    def _capture_config_text(self, config: Config) -> None:
        """Remember the bytes of the file ``config`` was loaded from (see child_config)."""
        try:
            data = Path(config.path).read_bytes()
            same = parse_config(tomllib.loads(data.decode("utf-8")), config.path) == config
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError):
            same = False
        # Changed again since it was loaded (the watcher will reload it): no snapshot.
        self._config_text = data if same else None

    def child_config(self) -> Path:
        """The config file a child should read: the one in force.

        A child loads feedmill.toml itself. When the file on disk is no longer the one
        in force (a bad edit was rejected, or a good one is not applied yet), the text in
        force is written beside it as ``.<name>.in-force`` (same folder, so relative
        paths resolve the same) and the child reads that instead.
        """
        path = Path(self.config.path).absolute()
        snapshot = path.with_name(f".{path.name}.in-force")
        try:
            current: bytes | None = path.read_bytes()
        except OSError:
            current = None
        if self._config_text is None or current == self._config_text:
            with contextlib.suppress(OSError):
                snapshot.unlink(missing_ok=True)
            return path
        try:
            if not snapshot.exists() or snapshot.read_bytes() != self._config_text:
                partial = snapshot.with_name(snapshot.name + ".tmp")
                partial.write_bytes(self._config_text)
                partial.replace(snapshot)
        except OSError as exc:
            logger.warning("cannot keep the config in force in %s: %s", snapshot, exc)
            return path
        logger.info("%s differs from the config in force: the run reads %s", path, snapshot)
        return snapshot

    # -- runs --------------------------------------------------------------------------

    async def start(self, source: str, trigger: str, *, next_run: NextRun | None = None) -> int:
        """Record a run of ``source`` and see its child spawned; returns the run id.

        Raises UnknownSource for a source the config does not have, SourceBusy while a
        run of it is under way or waiting for its batch (a second request is refused,
        never queued). Cancelling the caller after this began does not abandon the run.
        ``next_run`` is recorded with the run (see :meth:`RunBook._start_run`).
        """
        self._check_startable(source)
        current = self._runs.get(source)
        if current is not None:
            since = time.monotonic() - current.started
            what = f"run {current.run_id}" if current.run_id is not None else "a run"
            raise SourceBusy(
                f"source {source!r} is busy: {what} ({current.trigger}) started {since:.0f}s "
                "ago is still under way; try again when it has ended"
            )
        run = _Run(source, trigger, timeout=self.timeout_for(source), next_run=next_run)
        self._runs[source] = run  # reserved before the first await: no second run slips in
        launch = asyncio.ensure_future(self._launch(run))
        self._keep(launch, self._launches)
        return await asyncio.shield(launch)

    def running(self) -> dict[str, int]:
        """Source -> id of its run under way (or waiting for its batch's child)."""
        return {s: r.run_id for s, r in self._runs.items() if r.run_id is not None}

    def child_pid(self, source: str) -> int | None:
        """The pid of the child crawling ``source`` now (None: not running, or waiting)."""
        run = self._runs.get(source)
        process = run.batch.process if run is not None and run.batch is not None else None
        return process.pid if process is not None else None

    def children(self) -> int:
        """Child processes running now."""
        return sum(1 for batch in self._active if batch.process is not None)

    async def adopt(self) -> int:
        """Start leading: record the local runs a previous scheduler left "running" as
        interrupted (its children died with it); returns how many. Runs this manager
        has under way, and runs on Scrapyd nodes, are left alone."""
        mine = set(self._by_id)

        def interrupt() -> int:
            with self._store() as store:
                stale = [
                    run
                    for run in store.runs_under_way()
                    if run.trigger in SERVICE_TRIGGERS and not run.node and run.id not in mine
                ]
                for run in stale:
                    store.finish_run(run.id, "interrupted", error=INTERRUPTED)
                return len(stale)

        count = await asyncio.to_thread(interrupt)
        if count:
            logger.warning("%d run(s) were cut off when the last scheduler stopped", count)
        return count

    async def release(self) -> None:
        """This process stopped leading; nothing is stopped here. Its children finish and
        record their own ends. (The new leader records their rows interrupted when it
        takes over; a child that ends after that records its real outcome over it.)"""

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop every run: SIGTERM, up to ``grace`` seconds, then SIGKILL; record them.

        Runs still waiting for a child are recorded as cancelled without one.
        """
        self._closing = True
        grace = self.grace if grace is None else grace
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting = list(self._queue)
        self._queue.clear()
        for batch in waiting:
            batch.sealed = True
            await self._abandon(batch, "cancelled", "feedmill shut down before the run began")
        launching = [t for t in self._launches if not t.done()]
        if launching:
            await asyncio.gather(*launching, return_exceptions=True)
        batches = [b for b in self._active if b.process is not None]
        if batches:
            logger.info("shutting down: stopping %d crawler process(es)", len(batches))
        await asyncio.gather(
            *(
                self._stop(b, "cancelled", "feedmill shut down during the run", grace)
                for b in batches
            )
        )
        pending = [r.done for b in batches for r in b.runs if r.done is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        remaining = [t for t in self._tasks if not t.done()]
        if remaining:
            await asyncio.gather(*remaining, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------

    def _keep(self, task: asyncio.Future[object], into: set | None = None) -> None:
        """Hold a reference to ``task`` until it ends (the loop keeps only weak ones)."""
        tasks = self._tasks if into is None else into
        tasks.add(task)
        task.add_done_callback(_consume)
        task.add_done_callback(tasks.discard)

    async def _launch(self, run: _Run) -> int:
        """Record the start, put the run in a batch, wait until its child is spawned."""
        try:
            run.run_id = await asyncio.to_thread(
                self._start_run, run.source, run.trigger, run.next_run
            )
        except BaseException:
            self._runs.pop(run.source, None)
            raise
        run_id = run.run_id
        self._by_id[run_id] = run
        run.done = asyncio.get_running_loop().create_future()
        batch = self._join_batch(run)
        assert batch.spawned is not None
        await asyncio.shield(batch.spawned)  # RunError when the child could not start
        return run_id

    def _join_batch(self, run: _Run) -> _Batch:
        """Add ``run`` to the open batch (opening one if none), then dispatch."""
        batch = self._queue[-1] if self._queue and not self._queue[-1].sealed else None
        if batch is None:
            batch = _Batch(runs=[])
            batch.spawned = asyncio.get_running_loop().create_future()
            batch.spawned.add_done_callback(_consume)
            self._queue.append(batch)
        batch.runs.append(run)
        run.batch = batch
        if len(batch.runs) >= self.batch_size or run.trigger != "schedule":
            # Full; or someone asked for this run (API, dashboard) and is waiting for it:
            # the batch goes with what it has gathered so far.
            batch.sealed = True
        self._dispatch()
        return batch

    def _dispatch(self) -> None:
        """Hand waiting batches to children while there are free slots."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = time.monotonic()
        while self._queue:
            batch = self._queue[0]
            ready = batch.sealed or self._closing or now - batch.opened >= self.batch_window
            if not ready:
                delay = self.batch_window - (now - batch.opened)
                self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
                return
            if self.max_children is not None and len(self._active) >= self.max_children:
                return  # a child's end dispatches again; meanwhile the batch keeps growing
            self._queue.popleft()
            batch.sealed = True
            self._active.add(batch)
            task = asyncio.ensure_future(self._run_batch(batch))
            self._keep(task, self._launches)

    async def _run_batch(self, batch: _Batch) -> None:
        """Spawn the batch's child and hand it to a supervisor task."""
        assert batch.spawned is not None
        runs = batch.runs
        run_ids = {r.source: r.run_id for r in runs if r.run_id is not None}
        first = runs[0]
        if len(runs) == 1:
            batch.log_path = self.data_dir / "logs" / first.source / f"{first.run_id}.log"
        else:
            batch.log_path = self.data_dir / "logs" / "batches" / f"{first.run_id}.log"
        for run in runs:
            run.started = time.monotonic()
        try:
            command = self.command_for([r.source for r in runs], run_ids)
            timeouts = {r.source: r.timeout for r in runs} if len(runs) > 1 else {}
            batch.process = await self._spawn(command, batch.log_path, timeouts)
        except Exception as exc:
            error = f"cannot start the crawler process: {exc}"
            for run in runs:
                logger.error("run %d of source %r: %s", run.run_id, run.source, error)
            try:
                await asyncio.to_thread(self._record_failure, list(run_ids.values()), error)
            except Exception:
                logger.exception("runs %s: cannot record their end", list(run_ids.values()))
            finally:
                self._finish_batch(batch, dict.fromkeys(run_ids.values(), "failed"))
            names = ", ".join(repr(r.source) for r in runs)
            batch.spawned.set_exception(RunError(f"source {names}: {error}"))
            return
        self.children_started += 1
        batch.spawned.set_result(None)
        for run in runs:
            logger.info(
                "run %d of source %r started (%s, pid %d%s, timeout %gs)",
                run.run_id,
                run.source,
                run.trigger,
                batch.process.pid,
                f", batch of {len(runs)}" if len(runs) > 1 else "",
                run.timeout,
            )
        self._keep(asyncio.ensure_future(self._supervise(batch)))
        if self._closing:  # shutdown began while this one was being started
            self._keep(
                asyncio.ensure_future(
                    self._stop(batch, "cancelled", "feedmill shut down during the run", self.grace)
                )
            )

    async def _abandon(self, batch: _Batch, outcome: str, error: str) -> None:
        """Record the runs of a batch that never got a child."""
        ids = [r.run_id for r in batch.runs if r.run_id is not None]
        try:
            await asyncio.to_thread(self._record_failure, ids, error, outcome)
        except Exception:
            logger.exception("runs %s: cannot record their end", ids)
        finally:
            self._finish_batch(batch, dict.fromkeys(ids, outcome))
        if batch.spawned is not None and not batch.spawned.done():
            batch.spawned.set_exception(ShuttingDown(error))

    async def _spawn(
        self, command: list[str], log_path: Path, timeouts: dict[str, float]
    ) -> asyncio.subprocess.Process:
        env = dict(
            os.environ,
            FEEDMILL_CONFIG=str(self.child_config()),
            FEEDMILL_DATA_DIR=str(self.data_dir),
        )
        env[DATABASE_URL_ENV] = str(self.database)
        env[TIMEOUTS_ENV] = json.dumps(timeouts)
        env[RUN_LOG_DIR_ENV] = str(self.data_dir / "logs")
        # The child dies with this process (crawler.run asks the kernel to SIGKILL it):
        # after a kill -9 of the service no crawl goes on unsupervised.
        env[PARENT_PID_ENV] = str(os.getpid())
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            return await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                # Its own process group: a Ctrl-C at the server's terminal does not reach
                # the children behind the manager's back, and a stop reaches the whole group.
                start_new_session=True,
            )

    async def _supervise(self, batch: _Batch) -> None:
        """Wait for the child (stopping it at the timeout), then close the runs' records."""
        assert batch.process is not None
        outcomes: dict[int, str] = {}
        try:
            try:
                returncode = await asyncio.wait_for(batch.process.wait(), batch.timeout)
            except TimeoutError:
                error = f"timed out after {batch.timeout:g}s"
                for run in batch.runs:
                    logger.warning(
                        "run %d of source %r %s: stopping it", run.run_id, run.source, error
                    )
                await self._stop(batch, "timeout", error, self.grace)
                returncode = await batch.process.wait()
            outcomes = await asyncio.to_thread(self._close_runs, batch, returncode)
            # A writer killed mid-write (this child at a timeout, or a child of a service
            # that was killed, still dying when the new one swept at start-up) leaves a
            # feed temp file that no later write may clean up; one listing per batch.
            await asyncio.to_thread(remove_abandoned, feeds_dir(self.data_dir))
        except Exception:
            logger.exception("runs of %s: cannot record their end", [r.source for r in batch.runs])
        finally:
            self._finish_batch(batch, outcomes)

    async def _stop(self, batch: _Batch, reason: str, error: str, grace: float) -> None:
        """SIGTERM the child's group; SIGKILL it if it is still there after ``grace``."""
        process = batch.process
        if process is None or process.returncode is not None:
            return
        if batch.stop_reason is None:
            batch.stop_reason, batch.stop_error = reason, error
        if not batch.term_sent:
            batch.term_sent = True
            _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            logger.warning(
                "crawler process %d (%s): still running %gs after SIGTERM, killing it",
                process.pid,
                ", ".join(r.source for r in batch.runs),
                grace,
            )
            _signal_group(process, signal.SIGKILL)
            await process.wait()

    def _finish_batch(self, batch: _Batch, outcomes: dict[int, str]) -> None:
        """End every run of the batch (``failed`` where no outcome is known), free its slot."""
        self._active.discard(batch)
        for run in batch.runs:
            self._end(run, outcomes.get(run.run_id or -1, "failed"))
        if not self._closing:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to dispatch
                asyncio.get_running_loop()
                self._dispatch()

    # -- store access (worker threads) -------------------------------------------------

    def _record_failure(self, run_ids: list[int], error: str, outcome: str = "failed") -> None:
        with self._store() as store:
            for run_id in run_ids:
                store.finish_run(run_id, outcome, error=error)

    def _close_runs(self, batch: _Batch, returncode: int) -> dict[int, str]:
        """Finish the run rows the child did not, attach the log tails; the outcomes."""
        limit = _BATCH_LOG_BYTES if len(batch.runs) > 1 else _LOG_TAIL_BYTES
        text = read_log_tail(batch.log_path, None, limit) if batch.log_path else ""
        tails = split_batch_log(text, [r.source for r in batch.runs])
        if len(batch.runs) > 1:
            # A batch child writes each run's own records to logs/<source>/<id>.log too
            # (its crawls may run side by side); the batch log's part is the fallback.
            for run in batch.runs:
                own = self.data_dir / "logs" / run.source / f"{run.run_id}.log"
                if own.exists():
                    tails[run.source] = read_log_tail(own)
        status = _describe_status(returncode)
        outcomes: dict[int, str] = {}
        with self._store() as store:
            for run in batch.runs:
                assert run.run_id is not None
                tail = tails.get(run.source, "")
                row = store.get_run(run.run_id)
                if row is None:
                    logger.error(
                        "run %d of source %r vanished from the store", run.run_id, run.source
                    )
                    outcomes[run.run_id] = "failed"
                    continue
                if row.outcome == "running" or (
                    batch.stop_reason == "timeout" and row.outcome == "cancelled"
                ):
                    # The child died before recording the end, or recorded a SIGTERM as
                    # "cancelled" when it was the timeout that stopped it.
                    outcome = batch.stop_reason or "failed"
                    if batch.stop_reason:
                        error = f"{batch.stop_error}; the crawler process {status}"
                    else:
                        error = f"the crawler process {status} before the run ended"
                    counts = {name: getattr(row, name) for name in RUN_COUNTS}
                    store.finish_run(run.run_id, outcome, counts, error=error, log_tail=tail)
                else:
                    if returncode != 0:
                        logger.warning(
                            "run %d of source %r: recorded %s, but the crawler process %s",
                            run.run_id,
                            run.source,
                            row.outcome,
                            status,
                        )
                    store.set_log_tail(run.run_id, tail)
                final = store.get_run(run.run_id)
                assert final is not None
                outcomes[run.run_id] = final.outcome
                logger.info(
                    "run %d of source %r ended: %s; fetched %d, new %d, updated %d, "
                    "unchanged %d, failed %d (%.1fs)%s",
                    final.id,
                    final.source,
                    final.outcome,
                    *(getattr(final, name) for name in RUN_COUNTS),
                    time.monotonic() - run.started,
                    f": {final.error}" if final.error and final.outcome != "ok" else "",
                )
        return outcomes


def split_batch_log(text: str, sources: list[str], lines: int = LOG_TAIL_LINES) -> dict[str, str]:
    """Each source's part of a batch child's log (from its ``crawler.run`` marker to the
    next one), its last ``lines`` lines; a batch of one gets the whole log's tail."""
    all_lines = text.splitlines()
    if len(sources) == 1:
        return {sources[0]: "\n".join(all_lines[-lines:])}
    markers = {MARKER.format(source=name): name for name in sources}
    parts: dict[str, list[str]] = {name: [] for name in sources}
    current: str | None = None
    for line in all_lines:
        for marker, name in markers.items():
            if line.endswith(marker):
                current = name
                break
        if current is not None:
            parts[current].append(line)
    return {name: "\n".join(part[-lines:]) for name, part in parts.items()}


def read_log_tail(
    path: Path, lines: int | None = LOG_TAIL_LINES, max_bytes: int = _LOG_TAIL_BYTES
) -> str:
    """The last ``lines`` lines (all of its last 64 KiB when None) of a log file ("" when
    it cannot be read)."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - max_bytes))
            data = log.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if lines is None else "\n".join(text.splitlines()[-lines:])


def _describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (exit status {returncode})"
    return f"exited with status {returncode}"


def _consume(task: asyncio.Future[object]) -> None:
    """Retrieve a finished task's exception: a caller that was cancelled while a launch
    went on no longer awaits it, and the failure was already logged."""
    if not task.cancelled():
        task.exception()


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
