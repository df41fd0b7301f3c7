"""One history for block logs: each distributed Map item's events where its Map Run ran.

A distributed parallel runs each item, and a chunked loop each chunk, as a child execution
of a distributed Map (``stepweave.compiler.distributed``): the blocks inside leave their
events in the child's history, not the run's. ``with_items`` gives the history an inline
container would have left, for block logs (``stepweave.runtime.history``): the run's events
in order, and after each ``MapRunStarted`` every item of that Map Run, in item order, as an
inline Map's iteration -- a ``MapIterationStarted`` naming the Map state and the item's index
(a parallel's branch: ``where``), then the child's events without its own start and end (a
chunk's loop iterations are numbered by its ``i_<loop>`` assignments, as inline). Events are
numbered afresh; ``previousEventId`` follows the same chains, a child's first event pointing
at its item's ``MapIterationStarted``.

Only the block logs are read from this history: the run's billed transitions and Lambda
invocations stay its own history's. The children's events come from ``ItemEvents`` (the
embedded engine keeps them: ``stepweave.local.distributed_map``) or, deployed, from the Map
Runs' child executions (``stepweave.runtime.map_runs``, a bounded number of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

__all__ = ["ItemEvents", "with_items", "IN_PROCESS_ITEMS"]

#: execution ARN -> Map Run ARN -> [(item index, the child execution's events, as
#: ``GetExecutionHistory`` gives them)]
ItemEvents = Callable[[str], Mapping[str, Sequence[tuple[int, list[dict[str, Any]]]]]]

#: Where a handler reads a run's items while the embedded engine calls it in-process: the
#: events the engine keeps (the approval notifier's pause snapshot reads them, as the local
#: recorder does: moto keeps no Map Run children to list). Deployed: None, and the items are
#: read back from the Map Runs (``stepweave.runtime.map_runs``).
IN_PROCESS_ITEMS: ContextVar[ItemEvents | None] = ContextVar("IN_PROCESS_ITEMS", default=None)

_OWN = ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted",
        "ExecutionTimedOut")


def _map_state(by_id: Mapping[int, Mapping[str, Any]], event: Mapping[str, Any]) -> str | None:
    """The name of the Map state whose Map Run ``event`` started (walking back its chain)."""
    seen: set[int] = set()
    current = by_id.get(int(event.get("previousEventId") or 0))
    while current is not None and int(current["id"]) not in seen:
        seen.add(int(current["id"]))
        if current["type"] == "MapStateEntered":
            return str((current.get("stateEnteredEventDetails") or {}).get("name"))
        current = by_id.get(int(current.get("previousEventId") or 0))
    return None


def with_items(events: list[dict[str, Any]],
               items: Mapping[str, Sequence[tuple[int, list[dict[str, Any]]]]]) -> list[dict[str, Any]]:
    """``events`` with each Map Run's items spliced in (``events`` itself when there are none)."""
    if not items or not any(e["type"] == "MapRunStarted" for e in events):
        return events
    by_id = {int(e["id"]): e for e in events}
    out: list[dict[str, Any]] = []
    ids: dict[int, int] = {}

    def add(event: dict[str, Any], previous: int) -> int:
        new = dict(event)
        new["id"] = len(out) + 1
        new["previousEventId"] = previous
        out.append(new)
        return len(out)

    for event in events:
        started = add(event, ids.get(int(event.get("previousEventId") or 0), 0))
        ids[int(event["id"])] = started
        if event["type"] != "MapRunStarted":
            continue
        arn = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
        name = _map_state(by_id, event)
        for index, child in sorted(items.get(str(arn), ()), key=lambda item: item[0]):
            kept = [e for e in child if e["type"] not in _OWN]
            if not kept:
                continue
            iteration = add({"type": "MapIterationStarted", "timestamp": kept[0].get("timestamp"),
                             "mapIterationStartedEventDetails": {"name": name, "index": index}},
                            started)
            child_ids: dict[int, int] = {}
            for child_event in kept:
                previous = child_ids.get(int(child_event.get("previousEventId") or 0), iteration)
                child_ids[int(child_event["id"])] = add(child_event, previous)
    return out
