"""The scheduler's own rows in the store: each scheduled source's next run time.

After a restart, or when a standby scheduler takes over, the schedule goes on where it
stopped, and a run missed while no scheduler was up happens once at start-up. The table
(``schedule_state``) is part of the store's versioned schema, so it lives in whichever
database the store does: the SQLite file, or the PostgreSQL database every scheduler
node shares.

Every access opens a connection, does one short transaction and closes it: the store is
shared with the crawler processes, so nothing here holds a lock for longer than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from feeds.store import STORE_FILE
from feeds.stores import open_store


class ScheduleState:
    """Each scheduled source's next run time, kept in the store: ``database`` (a URL or a
    SQLite file) when given, else the SQLite file in ``data_dir``."""

    def __init__(self, data_dir: str | Path, *, database: str | Path | None = None) -> None:
        self.database = database or Path(data_dir) / STORE_FILE
        open_store(self.database).close()  # the schema (and its table) exists from here on

    def load(self) -> dict[str, datetime]:
        """Source -> persisted next run (aware, UTC)."""
        with open_store(self.database) as store:
            return store.schedule_state()

    def save(self, source: str, next_run: datetime | None) -> None:
        """Remember ``source``'s next run; None forgets it (paused or unscheduled)."""
        self.save_many({source: next_run})

    def save_many(self, next_runs: Mapping[str, datetime | None]) -> None:
        if not next_runs:
            return
        for moment in next_runs.values():
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"naive datetime {moment!r}: the schedule keeps aware times")
        with open_store(self.database) as store:
            store.save_schedule_state(next_runs)

    def delete(self, source: str) -> None:
        self.save_many({source: None})
