"""Schedule settings as people write them: a crontab line (``0 2 * * 6`` = Saturdays 02:00),
turned into an APScheduler ``CronTrigger``. Like config/lists.py for list settings: a bad value
is refused at start, naming what was expected.

Five fields (minute, hour, day of month, month, day of week) as in crontab, or six with the
seconds first. Times are UTC. The day of week is crontab's (0 or 7 = Sunday, 6 = Saturday, or
names): APScheduler 3 counts from Monday, even in its own ``from_crontab``, so the field is
translated here. Restricting both the day of month and the day of week is refused: cron runs
on either, APScheduler only on both, and a reader cannot tell which was meant."""

from __future__ import annotations

import re
from datetime import UTC

from apscheduler.triggers.cron import CronTrigger

FIELDS_5 = ("minute", "hour", "day", "month", "day_of_week")
FIELDS_6 = ("second", *FIELDS_5)
EXPECTED = (
    "a cron schedule: minute hour day-of-month month day-of-week (e.g. '0 2 * * 6' = "
    "Saturdays 02:00 UTC), optionally with seconds first"
)
# crontab's day numbers: 0 (and 7) Sunday … 6 Saturday; APScheduler's names for them.
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_ITEM = re.compile(r"^(?:(\*)|(\w+)(?:-(\w+))?)(?:/([0-9]+))?$")


def cron_trigger(expression: str) -> CronTrigger:
    """The trigger of a crontab line; ValueError saying what is wrong otherwise."""
    try:
        return _trigger(expression.split())
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not {EXPECTED}: {exc}") from exc


def _trigger(parts: list[str]) -> CronTrigger:
    if len(parts) not in (5, 6):
        raise ValueError(f"{len(parts)} field(s)")
    values = dict(zip(FIELDS_6 if len(parts) == 6 else FIELDS_5, parts, strict=True))
    values["day_of_week"] = _weekdays(values["day_of_week"])
    if values["day"] not in ("*", "?") and values["day_of_week"] != "*":
        raise ValueError("restrict the day of the month or the day of the week, not both")
    values["day"] = values["day"].replace("?", "*")
    return CronTrigger(**values, timezone=UTC)


def _weekdays(field: str) -> str:
    """crontab's day-of-week field as APScheduler day names (``1-5`` → ``mon,…,fri``)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        match = _DAY_ITEM.match(item.strip().lower())
        if match is None:
            raise ValueError(f"not a day of the week: {item!r}")
        every, first, last, step = match.groups()
        start = 0 if every else _day(first)
        if every or (step and last is None):
            end = 6  # "*/2", "1/2": on to the end of the week
        else:
            end = _day(last) if last else start
        if end == 0 and start > 0:
            end = 7  # "5-7", "fri-sun": up to Sunday
        if end < start:
            raise ValueError(f"a range of days runs forwards: {item!r}")
        if step is not None and int(step) == 0:
            raise ValueError(f"a step of days is at least 1: {item!r}")
        days.update(d % 7 for d in range(start, end + 1, int(step or 1)))
    return ",".join(CRON_DAYS[d] for d in sorted(days))


def _day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in CRON_DAYS:
        return CRON_DAYS.index(text)
    raise ValueError(f"not a day of the week: {text!r} (0-7, 0 and 7 = Sunday, or sun-sat)")
