"""Which ``feedmill serve`` process runs the scheduler.

Several serve processes may share one store. All of them serve feeds, but only one may
start scheduled runs, or every run would happen once per process. :class:`Leadership`
elects that one and tells the service, through ``on_change(is_leader)``, each time this
process becomes or stops being the leader:

- :class:`PostgresLeadership` (store in PostgreSQL, processes on several machines): a
  session-level advisory lock held on a dedicated connection. PostgreSQL drops the lock
  the moment that connection ends, so a killed leader's lock is free at once and a
  standby, retrying every ``interval``, takes over.
- :class:`FileLeadership` (embedded SQLite store, one machine): ``flock`` on
  ``<data_dir>/scheduler.lock``. The kernel drops it when the holder exits, however it
  exits.

:func:`leadership_for` picks the one that matches the store's URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import inspect
import logging
import math
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # psycopg is only needed (and imported) for a PostgreSQL store
    import psycopg

logger = logging.getLogger(__name__)

OnChange = Callable[[bool], Awaitable[None] | None]

POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
DEFAULT_KEY = "feedmill-scheduler"
LOCK_FILE = "scheduler.lock"


def default_identity() -> str:
    """``host:pid``: enough to find the leading process from a standby's dashboard."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


class Leadership:
    """Who schedules. :meth:`start` begins trying; ``on_change(is_leader)`` is called (in
    the event loop) each time this process becomes or stops being the leader.

    A process that never leads is never told ``False``: standby is where every process
    starts. The callback may be a plain function or a coroutine function; whatever it
    raises is logged, never propagated, so a faulty callback cannot stop the election.
    Subclasses provide ``_acquire`` / ``_verify`` / ``_release``.
    """

    backend = ""

    def __init__(
        self, on_change: OnChange, *, interval: float = 2.0, identity: str | None = None
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.on_change = on_change
        self.interval = interval
        self.identity = identity or default_identity()
        self._leader = False
        self._holder: str | None = None  # who leads, as last seen from here
        self._since = _now()
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader

    def describe(self) -> dict[str, Any]:
        """For health checks and the dashboard: this process's role and who leads."""
        return {
            "role": "leader" if self._leader else "standby",
            "holder": self.identity if self._leader else self._holder,
            "since": self._since.isoformat(timespec="seconds"),
            "backend": self.backend,
        }

    async def start(self) -> None:
        """Try once now (so a lone process leads before this returns), then keep trying
        (or, as leader, keep checking) every ``interval`` in a background task."""
        if self._task is not None:
            return
        logger.info("scheduler election (%s): %s starts as standby", self._where(), self.identity)
        await self._tick(first=True)
        self._task = asyncio.create_task(self._run(), name=f"leadership:{self.identity}")

    async def stop(self) -> None:
        """Stop trying and let go of the lock; ``on_change(False)`` if this was leader."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._step_down("stopped")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._tick(first=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the election for good
                logger.exception("scheduler election (%s): unexpected error", self._where())
                await self._step_down("unexpected error")

    async def _tick(self, *, first: bool) -> None:
        if self._leader:
            reason = await self._verify()
            if reason is not None:
                await self._step_down(reason)
        elif await self._acquire(first=first):
            await self._set_leader(True, reason="lock taken")

    async def _step_down(self, reason: str) -> None:
        """Tell the service to stop scheduling, then free the lock: in that order, so a
        successor never starts while this process may still schedule."""
        try:
            if self._leader:
                await self._set_leader(False, reason=reason)
        finally:
            await self._release()

    async def _set_leader(self, leader: bool, *, reason: str) -> None:
        """Record the new role first (so the callback sees it), then tell the service."""
        self._leader = leader
        self._since = _now()
        if leader:
            self._holder = self.identity
            logger.info("scheduler election (%s): %s is the leader", self._where(), self.identity)
        else:
            self._holder = None
            logger.info(
                "scheduler election (%s): %s is standby (%s)", self._where(), self.identity, reason
            )
        try:
            outcome = self.on_change(leader)
            if inspect.isawaitable(outcome):
                await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("scheduler election: on_change(%s) failed", leader)

    # -- for subclasses -----------------------------------------------------------------

    def _where(self) -> str:
        return self.backend

    async def _acquire(self, *, first: bool) -> bool:
        """Try to take the lock without waiting; note the holder (``_holder``) if not."""
        raise NotImplementedError

    async def _verify(self) -> str | None:
        """None while the lock is surely still ours, else why it may not be."""
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError


# -- PostgreSQL ---------------------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` without its password, for logs."""
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)


