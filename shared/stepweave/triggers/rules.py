"""Schedules and event rules as EventBridge wants them (pure; the CDK construct uses these).

- ``schedule_expression``: ``rate(5 minutes)`` or ``cron(<6 fields>)``. A Unix cron (5
  fields) becomes EventBridge's form: a year field is added, ``?`` goes in the day field
  that is ``*`` (EventBridge needs one of day-of-month and day-of-week to be ``?``), and
  numeric days of the week (Unix 0-7, Sunday 0 or 7) become names (``SUN``..``SAT``),
  which mean the same in both.
- ``schedule_input``: the trigger's ``input`` plus ``trigger`` (type, workflow, name and
  the Scheduler's ``<aws.scheduler.scheduled-time>`` / ``<aws.scheduler.execution-id>``).
- ``poll_expression`` / ``poll_input`` / ``rate_seconds``: a poll trigger's schedule
  (``rate(...)``) and the poller's input (``{"workflow", "trigger"}``);
- ``event_pattern`` / ``event_input``: the rule's pattern and its input transformer
  (``inputMapping`` fields read from the event; without one, ``detail``), plus
  ``trigger`` (type, workflow, name, source, detailType, eventId, time).
"""

from __future__ import annotations

import json
import re
from typing import Any

from stepweave.triggers.cron import CronError, eventbridge_cron
from stepweave.triggers.declare import EventTrigger, PollTrigger, ScheduleTrigger

__all__ = [
    "CronError",
    "event_input",
    "event_pattern",
    "eventbridge_cron",
    "poll_expression",
    "poll_input",
    "rate_seconds",
    "schedule_expression",
    "schedule_input",
]

_RATE = re.compile(r"^\s*(\d+)\s+(minute|hour|day)s?\s*$")


def schedule_expression(trigger: ScheduleTrigger) -> str:
    if trigger.rate is not None:
        match = _RATE.match(trigger.rate)
        assert match is not None  # validated by the model
        count, unit = int(match[1]), match[2]
        return f"rate({count} {unit}{'' if count == 1 else 's'})"
    assert trigger.cron is not None
    return f"cron({eventbridge_cron(trigger.cron)})"


def _rate(text: str) -> tuple[int, str]:
    match = _RATE.match(text)
    assert match is not None  # validated by the model
    return int(match[1]), match[2]


def rate_seconds(text: str) -> int:
    """``'5 minutes'`` -> 300."""
    count, unit = _rate(text)
    return count * {"minute": 60, "hour": 3600, "day": 86_400}[unit]


def poll_expression(trigger: PollTrigger) -> str:
    count, unit = _rate(trigger.rate)
    return f"rate({count} {unit}{'' if count == 1 else 's'})"


def poll_input(workflow: str, trigger: PollTrigger) -> str:
    """What the poll's schedule gives the poller function."""
    return json.dumps({"workflow": workflow, "trigger": trigger.label}, separators=(",", ":"))


def schedule_input(workflow: str, trigger: ScheduleTrigger) -> str:
    info = {"type": "schedule", "workflow": workflow, "name": trigger.label,
            "scheduledTime": "<aws.scheduler.scheduled-time>",
            "executionId": "<aws.scheduler.execution-id>"}
    return json.dumps({**trigger.input, "trigger": info}, separators=(",", ":"), ensure_ascii=False)


def event_pattern(trigger: EventTrigger) -> dict[str, Any]:
    pattern: dict[str, Any] = {"source": list(trigger.source)}
    if trigger.detailType:
        pattern["detail-type"] = list(trigger.detailType)
    if trigger.detail:
        pattern["detail"] = trigger.detail
    return pattern


def _json_path(path: str) -> str:
    return "$." + path.removeprefix("$.")


def event_input(workflow: str, trigger: EventTrigger) -> tuple[dict[str, str], str]:
    """(``InputPathsMap``, ``InputTemplate``) of the rule's target. Placeholders stand
    unquoted, so EventBridge inserts each value as JSON (strings quoted, objects as is)."""
    paths = {"evSource": "$.source", "evDetailType": "$.detail-type", "evId": "$.id",
             "evTime": "$.time"}
    fields: list[str] = []
    if trigger.inputMapping is None:
        paths["evDetail"] = "$.detail"
        fields.append('"detail":<evDetail>')
    else:
        for index, (field, path) in enumerate(trigger.inputMapping.items()):
            paths[f"f{index}"] = _json_path(path)
            fields.append(f"{json.dumps(field)}:<f{index}>")
    info = (f'{{"type":"event","workflow":{json.dumps(workflow)},"name":{json.dumps(trigger.label)},'
            '"source":<evSource>,"detailType":<evDetailType>,"eventId":<evId>,"time":<evTime>}')
    fields.append(f'"trigger":{info}')
    return paths, "{" + ",".join(fields) + "}"
