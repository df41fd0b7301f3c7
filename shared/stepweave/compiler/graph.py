"""Graph IR: the workflow as the run will see it, built in ordered passes.

1. choose the trigger (the first enabled start block);
2. effective enablement (a disabled container disables its contents);
3. edges: drop those touching disabled blocks, split container edges into
   "into the body" (reachability only) and "out of the container";
4. reachability from the trigger (Sim: only what the trigger reaches exists);
5. regions: the top level and each container body, each a DAG of its nodes.

Problems found on the way are collected, not raised, so that validation can report
them all at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from stepweave.blocks.catalog import BlockType, block_type
from stepweave.errors import Problem
from stepweave.workflow.model import Block, Edge, Workflow
from stepweave.workflow.sim_blocks import SIM_PREFIX

__all__ = ["Graph", "GEdge", "build_graph", "back_edges", "CONTAINER_IN_HANDLES"]

CONTAINER_IN_HANDLES = frozenset({"loop-start-source", "parallel-start-source"})
CONTAINER_OUT_HANDLES = frozenset({"loop-end-source", "parallel-end-source"})


@dataclass(frozen=True)
class GEdge:
    source: str
    target: str
    handle: str | None  # None: no handle (always fires when the source ran)


@dataclass
class Graph:
    workflow: Workflow
    file: str
    blocks: dict[str, Block]
    types: dict[str, BlockType]
    trigger: str | None
    nodes: list[str]  # reachable, enabled, executable blocks in file order
    parent: dict[str, str | None]
    edges: list[GEdge]
    problems: list[Problem] = field(default_factory=list)
    children: dict[str | None, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._in: dict[str, list[GEdge]] = defaultdict(list)
        self._out: dict[str, list[GEdge]] = defaultdict(list)
        for edge in self.edges:
            self._in[edge.target].append(edge)
            self._out[edge.source].append(edge)

    def incoming(self, node: str) -> list[GEdge]:
        return self._in.get(node, [])

    def outgoing(self, node: str) -> list[GEdge]:
        return self._out.get(node, [])

    def region(self, container: str | None) -> list[str]:
        return self.children.get(container, [])

    def ancestors_containers(self, node: str) -> list[str]:
        chain = []
        current = self.parent.get(node)
        while current is not None:
            chain.append(current)
            current = self.parent.get(current)
        return chain

    def has_error_edge(self, node: str) -> bool:
        return any(e.handle == "error" for e in self.outgoing(node))


def _effective_enabled(workflow: Workflow) -> dict[str, bool]:
    """A block is enabled when it and every container around it are (walked up with a
    loop; a parent cycle stops where it closes)."""
    by_id = {b.id: b for b in workflow.blocks}
    result: dict[str, bool] = {}
    for block in workflow.blocks:
        path: list[str] = []
        on_path: set[str] = set()
        current = block.id
        while True:
            if current in result:
                value = result[current]
                break
            here = by_id[current]
            if not here.enabled:
                value = result[current] = False
                break
            if here.parent in by_id and here.parent not in on_path:
                path.append(current)
                on_path.add(current)
                current = str(here.parent)
                continue
            value = result[current] = True
            break
        for node in path:
            result[node] = value
    return result


def _choose_trigger(workflow: Workflow, enabled: dict[str, bool], file: str,
                    problems: list[Problem]) -> str | None:
    starts = [b for b in workflow.blocks if b.type in ("start", "start_trigger", "starter")]
    active = [b for b in starts if enabled[b.id]]
    if not active:
        sim = [b for b in workflow.blocks if b.type.startswith(SIM_PREFIX) and enabled.get(b.id, b.enabled)
               and b.params.get("simTrigger")]
        if sim:  # a Sim export that starts at a trigger we cannot deploy yet
            problems += [Problem(file, f"no start block found: the workflow starts at "
                                       f"'{b.name}', {b.params.get('unsupported')}; add a start "
                                       "block to run it by hand", b.id, "type") for b in sim]
        else:
            problems.append(Problem(file, "no start block found: add an enabled block of type 'start'"))
        return None
    for block in active:
        if block.parent:
            problems.append(Problem(file, "a start block cannot be inside a loop or parallel",
                                    block.id, "parent"))
    return active[0].id


def _check_edges(workflow: Workflow, file: str, problems: list[Problem]) -> None:
    ids = {b.id for b in workflow.blocks}
    for index, edge in enumerate(workflow.edges):
        for end in ("source", "target"):
            if getattr(edge, end) not in ids:
                problems.append(Problem(file, f"edge #{index + 1} ({edge.source} -> {edge.target}) "
                                              f"{end} '{getattr(edge, end)}' is not a block id",
                                        None, f"edges[{index}].{end}"))


def _usable_edges(workflow: Workflow, enabled: dict[str, bool]) -> list[Edge]:
    ids = {b.id for b in workflow.blocks}
    return [e for e in workflow.edges
            if e.source in ids and e.target in ids and enabled[e.source] and enabled[e.target]]


def _reachable(trigger: str, edges: list[Edge], parent: dict[str, str | None],
               types: dict[str, BlockType]) -> set[str]:
    succ: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        succ[edge.source].append(edge.target)
    body: dict[str, list[str]] = defaultdict(list)
    for block_id, container in parent.items():
        if container is not None:
            body[container].append(block_id)
    seen, stack = {trigger}, [trigger]
    while stack:
        node = stack.pop()
        nexts = list(succ[node])
        if node in types and types[node].is_container:
            nexts += body[node]
        for nxt in nexts:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _split_edges(workflow: Workflow, edges: list[Edge], parent: dict[str, str | None],
                 types: dict[str, BlockType], file: str,
                 problems: list[Problem]) -> list[GEdge]:
    out: list[GEdge] = []
    for edge in edges:
        src_type = types.get(edge.source)
        if src_type is not None and src_type.is_container and parent.get(edge.target) == edge.source:
            continue  # container -> its own child: only marks the body's entry
        if parent.get(edge.source) != parent.get(edge.target):
            problems.append(Problem(
                file, f"edge {edge.source} -> {edge.target} crosses a loop/parallel boundary; "
                      "connect the container itself instead", edge.source, "edges"))
            continue
        handle = edge.sourceHandle
        if src_type is not None and src_type.is_container:
            if handle == "error":
                problems.append(Problem(file, "a loop or parallel cannot have an error edge: "
                                              "errors inside fail the run or use the inner "
                                              "blocks' error edges", edge.source, "edges"))
                continue
            handle = "source"
        out.append(GEdge(edge.source, edge.target, handle))
    return out


def build_graph(workflow: Workflow, file: str) -> Graph:
    problems: list[Problem] = []
    blocks = {b.id: b for b in workflow.blocks}
    types = {b.id: t for b in workflow.blocks if (t := block_type(b.type)) is not None}
    enabled = _effective_enabled(workflow)
    parent = {b.id: b.parent for b in workflow.blocks}
    _check_edges(workflow, file, problems)
    trigger = _choose_trigger(workflow, enabled, file, problems)
    usable = _usable_edges(workflow, enabled)
    reach = _reachable(trigger, usable, parent, types) if trigger else set()
    nodes = [b.id for b in workflow.blocks
             if b.id in reach and enabled[b.id] and b.id in types
             and (b.id == trigger or types[b.id].kind != "trigger")]
    node_set = set(nodes)
    usable = [e for e in usable if e.source in node_set and e.target in node_set]
    edges = _split_edges(workflow, usable, parent, types, file, problems)
    children: dict[str | None, list[str]] = defaultdict(list)
    for node in nodes:
        children[parent[node] if parent[node] in node_set else None].append(node)
    return Graph(workflow, file, blocks, types, trigger, nodes, parent, edges, problems,
                 dict(children))


def back_edges(roots: list[str], edges: list[GEdge]) -> list[tuple[GEdge, list[str]]]:
    """The edges that close a cycle, each with the path it closes (from the edge's target
    back to its source), found by a depth-first walk from ``roots`` in order, then from
    every other source. Iterative: a chain may be thousands of blocks long."""
    succ: dict[str, list[GEdge]] = defaultdict(list)
    for edge in edges:
        succ[edge.source].append(edge)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[tuple[GEdge, list[str]]] = []
    for root in dict.fromkeys([*roots, *(e.source for e in edges)]):
        if root in state:
            continue
        state[root], path, pending = 1, [root], [iter(succ[root])]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(step.target) == 1:
                found.append((step, path[path.index(step.target):]))
            elif step.target not in state:
                state[step.target] = 1
                path.append(step.target)
                pending.append(iter(succ[step.target]))
    return found
