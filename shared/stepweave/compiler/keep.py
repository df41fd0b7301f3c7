"""What the workflow reads of each handler block's output: the ``keep`` of its event.

A handler stores an output over the inline budget in the payload bucket and returns it
pruned (``stepweave.runtime.payloads``); the paths listed here stay inline when small, so
that native blocks, which read the variables directly, still see them. The paths are those
of every reference to the block in any block's params (its own included: inside a loop a
block reads its previous iteration's output): ``<x.result.items[0].id>`` keeps
``result.items[0].id``, ``<x>`` keeps ``""`` (the whole output). A reference through a
condition (whose output carries the fields of the block feeding it) counts for that block.
"""

from __future__ import annotations

from typing import Any

from stepweave.compiler.graph import Graph
from stepweave.compiler.resolve import Resolver
from stepweave.paths import Segment, format_path
from stepweave.refs import find_refs
from stepweave.workflow.model import normalize_name

__all__ = ["keep_paths", "param_strings"]

#: Fields a condition adds to the output of the block feeding it.
_CONDITION_FIELDS = frozenset({"conditionResult", "selectedOption", "selectedPath"})
_NOT_BLOCKS = frozenset({"loop", "parallel", "variable"})


def param_strings(value: Any) -> list[str]:
    """Every string inside a param value, in order (iteratively: values may nest deep)."""
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))
    return found


def keep_paths(graph: Graph, resolver: Resolver) -> dict[str, list[str]]:
    """Handler block id -> the paths of its output that are read (sorted, no duplicates)."""
    found: dict[str, set[str]] = {}
    nodes = set(graph.nodes)
    for node in graph.nodes:
        for text in param_strings(graph.blocks[node].params):
            for ref in find_refs(text):
                head = normalize_name(ref.head)
                target = None if head in _NOT_BLOCKS else resolver.by_name.get(head)
                if target is None or target not in nodes:
                    continue  # not a block, or one that never runs (its references are null)
                block, path = _through_conditions(graph, nodes, target, ref.path)
                if block is not None and graph.types[block].kind == "handler":
                    found.setdefault(block, set()).add(format_path(path))
    return {block: sorted(paths) for block, paths in sorted(found.items())}


def _through_conditions(graph: Graph, nodes: set[str], block: str,
                        path: list[Segment]) -> tuple[str | None, list[Segment]]:
    """The block whose output ``path`` reads: past conditions, to the block feeding them."""
    seen: set[str] = set()
    while graph.types[block].name == "condition" and block not in seen:
        if path and path[0] in _CONDITION_FIELDS:
            return None, path
        seen.add(block)
        source = next((e.source for e in graph.workflow.edges
                       if e.target == block and e.source in nodes), None)
        if source is None:
            return None, path
        block = source
    return block, path
