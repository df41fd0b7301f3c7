"""Mutually exclusive branches: routed by one Choice instead of run in a Parallel.

The scheduler sees the branches of a condition (``if`` -> A..., ``else`` -> B...) or a
router (``router-<route>`` -> A...) as independent, so it would put them in a Parallel
state: a state per branch start and end and a join, although at most one branch can
run. When every branch starts at a block fed only by different rows of the same
condition (routes of the same router), and nothing else feeds the branch from outside,
a single Choice routes to the selected branch instead, in the same variable scope. Fewer state transitions, same semantics: the blocks of the
branches not taken are marked skipped, as their guards would have done.
"""

from __future__ import annotations

from typing import Any

from stepweave.compiler.schedule import Leaf, Par, Seq, Tree
from stepweave.compiler.states import Ctx, Dangling, Lowering

__all__ = ["emit_exclusive", "leaves", "route_of", "ROUTE_HANDLES"]

#: Handles that select one outcome of their source: prefix -> the output field naming
#: the selected outcome (a condition's row id, a router's route id).
ROUTE_HANDLES = {"condition-": "selectedOption", "router-": "selectedRoute"}


def route_of(handle: str | None) -> tuple[str, str] | None:
    """``condition-<row>`` -> ("selectedOption", row); ``router-<route>`` ->
    ("selectedRoute", route); any other handle -> None."""
    for prefix, field_name in ROUTE_HANDLES.items():
        if handle and handle.startswith(prefix):
            return field_name, handle[len(prefix):]
    return None


def leaves(tree: Tree) -> list[str]:
    if isinstance(tree, Leaf):
        return [tree.node]
    items = tree.items if isinstance(tree, Seq) else tree.branches
    return [n for item in items for n in leaves(item)]


def _entry(tree: Tree) -> str | None:
    if isinstance(tree, Leaf):
        return tree.node
    if isinstance(tree, Seq) and isinstance(tree.items[0], Leaf):
        return tree.items[0].node
    return None


def _routes(lw: Lowering, tree: Par) -> list[str] | None:
    """Entry block of each branch, if the branches are exclusive condition routes."""
    entries: list[str] = []
    conditions: set[str] = set()
    options: set[str | None] = set()
    for branch in tree.branches:
        entry = _entry(branch)
        if entry is None:
            return None
        incoming = lw.graph.incoming(entry)
        if not incoming or any(route_of(e.handle) is None for e in incoming):
            return None
        mine = {e.handle for e in incoming}
        if mine & options:
            return None
        options |= mine
        conditions |= {e.source for e in incoming}
        members = set(leaves(branch))
        for node in members - {entry}:
            if any(e.source not in members for e in lw.graph.incoming(node)):
                return None
        entries.append(entry)
    return entries if len(conditions) == 1 else None


def _nulls(lw: Lowering, nodes: list[str], ctx: Ctx) -> dict[str, Any]:
    assign: dict[str, Any] = {}
    for node in nodes:
        ctx.scope.define_block(node)
        assign.update(lw.skip_assign(node, ctx))
    return assign


def emit_exclusive(lw: Lowering, tree: Par, ctx: Ctx,
                   states: dict[str, Any]) -> tuple[str, Dangling] | None:
    entries = _routes(lw, tree)
    if entries is None:
        return None
    branch_nodes = [leaves(b) for b in tree.branches]
    labels = " / ".join(lw.graph.blocks[e].name for e in entries[:3])
    name = lw.names.take(f"Route {labels}")
    rules: list[dict[str, Any]] = [{"Condition": "{% " + lw.guard_expr(e, ctx) + " %}"}
                                   for e in entries]
    choice: dict[str, Any] = {"Type": "Choice", "Choices": rules,
                              "Assign": _nulls(lw, [n for ns in branch_nodes for n in ns], ctx)}
    dangling: Dangling = [(choice, "Default")]
    for index, (branch, entry) in enumerate(zip(tree.branches, entries, strict=True)):
        others = [n for j, ns in enumerate(branch_nodes) if j != index for n in ns]
        saved, lw.guarded[entry] = lw.guarded[entry], False
        first, tail = lw.emit(branch, ctx, states)
        lw.guarded[entry] = saved
        rules[index]["Next"] = first
        if others:
            rules[index]["Assign"] = _nulls(lw, others, ctx)
        dangling += tail
    states[name] = choice
    return name, dangling
