"""Block runs derived from a Step Functions execution history and a workflow manifest.

Native blocks leave no Lambda trace, so everything is read from the history, which
carries the same fields on AWS and on the embedded engine:

- **ran**: the state that completes a block (its main state, or a loop's ``continue?``
  Choice when it assigns the loop's output; distributed: a parallel's ``results`` task, a
  chunked loop's ``more?`` Choice) assigned the block's end-time variable
  (``t<scope>_<stem>``, else its output ``b<scope>_<stem>``) a non-null value; skipped
  blocks assign null. A response inside a branch is its ``Fail`` state being entered.
- **output**: the ``b<scope>_<stem>`` value assigned on completion (a top-level response:
  the state's output). **Failed** when it is ``{"error": ...}`` (except variables blocks,
  whose output may name a variable ``error``) or when the state exited through a Catch
  (the event before its exit is a ``*Failed``/``*TimedOut`` one); a failed block has no
  output.
- **error**: the output's ``error`` text, else the last ``*Failed``/``*TimedOut`` event on
  the block's own event chain (``errorMessage`` of a Lambda error's cause when present).
- **start / end**: events are chained by ``previousEventId`` (one chain per branch and Map
  iteration), so a block starts at the ``*StateEntered`` of its first state found walking
  back from its completion (its guard Choice ``"<name> ?"`` when it has one, a loop's
  initialising Pass, else its main state) and ends at the completion's ``*StateExited``.
- **where**: for each enclosing container, the index of the loop iteration (the
  ``i_<stem>`` assignment of the loop's ``continue?`` Choice) or of the parallel branch
  (``MapIterationStarted``) that the block's chain went through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["BlockRun", "block_runs", "billed_transitions", "lambda_invocations", "event_time",
           "fetch_history"]

#: ... a distributed parallel's ``results`` task and a chunked loop's last ``more?`` Choice
#: (``stepweave.compiler.distributed``) assign the container's output
_COMPLETION_ROLES = ("main", "end", "continue?", "results", "more?")
_FAILURE_SUFFIXES = ("Failed", "TimedOut")


@dataclass(frozen=True)
class BlockRun:
    block: str
    name: str
    type: str
    output: Any
    failed: bool
    error: str | None = None
    containers: tuple[str, ...] = ()
    #: container id -> loop iteration / parallel branch index (when derivable)
    where: dict[str, int] = field(default_factory=dict)
    iteration: int | None = None  # the innermost enclosing loop's iteration
    branch: int | None = None  # the innermost enclosing parallel's branch
    started: datetime | None = None
    ended: datetime | None = None


class _Manifest:
    """Read access to a ``CompiledWorkflow.manifest()`` dict."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.blocks: Mapping[str, Mapping[str, Any]] = manifest.get("blocks") or {}
        self.states: dict[str, tuple[str, str]] = {
            name: (str(entry[0]), str(entry[1])) for name, entry in (manifest.get("states") or {}).items()}
        self.state_of = {(node, role): name for name, (node, role) in self.states.items()}
        self.index_vars = {f"i_{self.blocks[n]['stem']}": n for n in self.blocks
                           if self.type(n) in ("loop", "parallel")}
        self.map_states = {self.state_of[(n, "main")]: n for n in self.blocks
                           if self.type(n) == "parallel" and (n, "main") in self.state_of}

    def type(self, node: str) -> str:
        return str(self.blocks[node].get("type", ""))

    def stem(self, node: str) -> str:
        return str(self.blocks[node].get("stem", node))


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """An event's timestamp as an aware datetime (boto3 gives datetimes)."""
    value = event.get("timestamp")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _assigned(event: Mapping[str, Any]) -> dict[str, str]:
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict) and "assignedVariables" in details:
            return dict(details["assignedVariables"] or {})
    return {}


