"""Distributed parallels and chunked loops run end to end on the embedded engine.

GIVEN a Standard workflow whose parallel has thousands of items, or whose loop has
thousands of iterations WHEN it runs locally THEN it succeeds with the results in order,
downstream blocks read them (through the payload bucket when large), and the run's own
history holds a few dozen events whatever the count; the same workflow compiled inline
gives the same output (chunk boundaries included); a failing item fails the run with its
block's error unless tolerated; and a child execution does not see its parent's variables.

Counts: 10,000 items and 10,000 iterations (ten chunks), end to end; each costs the
embedded engine well under a millisecond here (``bench/scale.py`` measures it).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from stepweave.compiler import distributed
from stepweave.local import distributed_map
from stepweave.local.distributed_map import TOLERANCE_CAUSE, for_moto
from stepweave.local.engine import LocalEngine
from stepweave.runtime import payloads
from tests.engine.helpers import run_text

PARALLEL_ITEMS = 10_000
LOOP_ITERATIONS = 10_000
#: AWS's limit of events in one execution's history
HISTORY_LIMIT = 25_000

PARALLEL = """
name: fan
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}, {name: tag, type: string}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: MODE}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<start.tag><parallel.currentItem>"}]}}
  - {id: count, type: function, params: {code: "const r = <fan.results>; return {n: r.length, first: r[0][0].v, last: r[r.length - 1][0].v, ordered: r.every((x, i) => x.length === 1 && x[0].v === 't' + i)}"}}
  - {id: done, type: response, params: {data: {count: "<count.result>", branch0: "<each.v>"}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> count, count -> done]
"""

LOOP = """
name: lap
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: MODE}}
  - {id: prev, type: variables, parent: L, params: {variables: [{variableName: p, value: "<nxt.v>|<loop.index>"}]}}
  - {id: nxt, type: variables, parent: L, params: {variables: [{variableName: v, value: "<loop.currentItem>"}]}}
  - {id: count, type: function, params: {code: "const r = <lap.results>; return {n: r.length, last: r[r.length - 1], chained: r.every((x, i) => x[1].v === String(i) && x[0].p === (i === 0 ? '' : String(i - 1)) + '|' + i)}"}}
  - {id: done, type: response, params: {data: {count: "<count.result>", prev: "<prev.p>", last: "<nxt.v>"}}}
