"""Each construct of the compiler, executed on the embedded engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepweave.local.engine import LocalEngine, RunResult
from tests.engine.helpers import compile_text, run_text

pytestmark = pytest.mark.usefixtures("engine")


def fn(result: Any) -> dict[str, Any]:
    return {"result": result, "stdout": ""}


def test_while_loop_reads_its_own_previous_iteration(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: while-loop
blocks:
  - {id: start, type: start}
  - {id: L, name: Count, type: loop, params: {loopType: while, whileCondition: "<loop.index> < 3"}}
  - {id: step, name: Step, type: function, parent: L,
     params: {code: "return {i: <loop.index>, prev: <step.result>}"}}
  - {id: after, name: After, type: function, params: {code: "return [<count.results>.length, <step.result>]"}}
edges: [start -> L, "L -[loop-start-source]-> step", "L -[loop-end-source]-> after"]
""")
    assert result.status == "SUCCEEDED", result.cause
    # after the loop <step.x> is the last iteration's output; inside, the previous one's
    assert result.output == fn([3, {"i": 2, "prev": {"i": 1, "prev": {"i": 0, "prev": None}}}])
    assert ran.count("Step") == 3


def test_do_while_runs_once_even_when_false(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: do-while
blocks:
  - {id: start, type: start}
  - {id: L, name: Once, type: loop, params: {loopType: doWhile, doWhileCondition: "false"}}
  - {id: a, name: A, type: function, parent: L, params: {code: "return <loop.index>"}}
edges: [start -> L, "L -[loop-start-source]-> a"]
""")
    assert result.output == {"results": [[fn(0)]], "shouldContinue": False, "shouldExit": True,
                             "selectedRoute": "loop_exit", "totalIterations": 1}
    assert ran.count("A") == 1


def test_for_each_over_object_gives_key_value_pairs(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: foreach-object
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: prices, type: object}]}}
  - {id: L, name: Each, type: loop, params: {loopType: forEach, collection: "<start.prices>"}}
  - {id: a, name: A, type: function, parent: L,
     params: {code: "return <loop.currentItem>[0] + '=' + <loop.currentItem>[1] * <loop.items>.length"}}
edges: [start -> L, "L -[loop-start-source]-> a"]
""", {"prices": {"x": 2, "y": 5}})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"results": [[fn("x=4")], [fn("y=10")]], "shouldContinue": False,
                             "shouldExit": True, "selectedRoute": "loop_exit", "totalIterations": 2}


def test_for_each_over_empty_list_runs_zero_iterations(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: foreach-empty
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array, value: []}]}}
  - {id: L, name: Each, type: loop, params: {loopType: forEach, collection: "<start.items>"}}
  - {id: a, name: A, type: function, parent: L, params: {code: "return 1"}}
  - {id: z, name: Z, type: function, params: {code: "return <each.results>"}}
edges: [start -> L, "L -[loop-start-source]-> a", "L -[loop-end-source]-> z"]
""")
    assert result.output == fn([])
    assert "A" not in ran


def test_parallel_count_results_ordered_by_branch(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: par-count
blocks:
  - {id: start, type: start}
  - {id: P, name: Fan, type: parallel, params: {parallelType: count, count: 3, batchSize: 2}}
  - {id: a, name: A, type: function, parent: P, params: {code: "return <parallel.index>"}}
  - {id: b, name: B, type: function, parent: P, params: {code: "return <a.result> * 2"}}
  - {id: after, name: After, type: function, params: {code: "return [<fan.results>.length, <a.result>]"}}
edges: [start -> P, "P -[parallel-start-source]-> a", a -> b, "P -[parallel-end-source]-> after"]
""")
    assert result.status == "SUCCEEDED", result.cause
    # after the parallel, <a.x> is branch 0's output (Sim)
    assert result.output == fn([3, 0])
    assert ran.count("A") == 3 and ran.count("B") == 3


