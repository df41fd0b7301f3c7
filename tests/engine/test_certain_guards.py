"""Blocks that run in every run need no guard (``stepweave.compiler.certain``).

GIVEN a join after a condition THEN it has a guard Choice exactly when some run can skip
it, and on the embedded engine it runs (or is skipped) as Sim's activation rule says,
with one state transition less per run when the guard is gone.
"""

from __future__ import annotations

from typing import Any

import pytest

from stepweave.local.engine import LocalEngine
from tests.engine.helpers import compile_text, run_text

JOIN = """
name: join
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - id: check
    name: Check
    type: condition
    params: {conditions: [{id: big, title: if, value: "<start.n> > 10"}, ELSE]}
  - {id: a, name: A, type: function, params: {code: "return 'big'"}}
  - {id: b, name: B, type: function, params: {code: "return 'small'"}}
  - {id: join, name: Join, type: function, params: {code: "return [<a.result>, <b.result>]"}}
  - {id: after, name: After, type: function, params: {code: "return <join.result>.length"}}
edges: [start -> check, "check -[condition-big]-> a", "check -[condition-other]-> b", a -> join, b -> join, join -> after]
"""
WITH_ELSE = JOIN.replace("ELSE", "{id: other, title: else}")
WITHOUT_ELSE = JOIN.replace("ELSE", '{id: other, title: else if, value: "<start.n> < 0"}')
WITH_ERROR_EDGE = WITH_ELSE.replace(
    "{id: a, name: A, type: function, params: {code: \"return 'big'\"}}",
    "{id: a, name: A, type: function, params: {code: \"if (<start.n> > 100) throw new Error('too big'); return 'big'\"}}\n"
    "  - {id: oops, name: Oops, type: function, params: {code: \"return 'caught'\"}}").replace(
    "a -> join,", 'a -> join, "a -[error]-> oops",')


def _states(text: str) -> set[str]:
    """Every state name of the definition, those of Parallel branches and Maps included."""
    names: set[str] = set()
    machines: list[dict[str, Any]] = [compile_text(text).definition]
    while machines:
        machine = machines.pop()
        for name, state in machine["States"].items():
            names.add(name)
            machines += state.get("Branches", [])
            if "ItemProcessor" in state:
                machines.append(state["ItemProcessor"])
    return names


def test_a_join_every_branch_reaches_has_no_guard() -> None:
    assert {"Join", "After"} <= _states(WITH_ELSE)
    assert not {s for s in _states(WITH_ELSE) if s.endswith((" _", " ?"))} - {"Route A _ B"}


def test_a_join_some_run_skips_keeps_its_guard() -> None:
    assert {"Join _", "After _"} <= _states(WITHOUT_ELSE)
    # a branch that may end on an error edge does not always reach the join
    assert "Join _" in _states(WITH_ERROR_EDGE)


@pytest.mark.parametrize(("text", "n", "expected"), [
    (WITH_ELSE, 20, ["big", None]),
    (WITH_ELSE, 5, [None, "small"]),
    (WITHOUT_ELSE, -1, [None, "small"]),
])
def test_the_join_runs_after_either_branch(engine: LocalEngine, text: str, n: int,
                                           expected: list[Any]) -> None:
    result, ran = run_text(engine, text, {"n": n})
    assert result.status == "SUCCEEDED", result.cause
    assert ran.count("Join") == 1 and ran.count("After") == 1
    assert result.output == {"result": 2, "stdout": ""}


def test_a_join_no_branch_reached_is_skipped(engine: LocalEngine) -> None:
    result, ran = run_text(engine, WITHOUT_ELSE, {"n": 5})
    assert result.status == "SUCCEEDED", result.cause
    assert "Join" not in ran and "After" not in ran


def test_an_error_edge_branch_skips_the_join(engine: LocalEngine) -> None:
    result, ran = run_text(engine, WITH_ERROR_EDGE, {"n": 500})
    assert result.status == "SUCCEEDED", result.cause
    assert "Oops" in ran and "Join" not in ran
    assert result.output == {"result": "caught", "stdout": ""}


def test_a_dropped_guard_saves_a_transition_per_run(engine: LocalEngine) -> None:
    kept, _ = run_text(engine, WITHOUT_ELSE, {"n": 20})
    dropped, _ = run_text(engine, WITH_ELSE, {"n": 20})
    assert kept.status == dropped.status == "SUCCEEDED"
    assert dropped.transitions == kept.transitions - 2  # Join's and After's guards