edges: [start -> L, "L -[loop-start-source]-> prev", prev -> nxt, L -> count, count -> done]
"""


def _data(result: Any) -> Any:
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output["data"]


@pytest.mark.usefixtures("engine")
def test_a_parallel_of_thousands_of_items_runs_distributed(engine: LocalEngine) -> None:
    items = list(range(PARALLEL_ITEMS))
    distributed_map.reset_child_history_peak()
    began = time.monotonic()
    result, _ = run_text(engine, PARALLEL.replace("MODE", "distributed"), {"items": items, "tag": "t"})
    print(f"{PARALLEL_ITEMS} items: {time.monotonic() - began:.1f} s")  # noqa: T201 - the figure
    data = _data(result)
    # every item's output is there, in the items' order
    assert data == {"count": {"n": PARALLEL_ITEMS, "first": "t0", "last": f"t{PARALLEL_ITEMS - 1}",
                              "ordered": True},
                    "branch0": "t0"}
    # every item ran in a child execution: the run's own history is a few states long
    assert len(result.events) < 40
    assert any(e["type"] == "MapRunStarted" for e in result.events)
    assert distributed_map.child_history_peak() < HISTORY_LIMIT
    # the results list is over the inline budget: the parallel's output holds it as a stub
    # in the payload bucket, which the function block read back
    [assigned] = [e["stateExitedEventDetails"]["assignedVariables"] for e in result.events
                  if e.get("stateExitedEventDetails", {}).get("name") == "Fan results"]
    assert payloads.stub_ref(json.loads(assigned["b_par"])["results"]) is not None


@pytest.mark.usefixtures("engine")
def test_a_loop_of_thousands_of_iterations_runs_in_chunks(engine: LocalEngine) -> None:
    items = list(range(LOOP_ITERATIONS))
    distributed_map.reset_child_history_peak()
    began = time.monotonic()
    result, _ = run_text(engine, LOOP.replace("MODE", "distributed"), {"items": items})
    print(f"{LOOP_ITERATIONS} iterations: {time.monotonic() - began:.1f} s")  # noqa: T201
    data = _data(result)
    last = LOOP_ITERATIONS - 1
    # each iteration saw the previous one's output (Sim), across chunk boundaries too
    # and every iteration's output is there, in order ("chained": iteration i saw i - 1's)
    assert data == {"count": {"n": LOOP_ITERATIONS, "last": [{"p": f"{last - 1}|{last}"}, {"v": str(last)}],
                              "chained": True},
                    "prev": f"{last - 1}|{last}", "last": str(last)}
    chunks = sum(1 for e in result.events if e["type"] == "MapRunStarted")
    assert chunks == -(-LOOP_ITERATIONS // distributed.MAX_CHUNK)
    assert len(result.events) < 25 + 15 * chunks
    assert distributed_map.child_history_peak() < HISTORY_LIMIT


@pytest.mark.parametrize("text, size", [(PARALLEL, 7), (LOOP, 7), (LOOP, 6), (LOOP, 0)])
@pytest.mark.usefixtures("engine")
def test_distributed_and_inline_give_the_same_output(engine: LocalEngine, monkeypatch: Any,
                                                     text: str, size: int) -> None:
    monkeypatch.setattr(distributed, "MAX_CHUNK", 3)  # chunk boundaries at 3 and 6
    payload = {"items": list(range(size)), "tag": "x"}
    spread, _ = run_text(engine, text.replace("MODE", "distributed"), payload)
    inline, _ = run_text(engine, text.replace("MODE", "inline"), payload)
    assert spread.status == inline.status == "SUCCEEDED", (spread.cause, inline.cause)
    assert spread.output == inline.output


FAILING = """
name: brittle
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: distributed TOLERATE}}
  - {id: each, type: function, parent: par, params: {code: "if (<parallel.currentItem> === 2) throw new Error('bad item'); return <parallel.currentItem>"}}
  - {id: done, type: response, params: {data: {results: "<fan.results>"}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> done]
"""


@pytest.mark.usefixtures("engine")
def test_a_failed_item_fails_the_run_with_its_blocks_error(engine: LocalEngine) -> None:
    # as inline (tests/engine/test_distributed_failures.py compares the two)
    result, _ = run_text(engine, FAILING.replace(" TOLERATE", ""), {"items": [0, 1, 2, 3]})
    assert result.status == "FAILED"
    assert result.error == "Stepweave.BlockFailed"
    assert result.cause.startswith("each: ") and result.cause.endswith(" - bad item")
    assert TOLERANCE_CAUSE not in result.cause


@pytest.mark.usefixtures("engine")
def test_tolerated_failures_let_the_parallel_succeed(engine: LocalEngine) -> None:
    result, _ = run_text(engine, FAILING.replace(" TOLERATE", ", toleratedFailureCount: 1"),
                         {"items": [0, 1, 2, 3]})
    results = _data(result)["results"]
    assert [r[0]["result"] if r else r for r in results] == [0, 1, None, 3]


@pytest.mark.usefixtures("engine")
def test_results_are_written_as_aws_writes_them(engine: LocalEngine) -> None:
    result, _ = run_text(engine, FAILING.replace(" TOLERATE", ", toleratedFailureCount: 1"),
                         {"items": [0, 1, 2]})
    [written] = [json.loads(e["stateExitedEventDetails"]["output"]) for e in result.events
                 if e.get("stateExitedEventDetails", {}).get("name") == "Fan"]
    s3 = engine.s3

    def read(key: str) -> Any:
        return json.loads(s3.get_object(Bucket=written["Bucket"], Key=key)["Body"].read())

    assert written["Key"].startswith(f"{distributed.RESULTS_PREFIX}/brittle/")
    manifest = read(written["Key"])
    assert set(manifest["ResultFiles"]) == {"FAILED", "PENDING", "SUCCEEDED"}
    [failed] = manifest["ResultFiles"]["FAILED"]
    [row] = read(failed["Key"])
    assert row["Status"] == "FAILED" and json.loads(row["Input"])["index"] == 2
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    rows = read(succeeded["Key"])
    assert sorted(json.loads(r["Input"])["index"] for r in rows) == [0, 1]
    assert all(isinstance(r["Output"], str) and r["Status"] == "SUCCEEDED" for r in rows)


@pytest.mark.usefixtures("engine")
def test_a_child_execution_does_not_see_its_parents_variables(engine: LocalEngine) -> None:
    # written by hand: the compiler refuses this (stepweave.compiler.aslcheck)
    definition = {"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"secret": 42}, "Next": "Fan"},
        "Fan": {"Type": "Map", "Items": [1], "End": True,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Read", "States": {"Read": {"Type": "Pass", "Output": "{% $secret %}",
                                                           "End": True}}}}}}
    arn = engine.sfn.create_state_machine(
        name="isolated", definition=for_moto(json.dumps(definition)), type="STANDARD",
        roleArn="arn:aws:iam::123456789012:role/stepweave-local")["stateMachineArn"]
    execution = engine.sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while (desc := engine.sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # $secret is undefined in the child: it fails, and so does the Map
    assert desc["status"] == "FAILED"
    assert desc.get("error") == "States.ExceedToleratedFailureThreshold"
