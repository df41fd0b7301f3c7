"""Cron expressions as EventBridge takes them (6 fields, one day field ``?``).

Below both the trigger declarations (which check a schedule's ``cron`` when the file is
read) and the rules and schedules built from them.
"""

from __future__ import annotations

import re

__all__ = ["CronError", "eventbridge_cron"]

_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class CronError(ValueError):
    """A cron expression EventBridge cannot take."""


def _day_names(field: str) -> str:
    def name(match: re.Match[str]) -> str:
        number = int(match[0])
        if number > 7:
            raise CronError(f"day of week {number} is not 0-7")
        return _DAYS[number]

    parts = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        parts.append(re.sub(r"\d+", name, base) + slash + step)
    return ",".join(parts)


def eventbridge_cron(expression: str) -> str:
    """The 6 EventBridge fields of a 5-field (Unix) or 6-field (EventBridge) expression."""
    fields = expression.split()
    if len(fields) == 5:
        minute, hour, dom, month, dow = fields
        dow = _day_names(dow)
        if dow in ("*", "?"):
            dow = "?"
        elif dom in ("*", "?"):
            dom = "?"
        else:
            raise CronError("EventBridge cannot combine a day of the month with a day of the week")
        fields = [minute, hour, dom, month, dow, "*"]
    elif len(fields) != 6:
        raise CronError(f"{expression!r} has {len(fields)} fields (5 or 6)")
    if "?" not in (fields[2], fields[4]):
        raise CronError("one of day-of-month and day-of-week must be '?' in a 6-field expression")
    return " ".join(fields)
