"""Live progress of a local run, from the execution history."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from stepweave.compiler import CompiledWorkflow
from stepweave.local.distributed_map import ChildExecution
from stepweave.local.engine import Progress, RunResult
from stepweave.local.failures import describe, failed_state

__all__ = ["ProgressPrinter", "bill", "workflow_cost", "billed_seconds", "ChildrenBill",
           "children_bill"]

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


@dataclass(frozen=True)
class ChildrenBill:
    """What Step Functions bills for the child executions a run's distributed Maps started
    (distributed parallels' items, chunked loops' chunks), in dollars: each Express child a
    request and its duration (``workflow_cost``), each Standard child its state transitions,
    and each child's start one state transition of the Distributed Map state that started it
    (the Step Functions Developer Guide, "Transitions in Distributed Map state";
    docs/how-it-compiles.md)."""

    express: int = 0  # Express child executions
    express_seconds: float = 0.0  # their duration as billed (each rounded up to 100 ms)
    express_cost: float = 0.0
    standard: int = 0  # Standard child executions
    standard_transitions: int = 0  # their own state transitions
    standard_cost: float = 0.0
    starts: int = 0  # the children's starts, billed to the Map Runs as state transitions
    starts_cost: float = 0.0

    @property
    def executions(self) -> int:
        return self.express + self.standard

    @property
    def cost(self) -> float:
        return self.express_cost + self.standard_cost + self.starts_cost

    def as_json(self) -> dict[str, Any]:
        """The figures as ``stepweave run --json`` gives them (``costUsd``: per run)."""
        return {"executions": self.executions, "express": self.express,
                "expressBilledSeconds": round(self.express_seconds, 1),
                "standard": self.standard, "standardTransitions": self.standard_transitions,
                "startTransitions": self.starts, "costUsd": round(self.cost, 9)}

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
        return (f"{' and '.join(kinds)} and their {self.starts:,} starts as state transitions "
                f"(${self.cost * 1000:.4f} per 1,000 runs)")


def children_bill(children: Iterable[ChildExecution]) -> ChildrenBill:
    """What the child executions ``children`` (``RunResult.children``) are billed, each
    priced by ``workflow_cost`` as its own type."""
    express = standard = transitions = 0
    seconds = express_cost = standard_cost = 0.0
    for child in children:
        if child.workflow_type == "EXPRESS":
            express += 1
            seconds += billed_seconds(child.duration_s)
            express_cost += workflow_cost("EXPRESS", 0, child.duration_s)
        else:
            standard += 1
            transitions += child.transitions
            standard_cost += workflow_cost("STANDARD", child.transitions, 0.0)
    starts = express + standard
    return ChildrenBill(express, seconds, express_cost, standard, transitions, standard_cost,
                        starts, workflow_cost("STANDARD", starts, 0.0))


def bill(workflow_type: str, result: RunResult) -> str:
    """What AWS would bill for this run, priced as its workflow type is: the execution's
    own charges, its Express stretches' (a split workflow) and the child executions of its
    distributed containers (``children_bill``), and its Lambda invocations (counted)."""
    lambdas = _count(result.lambda_invocations, "Lambda invocation")
    cost = workflow_cost(workflow_type, result.transitions, result.duration_s)
    extra = 0.0
    more = ""
    if result.stretches_s:  # a split workflow's Express stretches bill requests and duration
        express = sum(workflow_cost("EXPRESS", 0, s) for s in result.stretches_s)
        extra += express
        more += (f" + {_count(len(result.stretches_s), 'Express stretch execution')} "
                 f"(${express * 1000:.4f} per 1,000 runs)")
    children = children_bill(result.children)
    if children.executions:
        extra += children.cost
        more += f" + {children.describe()}"
    total = f", ${(cost + extra) * 1000:.4f} per 1,000 runs in all" if more else ""
    if workflow_type == "EXPRESS":
        return (f"1 Express request, {billed_seconds(result.duration_s):.1f} s at 64 MB "
                f"(${cost * 1000:.4f} per 1,000 runs on Express){more}{total}, {lambdas}")
    return (f"{_count(result.transitions, 'state transition')} (${cost * 1000:.4f} per 1,000 runs on "
            f"Standard){more}{total}, {lambdas}")


def _count(n: int, thing: str) -> str:
    """``1 Lambda invocation``, ``6 Lambda invocations``."""
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


class ProgressPrinter:
    """Prints one line per block start/finish/failure, with durations."""

    def __init__(self, compiled: CompiledWorkflow, out: IO[str], enabled: bool = True) -> None:
        self.compiled = compiled
        self.out = out
        self.enabled = enabled
        self.started: dict[str, list[float]] = {}
        self.iterations: dict[str, int] = {}
        self.failed: set[str] = set()

    def _label(self, node: str) -> str:
        name, btype = self.compiled.blocks[node]
        where = [f"{self.compiled.blocks[c][0]} #{self.iterations[c] + 1}"
                 for c in self.compiled.containers.get(node, ()) if c in self.iterations]
        return f"{name} ({btype})" + (f" [{', '.join(where)}]" if where else "")

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        entry = self.compiled.state_map.get(event.state)
        if event.kind == "failed":
            if event.state == "ExecutionFailed":
                return  # the summary says why the run failed
            if entry is not None:
                self.failed.add(entry[0])
                self.out.write(f"  ✖ {self._label(entry[0])}  {event.detail}\n")
            else:
                self.out.write(f"  ✖ {event.detail}\n")
            self.out.flush()
            return
        if entry is None:
            return
        node, role = entry
        if event.kind == "started" and role in ("main", "start"):
            self.started.setdefault(node, []).append(event.at)
            if role == "start" or self.compiled.blocks[node][1] not in ("condition", "variables", "start"):
                self.out.write(f"  ▶ {self._label(node)}\n")
        elif event.kind == "started" and role == "continue?":
            self.iterations[node] = self.iterations.get(node, -1) + 1
        elif event.kind == "succeeded" and role in ("main", "continue?"):
            if role == "continue?" and not self._loop_ended(node, event):
                return
            starts = self.started.get(node) or [event.at]
            began = starts.pop(0)
            ms = max(0.0, (event.at - began) * 1000)
            if node in self.failed:  # its failure is printed already: no ✔ for it
                self.failed.discard(node)
            else:
                self.out.write(f"  ✔ {self._label(node)}  {ms:.0f} ms\n")
        self.out.flush()

    def _loop_ended(self, node: str, event: Progress) -> bool:
        """A loop's Choice exits on every iteration; it ends when it assigns the output."""
        stem = self.compiled.stems[node]
        return any(name[:1] in "bt" and name.endswith("_" + stem) for name in event.assigned)

    def summary(self, result: RunResult) -> None:
        mark = "✔" if result.status == "SUCCEEDED" else "✖"
        self.out.write(f"{mark} {result.status} in {result.duration_s * 1000:.0f} ms\n")
        if result.error:
            state = failed_state(result.cause)
            entry = self.compiled.state_map.get(state or "")
            where = f"{self.compiled.blocks[entry[0]][0]}: " if entry else ""
            self.out.write(f"  error: {where}{describe(result.error, result.cause)}\n")
        self.out.write(f"  AWS would bill: {bill(self.compiled.workflow_type, result)}\n")
        name = result.execution_arn.rsplit(":", 1)[-1]
        self.out.write(f"  block logs: stepweave execution {name}\n")
        self.out.flush()

