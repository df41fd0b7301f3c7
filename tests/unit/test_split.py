"""The split of a Standard definition: what stays in the parent, the stretches, and the
variables each stretch takes in and gives back (``stepweave.compiler.split``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.compiler.split import (
    END,
    anchors,
    split_definition,
    variables_assigned,
    variables_read,
)
from stepweave.workflow.loader import load_workflow, parse_workflow, parse_yaml, workflow_files

ROOT = Path(__file__).resolve().parents[2]
WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def _pass(assign: dict[str, str] | None = None, nxt: str | None = None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Pass", **({"Assign": assign} if assign else {}), **extra}
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


def _task(resource: str, nxt: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "Next": nxt, "TimeoutSeconds": 30, **extra}


def _machine(states: dict[str, Any], start: str = "A") -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": start, "States": states}


def test_variables_read_and_assigned() -> None:
    state = {"Type": "Choice", "Choices": [{"Condition": "{% $b_x.y > $w_limit and $f($b_z) %}",
                                            "Next": "N", "Assign": {"b_q": None}}],
             "Default": "M", "Assign": {"b_r": "{% 1 %}"}, "Output": "literal $not_a_var"}
    assert variables_read(state) == {"b_x", "w_limit", "f", "b_z"}
    assert variables_assigned(state) == {"b_q", "b_r"}
    catch = {"Type": "Task", "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"failedBlock": "X"}}]}
    assert variables_assigned(catch) == {"failedBlock"}


def test_what_needs_standard_stays_in_the_parent() -> None:
    states = {
        "approval": _task(WAIT, "sub"),
        "sub": _task("arn:aws:states:::states:startExecution.sync:2", "short"),
        "short": {"Type": "Wait", "Seconds": 5, "Next": "long"},
        "long": {"Type": "Wait", "Seconds": 600, "Next": "untimed"},
        "untimed": {"Type": "Task", "Resource": "${Handler_api}", "Next": "map"},
        "map": {"Type": "Map", "ItemProcessor": {"StartAt": "w", "States": {"w": _task(WAIT, "e"), "e": _pass()}},
                "Next": "lambda"},
        "lambda": _task("${Handler_api}", "ctx"),
        "ctx": _pass({"x": "{% $states.context.Execution.StartTime %}"}, "own"),
        "own": _pass({"x": "{% $states.context.Execution.Id %}"}),
    }
    assert anchors(states) == {"approval", "sub", "long", "untimed", "map", "ctx"}


def test_an_unbounded_loop_stays_in_the_parent_with_its_cycle() -> None:
    states = {"A": _task(WAIT, "loop"), "loop": _pass(None, "body"),
              "body": _task("${Handler_api}", "again"),
              "again": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "loop"}],
                        "Default": "after"}, "after": _pass()}
    assert anchors(states, unbounded=["again"]) == {"A", "loop", "body", "again"}
    assert anchors(states) == {"A"}


def _linear() -> dict[str, Any]:
    """A1..A3 (a stretch), the approval W reading a1, then B1..B3 reading a2 and w."""
    return _machine({
        "A1": _pass({"a1": "{% 1 %}"}, "A2"),
        "A2": _pass({"a2": "{% $a1 + 1 %}"}, "A3"),
        "A3": _pass({"a3": "{% 3 %}"}, "W"),
        "W": _task(WAIT, "B1", Assign={"w": "{% $states.result %}"}, Arguments={"x": "{% $a1 %}"}),
        "B1": _pass({"b1": "{% $a2 & $w %}"}, "B2"),
        "B2": _pass(None, "B3"),
        "B3": _pass(None, Output="{% $b1 %}"),
    }, "A1")


def test_a_linear_workflow_splits_around_the_approval_with_only_the_variables_needed() -> None:
    split = split_definition(_linear(), workflow="t")
    assert split is not None
    parent = split.definition["States"]
    assert list(parent) == ["A1 (express)", "W", "B1 (express)", "Express stretch failed"]
    assert split.definition["StartAt"] == "A1 (express)"
    first, second = split.stretches
    assert first.states == ("A1", "A2", "A3") and second.states == ("B1", "B2", "B3")
    # A3's a3 is never read after it: not returned; a1 (read by W) and a2 (read by B1) are
    assert (first.vars_in, first.vars_out) == ((), ("a1", "a2"))
    assert (second.vars_in, second.vars_out) == (("a2", "w"), ())
    assert parent["A1 (express)"]["Next"] == "W" and parent["W"]["Next"] == "B1 (express)"
    assert parent["B1 (express)"]["End"] is True
    assert parent["B1 (express)"]["Arguments"]["Input"] == (
        '{% {"input": $states.input, "vars": {"a2": $a2, "w": $w}, '
        '"execution": $states.context.Execution.Id, '
        '"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": $states.context.Execution.Id} %}')
    child = first.definition["States"]
    assert child["A3"]["Next"] == "Exit to W" and child["Exit to W"]["End"] is True
    ends = second.definition["States"]
    assert ends["B3"]["Next"] == "Express stretch ends"
    assert ends["B3"]["Output"] == "{% $b1 %}"  # the state's own output is unchanged
    assert set(split.added) >= {"A1 (express)", "B1 (express)", "Exit to W", "Enter express stretch"}


def test_a_stretch_with_two_exits_is_routed_by_a_choice_and_two_entries_by_its_entry_state() -> None:
    definition = _machine({
        "A1": _pass({"a": "{% 1 %}"}, "A2"),
        "A2": _pass(None, "A3"),
        "Guard": {"Type": "Choice", "Choices": [{"Condition": "{% $a = 1 %}", "Next": "W"}], "Default": "B1"},
        "A3": _pass(None, "Guard"),
        "W": _task(WAIT, "B1"),
        "B1": _pass(None, "B2"),
        "B2": _pass(None, Output="{% $a %}"),
    }, "A1")
    split = split_definition(definition)
    assert split is not None and len(split.stretches) == 1
    parent = split.definition["States"]
    route = parent["A1 (express) exit"]
    assert route["Type"] == "Choice" and route["Choices"][0]["Next"] == "W"
    assert parent[route["Default"]]["Type"] == "Succeed"
    assert parent["W"]["Next"] == "B1 (express)" and parent["B1 (express)"]["End"] is True
    child = split.stretches[0].definition["States"]
    entry = child["Express stretch entry"]
    assert [r["Next"] for r in entry["Choices"]] == ["B1"] and entry["Default"] == "A1"
    assert '"entry": "B1"' in parent["B1 (express)"]["Arguments"]["Input"]
    # re-entered: what it assigns the first time is given back and passed in the second
    assert split.stretches[0].vars_out == ("a",) and split.stretches[0].vars_in == ("a",)
    assert END not in parent


def test_no_split_without_anything_needing_standard_or_when_nothing_is_saved() -> None:
    assert split_definition(_machine({"A": _pass(None, "B"), "B": _pass()})) is None
    small = _machine({"A": _pass(None, "W"), "W": _task(WAIT, "B"), "B": _pass()})
    assert split_definition(small) is None


def test_every_standard_example_splits_into_definitions_step_functions_accepts() -> None:
    """compile_workflow checks every definition it emits (aslcheck and JSONata syntax) and
    raises otherwise; an Express workflow is left as it is."""
    seen = 0
    for path in workflow_files(ROOT / "workflows"):
        compiled = compile_workflow(load_workflow(path), str(path), split=True)
        if compiled.workflow_type == "EXPRESS":
            assert compiled.stretches == {}
        else:
            seen += bool(compiled.stretches)
    assert seen >= 1


def test_split_is_the_default_and_a_workflow_can_opt_out() -> None:
    text = (ROOT / "workflows" / "support-timeline.yaml").read_text(encoding="utf-8")
    assert compile_workflow(parse_workflow(parse_yaml(text), "<t>"), "<t>").stretches != {}
    opted = text.replace("\nblocks:\n", "\nsplit: off\nblocks:\n", 1)
    assert compile_workflow(parse_workflow(parse_yaml(opted), "<t>"), "<t>").stretches == {}
    assert compile_workflow(parse_workflow(parse_yaml(opted), "<t>"), "<t>", split=True).stretches != {}
    assert compile_workflow(parse_workflow(parse_yaml(text), "<t>"), "<t>", split=False).stretches == {}
    with pytest.raises(Exception, match="split"):
        parse_workflow(parse_yaml(text.replace("\nblocks:\n", "\nsplit: always\nblocks:\n", 1)), "<t>")


def test_stepweave_compile_writes_each_stretch_beside_the_definition(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from stepweave.cli.app import main

    text = (ROOT / "workflows" / "support-timeline.yaml").read_text(encoding="utf-8")
    source = tmp_path / "flow.yaml"
    source.write_text(text.replace("\nblocks:\n", "\nsplit: auto\nblocks:\n", 1), encoding="utf-8")
    assert main(["compile", str(source), "-o", str(tmp_path / "flow.asl.json")]) == 0
    parent = json.loads((tmp_path / "flow.asl.json").read_text(encoding="utf-8"))
    stretch = json.loads((tmp_path / "flow.asl.express-1.json").read_text(encoding="utf-8"))
    assert "${StateMachine__1}" in json.dumps(parent) and "Approve refund" in parent["States"]
    assert "Enrich customer" in stretch["States"] and "Approve refund" not in stretch["States"]
    assert "flow.asl.express-1.json" in capsys.readouterr().err
    assert main(["compile", str(source)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == parent and "Express stretch 1" in out.err



SLOW = """
name: slow
blocks:
  - {id: start, type: start}
  - {id: ask, name: Ask, type: approval, params: {form: [{name: ok, type: boolean, required: true}]}}