def _walk_back(by_id: Mapping[int, Mapping[str, Any]],
               event: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    seen: set[int] = set()
    current = by_id.get(int(event.get("previousEventId") or 0))
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        yield current
        current = by_id.get(int(current.get("previousEventId") or 0))


def _indexes(events: Sequence[Mapping[str, Any]], m: _Manifest) -> dict[int, dict[str, int]]:
    """Event id -> container -> iteration/branch index, inherited along each chain."""
    where: dict[int, dict[str, int]] = {}
    for event in sorted(events, key=lambda e: int(e["id"])):
        base = where.get(int(event.get("previousEventId") or 0), {})
        update: dict[str, int] = {}
        if event["type"] == "MapIterationStarted":
            details = event.get("mapIterationStartedEventDetails") or {}
            node = m.map_states.get(str(details.get("name")))
            if node is not None and details.get("index") is not None:
                update[node] = int(details["index"])
        for var, value in _assigned(event).items():
            node = m.index_vars.get(var)
            if node is not None:
                try:
                    update[node] = int(float(value))
                except ValueError:
                    pass
        where[int(event["id"])] = {**base, **update} if update else base
    return where


def _entered_name(event: Mapping[str, Any]) -> str | None:
    details = event.get("stateEnteredEventDetails")
    if isinstance(details, dict) and event["type"].endswith("StateEntered"):
        return str(details.get("name"))
    return None


def _exited_name(event: Mapping[str, Any]) -> str | None:
    details = event.get("stateExitedEventDetails")
    return str(details.get("name")) if isinstance(details, dict) else None


def _start_event(by_id: Mapping[int, Mapping[str, Any]], done: Mapping[str, Any], node: str,
                 m: _Manifest) -> Mapping[str, Any] | None:
    first = m.state_of.get((node, "start")) if m.type(node) == "loop" else _exited_name(done)
    if m.states.get(str(first)) == (node, "results"):  # a distributed parallel: from its Map
        first = m.state_of.get((node, "main"))
    entered = next((e for e in _walk_back(by_id, done) if _entered_name(e) == first), None)
    guard = m.state_of.get((node, "?"))
    if entered is None or guard is None:
        return entered
    before = list(_walk_back(by_id, entered))[:2]
    if len(before) == 2 and _exited_name(before[0]) == guard and _entered_name(before[1]) == guard:
        return before[1]
    return entered


def _error_text(details: Mapping[str, Any]) -> str:
    error, cause = details.get("error"), details.get("cause")
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return ": ".join(str(part) for part in (error, cause) if part)


def _failure(by_id: Mapping[int, Mapping[str, Any]], done: Mapping[str, Any],
             start: Mapping[str, Any] | None) -> str | None:
    stop = int(start["id"]) if start is not None else 0
    for event in _walk_back(by_id, done):
        if int(event["id"]) < stop:
            return None
        if event["type"].endswith(_FAILURE_SUFFIXES):
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)
                            and ("error" in v or "cause" in v)), None)
            if details is not None:
                return _error_text(details)
    return None


def _caught(by_id: Mapping[int, Mapping[str, Any]], done: Mapping[str, Any]) -> bool:
    """The state exited through a Catch: the event just before its exit is a failure."""
    before = next(_walk_back(by_id, done), None)
    return before is not None and str(before["type"]).endswith(_FAILURE_SUFFIXES)


def _output(event: Mapping[str, Any], assigned: Mapping[str, str], mark: str, btype: str) -> Any:
    bvar = "b" + mark[1:]
    text = assigned.get(bvar)
    if text is None and btype == "response":
        text = (event.get("stateExitedEventDetails") or {}).get("output")
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def _completion_mark(event: Mapping[str, Any], node: str, m: _Manifest) -> str | None:
    stem = re.escape(m.stem(node))
    assigned = _assigned(event)
    marks = [k for k in assigned if re.fullmatch(rf"t\d*_{stem}", k)] or \
        [k for k in assigned if re.fullmatch(rf"b\d*_{stem}", k)]
    if not marks or assigned[marks[0]] == "null":
        return None
    return marks[0]


def _innermost(containers: tuple[str, ...], where: Mapping[str, int], m: _Manifest, kind: str) -> int | None:
    return next((where[c] for c in containers if m.type(c) == kind and c in where), None)


def _run(node: str, m: _Manifest, output: Any, error: str | None, failed: bool,
         where: Mapping[str, int], started: datetime | None, ended: datetime | None) -> BlockRun:
    block = m.blocks[node]
    containers = tuple(str(c) for c in block.get("containers") or ())
    own = {c: where[c] for c in containers if c in where}
    return BlockRun(node, str(block.get("name", node)), m.type(node), output, failed, error, containers,
                    own, _innermost(containers, own, m, "loop"), _innermost(containers, own, m, "parallel"),
                    started, ended)


