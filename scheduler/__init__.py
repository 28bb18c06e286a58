"""Runs sources on their schedules, each run in a child process (``feedmill serve``).

- :class:`RunManager` starts runs (``python -m crawler.run``), one per source at a time,
  with a timeout, and records how they end;
- :class:`Scheduler` fires each scheduled source's runs (APScheduler), persisting the
  next run times so a restart neither loses nor repeats them;
- :class:`ConfigWatcher` reloads feedmill.toml on SIGHUP or when the file changes.

This package never imports the crawler or Scrapy: crawls only run as child processes.
"""

from scheduler.jobs import Scheduler
from scheduler.runs import RunError, RunManager, ShuttingDown, crawler_command
from scheduler.state import ScheduleState
from scheduler.watch import ConfigWatcher

__all__ = [
    "ConfigWatcher",
    "RunError",
    "RunManager",
    "ScheduleState",
    "Scheduler",
    "ShuttingDown",
    "crawler_command",
]
