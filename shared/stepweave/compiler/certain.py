"""Blocks that run in every run that does not fail: they need no guard.

A block behind a condition is guarded (a Choice runs it only if one of its incoming edges
fired, Sim's activation rule). Some such blocks cannot be skipped: the join after an
``if``/``else`` whose branches both reach it, a response every path ends at. Their guard
costs a state transition per run (and, on Standard, money) and decides nothing.

Within a region (the top level, or a loop/parallel body), every way a run can go is
enumerated: each condition, router or block with an error edge that runs picks one of its
outcomes (a condition's rows, plus "none" without an ``else`` row; a router's routes; ok or
error), and what runs follows from Sim's activation rule. A block that runs in every one of
them is certain. Past ``MAX_RUNS`` ways (a region with many independent choices) nothing is
claimed certain and the guards stay.
"""

from __future__ import annotations

from collections.abc import Callable

from stepweave.compiler.graph import GEdge, Graph
from stepweave.compiler.schedule import toposort

__all__ = ["certain_blocks", "MAX_RUNS"]

MAX_RUNS = 512
_ERROR = "error"


def certain_blocks(graph: Graph, may_error: Callable[[str], bool]) -> set[str]:
    """The blocks of every region that run whenever their region runs to its end."""
    found: set[str] = set()
    for container in [None, *(n for n in graph.nodes if graph.types[n].is_container)]:
        found |= _region_certain(graph, graph.region(container), may_error)
    return found


def _outcomes(graph: Graph, node: str, may_error: Callable[[str], bool]) -> list[str | None]:
    """What ``node`` may do when it runs: None (plain success), a row or route id, "error"."""
    kind = graph.types[node].name
    params = graph.blocks[node].params
    outs: list[str | None]
    if kind == "condition":
        rows = [r for r in params.get("conditions") or [] if isinstance(r, dict)]
        ids = [str(r.get("id")) for r in rows]
        has_else = any(str(r.get("title", "")).strip().lower() == "else" for r in rows)
        outs = [*ids, *([] if has_else else ["__none__"])]
    elif kind == "router":
        routes = params.get("routes")
        if not isinstance(routes, list) or not routes:
            return []  # routes known at run time only: no claim
        outs = [str(r.get("id")) for r in routes if isinstance(r, dict)]
    else:
        outs = [None]
    if may_error(node):
        outs.append(_ERROR)
    return outs


def _fires(edge: GEdge, outcome: str | None) -> bool | None:
    """Whether ``edge`` fires given its source ran with ``outcome``; None: unknown handle."""
    handle = edge.handle
    if handle in (None, "source"):
        return outcome != _ERROR
    if handle == _ERROR:
        return outcome == _ERROR
    for prefix in ("condition-", "router-"):
        if handle.startswith(prefix):
            return outcome == handle[len(prefix):]
    return None


def _region_certain(graph: Graph, nodes: list[str], may_error: Callable[[str], bool]) -> set[str]:
    members = set(nodes)
    edges = [e for e in graph.edges if e.source in members and e.target in members]
    incoming: dict[str, list[GEdge]] = {n: [] for n in nodes}
    for edge in edges:
        incoming[edge.target].append(edge)
    order = toposort(nodes, [(e.source, e.target) for e in edges])
    outcomes = {n: _outcomes(graph, n, may_error) for n in nodes}
    if any(not outs for outs in outcomes.values()):
        return set()
    if any(_fires(e, None) is None for e in edges):
        return set()
    certain = set(nodes)
    runs = 0
    # depth-first over the choices: (position in order, each ran node -> its outcome)
    stack: list[tuple[int, dict[str, str | None]]] = [(0, {})]
    while stack:
        index, ran = stack.pop()
        while index < len(order):
            node = order[index]
            inc = incoming[node]
            if inc and not any(e.source in ran and _fires(e, ran[e.source]) for e in inc):
                index += 1
                continue  # skipped in this run
            choices = outcomes[node]
            for choice in choices[1:]:
                stack.append((index + 1, {**ran, node: choice}))
            ran = {**ran, node: choices[0]}
            index += 1
        runs += 1
        if runs > MAX_RUNS:
            return set()
        certain &= set(ran)
    return certain
