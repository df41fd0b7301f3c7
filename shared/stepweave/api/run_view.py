"""What the run viewer shows of one execution, read from where it is recorded.

``read_run`` gathers an execution's record (``stepweave.runtime.query``), the run of each
block and the approvals it waits for. The block runs are derived from the run's Step Functions
history (``stepweave.runtime.history``, as the recorder derives block logs) with the
workflow's manifest while the Step Functions client can read it (the embedded engine of this
process, or a Standard execution on AWS): a run still going has no block logs yet, and the
history also has what each Lambda-backed block was given (its params, resolved). Otherwise
(another process's run, an Express or expired execution) they are the block logs. Each
block of the workflow graph then gets one outcome: ``failed`` (one of its runs failed),
``ran``, ``waiting`` (an approval of the run waits on it), ``skipped`` (the run ended
without it) or ``pending`` (the run has not reached it yet).

The graph is the workflow's blocks and edges (``graph_of``), from the workflow file the
viewer was started with; nothing here calls the compiler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from stepweave.runtime.approvals import Approval, get_approval
from stepweave.runtime.history import BlockRun, billed_transitions, block_runs, lambda_invocations
from stepweave.runtime.payloads import stub_ref
from stepweave.runtime.pricing import RunBill, record_bill
from stepweave.runtime.query import get_execution
from stepweave.runtime.recorder import fetch_history
from stepweave.runtime.stretches import spliced
from stepweave.runtime.records import FINAL_STATUSES, BlockLog, ExecutionRecord
from stepweave.runtime.settings import Settings
from stepweave.workflow.model import Workflow

__all__ = ["Outcome", "BlockState", "GraphNode", "GraphEdge", "Graph", "RunView", "Priced",
           "graph_of", "read_run", "stubs_in", "parse_time"]

logger = logging.getLogger(__name__)

Outcome = Literal["ran", "failed", "skipped", "waiting", "pending"]
#: ``(workflow type, billed transitions, duration in seconds) -> dollars`` for one run.
Priced = Callable[[str, int, float], float]


@dataclass(frozen=True)
class BlockState:
    """One run of a block (a block in a loop or parallel runs once per iteration / branch)."""

    block_id: str
    name: str
    type: str
    outcome: Outcome
    containers: tuple[str, ...] = ()
    where: dict[str, int] = field(default_factory=dict)
    started: datetime | None = None
    ended: datetime | None = None
    output: Any = None
    #: only the first bytes of the output were recorded (a value too large for its item)
    output_truncated: bool = False
    has_output: bool = False
    error: str | None = None
    #: the params its handler received (Lambda-backed blocks, when read from the history)
    input: Any = None
    has_input: bool = False


@dataclass(frozen=True)
class GraphNode:
    id: str
    name: str
    type: str
    parent: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    label: str = ""
    error: bool = False


@dataclass(frozen=True)
class Graph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]


@dataclass(frozen=True)
class RunView:
    record: ExecutionRecord
    #: every block run, in order of start
    runs: list[BlockState]
    #: block id -> its outcome in this run (every block of the graph, else of the runs)
    outcomes: dict[str, Outcome]
    approvals: list[Approval]
    graph: Graph | None
    #: where the block runs were read: "records" (block logs) or "history" (Step Functions)
    source: str
    transitions: int | None = None
    lambda_invocations: int | None = None
    workflow_type: str | None = None
    #: what Step Functions bills for the run, in dollars (None when unknown)
    cost: float | None = None
    #: the whole bill of a recorded run (its stretches' and child executions' too), from its
    #: record (``stepweave.runtime.pricing.record_bill``); None: not recorded so
    bill: RunBill | None = None


def _edge_label(handle: str | None) -> str:
    if handle in (None, "source") or (handle or "").endswith(("start-source", "end-source")):
        return ""
    return handle.removeprefix("condition-") if handle else ""


def graph_of(workflow: Workflow) -> Graph:
    """The blocks and edges of a workflow, as the viewer draws them."""
    nodes = [GraphNode(b.id, b.name or b.id, b.type, b.parent, b.enabled) for b in workflow.blocks]
    edges = [GraphEdge(e.source, e.target, _edge_label(e.sourceHandle), e.sourceHandle == "error")
             for e in workflow.edges]
    return Graph(nodes, edges)


def parse_time(value: str | datetime | None) -> datetime | None:
    """A record's ISO-8601 timestamp (or a datetime) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_or_text(text: str | None, truncated: bool) -> Any:
    if text is None:
        return None
    if truncated:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _from_log(log: BlockLog) -> BlockState:
    truncated = bool(log.output_truncated)
    return BlockState(log.block_id, log.name, log.type, "ran" if log.success else "failed",
                      tuple(log.containers), dict(log.where), parse_time(log.started_at),
                      parse_time(log.ended_at), _json_or_text(log.output, truncated), truncated,
                      log.output is not None, log.error)


def _from_run(run: BlockRun) -> BlockState:
    return BlockState(run.block, run.name, run.type, "failed" if run.failed else "ran",
                      tuple(run.containers), dict(run.where), parse_time(run.started),
                      parse_time(run.ended), None if run.failed else run.output, False,
                      not run.failed and run.output is not None, run.error if run.failed else None)


