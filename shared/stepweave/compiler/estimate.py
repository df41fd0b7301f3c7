"""What a run will cost in history events, where the compiler can tell in advance.

A Standard execution fails at 25,000 history events (``stepweave.local.limits`` enforces it
locally). Loops and parallels whose number of iterations is in the file (a ``for`` loop's
``count``, a count parallel, a literal collection) make a run's size predictable: about two
events per native state a block compiles to, five per Lambda task (entered, scheduled,
started, succeeded, exited) and two per iteration. When the estimate passes the limit the
compiler warns, naming the container with the most iterations; the run would fail there. A
distributed Map's iterations are child executions with histories of their own
(``stepweave.compiler.distributed``): they add none to the run's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from stepweave.compiler.containers import literal_collection
from stepweave.compiler.graph import Graph

__all__ = ["history_warnings", "HISTORY_LIMIT", "estimate_events"]

HISTORY_LIMIT = 25_000
_NATIVE, _TASK, _PER_ITERATION, _CONTAINER, _RUN = 2, 5, 2, 4, 3


def iterations(graph: Graph, node: str) -> int | None:
    """The container's iterations when the file says (None: known at run time only)."""
    params = graph.blocks[node].params
    kind = graph.types[node].name
    if kind == "loop":
        loop_type = params.get("loopType", "for")
        if loop_type == "for":
            return _int(params.get("count", 5))
        if loop_type == "forEach":
            return _literal_length(params.get("collection"))
        return None
    if params.get("parallelType", "count") == "count":
        return _int(params.get("count", 5))
    return _literal_length(params.get("collection"))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _literal_length(value: Any) -> int | None:
    if isinstance(value, str) and ("<" in value or not value.strip().startswith(("[", "{"))):
        return None  # a reference: known at run time
    try:
        parsed = literal_collection(value)
    except ValueError:
        return None
    return len(parsed) if isinstance(parsed, (list, dict)) else None


def estimate_events(graph: Graph, definition: dict[str, Any],
                    state_map: dict[str, tuple[str, str]]) -> tuple[int, str | None, int]:
    """(at most about this many events in one run, the container with the most iterations,
    its iterations). Every state counts as if it ran (both sides of a condition): an upper
    bound, exact for workflows without conditions."""
    biggest: list[tuple[int, str | None]] = [(0, None)]

    def times(node: str | None) -> int:
        found = iterations(graph, node) if node is not None else None
        if found is not None and node is not None and found > biggest[0][0]:
            biggest[0] = (found, node)
        return found or 1

    def loops(state: str) -> int:
        node = state_map.get(state, (None, ""))[0]
        product = 1
        for container in graph.ancestors_containers(node) if node in graph.types else []:
            if graph.types[container].name == "loop":
                product *= times(container)
        return product

    def machine(states: dict[str, Any]) -> Generator[dict[str, Any], int, int]:
        """A machine's events; yields each nested machine and is sent back its events."""
        total = 0
        for name, state in states.items():
            kind = state.get("Type")
            own = _TASK if kind == "Task" else _NATIVE
            if kind == "Map" and (state.get("ItemProcessor", {}).get("ProcessorConfig") or {}).get(
                    "Mode") == "DISTRIBUTED":
                # child executions: their events are theirs (the parent's Map Run: two more)
                own += _CONTAINER + 2
            elif kind == "Map":
                node = state_map.get(name, (None, ""))[0]
                inner = yield state.get("ItemProcessor", {}).get("States", {})
                own += _CONTAINER + times(node) * (_PER_ITERATION + inner)
            elif kind == "Parallel":
                branches = 0
                for branch in state["Branches"]:
                    branches += yield branch.get("States", {})
                own += _CONTAINER + branches
            total += loops(name) * own
        return total

    events = _RUN + _run_nested(machine, definition.get("States", {}))
    count, node = biggest[0]
    return events, node, count


def _run_nested(machine: Callable[[dict[str, Any]], Generator[dict[str, Any], int, int]],
                states: dict[str, Any]) -> int:
    """``machine(states)`` with its nested machines computed on an explicit stack, in the
    order a recursive walk would (Parallel states may nest deeply)."""
    stack = [machine(states)]
    value: int | None = None
    while True:
        try:
            nested = stack[-1].send(value) if value is not None else next(stack[-1])
        except StopIteration as done:
            stack.pop()
            if not stack:
                return int(done.value)
            value = int(done.value)
            continue
        stack.append(machine(nested))
        value = None


def history_warnings(graph: Graph, workflow_type: str, definition: dict[str, Any],
                     state_map: dict[str, tuple[str, str]]) -> list[tuple[str | None, str]]:
    """(block, message) when a Standard run of this workflow can pass the history limit."""
    if workflow_type != "STANDARD":
        return []
    events, node, count = estimate_events(graph, definition, state_map)
    if events <= HISTORY_LIMIT:
        return []
    where = (f"; '{graph.blocks[node].name}' runs {count:,} iterations" if node is not None else "")
    return [(node, f"a run has up to about {events:,} history events{where}: Step Functions fails a "
                   f"Standard execution at {HISTORY_LIMIT:,} (run it as an Express workflow, "
                   "which has no history limit, or split the work into sub-workflows)")]
