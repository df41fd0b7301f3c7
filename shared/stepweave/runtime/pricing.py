"""What Step Functions bills for a run: its own charges, its Express stretches' and its
distributed containers' child executions', and the words ``stepweave run`` and
``stepweave execution`` print for it (``RunBill.text``).

The prices live here only; ``stepweave.local.progress`` prices a local run's result with
them, and the records' billed figures (``stepweave.runtime.records.ExecutionRecord``) are
priced by ``record_bill``. Lambda is not priced: its invocations are counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stepweave.runtime.records import ExecutionRecord

__all__ = ["PRICE_PER_TRANSITION", "EXPRESS_PRICE_PER_REQUEST", "EXPRESS_PRICE_PER_GB_SECOND",
           "EXPRESS_MEMORY_GB", "billed_seconds", "workflow_cost", "BilledChild", "ChildrenBill",
           "children_bill", "StretchesBill", "stretches_bill", "RunBill", "record_bill"]

#: AWS list prices (us-east-1): Standard per state transition; Express per request and per
#: GB-second of duration (billed in 64 MB steps, 100 ms minimum; 64 MB assumed here).
PRICE_PER_TRANSITION = 0.000025
EXPRESS_PRICE_PER_REQUEST = 0.000001
EXPRESS_PRICE_PER_GB_SECOND = 0.00001667
EXPRESS_MEMORY_GB = 64 / 1024


def billed_seconds(duration_s: float) -> float:
    """Express duration as billed: rounded up to 100 ms."""
    return max(0.1, math.ceil(duration_s * 10) / 10)


def workflow_cost(workflow_type: str, transitions: int, duration_s: float) -> float:
    """What Step Functions bills for one run (Lambda not included), in dollars."""
    if workflow_type == "EXPRESS":
        return (EXPRESS_PRICE_PER_REQUEST
                + billed_seconds(duration_s) * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND)
    return transitions * PRICE_PER_TRANSITION


def _express_cost(requests: int, seconds: float) -> float:
    """``requests`` Express executions that ran ``seconds`` as billed (already rounded up)."""
    return requests * EXPRESS_PRICE_PER_REQUEST + seconds * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND


def _count(n: int, thing: str) -> str:
    """``1 Lambda invocation``, ``6 Lambda invocations``."""
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


class BilledChild(Protocol):
    """A child execution as it is billed (``stepweave.local.distributed_map.ChildExecution``)."""

    @property
    def workflow_type(self) -> str: ...  # EXPRESS | STANDARD

    @property
    def transitions(self) -> int: ...  # its billed state transitions (a Standard child's)

    @property
    def duration_s(self) -> float: ...  # how long it ran (an Express child's)


@dataclass(frozen=True)
class ChildrenBill:
    """What Step Functions bills for the child executions a run's distributed Maps started
    (distributed parallels' items, chunked loops' chunks), in dollars: each Express child a
    request and its duration (``workflow_cost``), each Standard child its state transitions,
    and each child's start one state transition of the Distributed Map state that started it
    (the Step Functions Developer Guide, "Transitions in Distributed Map state";
    docs/how-it-compiles.md). ``unread``: children whose own charges are not known (deployed,
    Standard children the recorder did not read, or children still running when the run
    ended): only their starts are priced."""

    express: int = 0  # Express child executions
    express_seconds: float = 0.0  # their duration as billed (each rounded up to 100 ms)
    express_cost: float = 0.0
    standard: int = 0  # Standard child executions
    standard_transitions: int = 0  # their own state transitions
    standard_cost: float = 0.0
    starts: int = 0  # the children's starts, billed to the Map Runs as state transitions
    starts_cost: float = 0.0
    unread: int = 0  # children of unknown own charges (their starts are counted)

    @classmethod
    def of(cls, express: int = 0, express_seconds: float = 0.0, standard: int = 0,
           standard_transitions: int = 0, unread: int = 0) -> ChildrenBill:
        """The bill of children known by their figures (a record's)."""
        starts = express + standard + unread
        return cls(express, express_seconds, _express_cost(express, express_seconds), standard,
                   standard_transitions, workflow_cost("STANDARD", standard_transitions, 0.0),
                   starts, workflow_cost("STANDARD", starts, 0.0), unread)

    @property
    def executions(self) -> int:
        return self.express + self.standard + self.unread

    @property
    def cost(self) -> float:
        return self.express_cost + self.standard_cost + self.starts_cost

    def as_json(self) -> dict[str, Any]:
        """The figures as ``stepweave run --json`` gives them (``costUsd``: per run)."""
        out = {"executions": self.executions, "express": self.express,
               "expressBilledSeconds": round(self.express_seconds, 1),
               "standard": self.standard, "standardTransitions": self.standard_transitions,
               "startTransitions": self.starts, "costUsd": round(self.cost, 9)}
        if self.unread:
            out["unread"] = self.unread
        return out

    def describe(self) -> str:
        """e.g. ``10,000 Express child executions (1,000.0 s at 64 MB) and their 10,000
        starts as state transitions ($261.0419 per 1,000 runs)``; empty without children."""
        if not self.executions:
            return ""
        kinds = []
        if self.express:
            kinds.append(f"{self.express:,} Express child executions "
                         f"({self.express_seconds:,.1f} s at 64 MB)")
        if self.standard:
            kinds.append(f"{self.standard:,} Standard child executions "
                         f"({self.standard_transitions:,} state transitions)")
        if self.unread:
            kinds.append(f"{_count(self.unread, 'child execution')} not read "
                         "(their own charges not known)")
        return (f"{' and '.join(kinds)} and their {self.starts:,} starts as state transitions "
                f"(${self.cost * 1000:.4f} per 1,000 runs)")


def children_bill(children: Iterable[BilledChild]) -> ChildrenBill:
    """What the child executions ``children`` (``RunResult.children``) are billed, each
    priced by ``workflow_cost`` as its own type."""
    express = standard = transitions = 0
    seconds = 0.0
    for child in children:
        if child.workflow_type == "EXPRESS":
            express += 1
            seconds += billed_seconds(child.duration_s)
        else:
            standard += 1
            transitions += child.transitions
    return ChildrenBill.of(express, seconds, standard, transitions)


@dataclass(frozen=True)
class StretchesBill:
    """A split workflow's Express stretch executions: how many, and their duration as billed
    (each rounded up to 100 ms)."""

    executions: int = 0
    billed_seconds: float = 0.0

    @property
    def cost(self) -> float:
        return _express_cost(self.executions, self.billed_seconds)

    def as_json(self) -> dict[str, Any]:
        return {"executions": self.executions, "billedSeconds": round(self.billed_seconds, 1),
                "costUsd": round(self.cost, 9)}


def stretches_bill(durations_s: Iterable[float]) -> StretchesBill:
    """The bill of Express stretch executions that ran ``durations_s`` (seconds, each)."""
    billed = [billed_seconds(d) for d in durations_s]
    return StretchesBill(len(billed), round(sum(billed), 1))


@dataclass(frozen=True)
class RunBill:
    """Everything Step Functions bills for one run, and its Lambda invocations (counted)."""

    workflow_type: str  # STANDARD | EXPRESS
    transitions: int  # the run's own billed state transitions (a Standard run's)
    duration_s: float  # how long it ran (an Express run's)
    #: None: not counted (an Express run recorded from its log's execution events alone)
    lambda_invocations: int | None
    stretches: StretchesBill = field(default_factory=StretchesBill)
    children: ChildrenBill = field(default_factory=ChildrenBill)

    @property
    def own_cost(self) -> float:
        return workflow_cost(self.workflow_type, self.transitions, self.duration_s)

    @property
    def cost(self) -> float:
        """The run's own charges, its stretches' and its children's, in dollars."""
        return self.own_cost + self.stretches.cost + self.children.cost

    def text(self) -> str:
        """What AWS would bill, in the words ``stepweave run`` prints: the execution's own
        charges, its Express stretches' (a split workflow) and its distributed containers'
        child executions' (``ChildrenBill``), the whole, and its Lambda invocations."""
        lambdas = ("its Lambda invocations not counted" if self.lambda_invocations is None
                   else _count(self.lambda_invocations, "Lambda invocation"))
        cost = self.own_cost
        more = ""
        if self.stretches.executions:  # a split workflow's Express stretches
            more += (f" + {_count(self.stretches.executions, 'Express stretch execution')} "
                     f"(${self.stretches.cost * 1000:.4f} per 1,000 runs)")
        if self.children.executions:
            more += f" + {self.children.describe()}"
        total = f", ${self.cost * 1000:.4f} per 1,000 runs in all" if more else ""
        if self.workflow_type == "EXPRESS":
            return (f"1 Express request, {billed_seconds(self.duration_s):.1f} s at 64 MB "
                    f"(${cost * 1000:.4f} per 1,000 runs on Express){more}{total}, {lambdas}")
        return (f"{_count(self.transitions, 'state transition')} (${cost * 1000:.4f} per 1,000 runs on "
                f"Standard){more}{total}, {lambdas}")

    def as_json(self) -> dict[str, Any]:
        """The figures and costs (dollars per run), and ``text``."""
        return {"workflowType": self.workflow_type, "stateTransitions": self.transitions,
                "lambdaInvocations": self.lambda_invocations, "costUsd": round(self.own_cost, 9),
                "expressStretches": self.stretches.as_json(),
                "childExecutions": self.children.as_json(),
                "totalCostUsd": round(self.cost, 9), "text": self.text()}


def record_bill(record: ExecutionRecord) -> RunBill | None:
    """The bill of a recorded run, from its record's figures; None when the record does not
    have them (a run still going, or a record written before they were recorded: those have
    its transitions but not its workflow type). A deployed Express run, recorded from its
    log's execution events, is billed its request and duration; its Lambda invocations are
    not counted."""
    if record.workflow_type == "EXPRESS" and record.transitions is None:
        # deployed, recorded from its log's execution events: a request and its duration
        # (its start and stop), its blocks' Lambda invocations not counted
        if record.duration_ms is None:
            return None
        return RunBill("EXPRESS", 0, record.duration_ms / 1000, None)
    if record.transitions is None or record.workflow_type is None:
        return None
    children = ChildrenBill.of(record.child_express_executions or 0,
                               record.child_express_billed_seconds or 0.0,
                               record.child_standard_executions or 0,
                               record.child_standard_transitions or 0,
                               record.unread_child_executions or 0)
    return RunBill(record.workflow_type, record.transitions, (record.duration_ms or 0) / 1000,
                   record.lambda_invocations or 0,
                   StretchesBill(record.stretch_executions or 0, record.stretch_billed_seconds or 0.0),
                   children)
