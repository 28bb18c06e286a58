"""Sources on their schedules: one APScheduler job per scheduled source.

The jobs only *start* runs (through the RunManager) and return once the child has been
spawned, so a long or crashing run never ties up the scheduler. A job that fires while
its source is still running is skipped (SourceBusy, logged at INFO), never queued.

Each source's next run time is persisted (``scheduler.state``) whenever it changes. At
start-up a source whose persisted next run is already past — feedmill was down when it
was due, however many times — runs once right away; the schedule then goes on from
there. A source seen for the first time starts with its trigger's first time (``every``:
one interval from now; ``cron``: the next matching minute).

Beside the sources, one job keeps the run history bounded (``feeds.history``): at
start-up and every ``PRUNE_EVERY``, each source's finished runs beyond the newest
``keep_runs`` are forgotten with their log files.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from feeds.config import Config, Schedule
from feeds.errors import FeedmillError, SourceBusy, UnknownSource
from feeds.history import prune_history
from feeds.store import STORE_FILE
from feeds.stores import open_store
from scheduler.runs import NextRun
from scheduler.state import ScheduleState
from scheduler.triggers import build_trigger

if TYPE_CHECKING:
    from scheduler.remote import ScrapydRunManager
    from scheduler.runs import RunManager

logger = logging.getLogger(__name__)

TRIGGER = "schedule"
PRUNE_EVERY = timedelta(minutes=10)
# Not a source's job id: source names are [a-z0-9_-] (feeds.config).
PRUNE_JOB = "feedmill:prune-history"
_STATES = {STATE_STOPPED: "stopped", STATE_RUNNING: "running", STATE_PAUSED: "paused"}


class Scheduler:
    """Schedules every source that has a ``schedule`` in feedmill.toml.

    ``start()`` and ``reload()`` must be called from the running event loop that the
    RunManager uses (APScheduler's AsyncIOScheduler attaches to it).
    """

    def __init__(
        self,
        manager: RunManager | ScrapydRunManager,
        config: Config,
        data_dir: Path,
        *,
        state: ScheduleState | None = None,
    ) -> None:
        self.manager = manager
        self.config = config
        self.data_dir = Path(data_dir)
        self.state_store = state or ScheduleState(
            self.data_dir, database=getattr(manager, "database", None)
        )
        self._schedules: dict[str, Schedule] = {}
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- life cycle ----------------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        """Schedule every source; one whose persisted next run is past runs right away."""
        self._aps.start(paused=paused)
        persisted = self.state_store.load()
        for name, source in self.config.sources.items():
            if source.schedule is not None:
                self._add(name, source.schedule, persisted.get(name))
        stale = {name: None for name in persisted if name not in self._schedules}
        self.state_store.save_many(stale)
        self._aps.add_job(
            self._prune,
            IntervalTrigger(seconds=PRUNE_EVERY.total_seconds(), timezone=UTC),
            id=PRUNE_JOB,
            name="prune the run history",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        logger.info(
            "scheduler started: %d scheduled source(s)%s",
            len(self._schedules),
            " (paused)" if paused else "",
        )

    def shutdown(self, *, persist: bool = True) -> None:
        """Stop firing jobs (runs under way are the RunManager's to stop).

        ``persist=False`` when this process stopped leading: another scheduler owns the
        persisted next runs now, and writing ours would undo its progress.
        """
        if self._aps.state == STATE_STOPPED:
            return
        if persist:
            self._persist_all()
        self._aps.pause()  # takes effect now; the shutdown itself is queued on the loop
        self._aps.shutdown(wait=False)
        logger.info("scheduler stopped")

    def pause(self) -> None:
        self._aps.pause()

    def resume(self) -> None:
        """Resume firing; runs that fell due while paused happen once each, right away."""
        self._aps.resume()

    def reload(self, config: Config) -> None:
        """Apply a new config: schedule added sources, drop removed ones, re-time changed."""
        if config.data_dir != self.config.data_dir:
            logger.warning("a new data_dir takes effect at the next restart, not on reload")
        self.manager.update_config(config)
        self.config = config
        wanted = {
            name: source.schedule
            for name, source in config.sources.items()
            if source.schedule is not None
        }
        for name in [n for n in self._schedules if n not in wanted]:
            self._remove(name)
            logger.info("source %r is no longer scheduled", name)
        persisted: dict[str, datetime] | None = None
        for name, schedule in wanted.items():
            old = self._schedules.get(name)
            if old is None:
                if persisted is None:
                    persisted = self.state_store.load()
                self._add(name, schedule, persisted.get(name))
            elif old != schedule:
                try:
                    trigger = build_trigger(schedule)
                except ValueError as exc:
                    logger.error(
                        "source %r keeps its old schedule, the new one fails: %s: %s",
                        name,
                        schedule.describe(),
                        exc,
                    )
                    continue
                self._aps.reschedule_job(name, trigger=trigger)
                self._schedules[name] = schedule
                self._persist(name)
                logger.info(
                    "source %r rescheduled: %s, next run %s",
                    name,
                    schedule.describe(),
                    _when(self._next_run(name)),
                )

    # -- questions -----------------------------------------------------------------------

    def next_runs(self) -> dict[str, datetime | None]:
        """Every configured source's next scheduled run (None: on demand only, or paused)."""
        result: dict[str, datetime | None] = dict.fromkeys(self.config.sources)
        for name in self._schedules:
            result[name] = self._next_run(name)
        return result

    def state(self) -> dict[str, Any]:
        return {
            "state": _STATES.get(self._aps.state, str(self._aps.state)),
            "jobs": len(self._schedules),
            "running": self.manager.running(),
        }

    # -- internals -----------------------------------------------------------------------

    def _add(self, name: str, schedule: Schedule, persisted: datetime | None) -> None:
        try:
            trigger = build_trigger(schedule)
        except ValueError as exc:
            logger.error("source %r not scheduled: %s: %s", name, schedule.describe(), exc)
            return
        now = datetime.now(UTC)
        fresh = trigger.get_next_fire_time(None, now)
        if persisted is None:
            next_run = fresh
        elif persisted <= now:
            next_run = now
            logger.info(
                "source %r missed its run due %s (feedmill was not running): running it now",
                name,
                _when(persisted),
            )
        else:
            # A persisted time later than the trigger's own first one comes from an
            # older, slower schedule: do not let it delay the new one.
            next_run = min(persisted, fresh) if fresh is not None else persisted
        self._aps.add_job(
            self._fire,
            trigger,
            args=[name],
            id=name,
            name=f"run {name}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=next_run,
        )
        self._schedules[name] = schedule
        self.state_store.save(name, next_run)
        logger.info(
            "source %r scheduled: %s, next run %s", name, schedule.describe(), _when(next_run)
        )

    def _remove(self, name: str) -> None:
        if self._aps.get_job(name) is not None:
            self._aps.remove_job(name)
        self._schedules.pop(name, None)
        self.state_store.delete(name)

    async def _fire(self, name: str) -> None:
        """The job: start a run of ``name`` unless one is under way.

        APScheduler has already moved the job to its next time. That time is recorded
        in the same transaction as the run (``next_run``), so a scheduler killed at any
        point neither loses this run (schedule moved on, no run recorded) nor runs it
        twice (run recorded, schedule not moved on). When no run starts (the source is
        busy), the next time is recorded on its own.
        """
        scheduled = name in self._schedules
        next_run = NextRun(self._next_run(name)) if scheduled else None
        try:
            await self.manager.start(name, TRIGGER, next_run=next_run)
            return
        except SourceBusy as exc:
            logger.info("scheduled run skipped: %s", exc)
        except UnknownSource as exc:
            logger.warning("scheduled run skipped: %s", exc)
        except Exception:
            logger.exception("scheduled run of source %r could not start", name)
        if next_run is not None:
            try:
                await asyncio.to_thread(self.state_store.save, name, next_run.at)
            except FeedmillError as exc:
                logger.error("source %r: cannot persist its next run: %s", name, exc)

    async def _prune(self) -> None:
        """The history job: forget old runs and their logs (in a worker thread)."""
        try:
            await asyncio.to_thread(self.prune_history)
        except FeedmillError as exc:
            logger.error("run history not pruned: %s", exc)
        except Exception:
            logger.exception("run history not pruned")

    def prune_history(self) -> int:
        """Forget each source's finished runs beyond the newest ``keep_runs``; how many."""
        database = getattr(self.manager, "database", None) or self.data_dir / STORE_FILE
        with open_store(database) as store:
            return prune_history(store, self.data_dir, self.config.keep_runs)

    def _next_run(self, name: str) -> datetime | None:
        job = self._aps.get_job(name)
        return None if job is None else job.next_run_time

    def _persist(self, name: str) -> None:
        if name in self._schedules:
            self.state_store.save(name, self._next_run(name))

    def _persist_all(self) -> None:
        self.state_store.save_many({name: self._next_run(name) for name in self._schedules})


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else "none"
