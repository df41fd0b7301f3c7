"""One history for a split run: each Express stretch's events in place of the parent's task.

A Standard workflow split by ``stepweave.compiler.split`` runs its stretches as nested
Express executions; the blocks in them leave their events in the child's history, not the
parent's. ``Splicer`` gives the history the unsplit workflow would have had, for block logs,
progress and Lambda counts: the parent's events in order, with the events of the states the
split added (the tasks that run stretches, their routing, entry and exit states) left out and
each stretch execution's events (its own start and end left out too) where its task ran.
Events are numbered afresh, ``previousEventId`` following the same chains (an event whose
predecessor was left out points at the last event kept before it).

The manifest's ``split`` (``CompiledWorkflow.split_states``) names the added states. A
child's execution is found in its task's ``TaskSubmitted`` (or ``TaskSucceeded`` /
``TaskFailed``) event -- or, for a *lead-in* (an approval task that runs the stretch before
it itself, ``stepweave.compiler.split``; the manifest names it ``lead:<stretch>``), in the
``ExecutionArn`` its Lambda answers (the ``Payload`` of its ``TaskSubmitted`` event) or in
its result's ``stretch``. A lead-in's own events are held back until its stretch's are
spliced in (the stretch ran first); they are kept when the stretch left towards it (the
approval was asked) and left out when it did not (the run ended, or failed, in the stretch:
the unsplit run never reached the approval; its ``TaskScheduled`` stays, the Lambda
invocation it counts). Reading a child's history can fail (Express executions have no
history API on AWS): its events are then missing, and everything else is as described --
unless the reader raises ``ChildEventsPending`` (a deployed child's log still being
delivered: ``stepweave.runtime.stretch_logs``), which ``poll`` passes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Splicer", "spliced", "ChildEvents", "ChildEventsPending", "child_executions", "LEAD",
           "lead_ins", "LEAD_FAILED_ERROR",
           "CHECKPOINTS_PREFIX", "checkpoint_folder", "task_json"]

#: Where the stretches keep their checkpoints in the payload bucket (``<prefix>/<workflow>/
#: <parent execution name>/...``; ``stepweave.compiler.split``), a lead-in's too
CHECKPOINTS_PREFIX = "stepweave-checkpoints"


def checkpoint_folder(workflow: str) -> str:
    """Where the stretches of ``workflow`` keep their checkpoints in the payload bucket
    (``<folder>/<parent execution name>/<stretch>.json``), a lead-in's stretch result too."""
    return f"{CHECKPOINTS_PREFIX}/{workflow}"


#: The prefix of a lead-in's value in the manifest's ``split`` (``lead:<stretch ref>``).
LEAD = "lead:"
#: The error a lead-in's task fails with when its stretch failed (its cause: the stretch's
#: ``{"Error", "Cause"}``, which the parent raises as a failed stretch's task would).
LEAD_FAILED_ERROR = "Stepweave.LeadInStretchFailed"

#: (execution ARN, events already read) -> the events after those (all of them when
#: the execution has ended, else those so far)
ChildEvents = Callable[[str, int], list[dict[str, Any]]]


class ChildEventsPending(Exception):
    """A child's events cannot be read yet, but will be: the splice stops (nothing is
    spliced without them)."""


_END = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")


def _child_arn(event: Mapping[str, Any], lead: bool = False) -> str | None:
    """The child execution a task event names: a ``states`` task's (``.sync``) the child's
    description (``ExecutionArn``); a lead-in's (``lead``) its notifier's answer (the
    ``Payload`` of its ``TaskSubmitted``), the ended run's result it sent (``stretch``) or the
    failure it sent (``ExecutionArn`` in the cause).
    Nothing else: other tasks' outputs are block data (a function's result, a decision's
    fields), which must not name executions."""
    for key in ("taskSubmittedEventDetails", "taskSucceededEventDetails", "taskFailedEventDetails"):
        parsed = task_json(event, key)
        if parsed is None:
            continue
        kind = event[key].get("resourceType")
        if kind == "lambda":
            if not lead:
                continue
            if key == "taskSubmittedEventDetails":
                found = parsed["Payload"].get("ExecutionArn") if isinstance(parsed.get("Payload"), dict) else None
            elif key == "taskSucceededEventDetails":
                found = parsed.get("stretch") if "ended" in parsed else None
            else:  # the failure the notifier sent names it too
                found = parsed.get("ExecutionArn")
        else:
            found = parsed.get("ExecutionArn")
        if isinstance(found, str) and found:
            return found
    return None