def test_parallel_results_shape(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: par-shape
blocks:
  - {id: start, type: start}
  - {id: P, name: Fan, type: parallel, params: {parallelType: collection, collection: "['a', 'b']"}}
  - {id: a, name: A, type: function, parent: P, params: {code: "return <parallel.currentItem> + <parallel.index>"}}
edges: [start -> P, "P -[parallel-start-source]-> a"]
""")
    assert result.output == {"results": [[fn("a0")], [fn("b1")]], "sentinelEnd": True,
                             "selectedRoute": "parallel_exit", "totalBranches": 2}


def test_loop_inside_parallel_and_parallel_inside_loop(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: nesting
blocks:
  - {id: start, type: start}
  - {id: P, name: Outer, type: parallel, params: {parallelType: count, count: 2}}
  - {id: L, name: Inner, type: loop, parent: P, params: {loopType: for, count: 2}}
  - {id: a, name: A, type: function, parent: L, params: {code: "return [<outer.index>, <loop.index>]"}}
  - {id: L2, name: Rounds, type: loop, params: {loopType: for, count: 2}}
  - {id: P2, name: Branches, type: parallel, parent: L2, params: {parallelType: count, count: 2}}
  - {id: b, name: B, type: function, parent: P2, params: {code: "return [<rounds.index>, <parallel.index>]"}}
  - {id: z, name: Z, type: function,
     params: {code: "return {outer: <outer.results>, rounds: <rounds.results>}"}}
edges:
  - start -> P
  - "P -[parallel-start-source]-> L"
  - "L -[loop-start-source]-> a"
  - "P -[parallel-end-source]-> L2"
  - "L2 -[loop-start-source]-> P2"
  - "P2 -[parallel-start-source]-> b"
  - "L2 -[loop-end-source]-> z"
""")
    assert result.status == "SUCCEEDED", result.cause
    out = result.output["result"]
    assert out["outer"] == [[{"results": [[fn([0, 0])], [fn([0, 1])]]}],
                            [{"results": [[fn([1, 0])], [fn([1, 1])]]}]]
    assert out["rounds"] == [[{"results": [[fn([0, 0])], [fn([0, 1])]]}],
                             [{"results": [[fn([1, 0])], [fn([1, 1])]]}]]


def test_condition_dead_end_inside_loop_ends_only_that_iteration(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: loop-dead-end
blocks:
  - {id: start, type: start}
  - {id: L, name: L, type: loop, params: {loopType: for, count: 3}}
  - {id: c, name: Odd, type: condition, parent: L,
     params: {conditions: [{id: odd, title: if, value: "<loop.index> % 2 === 1"}]}}
  - {id: a, name: A, type: function, parent: L, params: {code: "return <loop.index>"}}
edges: [start -> L, "L -[loop-start-source]-> c", "c -[condition-odd]-> a"]
""")
    assert result.status == "SUCCEEDED", result.cause
    assert ran.count("A") == 1 and ran.count("Odd") == 3
    results = result.output["results"]
    assert [len(it) for it in results] == [1, 2, 1]
    assert results[1][1] == fn(1)


def test_variables_block_updates_workflow_variables(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: variables
variables:
  - {name: greeting, type: string, value: hello}
  - {name: count, type: number, value: "2"}
  - {name: tags, type: array, value: '["a"]'}
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: who, type: string}]}}
  - {id: before, name: Before, type: function,
     params: {code: "return [<variable.greeting>, <variable.count>, <variable.tags>]"}}
  - {id: set, name: Set, type: variables, params: {variables: [
      {variableName: greeting, value: "hi <start.who>"}, {variableName: count, value: "7"}]}}
  - {id: after, name: After, type: function,
     params: {code: "return [<variable.greeting>, <variable.count>, <set.count>]"}}
edges: [start -> before, before -> set, set -> after]
""", {"who": "ada"})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == fn(["hi ada", 7, 7])


