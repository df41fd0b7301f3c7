"""The bill of a run with distributed containers counts their child executions.

GIVEN a Standard workflow whose parallel runs its items as child executions of a
distributed Map (Express children), or whose loop runs in chunks calling Lambda (Standard
children) WHEN it runs on the embedded engine THEN its result lists each child execution
the Map Runs started, with its type, its billed state transitions and its duration; the
bill ``stepweave run`` prints prices them (Express: a request and the duration at 64 MB;
Standard: its transitions; each start: one transition of the parent) next to the parent's
charges, and no longer says they are not counted.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from stepweave.compiler import CompiledWorkflow, compile_workflow, distributed
from stepweave.local import distributed_map, moto_history
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.local.progress import (
    EXPRESS_MEMORY_GB,
    EXPRESS_PRICE_PER_GB_SECOND,
    EXPRESS_PRICE_PER_REQUEST,
    PRICE_PER_TRANSITION,
    ProgressPrinter,
    billed_seconds,
    children_bill,
)
from stepweave.runtime.history import billed_transitions
from stepweave.workflow.loader import parse_workflow, parse_yaml

PARALLEL = """
name: fanbill
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: distributed}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
  - {id: done, type: response, params: {data: {n: "<fan.results>"}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> done]
"""

#: a loop whose chunks call Lambda: each chunk is a Standard child (chunks of two here)
LOOP = """
name: lapbill
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: distributed}}
  - {id: nxt, type: function, parent: L, params: {code: "return <loop.currentItem>"}}
  - {id: done, type: response, params: {data: {n: "<lap.results>"}}}
edges: [start -> L, "L -[loop-start-source]-> nxt", L -> done]
"""

ITEMS = [0, 1, 2, 3, 4]


def _compile(text: str) -> CompiledWorkflow:
    # unsplit: the run's own transitions are the parent's alone
    return compile_workflow(parse_workflow(parse_yaml(text), "<test>"), "<test>", split=False)


@pytest.fixture(scope="module")
def runs(engine: LocalEngine) -> dict[str, tuple[CompiledWorkflow, RunResult, dict[str, Any]]]:
    """Both workflows run once, with the events the engine kept of their children."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distributed_map, "forget_items", lambda _arn: None)  # kept for the test
        mp.setattr(distributed, "MAX_CHUNK", 2)
        for key, text in (("parallel", PARALLEL), ("loop", LOOP)):
            compiled = _compile(text)
            result = engine.run(compiled, {"items": ITEMS})
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            out[key] = (compiled, result, distributed_map.item_events(result.execution_arn))
    for _compiled, result, _kept in out.values():
        distributed_map.forget_items(result.execution_arn)
    return out


def _map_runs(result: RunResult) -> list[str]:
    return [e["mapRunStartedEventDetails"]["mapRunArn"] for e in result.events
            if e["type"] == "MapRunStarted"]


def _printed_bill(compiled: CompiledWorkflow, result: RunResult) -> str:
    out = io.StringIO()
    ProgressPrinter(compiled, out).summary(result)
    [line] = [line for line in out.getvalue().splitlines() if "AWS would bill:" in line]
    return line


def test_each_item_of_a_distributed_parallel_is_an_express_child(runs: Any) -> None:
    compiled, result, kept = runs["parallel"]
    [map_run] = _map_runs(result)
    # one child execution per item, all of the parallel's Map Run, all Express
    assert len(result.children) == len(ITEMS)
    assert {(c.workflow_type, c.map_run, c.status) for c in result.children} == {
        ("EXPRESS", map_run, "SUCCEEDED")}
    # each child's transitions are its own history's states entered
    assert sorted(c.transitions for c in result.children) == sorted(
        billed_transitions(moto_history.plain_events(events)) for _i, events in kept[map_run])
    assert all(c.transitions > 0 for c in result.children)

    billed = children_bill(result.children)
    seconds = sum(billed_seconds(c.duration_s) for c in result.children)
    assert (billed.express, billed.standard, billed.starts) == (len(ITEMS), 0, len(ITEMS))
    assert billed.express_seconds == pytest.approx(seconds)
    # Express: a request and the duration at 64 MB each; its start: a parent transition
    assert billed.cost == pytest.approx(
        len(ITEMS) * (EXPRESS_PRICE_PER_REQUEST + PRICE_PER_TRANSITION)
        + seconds * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND)

    line = _printed_bill(compiled, result)
    assert f"+ {len(ITEMS)} Express child executions ({seconds:,.1f} s at 64 MB)" in line
    assert f"their {len(ITEMS)} starts as state transitions (${billed.cost * 1000:.4f} per 1,000 runs)" in line
    parent = result.transitions * PRICE_PER_TRANSITION
    assert f"${(parent + billed.cost) * 1000:.4f} per 1,000 runs in all" in line
    assert "not counted" not in line