""" + "".join(f"""  - {{id: c{i}, name: C{i}, type: api, params: {{url: "https://example.com/{i}", method: GET, timeout: 30000}}}}
""" for i in range(1, 7)) + """edges: [start -> ask, ask -> c1, c1 -> c2, c2 -> c3, c3 -> c4, c4 -> c5, c5 -> c6]
"""


def test_no_stretch_may_outrun_an_express_execution() -> None:
    """Six calls of up to 60 s each (their tasks' timeouts) after an approval: one stretch
    of all six could run 360 s, past the 5 minutes an Express execution may run, and fail
    the run where the unsplit one goes on. The path is cut in its middle: what fits is a
    stretch, what does not stays in the parent."""
    from stepweave.compiler.split import EXPRESS_TASK_SECONDS, seconds

    compiled = compile_workflow(parse_workflow(parse_yaml(SLOW), "<t>"), "<t>")
    (stretch,) = compiled.stretches.values()
    tasks = {n: s for n, s in stretch.definition["States"].items() if "Handler_api" in str(s.get("Resource"))}
    assert sorted(tasks) == ["C4", "C5", "C6"]
    assert sum(seconds(s) for s in tasks.values()) <= EXPRESS_TASK_SECONDS
    parent = compiled.definition["States"]
    assert {"C1", "C2", "C3"} <= set(parent)  # two left before the cut save too little to split
    unsplit = compile_workflow(parse_workflow(parse_yaml(SLOW), "<t>"), "<t>", split=False)
    assert sum(seconds(s) for n, s in unsplit.definition["States"].items() if n.startswith("C")) > EXPRESS_TASK_SECONDS


DYNAMIC = """
name: dyn
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: ask, name: Ask, type: approval, params: {form: [{name: ok, type: boolean, required: true}]}}
  - {id: each, name: Each, type: loop, params: {loopType: forEach, collection: "COLLECTION"}}
  - {id: body, name: Body, type: function, parent: each, params: {code: "return <loop.currentItem>"}}
  - {id: fan, name: Fan, type: parallel, params: {parallelType: collection, collection: "COLLECTION"}}
  - {id: leaf, name: Leaf, type: function, parent: fan, params: {code: "return <parallel.currentItem>"}}
  - {id: a, name: A, type: function, params: {code: "return 2"}}
  - {id: b, name: B, type: function, params: {code: "return 3"}}
  - {id: c, name: C, type: function, params: {code: "return 4"}}
edges: [start -> ask, ask -> each, "each -[loop-start-source]-> body", each -> fan,
        "fan -[parallel-start-source]-> leaf", fan -> a, a -> b, b -> c]
"""


@pytest.mark.parametrize("collection, moved", [("<start.items>", False), ("[1, 2, 3]", True)],
                         ids=["known-at-run-time", "literal"])
def test_a_container_over_a_collection_known_at_run_time_stays_in_the_parent(collection: str,
                                                                            moved: bool) -> None:
    """A loop or parallel whose blocks do work over a collection the run brings could take
    any time: in a stretch it could outrun the Express execution's 5 minutes, so its states
    stay in the parent. Over a literal collection it moves, like the blocks after it."""
    text = DYNAMIC.replace("COLLECTION", collection)
    compiled = compile_workflow(parse_workflow(parse_yaml(text), "<t>"), "<t>")
    inside = set().union(*(s.definition["States"] for s in compiled.stretches.values()))
    assert {"A", "B", "C"} <= inside
    for state in ("Body", "Each continue_", "Fan"):
        assert (state in inside) is moved, state
        assert (state in compiled.definition["States"]) is not moved, state
