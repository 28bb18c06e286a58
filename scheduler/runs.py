"""Runs of sources as child processes, one at a time per source, with a timeout.

A run is ``python -m crawler.run ... SOURCE`` in a child process of its own (a crashing
or hanging spider stays contained, and this package never imports Scrapy). The run is
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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from feeds.config import DEFAULT_RUN_TIMEOUT, Config, parse_config
from feeds.errors import ConfigError, FeedmillError, SourceBusy, UnknownSource
from feeds.store import RUN_COUNTS, Run, SQLiteStore
from scheduler.state import set_log_tail

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
DEFAULT_GRACE = 10.0
LOG_TAIL_LINES = 50
_LOG_TAIL_BYTES = 64 * 1024
_FINISHED_KEPT = 1000  # outcomes of ended runs kept for wait()

CommandFor = Callable[[str, dict[str, int]], list[str]]
TimeoutFor = Callable[[str], float]


class RunError(FeedmillError):
    """A run could not be started (the child process did not spawn)."""


class ShuttingDown(FeedmillError):
    """The run manager is shutting down and starts nothing more."""


def crawler_command(source: str, run_ids: dict[str, int]) -> list[str]:
    """The child that crawls ``source``: ``python -m crawler.run`` with the recorded run."""
    return [
        sys.executable,
        "-m",
        "crawler.run",
        "-s",
        f"FEEDMILL_RUN_IDS={json.dumps(run_ids)}",
        "-s",
        "LOG_LEVEL=INFO",
        source,
    ]


@dataclass(eq=False)
class _Run:
    source: str
    trigger: str
    run_id: int | None = None
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    started: float = field(default_factory=time.monotonic)
    timeout: float = DEFAULT_TIMEOUT
    stop_reason: str | None = None  # "timeout" or "cancelled" once the manager stops it
    stop_error: str = ""
    term_sent: bool = False
    done: asyncio.Future[str] | None = None


class RunManager:
    """Starts runs of sources in child processes and sees them to their end.

    ``command_for(source, run_ids)`` builds the child's command line (default:
    :func:`crawler_command`); tests substitute processes that hang or crash.
    ``timeout_for`` is a number of seconds or ``source -> seconds`` (default: the
    source's ``timeout`` in feedmill.toml if it sets one, else ``default_timeout``); at
    the timeout the child gets SIGTERM, then SIGKILL after ``grace`` seconds.
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
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir).absolute()
        self.store_path = SQLiteStore.in_data_dir(self.data_dir).path
        self.grace = grace
        self.default_timeout = default_timeout
        self._timeout_for = timeout_for
        self.command_for: CommandFor = command_for or crawler_command
        self._runs: dict[str, _Run] = {}  # source -> its run under way (or being started)
        self._by_id: dict[int, _Run] = {}
        self._finished: OrderedDict[int, str] = OrderedDict()
        self._launches: set[asyncio.Future[object]] = set()  # recording + spawning
        self._tasks: set[asyncio.Future[object]] = set()  # supervisors and stops
        self._closing = False
        # Create the store (schema, WAL) now rather than in the first run's thread.
        SQLiteStore.in_data_dir(self.data_dir).close()
        self._config_text: bytes | None = None
        self._capture_config_text(config)

    # -- configuration -----------------------------------------------------------------

    def update_config(self, config: Config) -> None:
        """Use ``config`` for runs started from now on; runs under way are left alone."""
        self.config = config
        self._capture_config_text(config)

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

    # -- runs --------------------------------------------------------------------------

    async def start(self, source: str, trigger: str) -> int:
        """Record a run of ``source`` and spawn its child; returns the run id.

        Raises UnknownSource for a source the config does not have, SourceBusy while a
        run of it is under way (a second request is refused, never queued). Cancelling
        the caller after this began does not abandon the run.
        """
        if self._closing:
            raise ShuttingDown("feedmill is shutting down: no new runs")
        if source not in self.config.sources:
            known = ", ".join(self.config.sources) or "none"
            raise UnknownSource(f"{self.config.path}: no source named {source!r} (known: {known})")
        current = self._runs.get(source)
        if current is not None:
            since = time.monotonic() - current.started
            what = f"run {current.run_id}" if current.run_id is not None else "a run"
            raise SourceBusy(
                f"source {source!r} is busy: {what} ({current.trigger}) started {since:.0f}s "
                "ago is still under way; try again when it has ended"
            )
        run = _Run(source=source, trigger=trigger, timeout=self.timeout_for(source))
        self._runs[source] = run  # reserved before the first await: no second run slips in
        launch = asyncio.ensure_future(self._launch(run))
        self._keep(launch, self._launches)
        return await asyncio.shield(launch)

    def running(self) -> dict[str, int]:
        """Source -> id of its run under way."""
        return {s: r.run_id for s, r in self._runs.items() if r.run_id is not None}

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
            raise KeyError(f"run {run_id} is not one this manager started")
        return row.outcome

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop every run: SIGTERM, up to ``grace`` seconds, then SIGKILL; record them."""
        self._closing = True
        grace = self.grace if grace is None else grace
        launching = [t for t in self._launches if not t.done()]
        if launching:
            await asyncio.gather(*launching, return_exceptions=True)
        runs = [r for r in self._runs.values() if r.process is not None]
        if runs:
            logger.info("shutting down: stopping %d run(s)", len(runs))
        await asyncio.gather(
            *(self._stop(r, "cancelled", "feedmill shut down during the run", grace) for r in runs)
        )
        pending = [r.done for r in runs if r.done is not None]
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
        """Record the start, spawn the child, hand it to a supervisor task."""
        try:
            run.run_id = await asyncio.to_thread(self._start_run, run.source, run.trigger)
        except BaseException:
            self._runs.pop(run.source, None)
            raise
        run_id = run.run_id
        self._by_id[run_id] = run
        run.done = asyncio.get_running_loop().create_future()
        run.log_path = self.data_dir / "logs" / run.source / f"{run_id}.log"
        try:
            command = self.command_for(run.source, {run.source: run_id})
            run.process = await self._spawn(command, run.log_path)
        except Exception as exc:
            error = f"cannot start the crawler process: {exc}"
            logger.error("run %d of source %r: %s", run_id, run.source, error)
            try:
                await asyncio.to_thread(self._record_spawn_failure, run_id, error)
            except Exception:
                logger.exception("run %d of source %r: cannot record its end", run_id, run.source)
            finally:
                self._end(run, "failed")
            raise RunError(f"source {run.source!r}: {error}") from exc
        logger.info(
            "run %d of source %r started (%s, pid %d, timeout %gs)",
            run_id,
            run.source,
            run.trigger,
            run.process.pid,
            run.timeout,
        )
        self._keep(asyncio.ensure_future(self._supervise(run)))
        if self._closing:  # shutdown began while this one was being started
            self._keep(
                asyncio.ensure_future(
                    self._stop(run, "cancelled", "feedmill shut down during the run", self.grace)
                )
            )
        return run_id

    async def _spawn(self, command: list[str], log_path: Path) -> asyncio.subprocess.Process:
        env = dict(
            os.environ,
            FEEDMILL_CONFIG=str(self.child_config()),
            FEEDMILL_DATA_DIR=str(self.data_dir),
        )
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

    async def _supervise(self, run: _Run) -> None:
        """Wait for the child (stopping it at the timeout), then close the run's record."""
        assert run.process is not None and run.run_id is not None
        outcome = "failed"
        try:
            try:
                returncode = await asyncio.wait_for(run.process.wait(), run.timeout)
            except TimeoutError:
                error = f"timed out after {run.timeout:g}s"
                logger.warning("run %d of source %r %s: stopping it", run.run_id, run.source, error)
                await self._stop(run, "timeout", error, self.grace)
                returncode = await run.process.wait()
            outcome = await asyncio.to_thread(self._close_run, run, returncode)
        except Exception:
            logger.exception("run %d of source %r: cannot record its end", run.run_id, run.source)
        finally:
            self._end(run, outcome)

    async def _stop(self, run: _Run, reason: str, error: str, grace: float) -> None:
        """SIGTERM the child's group; SIGKILL it if it is still there after ``grace``."""
        process = run.process
        if process is None or process.returncode is not None:
            return
        if run.stop_reason is None:
            run.stop_reason, run.stop_error = reason, error
        if not run.term_sent:
            run.term_sent = True
            _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            logger.warning(
                "run %d of source %r: still running %gs after SIGTERM, killing it",
                run.run_id,
                run.source,
                grace,
            )
            _signal_group(process, signal.SIGKILL)
            await process.wait()

    def _end(self, run: _Run, outcome: str) -> None:
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

    def _start_run(self, source: str, trigger: str) -> int:
        with SQLiteStore(self.store_path) as store:
            return store.start_run(source, trigger=trigger)

    def _get_run(self, run_id: int) -> Run | None:
        with SQLiteStore(self.store_path) as store:
            return store.get_run(run_id)

    def _record_spawn_failure(self, run_id: int, error: str) -> None:
        with SQLiteStore(self.store_path) as store:
            store.finish_run(run_id, "failed", error=error)

    def _close_run(self, run: _Run, returncode: int) -> str:
        """Finish the run row if the child did not, attach the log tail; the outcome."""
        assert run.run_id is not None
        tail = read_log_tail(run.log_path) if run.log_path else ""
        status = _describe_status(returncode)
        with SQLiteStore(self.store_path) as store:
            row = store.get_run(run.run_id)
            if row is None:
                logger.error("run %d of source %r vanished from the store", run.run_id, run.source)
                return "failed"
            if row.outcome == "running" or (
                run.stop_reason == "timeout" and row.outcome != "timeout"
            ):
                # The child died before recording the end, or recorded a SIGTERM as
                # "cancelled" when it was the timeout that stopped it.
                outcome = run.stop_reason or "failed"
                if run.stop_reason:
                    error = f"{run.stop_error}; the crawler process {status}"
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
                set_log_tail(self.store_path, run.run_id, tail)
            final = store.get_run(run.run_id)
        assert final is not None
        logger.info(
            "run %d of source %r ended: %s; fetched %d, new %d, updated %d, unchanged %d, "
            "failed %d (%.1fs)%s",
            final.id,
            final.source,
            final.outcome,
            *(getattr(final, name) for name in RUN_COUNTS),
            time.monotonic() - run.started,
            f": {final.error}" if final.error and final.outcome != "ok" else "",
        )
        return final.outcome


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" when it cannot be read)."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - _LOG_TAIL_BYTES))
            data = log.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


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
