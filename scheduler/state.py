"""The scheduler's own rows in the store's database file.

``feeds.store`` owns the article and run tables; the scheduler keeps one tiny table of
its own beside them, ``schedule_state``: each scheduled source's next run time, so that
after a restart the schedule goes on where it stopped and a run missed while feedmill
was down happens once at start-up. The table is created here with ``CREATE TABLE IF NOT
EXISTS`` rather than as a store migration, so the store's schema version is untouched
and an older or newer feedmill can open the file.

Every access opens a connection, does one short transaction and closes it: the file is
in WAL mode and shared with the crawler processes, so nothing here holds a lock for
longer than one statement.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from feeds.errors import StoreError
from feeds.store import STORE_FILE, SQLiteStore

logger = logging.getLogger(__name__)

_BUSY_TIMEOUT_MS = 30_000
_CREATE = (
    "CREATE TABLE IF NOT EXISTS schedule_state (source TEXT PRIMARY KEY, next_run TEXT NOT NULL)"
)


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One short-lived connection in autocommit mode (transactions are explicit)."""
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    try:
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        yield db
    finally:
        db.close()


@contextmanager
def _write(path: Path) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the lock up front, as the store's writers do."""
    with _connect(path) as db:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot start a write: {exc}") from exc
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"{path}: cannot commit: {exc}") from exc


class ScheduleState:
    """Each scheduled source's next run time, kept in ``<data_dir>/feedmill.sqlite3``."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / STORE_FILE
        # Opening the store once creates the file, its schema and WAL mode, so the table
        # below never lands in a file the store has not set up.
        SQLiteStore(self.path).close()
        try:
            with _write(self.path) as db:
                db.execute(_CREATE)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot create schedule_state: {exc}") from exc

    def load(self) -> dict[str, datetime]:
        """Source -> persisted next run (aware, UTC)."""
        try:
            with _connect(self.path) as db:
                rows = db.execute("SELECT source, next_run FROM schedule_state").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read schedule_state: {exc}") from exc
        state = {}
        for source, text in rows:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                logger.warning("schedule_state: ignoring bad next_run %r of %r", text, source)
                continue
            state[source] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return state

    def save(self, source: str, next_run: datetime | None) -> None:
        """Remember ``source``'s next run; None forgets it (paused or unscheduled)."""
        self.save_many({source: next_run})

    def save_many(self, next_runs: Mapping[str, datetime | None]) -> None:
        if not next_runs:
            return
        try:
            with _write(self.path) as db:
                for source, moment in next_runs.items():
                    if moment is None:
                        db.execute("DELETE FROM schedule_state WHERE source = ?", (source,))
                    else:
                        db.execute(
                            "INSERT INTO schedule_state (source, next_run) VALUES (?, ?) "
                            "ON CONFLICT (source) DO UPDATE SET next_run = excluded.next_run",
                            (source, _iso_utc(moment)),
                        )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot write schedule_state: {exc}") from exc

    def delete(self, source: str) -> None:
        self.save_many({source: None})


def set_log_tail(store_path: str | Path, run_id: int, log_tail: str) -> None:
    """Attach the child's last log lines to run ``run_id`` and change nothing else.

    Why a statement of our own rather than ``SQLiteStore.finish_run(log_tail=...)``: in the
    normal case the crawler child has already finished the run row (outcome, counts,
    error, finish time) when the scheduler gets to read its log, and ``finish_run``
    rewrites all of those; the store has no call that sets the log tail alone, and
    ``feeds/store.py`` belongs to another part of the project. This UPDATE touches only
    the ``log_tail`` column of that one row, in one short transaction on the same file.
    """
    path = Path(store_path)
    try:
        with _write(path) as db:
            db.execute("UPDATE runs SET log_tail = ? WHERE id = ?", (log_tail, run_id))
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot record the log of run {run_id}: {exc}") from exc


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the schedule keeps aware times only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
