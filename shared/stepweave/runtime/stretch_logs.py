"""A deployed Express stretch's events, read back from its CloudWatch Logs log group.

A split Standard workflow (``stepweave.compiler.split``) runs its stretches as nested
Express executions, and Express executions have no history API on AWS. Each stretch's
state machine therefore logs every event (level ``ALL``) with its execution data
(``includeExecutionData``) to its own log group. A log event's message is the history
event, flattened (as Step Functions writes it)::

    {"id": "7", "type": "TaskStateExited", "details": {"name": ..., "output": ...,
     "assignedVariables": {...}}, "previous_event_id": "6", "event_timestamp": "1733480000123",
     "execution_arn": "arn:aws:states:...:express:<machine>:<name>:<id>", "redrive_count": "0"}

``StretchLogs`` reads one child execution's messages (``logs:FilterLogEvents`` on the
stretch's log group, the group named by the stretch's ``DescribeStateMachine``), gives them
the shape ``GetExecutionHistory`` gives (``history_event``), and hands them to the splice of
``stepweave.runtime.stretches``, so block logs come out as from the unsplit workflow.

CloudWatch Logs delivers asynchronously (and on a best-effort basis): when the child's
events are not all there yet -- no end event, or a gap in the event ids -- ``StretchLogs``
raises ``StretchLogsPending`` (a ``ChildEventsPending``): the recorder then writes nothing
and fails, so that Lambda delivers the status change again later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from stepweave.runtime.history import fetch_history
from stepweave.runtime.stretches import ChildEventsPending, task_json

__all__ = ["StretchLogs", "StretchLogsPending", "history_event", "log_message", "machine_of",
           "child_starts", "END_EVENTS"]

END_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")
#: how far before the parent's start a child's events are searched (clock skew)
_SKEW_MS = 60_000


class StretchLogsPending(ChildEventsPending):
    """A stretch execution's log is not complete yet (its events still being delivered)."""