_THRESHOLD = "States.ExceedToleratedFailureThreshold"


def _container_failure(by_id: Mapping[int, Mapping[str, Any]], event: Mapping[str, Any],
                       entry: tuple[str, str] | None, m: _Manifest) -> str | None:
    """Why a parallel or loop failed (None: it did not end here, or not failed): its Map
    state exited through a Catch (inline: with the failed block's ``{block, Error,
    Cause}``), or a distributed one's ``failed item`` task read the failed item's."""
    if entry is None or entry[0] not in m.blocks or m.type(entry[0]) not in ("parallel", "loop"):
        return None
    node, role = entry
    if role == "main" and _caught(by_id, event):
        out = _json_output(event)
        if out.get("Error") == _THRESHOLD and (node, "failed item") in m.state_of:
            return None  # the failed item's task says why
    elif role != "failed item":
        return None
    out = _json_output(event)
    if not isinstance(out.get("Error"), str):
        return None  # caught, not failed: a response inside it ended the run
    why = _error_text({"error": out.get("Error"), "cause": out.get("Cause")}) or "failed"
    return f"{out['block']}: {why}" if isinstance(out.get("block"), str) else why


def _json_output(event: Mapping[str, Any]) -> dict[str, Any]:
    text = (event.get("stateExitedEventDetails") or {}).get("output")
    try:
        out = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        out = None
    return out if isinstance(out, dict) else {}


def _container_start(by_id: Mapping[int, Mapping[str, Any]], event: Mapping[str, Any], node: str,
                     m: _Manifest) -> Mapping[str, Any] | None:
    first = m.state_of.get((node, "start" if m.type(node) == "loop" else "main"))
    return next((e for e in _walk_back(by_id, event) if _entered_name(e) == first), None)


def block_runs(events: list[dict[str, Any]], manifest: Mapping[str, Any]) -> list[BlockRun]:
    """Every block execution (loop iterations and parallel branches included), in the
    order they completed. ``manifest`` has the shape of ``CompiledWorkflow.manifest()``."""
    m = _Manifest(manifest)
    by_id = {int(e["id"]): e for e in events}
    where = _indexes(events, m)
    runs: list[BlockRun] = []
    for event in events:
        entered = _entered_name(event)
        if event["type"] == "FailStateEntered" and entered is not None:
            entry = m.states.get(entered)
            if entry is not None and m.type(entry[0]) == "response":
                at = event_time(event)
                runs.append(_run(entry[0], m, None, None, False, where.get(int(event["id"]), {}), at, at))
            continue
        exited = _exited_name(event)
        entry = m.states.get(exited) if exited is not None else None
        failure = _container_failure(by_id, event, entry, m)
        if failure is not None and entry is not None:
            start = _container_start(by_id, event, entry[0], m)
            first = start if start is not None else event
            runs.append(_run(entry[0], m, None, failure, True, where.get(int(first["id"]), {}),
                             event_time(first), event_time(event)))
            continue
        if entry is None or entry[1] not in _COMPLETION_ROLES or entry[0] not in m.blocks:
            continue
        node = entry[0]
        mark = _completion_mark(event, node, m)
        if mark is None:
            continue
        output = _output(event, _assigned(event), mark, m.type(node))
        failed = (isinstance(output, dict) and "error" in output and m.type(node) != "variables") \
            or _caught(by_id, event)
        start = _start_event(by_id, event, node, m)
        error = None
        if failed:
            text = output.get("error") if isinstance(output, dict) else None
            error = text if isinstance(text, str) else _failure(by_id, event, start) or "failed"
        first = start if start is not None else event
        runs.append(_run(node, m, output, error, failed, where.get(int(first["id"]), {}),
                         event_time(first), event_time(event)))
    return runs


def billed_transitions(events: list[dict[str, Any]]) -> int:
    """Billed state transitions: AWS bills one per state entered."""
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def lambda_invocations(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["type"] == "LambdaFunctionScheduled"
               or (e["type"] == "TaskScheduled"
                   and (e.get("taskScheduledEventDetails") or {}).get("resourceType") == "lambda"))


def fetch_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole execution history (every page), as ``GetExecutionHistory`` gives it."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