def test_a_chunked_loops_chunks_are_standard_children_billed_their_transitions(runs: Any) -> None:
    compiled, result, kept = runs["loop"]
    chunks = _map_runs(result)
    assert len(chunks) == 3  # five iterations, two a chunk
    # one child execution per chunk, each of its own Map Run, all Standard
    assert sorted(c.map_run for c in result.children) == sorted(chunks)
    assert {c.workflow_type for c in result.children} == {"STANDARD"}
    by_run = {c.map_run: c.transitions for c in result.children}
    for map_run in chunks:
        [(_index, events)] = kept[map_run]
        assert by_run[map_run] == billed_transitions(moto_history.plain_events(events))
    # the last chunk ran one iteration, the others two: fewer states entered
    assert by_run[chunks[-1]] < by_run[chunks[0]] == by_run[chunks[1]]

    billed = children_bill(result.children)
    transitions = sum(by_run.values())
    assert (billed.express, billed.standard, billed.standard_transitions, billed.starts) == (
        0, 3, transitions, 3)
    # Standard: its transitions, whatever it lasted; its start: a parent transition
    assert billed.cost == pytest.approx((transitions + 3) * PRICE_PER_TRANSITION)
    assert billed.express_cost == 0

    line = _printed_bill(compiled, result)
    assert f"+ 3 Standard child executions ({transitions:,} state transitions) and their 3 starts" in line
    assert "Express child" not in line and "not counted" not in line


def test_express_and_standard_children_are_priced_differently(runs: Any) -> None:
    express = children_bill(runs["parallel"][1].children)
    standard = children_bill(runs["loop"][1].children)
    # per child: a request and 64 MB-seconds against each state transition it made
    assert express.express_cost / express.express == pytest.approx(
        EXPRESS_PRICE_PER_REQUEST + express.express_seconds / express.express
        * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND)
    assert standard.standard_cost / standard.standard == pytest.approx(
        standard.standard_transitions / standard.standard * PRICE_PER_TRANSITION)
    assert express.express_cost / express.express < standard.standard_cost / standard.standard


def test_a_run_without_distributed_containers_has_no_children(engine: LocalEngine) -> None:
    compiled = _compile(PARALLEL.replace("mode: distributed", "mode: inline"))
    result = engine.run(compiled, {"items": [1, 2]})
    assert result.status == "SUCCEEDED"
    assert result.children == ()
    assert "child executions" not in _printed_bill(compiled, result)


def test_a_server_keeps_nothing_of_a_distributed_run_once_it_is_recorded() -> None:
    """``stepweave serve``'s executions (``LocalExecutions``) record a run when it ends;
    what the engine kept of its distributed Map's children (their events, for block logs;
    their bill) is then dropped, so a long-lived server does not grow with every run."""
    import json

    from stepweave.local.executions import LocalExecutions
    from stepweave.runtime.query import get_execution

    compiled = _compile(PARALLEL)
    with LocalEngine() as engine, LocalExecutions(engine, {"fanbill": compiled}, poll_s=0.01) as runs:
        outcome = runs.start_sync("fanbill", json.dumps({"items": ITEMS}), "run-kept", 60)
        assert outcome.status == "SUCCEEDED"
        assert runs.wait_recorded()
        recorded = get_execution(engine.records.ddb, engine.records.settings, outcome.execution_arn)
        assert recorded is not None
        assert sum(1 for b in recorded.blocks if b.block_id == "each") == len(ITEMS)
        assert distributed_map.item_events(outcome.execution_arn) == {}
        assert distributed_map.child_executions(outcome.execution_arn) == ()
