"""Live progress of a local run, from the execution history."""

from __future__ import annotations

from typing import IO

from stepweave.compiler import CompiledWorkflow
from stepweave.local.engine import Progress, RunResult

__all__ = ["ProgressPrinter"]

PRICE_PER_TRANSITION = 0.000025


class ProgressPrinter:
    """Prints one line per block start/finish/failure, with durations."""

    def __init__(self, compiled: CompiledWorkflow, out: IO[str], enabled: bool = True) -> None:
        self.compiled = compiled
        self.out = out
        self.enabled = enabled
        self.started: dict[str, list[float]] = {}
        self.iterations: dict[str, int] = {}

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
            self.out.write(f"  ✖ {event.detail}\n")
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
            self.out.write(f"  error: {result.error}: {result.cause}\n")
        cost = result.transitions * PRICE_PER_TRANSITION
        self.out.write(f"  AWS would bill: {result.transitions} state transitions "
                       f"(${cost * 1000:.4f} per 1,000 runs on Standard), "
                       f"{result.lambda_invocations} Lambda invocations\n")
        name = result.execution_arn.rsplit(":", 1)[-1]
        self.out.write(f"  block logs: stepweave execution {name}\n")
        self.out.flush()

