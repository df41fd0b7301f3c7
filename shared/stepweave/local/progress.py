"""Live progress of a local run, from the execution history."""

from __future__ import annotations

from typing import IO

from stepweave.compiler import CompiledWorkflow
from stepweave.local.engine import Progress, RunResult
from stepweave.local.failures import describe, failed_state
from stepweave.runtime.pricing import (  # the prices, in one place (re-exported for callers here)
    EXPRESS_MEMORY_GB,
    EXPRESS_PRICE_PER_GB_SECOND,
    EXPRESS_PRICE_PER_REQUEST,
    PRICE_PER_TRANSITION,
    ChildrenBill,
    RunBill,
    billed_seconds,
    children_bill,
    stretches_bill,
    workflow_cost,
)

__all__ = ["ProgressPrinter", "bill", "workflow_cost", "billed_seconds", "ChildrenBill",
           "children_bill", "PRICE_PER_TRANSITION", "EXPRESS_PRICE_PER_REQUEST",
           "EXPRESS_PRICE_PER_GB_SECOND", "EXPRESS_MEMORY_GB"]


def bill(workflow_type: str, result: RunResult) -> str:
    """What AWS would bill for this run, priced as its workflow type is: the execution's
    own charges, its Express stretches' (a split workflow) and the child executions of its
    distributed containers (``children_bill``), and its Lambda invocations (counted), in the
    words ``stepweave execution`` uses too (``stepweave.runtime.pricing.RunBill.text``)."""
    return RunBill(workflow_type, result.transitions, result.duration_s, result.lambda_invocations,
                   stretches_bill(result.stretches_s), children_bill(result.children)).text()


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