def test_variable_number_parse_error_fails_the_run(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: variables-bad
variables: [{name: i, type: number, value: 0}]
blocks:
  - {id: start, type: start}
  - {id: set, name: Set, type: variables, params: {variables: [{variableName: i, value: "<variable.i> + 1"}]}}
edges: [start -> set]
""")
    assert result.status == "FAILED"
    assert 'Invalid number value for variable "i"' in (result.cause or "")


def test_wait_block_output(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: wait
blocks:
  - {id: start, type: start}
  - {id: w, name: Pause, type: wait, params: {timeValue: "1", timeUnit: seconds}}
edges: [start -> w]
""")
    assert result.output == {"waitDuration": 1000, "status": "completed"}
    assert result.duration_s >= 1.0


def test_wait_length_from_a_reference(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: wait-ref
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: delay, type: number}]}}
  - {id: w, name: Pause, type: wait, params: {timeValue: "<start.delay>", timeUnit: seconds}}
edges: [start -> w]
""", {"delay": 1})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"waitDuration": 1000, "status": "completed"}
    assert result.duration_s >= 1.0


def test_response_inside_a_loop_ends_the_run(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: loop-response
blocks:
  - {id: start, type: start}
  - {id: L, name: L, type: loop, params: {loopType: for, count: 5}}
  - {id: c, name: Second, type: condition, parent: L,
     params: {conditions: [{id: yes, title: if, value: "<loop.index> === 1"}]}}
  - {id: r, name: Done, type: response, parent: L, params: {data: {stopped: "<loop.index>"}, status: 202}}
  - {id: z, name: Never, type: function, params: {code: "return 1"}}
edges: [start -> L, "L -[loop-start-source]-> c", "c -[condition-yes]-> r", "L -[loop-end-source]-> z"]
""")
    assert result.output == {"data": {"stopped": 1}, "status": 202,
                             "headers": {"Content-Type": "application/json"}}
    assert ran.count("Second") == 2 and "Never" not in ran


def test_error_edge_inside_parallel_branch(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: branch-error
blocks:
  - {id: start, type: start}
  - {id: P, name: P, type: parallel, params: {parallelType: count, count: 2}}
  - {id: f, name: Risky, type: function, parent: P,
     params: {code: "if (<parallel.index> === 1) throw new Error('no ' + <parallel.index>); return 'ok'"}}
  - {id: h, name: Handle, type: function, parent: P, params: {code: "return 'handled: ' + <risky.error>"}}
edges: [start -> P, "P -[parallel-start-source]-> f", "f -[error]-> h"]
""")
    assert result.status == "SUCCEEDED", result.cause
    branch0, branch1 = result.output["results"]
    assert branch0 == [fn("ok")]
    assert branch1[0] == {"error": "Line 1: `if (__ref_0 === 1) throw new Error('no ' + __ref_1); return 'ok'` - no 1"} \
        or branch1[0]["error"].endswith("- no 1")
    assert branch1[1]["result"].startswith("handled: ")


def test_unhandled_error_names_block_and_message(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: unhandled
blocks:
  - {id: start, type: start}
  - {id: f, name: Explode, type: function, params: {code: "throw new Error('kaboom')"}}
edges: [start -> f]
""")
    assert result.status == "FAILED"
    assert result.error == "Stepweave.BlockFailed"
    assert result.cause == "Explode: Line 1: `throw new Error('kaboom')` - kaboom"


def test_start_input_format_defaults_and_coercion(engine: LocalEngine) -> None:
    result, _ = run_text(engine, """
name: start-input
blocks:
  - {id: start, type: start, params: {inputFormat: [
      {name: age, type: number}, {name: tags, type: array}, {name: vip, type: boolean},
      {name: region, type: string, value: eu}]}}
edges: []
""", {"age": "42", "tags": '["a"]', "vip": "true", "extra": "e"})
    assert result.output == {"age": 42, "tags": ["a"], "vip": True, "region": "eu", "extra": "e"}


