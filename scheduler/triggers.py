"""APScheduler triggers from a source's ``Schedule`` (``every`` or ``cron``, jitter, zone).

APScheduler 3.x reads the day-of-week field of ``CronTrigger.from_crontab`` with 0 as
Monday, while crontab (and everyone writing feedmill.toml) means Sunday; its own docs
call this a historical mistake kept for compatibility. So the weekday field is rewritten
into day names first, with crontab's meaning: ``0 9 * * 1`` runs on Mondays, and 0 and
7 are both Sunday. One crontab rule is still not followed: when both day-of-month and
day-of-week are restricted, crontab runs on either, APScheduler only when both match.
"""

from __future__ import annotations

import re

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feeds.config import Schedule

DEFAULT_TIMEZONE = "UTC"

# Index = crontab weekday number (0 and 7 are Sunday).
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_STEP = re.compile(r"^(?P<range>[^/]+)(?:/(?P<step>\d+))?$")


def build_trigger(schedule: Schedule) -> BaseTrigger:
    """The trigger for ``schedule``: IntervalTrigger or CronTrigger, with jitter and zone."""
    timezone = schedule.timezone or DEFAULT_TIMEZONE
    jitter = schedule.jitter.total_seconds() if schedule.jitter else None
    if schedule.every is not None:
        return IntervalTrigger(
            seconds=schedule.every.total_seconds(), timezone=timezone, jitter=jitter or None
        )
    if not schedule.cron:
        raise ValueError("a schedule needs 'every' or 'cron'")
    trigger = CronTrigger.from_crontab(crontab_for_apscheduler(schedule.cron), timezone=timezone)
    trigger.jitter = jitter or None
    return trigger


def crontab_for_apscheduler(expression: str) -> str:
    """``expression`` with its weekday field spelled as day names (crontab's meaning)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields, got {len(fields)}: {expression!r}")
    fields[4] = _weekdays(fields[4])
    return " ".join(fields)


def _weekdays(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _STEP.match(part)
        if not match:
            raise ValueError(f"bad day-of-week {part!r} in {field!r}")
        span, step = match["range"], int(match["step"] or 1)
        if step < 1:
            raise ValueError(f"bad step in day-of-week {part!r}")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            first, last = _day(low, field), _day(high, field)
            if last == 0 and (high.strip() == "7" or first > 0):
                last = 7  # "0-7", "mon-sun", "5-0": through Sunday
            if first > last:
                raise ValueError(f"day-of-week range {span!r} runs backwards in {field!r}")
        else:
            first = _day(span, field)
            last = 6 if match["step"] else first  # "1/2" = from Monday every other day
        days.update(day % 7 for day in range(first, last + 1, step))
    if days == set(range(7)):
        return "*"
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def _day(text: str, field: str) -> int:
    text = text.strip()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"bad day of week {text!r} in {field!r} (0-7 or sun-sat)")