def _handler_inputs(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, int], Any]]:
    """What each Lambda call of the history was given: (block id, its loop and parallel
    positions, the block's params as resolved for the call), in order."""
    inputs = []
    for event in events:
        details = event.get("lambdaFunctionScheduledEventDetails") or {}
        try:
            sent = json.loads(details.get("input") or "null")
        except ValueError:
            continue
        if not isinstance(sent, dict) or not isinstance(sent.get("block"), dict):
            continue
        context = sent["context"] if isinstance(sent.get("context"), dict) else {}
        where = {str(c["id"]): c["index"] for c in (context.get("loop"), context.get("parallel"))
                 if isinstance(c, dict) and isinstance(c.get("index"), int) and c.get("id")}
        inputs.append((str(sent["block"].get("id")), where, sent.get("params")))
    return inputs


def _with_inputs(runs: list[BlockState], events: list[dict[str, Any]]) -> list[BlockState]:
    """``runs`` with the input of each Lambda call, matched by block and position (a retried
    call gave the same input again)."""
    given: dict[str, list[tuple[dict[str, int], Any]]] = {}
    for block, where, params in _handler_inputs(events):
        given.setdefault(block, []).append((where, params))
    out = []
    for run in runs:
        for where, params in given.get(run.block_id, []):
            if all(run.where.get(c) == i for c, i in where.items()):
                run = replace(run, input=params, has_input=True)
                break
        out.append(run)
    return out


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]] | None:
    """The execution's history, or None when this client cannot read it (another process's
    embedded engine, an expired execution, no permission)."""
    try:
        return fetch_history(sfn, execution_arn)
    except Exception as exc:  # ExecutionDoesNotExist, AccessDenied, ...: the records still show the run
        logger.info("no execution history", extra={"execution": execution_arn, "error": type(exc).__name__})
        return None


def _spliced(sfn: Any, events: list[dict[str, Any]],
             manifest: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """A split run's history with its Express stretches' events in place
    (``stepweave.runtime.stretches``), or None when a stretch's history cannot be read
    (deployed, an Express execution has none: the records have its blocks)."""
    if not manifest.get("split"):
        return events
    missing: list[str] = []

    def read(child: str) -> list[dict[str, Any]]:
        try:
            return fetch_history(sfn, child)
        except Exception:
            missing.append(child)
            raise

    whole = spliced(events, manifest, read)
    return None if missing else whole


def read_run(ddb: Any, settings: Settings, execution_arn: str, *, sfn: Any = None,
             manifest: Mapping[str, Any] | None = None, graph: Graph | None = None,
             price: Priced | None = None) -> RunView | None:
    """The run viewer's picture of one execution, or None when it is not recorded."""
    detail = get_execution(ddb, settings, execution_arn)
    if detail is None:
        return None
    record = detail.record
    runs = [_from_log(log) for log in detail.blocks]
    source = "records"
    transitions, lambdas = record.transitions, record.lambda_invocations
    live = record.status not in FINAL_STATUSES
    if sfn is not None and manifest is not None:
        own = _history(sfn, execution_arn)
        events = _spliced(sfn, own, manifest) if own is not None else None
        if own is not None and events is not None:
            runs = _with_inputs([_from_run(run) for run in block_runs(events, manifest)], events)
            source = "history"
            if transitions is None:  # billed: the parent's own transitions
                transitions, lambdas = billed_transitions(own), lambda_invocations(events)
    blocks = (manifest or {}).get("blocks") or {}
    # the execution's pointer items hold less than the request (no subject, no approvers)
    approvals = [get_approval(ddb, settings, a.id) or a for a in detail.approvals]
    for approval in approvals:
        known = blocks.get(approval.block_id) or {}
        runs.append(BlockState(approval.block_id, approval.block_name,
                               str(known.get("type") or "approval"), "waiting",
                               tuple(known.get("containers") or ()),
                               {},
                               parse_time(approval.created_at)))
    far_future = datetime.max.replace(tzinfo=UTC)
    runs.sort(key=lambda r: (r.started or r.ended or far_future))
    outcomes = _outcomes(runs, graph, blocks, final=not live)
    workflow_type = str((manifest or {}).get("type") or "") or None
    cost = None
    if price is not None and workflow_type and transitions is not None:
        duration_s = (record.duration_ms or 0) / 1000
        cost = price(workflow_type, transitions, duration_s)
    return RunView(record, runs, outcomes, approvals, graph, source, transitions, lambdas,
                   workflow_type, cost, record_bill(record))


def _outcomes(runs: list[BlockState], graph: Graph | None, blocks: Mapping[str, Any], *,
              final: bool) -> dict[str, Outcome]:
    order: list[str] = [n.id for n in graph.nodes] if graph else list(blocks)
    order += [r.block_id for r in runs if r.block_id not in order]
    seen: dict[str, set[str]] = {}
    for run in runs:
        seen.setdefault(run.block_id, set()).add(run.outcome)
    outcomes: dict[str, Outcome] = {}
    for block in order:
        found = seen.get(block, set())
        for outcome in ("failed", "waiting", "ran"):
            if outcome in found:
                outcomes[block] = outcome
                break
        else:
            outcomes[block] = "skipped" if final else "pending"
    return outcomes


def stubs_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every offloaded-payload reference (``stepweave.runtime.payloads``) inside ``value``."""
    ref = stub_ref(value)
    if ref is not None:
        yield ref
    elif isinstance(value, dict):
        for item in value.values():
            yield from stubs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from stubs_in(item)
