"""One history for a split run (``stepweave.runtime.stretches``): each stretch's events in
place of the parent task that ran it, renumbered, the added states left out."""

from __future__ import annotations

import json
from typing import Any

from stepweave.runtime.stretches import Splicer, spliced

CHILD = "arn:aws:states:us-east-1:1:execution:flow-express-1:abc"
ADDED = {"A (express)": "~1", "Enter express stretch": "", "Exit to W": ""}


def _event(i: int, prev: int, kind: str, name: str | None = None, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": i, "previousEventId": prev, "type": kind}
    if kind.endswith("StateEntered"):
        event["stateEnteredEventDetails"] = {"name": name}
    elif kind.endswith("StateExited"):
        event["stateExitedEventDetails"] = {"name": name, **details}
    elif details:
        event[details.pop("key")] = details
    return event


PARENT = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "TaskStateEntered", "A (express)"),
    _event(3, 2, "TaskScheduled"),
    _event(4, 3, "TaskSubmitted", key="taskSubmittedEventDetails", output=json.dumps({"ExecutionArn": CHILD})),
    _event(5, 4, "TaskSucceeded", key="taskSucceededEventDetails", output=json.dumps({"ExecutionArn": CHILD})),
    _event(6, 5, "TaskStateExited", "A (express)"),
    _event(7, 6, "TaskStateEntered", "W"),
    _event(8, 7, "TaskStateExited", "W"),
    _event(9, 8, "ExecutionSucceeded"),
]
STRETCH = [
    _event(1, 0, "ExecutionStarted"),
    _event(2, 1, "PassStateEntered", "Enter express stretch"),
    _event(3, 2, "PassStateExited", "Enter express stretch"),
    _event(4, 3, "PassStateEntered", "A"),
    _event(5, 4, "PassStateExited", "A", assignedVariables={"b_a": "1"}),
    _event(6, 5, "PassStateEntered", "Exit to W"),
    _event(7, 6, "PassStateExited", "Exit to W"),
    _event(8, 7, "ExecutionSucceeded"),
]


def _shape(events: list[dict[str, Any]]) -> list[tuple[int, int, str, str | None]]:
    return [(e["id"], e["previousEventId"], e["type"],
             (e.get("stateEnteredEventDetails") or e.get("stateExitedEventDetails") or {}).get("name"))
            for e in events]


def test_the_stretch_events_take_the_place_of_its_task() -> None:
    out = spliced(PARENT, {"split": ADDED}, lambda arn: STRETCH if arn == CHILD else [])
    assert _shape(out) == [
        (1, 0, "ExecutionStarted", None),
        (2, 1, "PassStateEntered", "A"),
        (3, 2, "PassStateExited", "A"),
        (4, 3, "TaskStateEntered", "W"),
        (5, 4, "TaskStateExited", "W"),
        (6, 5, "ExecutionSucceeded", None),
    ]
    assert out[2]["stateExitedEventDetails"]["assignedVariables"] == {"b_a": "1"}


def test_an_unsplit_history_is_returned_as_is() -> None:
    assert spliced(PARENT, {"states": {}}, lambda arn: []) is PARENT


def test_a_child_without_history_leaves_its_events_out() -> None:
    """On AWS an Express execution has no history API: the parent's own events remain."""
    def refuse(arn: str) -> list[dict[str, Any]]:
        raise RuntimeError("not supported for Express")

    out = spliced(PARENT, {"split": ADDED}, refuse)
    assert [n for *_, n in _shape(out)] == [None, "W", "W", None]


def test_a_running_child_is_read_as_it_grows() -> None:
    reads: list[int] = []

    def child_events(arn: str, seen: int) -> list[dict[str, Any]]:
        reads.append(seen)
        return STRETCH[seen:seen + 3]  # three events per read, as a running child adds them

    splicer = Splicer(ADDED, child_events)
    splicer.feed(PARENT[:4])  # up to TaskSubmitted: the child is running
    first = splicer.poll()
    assert [n for *_, n in _shape(first)] == [None]  # ExecutionStarted; the child's Enter left out
    second = splicer.poll()
    assert [n for *_, n in _shape(second)] == ["A", "A"]
    splicer.feed(PARENT[4:])
    rest = splicer.poll()
    assert [n for *_, n in _shape(rest)] == ["W", "W", None]
    assert _shape(first + second + rest) == _shape(spliced(PARENT, {"split": ADDED}, lambda a: STRETCH))
