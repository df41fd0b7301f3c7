"""References as Sim resolves them in text, and containers as the run's last block.

In an ordinary string param (a Sim string template) a block that did not run is empty
text, and a reference that names nothing stays as written (SIM-COMPAT §2.5, §2.6.1);
a loop or parallel that ends the run gives Sim's end-sentinel output (§3.11).
"""

from __future__ import annotations

from stepweave.local.engine import LocalEngine
from tests.engine.helpers import run_text

SKIPPED = """
version: 1
name: skipped-branch
blocks:
  - {id: start, type: start}
  - id: check
    type: condition
    params: {conditions: [{id: yes, title: if, value: "false"}, {id: no, title: else, value: ""}]}
  - {id: b, name: B, type: function, params: {code: "return 'b'"}}
  - {id: d, name: D, type: function, params: {code: "return 'd'"}}
  - id: respond
    type: response
    params:
      dataMode: structured
      builderData:
        - {name: whole, type: string, value: "<b.result>"}
        - {name: text, type: string, value: "b=<b.result>;d=<d.result>"}
        - {name: code, type: string, value: "<B>"}
edges: ["check -[condition-yes]-> b", "check -[condition-no]-> d", start -> check, b -> respond, d -> respond]
"""


def test_a_skipped_block_is_empty_text_in_string_params(engine: LocalEngine) -> None:
    result, ran = run_text(engine, SKIPPED)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert ran == ["start", "check", "D", "respond"]
    assert result.output["data"] == {"whole": "", "text": "b=;d=d", "code": ""}


def test_a_skipped_block_is_null_in_code(engine: LocalEngine) -> None:
    text = SKIPPED.replace("""  - id: respond
    type: response
    params:
      dataMode: structured
      builderData:
        - {name: whole, type: string, value: "<b.result>"}
        - {name: text, type: string, value: "b=<b.result>;d=<d.result>"}
        - {name: code, type: string, value: "<B>"}""",
                           """  - {id: respond, name: M, type: function, params: {code: "return [<b.result>, <d.result>]"}}""")
    result, _ = run_text(engine, text)
    assert result.output == {"result": [None, "d"], "stdout": ""}


def test_references_to_nothing_stay_as_written_in_text(engine: LocalEngine) -> None:
    text = """
version: 1
name: literal-refs
blocks:
  - {id: start, type: start}
  - {id: p, name: P, type: parallel, params: {parallelType: count, count: 2}}
  - id: v
    parent: p
    type: variables
    params:
      variables:
        - {variableName: html, type: string, value: "<b>bold</b> <nosuch.x> <variable.none>"}
        - {variableName: item, type: string, value: "#<parallel.index>: <parallel.currentItem>"}
  - {id: r, type: response, params: {dataMode: json, data: "<P.results>"}}
edges: [start -> p, "p -[parallel-start-source]-> v", "p -[parallel-end-source]-> r"]
"""
    result, _ = run_text(engine, text)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["data"] == [
        [{"html": "<b>bold</b> <nosuch.x> <variable.none>", "item": "#0: <parallel.currentItem>"}],
        [{"html": "<b>bold</b> <nosuch.x> <variable.none>", "item": "#1: <parallel.currentItem>"}]]


def test_a_loop_that_ends_the_run_gives_sims_exit_output(engine: LocalEngine) -> None:
    text = """
version: 1
name: terminal-loop
blocks:
  - {id: start, type: start}
  - {id: l, name: Loop1, type: loop, params: {loopType: for, count: 2}}
  - {id: a, name: A, parent: l, type: function, params: {code: "return <loop.index>"}}
edges: [start -> l, "l -[loop-start-source]-> a"]
"""
    result, _ = run_text(engine, text)
    assert result.output == {"results": [[{"result": 0, "stdout": ""}], [{"result": 1, "stdout": ""}]],
                             "shouldContinue": False, "shouldExit": True,
                             "selectedRoute": "loop_exit", "totalIterations": 2}


def test_a_parallel_that_ends_the_run_gives_sims_exit_output(engine: LocalEngine) -> None:
    text = """
version: 1
name: terminal-parallel
blocks:
  - {id: start, type: start}
  - {id: p, name: P, type: parallel, params: {parallelType: collection, collection: "['x', 'y']"}}
  - {id: a, name: A, parent: p, type: function, params: {code: "return <parallel.currentItem>"}}
  - {id: l, name: Loop1, type: loop, params: {loopType: for, count: 1}}
  - {id: b, name: B, parent: l, type: function, params: {code: "return <p.results>.length"}}
  - {id: c, name: C, type: function, params: {code: "return <loop1>"}}
edges: [start -> p, "p -[parallel-start-source]-> a", "p -[parallel-end-source]-> l",
        "l -[loop-start-source]-> b", "l -[loop-end-source]-> c"]
"""
    result, _ = run_text(engine, text)
    # a loop followed by a block keeps the plain output
    assert result.output == {"result": {"results": [[{"result": 2, "stdout": ""}]]}, "stdout": ""}
    alone = text.split("  - {id: l,")[0] + 'edges: [start -> p, "p -[parallel-start-source]-> a"]\n'
    result, _ = run_text(engine, alone)
    assert result.output == {"results": [[{"result": "x", "stdout": ""}], [{"result": "y", "stdout": ""}]],
                             "sentinelEnd": True, "selectedRoute": "parallel_exit", "totalBranches": 2}