def _details_key(event_type: str) -> str:
    """The ``HistoryEvent`` member that holds an event type's details."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[:1].lower() + event_type[1:] + "EventDetails"


def history_event(message: Mapping[str, Any]) -> dict[str, Any]:
    """A log event's message in ``GetExecutionHistory``'s shape (as boto3 parses it)."""
    event_type = str(message["type"])
    event: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(int(message["event_timestamp"]) / 1000, tz=UTC),
        "type": event_type,
        "id": int(message["id"]),
        "previousEventId": int(message.get("previous_event_id") or 0),
    }
    details = message.get("details")
    if isinstance(details, dict) and details:
        event[_details_key(event_type)] = dict(details)
    return event


def log_message(event: Mapping[str, Any], execution_arn: str) -> dict[str, Any]:
    """The log event Step Functions writes for a history event (the reverse of
    ``history_event``; what a test puts in a log group)."""
    event_type = str(event["type"])
    moment = event["timestamp"]
    millis = round(moment.timestamp() * 1000) if isinstance(moment, datetime) else int(moment)
    return {"id": str(event["id"]), "type": event_type,
            "details": dict(event.get(_details_key(event_type)) or {}),
            "previous_event_id": str(event.get("previousEventId") or 0),
            "event_timestamp": str(millis), "execution_arn": execution_arn, "redrive_count": "0"}


def machine_of(execution_arn: str) -> str:
    """``arn:<p>:states:<r>:<a>:express:<machine>:<name>:<id>`` (or ``execution:``) -> the
    state machine's ARN."""
    parts = execution_arn.split(":")
    if len(parts) < 8:
        raise ValueError(f"not an execution ARN: {execution_arn!r}")
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def _log_group_name(description: Mapping[str, Any]) -> str | None:
    for destination in (description.get("loggingConfiguration") or {}).get("destinations") or []:
        arn = str((destination.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn") or "")
        if ":log-group:" in arn:
            name = arn.split(":log-group:", 1)[1]
            return name[:-2] if name.endswith(":*") else name
    return None


class StretchLogs:
    """Reads stretch executions' events from their log groups (``sfn``: a Step Functions
    client, to name each stretch's log group; ``logs``: a CloudWatch Logs client).

    ``since_ms``: no event of the run is older (the parent's start, epoch ms); ``starts``:
    each child's own start, when known (``child_starts``), read from there on; ``ends``:
    each child's own stop, when known, read up to there (a search of a busy log group stays
    short). ``waits``:
    how long to wait for a log still being delivered before giving up (seconds each,
    before reading again). ``machine_for``: the state machine whose log group holds an
    execution's events (by default its own; a distributed Map's Express children log to
    their parent's: ``stepweave.runtime.map_runs``)."""

    def __init__(self, sfn: Any, logs: Any, since_ms: int = 0, waits: tuple[float, ...] = (),
                 sleep: Callable[[float], None] = time.sleep, starts: Mapping[str, int] | None = None,
                 machine_for: Callable[[str], str] = machine_of, ends: Mapping[str, int] | None = None) -> None:
        self._sfn, self._logs = sfn, logs
        self._machine_for = machine_for
        self._since = since_ms
        self._starts = dict(starts or {})
        self._ends = dict(ends or {})
        self._waits, self._sleep = waits, sleep
        self._groups: dict[str, str | None] = {}
        self._descriptions: dict[str, Mapping[str, Any]] = {}

    def description(self, machine: str) -> Mapping[str, Any]:
        """``DescribeStateMachine`` of ``machine`` (asked once)."""
        if machine not in self._descriptions:
            self._descriptions[machine] = self._sfn.describe_state_machine(stateMachineArn=machine)
        return self._descriptions[machine]

    def log_group(self, execution_arn: str) -> str | None:
        """The log group the execution's events go to (None: its state machine logs to
        none)."""
        machine = self._machine_for(execution_arn)
        if machine not in self._groups:
            self._groups[machine] = _log_group_name(self.description(machine))
        return self._groups[machine]

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's whole history from its log; ``StretchLogsPending`` when it is not
        all delivered yet (after the waits). An execution whose state machine logs nowhere
        is read with ``GetExecutionHistory``: deployed, every stretch logs (the CDK app gives
        each a log group), and the embedded engine, whose state machines log nowhere, answers
        ``GetExecutionHistory`` for Express executions too -- so a handler that reads stretches
        (the approval notifier's pause snapshot) works the same there."""
        if self.log_group(execution_arn) is None:
            return fetch_history(self._sfn, execution_arn)
        for wait in (*self._waits, None):
            found = self._read(execution_arn)
            missing = _incomplete(found)
            if missing is None:
                return found
            if wait is None:
                raise StretchLogsPending(f"the log of Express execution {execution_arn} is "
                                         f"incomplete ({missing}): not delivered yet")
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _read(self, execution_arn: str) -> list[dict[str, Any]]:
        # a quoted term matches the ARN as a phrase; the messages are then checked exactly
        kwargs: dict[str, Any] = {"logGroupName": self.log_group(execution_arn),
                                  "filterPattern": json.dumps(execution_arn),
                                  "startTime": max(0, self._starts.get(execution_arn, self._since) - _SKEW_MS)}
        if execution_arn in self._ends:
            kwargs["endTime"] = self._ends[execution_arn] + _SKEW_MS
        by_id: dict[int, dict[str, Any]] = {}
        while True:
            page = self._logs.filter_log_events(**kwargs)
            for entry in page.get("events") or []:
                try:
                    message = json.loads(entry.get("message") or "")
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("execution_arn") == execution_arn \
                        and "type" in message and "id" in message:
                    event = history_event(message)
                    by_id[event["id"]] = event  # a message delivered twice counts once
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                return [by_id[i] for i in sorted(by_id)]
            kwargs["nextToken"] = token


def child_starts(events: list[dict[str, Any]]) -> dict[str, int]:
    """Child execution ARN -> its start (epoch ms), from the ``startExecution.sync`` tasks'
    ``TaskSubmitted`` outputs in a parent's history (a lead-in's: its Lambda's ``Payload``)."""
    found: dict[str, int] = {}
    for event in events:
        output = task_json(event, "taskSubmittedEventDetails")
        if isinstance(output, dict) and isinstance(output.get("Payload"), dict):
            output = output["Payload"]
        if isinstance(output, dict) and isinstance(output.get("ExecutionArn"), str) \
                and isinstance(output.get("StartDate"), (int, float)):
            found[output["ExecutionArn"]] = int(output["StartDate"])
    return found


def _incomplete(events: list[dict[str, Any]]) -> str | None:
    """Why these events are not a whole execution's history (None: they are)."""
    if not events:
        return "no events"
    ids = [e["id"] for e in events]
    if ids != list(range(1, len(ids) + 1)):
        return f"{ids[-1] - len(ids)} event(s) missing before event {ids[-1]}" if ids[0] == 1 \
            else f"its first {ids[0] - 1} event(s) missing"
    if events[-1]["type"] not in END_EVENTS:
        return f"no end event after event {ids[-1]}"
    return None
