"""When a schedule fires: the next start times of its ``cron`` (EventBridge's six fields:
minutes, hours, day of month, month, day of week, year) or ``rate``, in its time zone.

Cron fields take ``*``, lists, ranges and steps (``0-30/10``), month and day names, and
EventBridge's day forms: ``L`` (the month's last day), ``LW`` (its last weekday), ``15W``
(the weekday nearest the 15th, within the month), ``6L`` (the month's last Friday) and
``6#3`` (its third Friday); days of the week count from 1 = Sunday. Exactly one of the two
day fields is ``?``. Times are wall-clock times in the schedule's time zone: one that does
not exist (the hour skipped when clocks go forward) is skipped, one that happens twice is
taken the first time.

A ``rate`` schedule fires every N minutes, hours or days from when it is created (deployed);
the preview counts from the time it is asked for.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from stepweave.triggers.cron import eventbridge_cron
from stepweave.triggers.declare import ScheduleTrigger

__all__ = ["next_runs", "MAX_DAYS"]

#: How far ahead a cron is searched (a schedule that fires later, or never, shows fewer times).
MAX_DAYS = 5 * 366
_MONTHS = {name: i for i, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                              "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_RATE = re.compile(r"^\s*(\d+)\s+(minute|hour|day)s?\s*$")


def _number(text: str, names: dict[str, int]) -> int:
    return names[text.upper()] if text.upper() in names else int(text)


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """A plain field's values: ``*``, lists, ranges, steps and names."""
    names = names or {}
    found: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step else start
        found.update(range(start, end + 1, int(step) if step else 1))
    return {v for v in found if low <= v <= high}


def _weekday(day: date) -> int:
    """EventBridge's day of the week: 1 = Sunday ... 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, target: int) -> int:
    last = calendar.monthrange(year, month)[1]
    target = min(target, last)
    weekday = date(year, month, target).weekday()  # 0 = Monday
    if weekday == 5:  # Saturday: the Friday before, else the Monday after (same month)
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: the Monday after, else the Friday before
        return target + 1 if target < last else target - 2
    return target


def _day_of_month(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L" and day.day == last:
            return True
        if part == "LW" and day.day == _nearest_weekday(day.year, day.month, last):
            return True
        if part.endswith("W") and part[:-1].isdigit() \
                and day.day == _nearest_weekday(day.year, day.month, int(part[:-1])):
            return True
        if not part.endswith(("L", "W")) and day.day in _values(part, 1, 31):
            return True
    return False


def _day_of_week(field: str, day: date) -> bool:
    weekday = _weekday(day)
    for part in field.split(","):
        if "#" in part:
            name, nth = part.split("#", 1)
            if weekday == _number(name, _DAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif part.endswith("L") and part != "L":
            last = calendar.monthrange(day.year, day.month)[1]
            if weekday == _number(part[:-1], _DAYS) and day.day + 7 > last:
                return True
        elif weekday in _values(part, 1, 7, _DAYS):
            return True
    return False


def _cron_runs(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    minute, hour, dom, month, dow, year = eventbridge_cron(expression).split()
    minutes, hours = sorted(_values(minute, 0, 59)), sorted(_values(hour, 0, 23))
    months, years = _values(month, 1, 12, _MONTHS), _values(year, 1970, 2199)
    local_after = after.astimezone(zone)
    found: list[datetime] = []
    day = local_after.date()
    for _ in range(MAX_DAYS):
        if day.year in years and day.month in months and (
                _day_of_week(dow, day) if dom == "?" else _day_of_month(dom, day)):
            for h in hours:
                for m in minutes:
                    moment = datetime(day.year, day.month, day.day, h, m, tzinfo=zone)
                    utc = moment.astimezone(UTC)
                    if utc.astimezone(zone).replace(tzinfo=None) != moment.replace(tzinfo=None):
                        continue  # a time the clocks skip
                    if utc > after and utc not in found:
                        found.append(utc)
                        if len(found) == count:
                            return found
        day += timedelta(days=1)
    return found


def next_runs(trigger: ScheduleTrigger, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` start times after ``after`` (aware), in UTC; none when disabled."""
    if not trigger.enabled or count < 1:
        return []
    if trigger.rate is not None:
        match = _RATE.match(trigger.rate)
        assert match is not None  # checked when the file was read
        step = timedelta(**{f"{match[2]}s": int(match[1])})
        return [(after + step * k).astimezone(UTC) for k in range(1, count + 1)]
    assert trigger.cron is not None
    return _cron_runs(trigger.cron, ZoneInfo(trigger.timezone), after, count)
