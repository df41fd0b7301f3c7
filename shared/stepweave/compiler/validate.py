"""Graph-level validation (everything the schema alone cannot see)."""

from __future__ import annotations

import json
from collections import defaultdict

from pydantic import ValidationError

from stepweave.blocks.catalog import block_type
from stepweave.compiler.code import syntax_problems
from stepweave.compiler.graph import Graph, back_edges
from stepweave.compiler.secrets import literal_credentials
from stepweave.compiler.unsupported import is_unsupported
from stepweave.errors import Problem
from stepweave.workflow.model import RESERVED_NAMES

__all__ = ["validate_graph"]

_CONTAINER_HANDLES = {"loop-start-source", "loop-end-source", "parallel-start-source",
                      "parallel-end-source"}


def _block_problems(graph: Graph) -> list[Problem]:
    problems: list[Problem] = []
    file, seen_ids, names = graph.file, set(), defaultdict(list)
    for block in graph.workflow.blocks:
        if block.id in seen_ids:
            problems.append(Problem(file, "duplicate block id", block.id, "id"))
        seen_ids.add(block.id)
        names[block.ref_name].append(block.id)
        if block.ref_name in RESERVED_NAMES:
            problems.append(Problem(file, f"'{block.name}' is reserved for references", block.id, "name"))
        btype = block_type(block.type)
        if btype is None and is_unsupported(block.type):
            continue  # listed by ``unsupported``, not a mistake in the file
        if btype is None:
            problems.append(Problem(file, f"unknown block type '{block.type}'", block.id, "type"))
            continue
        try:
            btype.params.model_validate(block.params)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(["params", *(str(p) for p in err["loc"])])
                msg = "unknown param" if err["type"] == "extra_forbidden" else \
                    str(err["msg"]).removeprefix("Value error, ")
                problems.append(Problem(file, msg, block.id, field))
        for path, hint in literal_credentials(block.type, block.params):
            problems.append(Problem(file, "is a literal credential, which would be written into "
                                          f"the state machine: name a secret instead, e.g. {hint}",
                                    block.id, ".".join(["params", *(str(p) for p in path)])))
        if block.parent is not None:
            parent_type = block_type(graph.blocks[block.parent].type) if block.parent in graph.blocks else None
            if parent_type is None or not parent_type.is_container:
                problems.append(Problem(file, f"parent '{block.parent}' is not a loop or parallel",
                                        block.id, "parent"))
    for ids in names.values():
        if len(ids) > 1:
            for block_id in ids[1:]:
                problems.append(Problem(file, f"name '{graph.blocks[block_id].name}' is used by "
                                              f"another block ({ids[0]}); references need unique names",
                                        block_id, "name"))
    return problems


def _handle_problem(graph: Graph, source_type: str, handle: str | None,
                    rows: set[str]) -> str | None:
    if handle in (None, "source", "error"):
        return None
    if handle in _CONTAINER_HANDLES:
        kind = handle.split("-", 1)[0]
        return None if source_type == kind else f"handle '{handle}' belongs to a {kind} container"
    if handle.startswith("condition-") and source_type == "condition":
        if handle[len("condition-"):] in rows:
            return None
        return f"handle '{handle}' names no condition row (rows: {', '.join(sorted(rows))})"
    if handle.startswith("router-") and source_type == "router":
        if handle[len("router-"):] in rows:
            return None
        return f"handle '{handle}' names no route (routes: {', '.join(sorted(rows))})"
    return f"unknown source handle '{handle}'"


def _outcomes(params: dict[str, object]) -> set[str]:
    """The row ids of a condition, the route ids of a router."""
    rows = params.get("conditions") or params.get("routes") or []
    if isinstance(rows, str):  # Sim stores rows as JSON text; the params model accepts it
        try:
            rows = json.loads(rows)
        except ValueError:
            return set()  # reported by the block's params validation
    return {str(r.get("id")) for r in rows if isinstance(r, dict)} if isinstance(rows, list) \
        else set()


def _handle_problems(graph: Graph) -> list[Problem]:
    problems = []
    for index, edge in enumerate(graph.workflow.edges):
        src = graph.blocks.get(edge.source)
        if src is None or is_unsupported(src.type):
            continue
        btype = block_type(src.type)
        source_type = btype.name if btype else src.type
        message = _handle_problem(graph, source_type, edge.sourceHandle, _outcomes(src.params))
        if source_type == "router" and edge.sourceHandle in (None, "source"):
            message = ("a router's edges leave from a route: sourceHandle "
                       "'router-<route id>' (or 'error')")
        if message:
            problems.append(Problem(graph.file, f"edge to '{edge.target}': {message}", src.id,
                                    f"edges[{index}].sourceHandle"))
    return problems


def _cycle_problems(graph: Graph) -> list[Problem]:
    return [Problem(graph.file, "cycle outside a loop: " + " -> ".join([*cycle, edge.target]) +
                    " (use a loop container to repeat blocks)", edge.target, "edges")
            for edge, cycle in back_edges(graph.nodes, graph.edges)]


def _container_problems(graph: Graph) -> list[Problem]:
    problems = []
    # blocks kept from a Sim export that Stepweave cannot run are reported as such
    # (``unsupported``): a container holding only those is not empty, it cannot run yet
    holds_unsupported = {b.parent for b in graph.workflow.blocks
                         if b.enabled and b.parent is not None and is_unsupported(b.type)}
    for node in graph.nodes:
        btype = graph.types[node]
        if btype.is_container and not graph.region(node) and node not in holds_unsupported:
            problems.append(Problem(graph.file, f"{btype.name} has no enabled block inside; add or "
                                                "enable at least one", node, None))
        if btype.name == "loop" and graph.blocks[node].params.get("loopType") == "forEach" \
                and graph.blocks[node].params.get("collection") in (None, ""):
            problems.append(Problem(graph.file, "a forEach loop needs a 'collection'", node,
                                    "params.collection"))
    return problems


def _code_problems(graph: Graph) -> list[Problem]:
    """Function code that does not parse, as V8 reads it (the handler's async function
    body), told in the lines the author wrote (``stepweave.compiler.code``). The blocks
    that would run; with no start block, every enabled one."""
    blocks = [graph.blocks[n] for n in graph.nodes] if graph.trigger is not None \
        else [b for b in graph.workflow.blocks if b.enabled]
    checked: list[tuple[str, str]] = []  # (block, code)
    for block in blocks:
        btype = block_type(block.type)
        code = block.params.get("code")
        if btype is None or btype.name != "function" or not isinstance(code, str) \
                or not code.strip() or block.params.get("language", "javascript") != "javascript":
            continue
        checked.append((block.id, code))
    found = syntax_problems([code for _block, code in checked])
    return [Problem(graph.file, problem, block, "params.code")
            for (block, _code), problem in zip(checked, found, strict=True) if problem]


def validate_graph(graph: Graph) -> list[Problem]:
    return (_block_problems(graph) + _handle_problems(graph) + _cycle_problems(graph)
            + _container_problems(graph) + _code_problems(graph))