def _lead_arns(events: list[dict[str, Any]], leads: Mapping[str, str]) -> list[str]:
    """The stretches the lead-ins of a history ran (their notifiers' answers)."""
    out: list[str] = []
    current: str | None = None
    for event in events:
        name = _entered(event)
        if name is not None:
            current = name if name in leads else None
        elif current is not None:
            arn = _child_arn(event, lead=True)
            if arn is not None:
                out.append(arn)
    return out


def task_json(event: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The JSON object of a task event's output (or cause), or None."""
    details = event.get(key)
    text = (details.get("output") or details.get("cause")) if isinstance(details, dict) else None
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _reused(event: Mapping[str, Any]) -> bool:
    """Whether a lead-in's ``TaskSubmitted`` names an earlier attempt's stretch
    (``LeadIn.reused``)."""
    payload = (task_json(event, "taskSubmittedEventDetails") or {}).get("Payload")
    return isinstance(payload, dict) and payload.get("Reused") is True


def lead_ins(added: Mapping[str, str]) -> dict[str, str]:
    """The lead-ins of a manifest's ``split``: state -> the stretch it runs."""
    return {k: v[len(LEAD):] for k, v in added.items() if v.startswith(LEAD)}


def child_executions(events: list[dict[str, Any]], added: Mapping[str, str] | None = None) -> list[str]:
    """The executions a history's tasks started (a split run's stretches among them), in
    order; with the manifest's ``split`` (``added``), its lead-ins' stretches too."""
    found = [arn for arn in map(_child_arn, events) if arn is not None]
    return list(dict.fromkeys([*found, *_lead_arns(events, lead_ins(added or {}))]))


def _exit_of(event: Mapping[str, Any]) -> str | None:
    details = event.get("executionSucceededEventDetails")
    text = details.get("output") if isinstance(details, dict) else None
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return str(parsed["exit"]) if isinstance(parsed, dict) and isinstance(parsed.get("exit"), str) else None


def _entered(event: Mapping[str, Any]) -> str | None:
    details = event.get("stateEnteredEventDetails")
    return str(details["name"]) if isinstance(details, dict) and "name" in details else None


def _exited(event: Mapping[str, Any]) -> str | None:
    details = event.get("stateExitedEventDetails")
    return str(details["name"]) if isinstance(details, dict) and "name" in details else None


class Splicer:
    """Feed it the parent's events as they come (``feed``); ``poll`` gives the spliced
    events that are ready (a running child's so far, read through ``child_events``)."""

    def __init__(self, added: Mapping[str, str], child_events: ChildEvents) -> None:
        self._leads = lead_ins(added)
        self._added = {k: v for k, v in added.items() if k not in self._leads}
        self._child_events = child_events
        self._parent: list[dict[str, Any]] = []
        self._pos = 0
        self._ids: dict[tuple[str, int], int] = {}
        self._last = 0  # the new id of the last event kept
        self._count = 0
        self._in_added: str | None = None  # the added parent state being left out
        self._child: str | None = None
        self._child_seen = 0
        self._child_done: set[str] = set()
        self._child_skip: str | None = None  # the child's added state being left out
        self._lead: str | None = None  # the lead-in whose events are held back
        self._held: list[dict[str, Any]] = []
        self._child_exit: str | None = None  # where the child being spliced left to
        self._child_time: Any = None  # when its last event was
        self._release_now = False
        self._unheld: set[int] = set()  # a lead-in's entries that named no stretch

    def feed(self, events: list[dict[str, Any]]) -> None:
        self._parent += events

    def poll(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            if self._child is not None:
                arn = self._child
                try:
                    new = self._child_events(arn, self._child_seen)
                except ChildEventsPending:
                    raise
                except Exception:  # noqa: BLE001 - no history (an Express child on AWS)
                    new, ended = [], True
                else:
                    self._child_seen += len(new)
                    ended = any(e["type"] in _END for e in new)
                for event in new:
                    if event["type"] == "ExecutionSucceeded":
                        self._child_exit = _exit_of(event)
                    self._child_time = event.get("timestamp", self._child_time)
                    kept = self._take(f"child:{arn}", event, child=True)
                    if kept is not None:
                        out.append(kept)
                if not ended:
                    return out
                self._child_done.add(arn)
                self._child, self._child_seen, self._child_skip = None, 0, None
                if self._lead is not None:
                    out += self._release()
                continue
            if self._pos >= len(self._parent):
                return out
            event = self._parent[self._pos]
            self._pos += 1
            if self._holds(event):
                if self._release_now:
                    self._release_now = False
                    out += self._release()
                continue
            kept = self._take("parent", event, child=False)
            if kept is not None:
                out.append(kept)

    def _holds(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` is a lead-in's, held back until its stretch is spliced in."""
        if self._lead is None:
            name = _entered(event)
            if name is None or name not in self._leads or self._in_added is not None \
                    or int(event["id"]) in self._unheld:
                return False
            self._lead, self._held, self._child_exit = name, [], None
        self._held.append(event)
        arn = _child_arn(event, lead=True)
        if arn is not None and arn not in self._child_done and not _reused(event):
            self._child, self._child_seen = arn, 0  # its events come next, then the held ones
        elif arn is not None:  # a redriven task took an earlier attempt's stretch: it asked
            self._child_done.add(arn)
            self._child_exit, self._release_now = self._lead, True
        elif _exited(event) == self._lead or event["type"] in _END or (
                _entered(event) is not None and _entered(event) != self._lead):
            # the lead-in ended without naming its stretch (its Lambda failed before it
            # ran one): its events as they were
            self._lead = None
            held, self._held = self._held, []
            self._unheld.add(int(held[0]["id"]))  # this time through: as they are
            self._pos -= len(held)
            return True
        return True

    def _release(self) -> list[dict[str, Any]]:
        """The held lead-in's events: kept when its stretch left towards it, else left out
        with the rest of that state."""
        lead, held = self._lead, self._held
        self._lead, self._held = None, []
        out: list[dict[str, Any]] = []
        if self._child_exit == lead:
            first = True
            for event in held:
                kept = self._take("parent", event, child=False)
                if kept is not None:
                    if first:  # it follows the stretch's last event, as unsplit
                        kept["previousEventId"] = max(0, kept["id"] - 1)
                        first = False
                    # and starts when the stretch ended (the task ran it first)
                    at = kept.get("timestamp")
                    if type(at) is type(self._child_time) and at is not None and at < self._child_time:
                        kept["timestamp"] = self._child_time
                    out.append(kept)
            return out
        for event in held:
            if event["type"] == "TaskScheduled":  # its Lambda was invoked (and billed) all the same
                kept = self._take("parent", event, child=False)
                if kept is not None:
                    out.append(kept)
            else:
                self._ids[("parent", int(event["id"]))] = self._last
        if not any(_exited(e) == lead for e in held):
            self._in_added = lead  # the rest of it is left out too
        return out

    def _take(self, source: str, event: dict[str, Any], child: bool) -> dict[str, Any] | None:
        """The event renumbered, or None when it is left out (its id then stands for the
        last event kept)."""
        old = int(event["id"])
        if self._left_out(event, child):
            self._ids[(source, old)] = self._last
            return None
        self._count += 1
        new = dict(event)
        new["id"] = self._count
        previous = int(event.get("previousEventId") or 0)
        new["previousEventId"] = self._ids.get((source, previous), self._last if previous else 0)
        self._ids[(source, old)] = self._count
        self._last = self._count
        return new

    def _left_out(self, event: dict[str, Any], child: bool) -> bool:
        kind = event["type"]
        if child:
            if kind == "ExecutionStarted" or kind in _END:
                return True
            return self._skip_state(event, "_child_skip")
        if self._in_added is not None:
            arn = _child_arn(event)
            if arn is not None and self._added.get(self._in_added) and arn not in self._child_done \
                    and self._child is None:
                self._child = arn  # its events come next, before the parent's
            if _exited(event) == self._in_added:
                self._in_added = None
            return True
        return self._skip_state(event, "_in_added")

    def _skip_state(self, event: dict[str, Any], slot: str) -> bool:
        name = _entered(event)
        if name is not None and name in self._added:
            # a Fail or Succeed state has no exit event: nothing more to leave out
            if not event["type"].startswith(("Fail", "Succeed")):
                setattr(self, slot, name)
            return True
        current = getattr(self, slot)
        if current is not None:
            if _exited(event) == current:
                setattr(self, slot, None)
            return True
        return False


def spliced(events: list[dict[str, Any]], manifest: Mapping[str, Any],
            child_events: Callable[[str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The whole spliced history of a finished run (``events`` unchanged when the
    manifest names no split)."""
    added = manifest.get("split") or {}
    if not added:
        return events
    splicer = Splicer(added, lambda arn, seen: child_events(arn)[seen:])
    splicer.feed(events)
    return splicer.poll()
