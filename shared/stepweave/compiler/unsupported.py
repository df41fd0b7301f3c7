"""Blocks Stepweave cannot run yet (Sim types kept as ``sim:<type>`` by the importer).

Such a file is *valid*: ``stepweave validate`` checks everything else and lists these
blocks (exit 0). Running, compiling or deploying it is refused with the same list, raised
as ``UnsupportedBlocks`` once every other check passed, so nothing is half deployed. Only
blocks a run would reach count: an unused Sim trigger or a disabled block is listed by
``stepweave import`` but never blocks a run (Sim would not run it either).
"""

from __future__ import annotations

from collections import defaultdict

from stepweave.compiler.graph import Graph
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.sim_blocks import SIM_PREFIX

__all__ = ["UnsupportedBlocks", "unsupported_problems", "is_unsupported"]


class UnsupportedBlocks(WorkflowError):
    """A valid workflow with blocks that have no Stepweave equivalent yet."""

    def report(self) -> str:
        lines = [f"{len(self.problems)} block(s) cannot run on Stepweave yet:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def is_unsupported(block_type: str) -> bool:
    return block_type.startswith(SIM_PREFIX)


def _reached(graph: Graph) -> set[str]:
    """Blocks a run reaches, unsupported ones included (the graph's nodes leave them out)."""
    if graph.trigger is None:
        return set()
    enabled = {b.id for b in graph.workflow.blocks if b.enabled}
    succ: dict[str, list[str]] = defaultdict(list)
    for edge in graph.workflow.edges:
        if edge.source in enabled and edge.target in enabled:
            succ[edge.source].append(edge.target)
    for block in graph.workflow.blocks:
        if block.parent is not None and block.id in enabled:
            succ[block.parent].append(block.id)
    seen, stack = {graph.trigger}, [graph.trigger]
    while stack:
        for nxt in succ[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def unsupported_problems(graph: Graph) -> list[Problem]:
    """One problem per unsupported block a run would reach: file, block, name, Sim type."""
    reached = _reached(graph)
    problems = []
    for block in graph.workflow.blocks:
        if is_unsupported(block.type) and block.id in reached:
            sim_type = block.type[len(SIM_PREFIX):]
            reason = block.params.get("unsupported") or "no Stepweave equivalent yet"
            problems.append(Problem(graph.file, f"'{block.name}' is a Sim '{sim_type}' block: "
                                                f"{reason}", block.id, "type"))
    return problems
