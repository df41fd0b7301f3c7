"""The billed figures of a run's record beside its own transitions, gathered as the recorder
reads the run (``stepweave.runtime.recorder``); ``stepweave.runtime.pricing`` prices them.

- **Express stretches** (a split workflow): ``StretchTimes`` wraps the reader the splice
  reads each stretch execution's events with (``stepweave.runtime.stretches.spliced``) and
  notes how long each ran: its last event's time minus its first's (its own start and end
  events), billed rounded up to 100 ms. The embedded engine gives its start and stop dates
  instead (``Clients.execution_span``: what ``stepweave run`` bills, measured the same way;
  its events are dated a few milliseconds inside them). A stretch whose events could not be read (there is
  no history to read: the splice leaves its events out) is billed its 100 ms minimum.
- **Child executions of distributed containers**: the embedded engine notes each as it
  ends (``Clients.map_children``); deployed, ``stepweave.runtime.map_runs.read_items``
  prices them from the Map Runs' listing (an Express child's start and stop dates) and the
  histories it reads (a Standard child's transitions), and counts as ``unread`` those whose
  own charges it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stepweave.runtime.history import event_time
from stepweave.runtime.pricing import ChildrenBill, StretchesBill, stretches_bill

__all__ = ["StretchTimes", "billed_figures"]


class StretchTimes:
    """A stretch reader (execution ARN -> its events) that notes how long each stretch it
    read ran (``bill``): ``span``'s answer, else its events' span; exceptions pass through
    (the stretch is then billed its minimum)."""

    def __init__(self, read: Callable[[str], list[dict[str, Any]]],
                 span: Callable[[str], float | None] | None = None) -> None:
        self._read = read
        self._span = span
        self._durations: dict[str, float] = {}

    def __call__(self, execution_arn: str) -> list[dict[str, Any]]:
        self._durations.setdefault(execution_arn, 0.0)
        events = self._read(execution_arn)
        span = self._span(execution_arn) if self._span is not None else None
        if span is not None:
            self._durations[execution_arn] = max(0.0, span)
            return events
        times = [t for t in (event_time(e) for e in events) if t is not None]
        if times:
            self._durations[execution_arn] = max(0.0, (max(times) - min(times)).total_seconds())
        return events

    def bill(self) -> StretchesBill:
        return stretches_bill(self._durations.values())


def billed_figures(manifest: Mapping[str, Any], stretches: StretchesBill,
                   children: ChildrenBill | None) -> dict[str, Any]:
    """The record's billed fields (``ExecutionRecord``) beside its transitions: the
    workflow's type (from its manifest), its stretches' (a split workflow's) and its
    children's (None: not known)."""
    out: dict[str, Any] = {}
    if manifest.get("type") in ("STANDARD", "EXPRESS"):
        out["workflow_type"] = manifest["type"]
    if manifest.get("split"):
        out.update(stretch_executions=stretches.executions,
                   stretch_billed_seconds=round(stretches.billed_seconds, 1))
    if children is not None and children.executions:
        out.update(child_express_executions=children.express,
                   child_express_billed_seconds=round(children.express_seconds, 1),
                   child_standard_executions=children.standard,
                   child_standard_transitions=children.standard_transitions,
                   unread_child_executions=children.unread or None)
    return out
