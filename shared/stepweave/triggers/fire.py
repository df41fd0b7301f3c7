"""Fire a workflow's schedule or event trigger on this machine: the run input the deployed
schedule or rule would give (``stepweave run <file> --trigger NAME [--event FILE]``).

- **schedule**: the schedule's input (``stepweave.triggers.rules.schedule_input``, the text
  deployed as the Scheduler target's input) with the Scheduler's context attributes filled
  in as it does at each start: ``<aws.scheduler.scheduled-time>`` (now, ISO-8601 UTC) and
  ``<aws.scheduler.execution-id>`` (a fresh id).
- **event**: the event is put on a default event bus in moto (``PutEvents`` through boto3)
  with the trigger's rule (``PutRule`` with ``event_pattern``) targeting a queue, so whether
  it matches is EventBridge's pattern matching, and the event arrives with the envelope
  EventBridge gives it (``id``, ``time``, ``account``, ``region``, ``resources``). The
  deployed input transformer (``event_input``) is then applied as EventBridge applies it
  to a JSON template: each placeholder becomes its value as JSON (``null`` when the event
  lacks the path). moto's own transformer inserts strings unquoted, so it is not used.

The event file is an event as EventBridge delivers it (``source``, ``detail-type``,
``detail``, ...) or a ``PutEvents`` entry (``Source``, ``DetailType``, ``Detail``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.triggers.declare import (EventTrigger, PollTrigger, ScheduleTrigger, Trigger,
                                        WebhookTrigger)
from stepweave.triggers.inputs import lookup_path
from stepweave.triggers.rules import event_input, event_pattern, schedule_input

__all__ = ["FireError", "event_entry", "event_run_input", "find_trigger", "schedule_run_input",
           "transform"]

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
_RULE = "stepweave-local-trigger"


class FireError(StepweaveError):
    """The trigger cannot be fired as asked (unknown name, webhook, event that does not fit)."""


def _describe(trigger: Trigger) -> str:
    return f"{trigger.label} ({trigger.type})"


def find_trigger(file: str, triggers: tuple[Trigger, ...] | list[Trigger], name: str) -> Trigger:
    """The trigger named ``name`` (its ``name``, or its type when unnamed)."""
    found = [t for t in triggers if t.label == name]
    if not found:
        have = ", ".join(_describe(t) for t in triggers) or "none"
        raise FireError(f"{file}: no trigger named {name!r} (the workflow's triggers: {have})")
    trigger = found[0]
    if isinstance(trigger, WebhookTrigger):
        raise FireError(f"{file}: trigger {name!r} is a webhook: send it a delivery with "
                        "`stepweave webhook` against `stepweave serve`")
    if isinstance(trigger, PollTrigger):
        raise FireError(f"{file}: trigger {name!r} is a poll: `stepweave serve` polls it as "
                        f"serving starts and every {trigger.rate}, one run per new item")
    return trigger


def schedule_run_input(workflow: str, trigger: ScheduleTrigger, *, now: datetime | None = None,
                       execution_id: str | None = None) -> dict[str, Any]:
    """The input one start of the deployed schedule gives the run."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    attributes = {"aws.scheduler.scheduled-time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "aws.scheduler.execution-id": execution_id or str(uuid.uuid4())}
    text = schedule_input(workflow, trigger)
    for name, value in attributes.items():
        text = text.replace(f"<{name}>", value)
    result: dict[str, Any] = json.loads(text)
    return result


def event_entry(event: Any, source: str = "--event") -> dict[str, Any]:
    """A ``PutEvents`` entry from an event as delivered or an entry as put."""
    if not isinstance(event, dict):
        raise FireError(f"{source}: an event is a JSON object, got {type(event).__name__}")
    if "Source" in event or "DetailType" in event:  # already an entry
        src, kind, detail = event.get("Source"), event.get("DetailType"), event.get("Detail", "{}")
        prefix = ("Source", "DetailType", "Detail")
    else:
        src, kind, detail = event.get("source"), event.get("detail-type"), event.get("detail", {})
        prefix = ("source", "detail-type", "detail")
    if not isinstance(src, str) or not src:
        raise FireError(f"{source}: field {prefix[0]!r} is required (the event's source)")
    if not isinstance(kind, str) or not kind:
        raise FireError(f"{source}: field {prefix[1]!r} is required (the event's detail type)")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except json.JSONDecodeError:
            raise FireError(f"{source}: field {prefix[2]!r} is not a JSON object text") from None
    if not isinstance(detail, dict):
        raise FireError(f"{source}: field {prefix[2]!r} must be a JSON object")
    entry: dict[str, Any] = {"Source": src, "DetailType": kind, "Detail": json.dumps(detail),
                             "EventBusName": "default"}
    resources = event.get("resources", event.get("Resources"))
    if isinstance(resources, list) and all(isinstance(r, str) for r in resources):
        entry["Resources"] = resources
    return entry


def _deliver(entry: Mapping[str, Any], pattern: Mapping[str, Any]) -> dict[str, Any] | None:
    """Put ``entry`` on a bus whose one rule has ``pattern``; the event it delivers, if any.
    Needs an active moto mock."""
    import boto3

    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName=f"{_RULE}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        events.put_rule(Name=_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=_RULE, Targets=[{"Id": "run", "Arn": arn}])
        answer = events.put_events(Entries=[dict(entry)])
        if answer.get("FailedEntryCount"):
            failed = answer["Entries"][0]
            raise FireError(f"EventBridge refused the event: {failed.get('ErrorMessage') or failed}")
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages", [])
        return json.loads(received[0]["Body"]) if received else None
    finally:
        events.remove_targets(Rule=_RULE, Ids=["run"])
        events.delete_rule(Name=_RULE)
        sqs.delete_queue(QueueUrl=queue)


def transform(paths: Mapping[str, str], template: str, event: Any) -> Any:
    """An input transformer with a JSON template applied to ``event``: every placeholder
    becomes its path's value as JSON, ``null`` when the event lacks the path."""
    values = {name: lookup_path(event, path.removeprefix("$.").split(".")) for name, path in paths.items()}

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            return match[0]
        return json.dumps(values[name], ensure_ascii=False)

    return json.loads(_PLACEHOLDER.sub(fill, template))


def event_run_input(workflow: str, trigger: EventTrigger, event: Any, source: str = "--event",
                    ) -> dict[str, Any]:
    """The input the deployed rule gives the run for ``event``; ``FireError`` when the
    trigger's pattern does not match it. Needs an active moto mock."""
    pattern = event_pattern(trigger)
    delivered = _deliver(event_entry(event, source), pattern)
    if delivered is None:
        raise FireError(f"{source}: the event does not match trigger {trigger.label!r}, so the "
                        f"deployed rule would not start the workflow (pattern: "
                        f"{json.dumps(pattern, separators=(',', ':'))})")
    paths, template = event_input(workflow, trigger)
    result: dict[str, Any] = transform(paths, template, delivered)
    return result