def test_disabled_blocks_are_skipped_with_their_only_descendants(engine: LocalEngine) -> None:
    result, ran = run_text(engine, """
name: disabled
blocks:
  - {id: start, type: start}
  - {id: a, name: A, type: function, enabled: false, params: {code: "return 1"}}
  - {id: b, name: B, type: function, params: {code: "return 2"}}
  - {id: m, name: M, type: function, params: {code: "return [<a.result>, <b.result>]"}}
edges: [start -> a, start -> b, a -> m, b -> m]
""")
    assert result.output == fn([None, 2])
    assert sorted(ran) == ["B", "M", "start"]  # a block's name defaults to its id


def test_workflow_type_is_chosen_from_blocks() -> None:
    short = compile_text("name: s\nblocks: [{id: start, type: start}]\n")
    long_wait = compile_text("""
name: l
blocks:
  - {id: start, type: start}
  - {id: w, type: wait, params: {timeValue: "2", async: true, timeUnitLong: hours}}
edges: [start -> w]
""")
    assert (short.workflow_type, long_wait.workflow_type) == ("EXPRESS", "STANDARD")


def test_express_override_with_long_wait_is_a_compile_error() -> None:
    from stepweave.errors import WorkflowError

    with pytest.raises(WorkflowError, match="workflow type 'express' is not possible: block 'w' waits"):
        compile_text("""
name: l
type: express
blocks:
  - {id: start, type: start}
  - {id: w, type: wait, params: {timeValue: "2", async: true, timeUnitLong: days}}
edges: [start -> w]
""")


_FAN_OVER_ITEMS = """
name: par-data
blocks:
  - {id: start, type: start}
  - {id: P, name: Fan, type: parallel, params: {parallelType: collection, collection: "['aaaa', 'bbbb', 'cccc']"}}
  - {id: a, name: Body, type: function, parent: P, params: {code: "return BODY"}}
  - {id: after, name: After, type: function, params: {code: "return [<body.result>, <fan.results>.length]"}}
edges: [start -> P, "P -[parallel-start-source]-> a", "P -[parallel-end-source]-> after"]
"""


def _details(result: RunResult, kind: str, state: str) -> list[dict[str, Any]]:
    key = "stateEnteredEventDetails" if kind == "input" else "stateExitedEventDetails"
    return [json.loads(e[key][kind]) for e in result.events
            if key in e and e[key]["name"] == state]


def test_parallel_iterations_carry_only_what_they_read(engine: LocalEngine) -> None:
    """GIVEN a parallel over a collection whose body does not read <parallel.items>
    THEN no iteration receives the collection, only iteration 0 exports its block outputs
    (what <body.x> reads after the parallel, Sim's branch 0 rule) and every iteration its
    result; the outputs are Sim's."""
    result, _ = run_text(engine, _FAN_OVER_ITEMS.replace("BODY", "<parallel.currentItem> + <parallel.index>"))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == fn(["aaaa0", 3])
    starts = _details(result, "input", "Body")
    assert sorted(s["index"] for s in starts) == [0, 1, 2]
    assert all("items" not in s for s in starts)
    exports = _details(result, "output", "Body")
    assert len(exports) == 3
    assert [e["b"] for e in exports if e["b"]] == [{"a": fn("aaaa0")}]
    assert sorted(e["entries"][0]["result"] for e in exports) == ["aaaa0", "bbbb1", "cccc2"]


def test_parallel_iterations_get_the_collection_when_they_read_it(engine: LocalEngine) -> None:
    result, _ = run_text(engine, _FAN_OVER_ITEMS.replace(
        "BODY", "<parallel.items>.join('') + <parallel.index>"))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == fn(["aaaabbbbcccc0", 3])
    starts = _details(result, "input", "Body")
    assert [s["items"] for s in starts] == [["aaaa", "bbbb", "cccc"]] * 3