def advisory_key(key: str, database: str) -> int:
    """The advisory lock's bigint: the first 8 bytes of sha256 of the database and
    ``key``, as a signed int64, so every node computes the same number."""
    digest = hashlib.sha256(f"{database}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Session:
    """The lock connection, used by one worker thread at a time.

    An operation that outlives its time limit (a dead network) keeps its thread; the
    event loop gives up on it and closes the connection through :meth:`close`, which
    waits for that operation to return, so no two threads ever touch the connection
    at once.
    """

    def __init__(self, conn: psycopg.Connection[Any], lock_key: int) -> None:
        self.conn = conn
        self.lock_key = lock_key
        self._lock = threading.Lock()

    def run(self, operation: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        with self._lock:
            return operation(self.conn)

    def close(self) -> None:
        """Close once the running operation (if any) returns; never raises."""
        with self._lock:
            try:
                self.conn.close()
            except Exception:
                logger.debug("closing the election connection failed", exc_info=True)


_HOLDER_SQL = """
SELECT a.application_name, a.pid
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = %s AND l.objid::bigint = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""
_HELD_SQL = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.pid = pg_backend_pid() AND l.classid::bigint = %s AND l.objid::bigint = %s
)
"""


def _split(lock_key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint advisory key: high 32 bits in classid, low in objid."""
    unsigned = lock_key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


class PostgresLeadership(Leadership):
    """Leader = holder of a session-level advisory lock in the store's database.

    The lock lives on a dedicated autocommit connection, used only in worker threads,
    each call bounded in time, so the event loop never waits on the network. Standby:
    every ``interval``, ``pg_try_advisory_lock`` and, failing that, look up the holder
    (its ``application_name`` is its identity). Leader: every ``interval``, check that
    the connection still holds the lock; if the check fails or times out, step down at
    once, because PostgreSQL frees the lock of a connection it has lost and another node
    will lead.

    A standby that takes the lock waits one more ``interval`` before it calls itself
    leader: a leader whose connection was cut (``pg_terminate_backend``, a server
    restart) only learns it at its next check, at most one ``interval`` later, and
    without the wait both would schedule for that moment. Only the first attempt, in
    :meth:`start`, skips the wait, so a lone process leads at once. Takeover after a
    leader dies therefore takes one to two intervals.

    Session locks need a session: behind a pooler in transaction mode (pgbouncer) this
    does not hold; connect to PostgreSQL directly. A leader cut off by the network is
    only released once the server notices the dead connection (its own
    ``tcp_keepalives_*`` settings); until then no other node leads, and this one has
    already stepped down, so nothing is scheduled twice.
    """

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        on_change: OnChange,
        *,
        interval: float = 2.0,
        key: str = DEFAULT_KEY,
        connect_timeout: float = 5.0,
        identity: str | None = None,
    ) -> None:
        super().__init__(on_change, interval=interval, identity=identity)
        if url.startswith("postgresql+psycopg://"):
            url = "postgresql://" + url[len("postgresql+psycopg://") :]
        self.url = url
        self.key = key
        self.connect_timeout = connect_timeout
        # How long one query may take before the node counts the database as lost.
        self.query_timeout = max(2.0, 2 * interval)
        self._session: _Session | None = None
        self._failing: str | None = None  # the last connection error, logged once

    def _where(self) -> str:
        return f"postgresql {redact(self.url)}"

    def _connect(self) -> _Session:
        import psycopg

        timeout_ms = int(self.query_timeout * 1000)
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(2, math.ceil(self.connect_timeout)),
            application_name=self.identity[:63],
            # a dead peer must end the connection in seconds, not hours
            keepalives=1,
            keepalives_idle=max(1, math.ceil(self.interval)),
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=timeout_ms,
        )
        try:
            conn.execute(f"SET statement_timeout = {timeout_ms}")
            lock_key = advisory_key(self.key, conn.info.dbname)
        except BaseException:
            conn.close()
            raise
        return _Session(conn, lock_key)

    async def _in_thread(
        self,
        function: Callable[[], Any],
        timeout: float,
        dispose: Callable[[Any], None] | None = None,
    ) -> Any:
        """``function()`` in a worker thread; TimeoutError after ``timeout`` seconds.

        A thread cannot be cancelled: one that overruns is left to finish (its result,
        if it comes, goes to ``dispose``), and a cancelled caller leaves it running too.
        """
        future = asyncio.get_running_loop().run_in_executor(None, function)
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:

            def late(finished: asyncio.Future[Any]) -> None:
                if not finished.cancelled() and finished.exception() is None and dispose:
                    dispose(finished.result())

            future.add_done_callback(late)
            raise TimeoutError(f"no answer within {timeout:g} s")
        return future.result()

    async def _acquire(self, *, first: bool) -> bool:
        try:
            if self._session is None:
                self._session = await self._in_thread(
                    self._connect, self.connect_timeout + 2, dispose=_Session.close
                )
            session = self._session
            got = await self._try_lock(session)
            if self._failing is not None:
                logger.info("scheduler election (%s): database reachable again", self._where())
                self._failing = None
            if not got:
                return False
            if not first:
                await asyncio.sleep(self.interval)  # let a cut-off leader notice first
                if await self._held(session) is not True:
                    await self._release()
                    return False
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(exc)
            await self._release()
            return False

    async def _try_lock(self, session: _Session) -> bool:
        high, low = _split(session.lock_key)

        def attempt(conn: psycopg.Connection[Any]) -> tuple[bool, str | None]:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (session.lock_key,)).fetchone()
            if row and row[0]:
                return True, None
            holder = conn.execute(_HOLDER_SQL, (high, low)).fetchone()
            if holder is None:
                return False, None
            return False, holder[0] or f"pid {holder[1]}"

        got, holder = await self._in_thread(lambda: session.run(attempt), self.query_timeout)
        if not got:
            self._holder = holder
        return got

    async def _held(self, session: _Session) -> bool | None:
        """Whether ``session`` holds the lock; None if the connection failed."""
        high, low = _split(session.lock_key)

        def check(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(_HELD_SQL, (high, low)).fetchone()
            return bool(row and row[0])

        try:
            return bool(await self._in_thread(lambda: session.run(check), self.query_timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._lost(exc)
            return None

    async def _verify(self) -> str | None:
        session = self._session
        if session is None:
            return "no connection"
        held = await self._held(session)
        if held is None:
            return "lost the database connection"
        return None if held else "the lock is no longer held"

    async def _release(self) -> None:
        """Close the lock connection: that frees the lock, with no query to wait on."""
        session, self._session = self._session, None
        if session is None:
            return
        # Not awaited directly: the close goes on even if this wait is cut short (a stop()
        # that is itself cancelled, an operation still hung on the connection).
        future = asyncio.get_running_loop().run_in_executor(None, session.close)
        await asyncio.wait({future}, timeout=self.query_timeout)

    def _lost(self, exc: BaseException) -> None:
        reason = str(exc).strip() or type(exc).__name__
        if reason != self._failing:  # once per outage, not once per retry
            logger.warning(
                "scheduler election (%s): database unavailable (retrying every %g s): %s",
                self._where(),
                self.interval,
                reason,
            )
        self._failing = reason
        self._holder = None  # unknown until the database answers again


# -- one machine: a lock file -------------------------------------------------------------


class FileLeadership(Leadership):
    """Leader = holder of ``flock`` on ``path`` (serve processes on one machine).

    The lock belongs to the open file, which stays open while leading; the kernel drops
    it when the process exits, even by ``kill -9``. The file is opened close-on-exec (as
    Python opens every file), so crawler children never inherit it. The leader writes
    its identity into the file for standbys to show, and checks every ``interval`` that
    the path still names its file: if someone deleted or replaced it, a newcomer could
    lock the new file, so the leader steps down and competes again.
    """

    backend = "file"

    def __init__(
        self,
        path: Path,
        on_change: OnChange,
        *,
        interval: float = 2.0,
        identity: str | None = None,
    ) -> None:
        super().__init__(on_change, interval=interval, identity=identity)
        self.path = Path(path)
        self._fd: int | None = None

    def _where(self) -> str:
        return f"file {self.path}"

    async def _acquire(self, *, first: bool) -> bool:
        try:
            got, holder = await asyncio.to_thread(self._try_lock)
        except OSError as exc:
            logger.warning(
                "scheduler election (%s): cannot use the lock file, staying standby: %s",
                self._where(),
                exc,
            )
            return False
        if not got:
            self._holder = holder
        return got

    def _try_lock(self) -> tuple[bool, str | None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = self.path.read_text(encoding="utf-8").strip() or None
            except OSError:
                holder = None
            return False, holder
        except BaseException:
            os.close(fd)
            raise
        try:
            if not _same_file(fd, self.path):  # deleted between open and flock
                os.close(fd)
                return False, None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self.identity}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True, None

    async def _verify(self) -> str | None:
        fd = self._fd
        if fd is None:
            return "lock file closed"
        if await asyncio.to_thread(_same_file, fd, self.path):
            return None
        return "the lock file was removed or replaced"

    async def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)  # no stale name for standbys to show
        os.close(fd)  # drops the flock


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


def leadership_for(
    database_url: str | None,
    data_dir: Path,
    on_change: OnChange,
    *,
    interval: float = 2.0,
    key: str = DEFAULT_KEY,
) -> Leadership:
    """The election that fits the store: PostgreSQL URLs elect through the database,
    anything else (the embedded SQLite store) through ``data_dir / "scheduler.lock"``.

    ``key`` separates installations that share one PostgreSQL database (say, each in
    its own schema): each needs a key of its own, or only one of them schedules.
    """
    if database_url and database_url.strip().startswith(POSTGRES_PREFIXES):
        return PostgresLeadership(database_url.strip(), on_change, interval=interval, key=key)
    return FileLeadership(Path(data_dir) / LOCK_FILE, on_change, interval=interval)
