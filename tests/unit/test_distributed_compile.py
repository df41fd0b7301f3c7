"""Parallels and loops past one execution's limits compile to distributed Maps.

GIVEN a Standard workflow WHEN a parallel has 1,000+ items written in the file (or says
``mode: distributed``) THEN it compiles to a distributed Map whose Express children get
the outer variables they read through ItemSelector, and whose results come back through
the collect task; below the bound, in an Express workflow or with ``mode: inline`` it
stays an inline Map; a body that needs Standard gets Standard children; a loop past the
bound runs in chunks; a child reading a variable it was not given is refused; at 10,000
items or iterations the run's own history stays small.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stepweave.compiler import distributed
from stepweave.compiler.aslcheck import check_definition
from stepweave.compiler.estimate import estimate_events
from stepweave.compiler.graph import build_graph
from stepweave.errors import WorkflowError
from stepweave.workflow.loader import parse_workflow, parse_yaml
from tests.engine.helpers import compile_text

PARALLEL = """
name: fan
type: {kind}
blocks:
  - {{id: start, type: start, params: {{inputFormat: [{{name: tag, type: string}}]}}}}
  - {{id: par, name: Fan, type: parallel, params: {{parallelType: count, count: {count}{extra}}}}}
  - {{id: each, type: {body}, parent: par, params: {params}}}
  - {{id: done, type: response, params: {{data: {{n: "<fan.results>"}}}}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> done]
"""
TAGGED = '{variables: [{variableName: v, value: "<start.tag>-<parallel.index>"}]}'

LOOP = """
name: lap
type: standard
blocks:
  - {{id: start, type: start}}
  - {{id: L, name: Lap, type: loop, params: {{loopType: for, count: {count}}}}}
  - {{id: each, type: {body}, parent: L, params: {params}}}
edges: [start -> L, "L -[loop-start-source]-> each"]
"""
FUNCTION = '{code: "return <loop.index>"}'
VARIABLE = '{variables: [{variableName: v, value: "<loop.index>"}]}'


def _parallel(count: int, kind: str = "standard", extra: str = "", body: str = "variables",
              params: str = TAGGED) -> Any:
    return compile_text(PARALLEL.format(kind=kind, count=count, extra=extra, body=body, params=params))


def _maps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition["States"].items() if s["Type"] == "Map"}


def _mode(state: dict[str, Any]) -> str:
    return str(state["ItemProcessor"]["ProcessorConfig"]["Mode"])


@pytest.mark.parametrize("count, kind, extra, mode", [
    (999, "standard", "", "INLINE"),
    (1000, "standard", "", "DISTRIBUTED"),
    (5000, "express", "", "INLINE"),  # Express: no distributed Map, no history limit
    (5000, "standard", ", mode: inline", "INLINE"),
    (3, "standard", ", mode: distributed", "DISTRIBUTED"),
])
def test_the_parallels_shape_follows_its_count_and_mode(count: int, kind: str, extra: str,
                                                        mode: str) -> None:
    [state] = _maps(_parallel(count, kind, extra).definition).values()
    assert _mode(state) == mode


def test_mode_distributed_makes_the_workflow_standard_and_express_refuses_it() -> None:
    text = PARALLEL.format(kind="KIND", count=3, extra=", mode: distributed", body="variables",
                           params=TAGGED)
    assert compile_text(text.replace("type: KIND\n", "")).workflow_type == "STANDARD"
    with pytest.raises(WorkflowError, match="'express' is not possible: parallel 'par' runs distributed"):
        compile_text(text.replace("KIND", "express"))


def test_a_distributed_parallel_passes_the_outer_variables_its_children_read() -> None:
    compiled = _parallel(1000)
    [state] = _maps(compiled.definition).values()
    # the body reads <start.tag>: the child gets that field of $b_start through ItemSelector
    # (not the whole start input in each item)...
    assert state["ItemSelector"]["v"] == {"b_start": '{% {"tag": $b_start.tag} %}'}
    program = state["ItemProcessor"]
    first = program["States"][program["StartAt"]]
    assert first["Assign"]["b_start"] == "{% $states.input.v.b_start %}"
    assert program["ProcessorConfig"]["ExecutionType"] == "EXPRESS"
    # ...writes its results to the payload bucket, read back by the collect task
    assert state["ResultWriter"]["Arguments"]["Bucket"] == distributed.PAYLOAD_BUCKET
    collect = compiled.definition["States"][state["Next"]]
    assert collect["Resource"] == "${Handler_collect}"
    assert collect["Arguments"]["params"]["op"] == "parallel"
    assert "collect" in compiled.handlers
    found: list[str] = []
    check_definition(compiled.definition, lambda _state, message: found.append(message))
    assert found == []


def test_tolerated_failures_and_batch_size_map_to_the_map_state() -> None:
    [state] = _maps(_parallel(1000, extra=", batchSize: 7, toleratedFailureCount: 3, "
                                          "toleratedFailurePercentage: 2.5").definition).values()
    assert (state["MaxConcurrency"], state["ToleratedFailureCount"],
            state["ToleratedFailurePercentage"]) == (7, 3, 2.5)
    assert state["Label"] == "par"


@pytest.mark.parametrize("body, params, child", [
    ("variables", TAGGED, "EXPRESS"),
    ("function", '{code: "return 1"}', "EXPRESS"),  # one call per child: within 5 minutes
    ("wait", "{timeValue: 10, timeUnit: minutes, async: true}", "STANDARD"),  # past 5 minutes
])
def test_a_childs_execution_type_is_express_unless_its_body_needs_standard(
        body: str, params: str, child: str) -> None:
    [state] = _maps(_parallel(1000, body=body, params=params).definition).values()
    assert state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == child


@pytest.mark.parametrize("body, params, child", [("variables", VARIABLE, "EXPRESS"),
                                                 ("function", FUNCTION, "STANDARD")])
def test_a_long_loop_runs_in_chunks_of_child_executions(body: str, params: str, child: str) -> None:
    compiled = compile_text(LOOP.format(count=10_000, body=body, params=params))
    [state] = _maps(compiled.definition).values()
    assert _mode(state) == "DISTRIBUTED" and state["Items"] == [0] and state["MaxConcurrency"] == 1
    # a chunk of many Lambda calls may pass Express's 5 minutes: Standard children then
    assert state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == child
    graph = build_graph(parse_workflow(parse_yaml(LOOP.format(count=10_000, body=body, params=params)),
                                       "<t>"), "<t>")
    per_iteration = 4 + (5 if body == "function" else 2)
    chunk = min(distributed.MAX_CHUNK, distributed.CHUNK_EVENTS // per_iteration)
    assert f"+ {chunk} %}}" in state["ItemProcessor"]["States"]["Lap resume"]["Assign"]["k_L"]
    # a chunk's own history stays far below 25,000 events
    assert chunk * per_iteration <= distributed.CHUNK_EVENTS < 25_000
    assert compiled.warnings == ()
    assert estimate_events(graph, compiled.definition, compiled.state_map)[0] < 100


def test_a_short_loop_stays_a_back_edge() -> None:
    compiled = compile_text(LOOP.format(count=100, body="variables", params=VARIABLE))
    assert _maps(compiled.definition) == {}


def test_at_10000_items_the_runs_own_history_stays_small() -> None:
    text = PARALLEL.format(kind="standard", count=10_000, extra="", body="variables", params=TAGGED)
    compiled = compile_text(text)
    graph = build_graph(parse_workflow(parse_yaml(text), "<t>"), "<t>")
    events, _node, _count = estimate_events(graph, compiled.definition, compiled.state_map)
    assert events < 100 and compiled.warnings == ()  # inline: 10,000 x 9 events
    inline = compile_text(text.replace("count: 10000", "count: 10000, mode: inline"))
    assert inline.warnings and "25,000" in inline.warnings[0].message


def test_a_distributed_container_cannot_hold_a_response() -> None:
    text = """
name: answer
type: standard
blocks:
  - {id: start, type: start}
  - {id: par, type: parallel, params: {parallelType: count, count: 3, mode: distributed}}
  - {id: reply, type: response, parent: par, params: {data: {ok: true}}}
edges: [start -> par, "par -[parallel-start-source]-> reply"]
"""
    with pytest.raises(WorkflowError) as caught:
        compile_text(text)
    [problem] = caught.value.problems
    assert (problem.block, problem.field) == ("par", "params.mode")
    assert "block 'reply' (response) needs the parent execution" in problem.message


def test_a_child_reading_a_variable_it_was_not_given_is_refused() -> None:
    definition = copy.deepcopy(_parallel(1000).definition)
    [state] = _maps(definition).values()
    program = state["ItemProcessor"]
    program["States"][program["StartAt"]]["Assign"].pop("b_start")
    found: list[str] = []
    check_definition(definition, lambda _state, message: found.append(message))
    assert any("read $b_start, which they do not assign" in m for m in found)


def test_a_child_reading_the_map_context_is_refused() -> None:
    definition = copy.deepcopy(_parallel(1000).definition)
    [state] = _maps(definition).values()
    program = state["ItemProcessor"]
    program["States"][program["StartAt"]]["Assign"]["x"] = "{% $states.context.Map.Item.Index %}"
    found: list[str] = []
    check_definition(definition, lambda _state, message: found.append(message))
    assert any("reads $states.context.Map" in m for m in found)
