"""The blocks inside a distributed parallel or chunked loop are logged as inline.

GIVEN a Standard workflow whose parallel (or loop) runs its items (or chunks) as child
executions of a distributed Map WHEN it runs on the embedded engine THEN the run's records
hold a block log for every block run inside it -- name, type, success, error, output, the
branch / iteration (``where``) and their order -- the same as the run of the same workflow
compiled inline (``mode: inline``), a failing item included; and the container's own log
(its results) as inline, whether the children are Express or Standard executions. Only
a failed loop differs: distributed, the loop itself is also
logged as failed (docs/how-it-compiles.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from stepweave.compiler import distributed
from stepweave.local import distributed_map, moto_history
from stepweave.local.engine import ACCOUNT, REGION, LocalEngine
from stepweave.runtime.history import event_time
from stepweave.runtime.query import get_execution
from stepweave.runtime.recorder import fetch_history
from tests.engine.helpers import compile_text, run_text

PARALLEL = """
name: fanlogs
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", batchSize: 1, mode: MODE}}
  - {id: each, name: Each, type: function, parent: par, params: {code: "const i = <parallel.currentItem>; if (i >= 2) throw new Error('bad item ' + i); return i * 10"}}
  - {id: after, name: After, type: function, params: {code: "return <fan.results>.length"}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> after]
"""

LOOP = """
name: laplogs
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: MODE}}
  - {id: prev, name: Prev, type: variables, parent: L, params: {variables: [{variableName: p, value: "<nxt.result>|<loop.index>"}]}}
  - {id: nxt, name: Nxt, type: function, parent: L, params: {code: "const i = <loop.currentItem>; if (i >= 4) throw new Error('bad item ' + i); return i"}}
  - {id: after, name: After, type: function, params: {code: "return <lap.results>.length"}}
edges: [start -> L, "L -[loop-start-source]-> prev", prev -> nxt, L -> after]
"""

#: a native body: each chunk is an Express child (LOOP's, calling Lambda, are Standard)
NATIVE_LOOP = LOOP.replace(
    """{id: nxt, name: Nxt, type: function, parent: L, params: {code: "const i = <loop.currentItem>; if (i >= 4) throw new Error('bad item ' + i); return i"}}""",
    """{id: nxt, name: Nxt, type: variables, parent: L, params: {variables: [{variableName: result, value: "<loop.currentItem>"}]}}""")


def _logs(engine: LocalEngine, text: str, mode: str, items: list[int]) -> tuple[str, list[tuple[Any, ...]]]:
    result, _ = run_text(engine, text.replace("MODE", mode), {"items": items})
    detail = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert detail is not None
    # what was kept of the run's child executions is dropped once recorded
    assert distributed_map.item_events(result.execution_arn) == {}
    return result.status, [(b.name, b.type, b.success, b.error, b.output, b.where, b.branch, b.iteration)
                           for b in detail.blocks]


@pytest.mark.parametrize("items, status", [([0, 1], "SUCCEEDED"), ([0, 1, 2], "FAILED")])
@pytest.mark.usefixtures("engine")
def test_a_distributed_parallel_logs_each_items_blocks_as_inline(engine: LocalEngine, items: list[int],
                                                                 status: str) -> None:
    spread = _logs(engine, PARALLEL, "distributed", items)
    inline = _logs(engine, PARALLEL, "inline", items)
    assert spread == inline
    assert spread[0] == status
    each = [log for log in spread[1] if log[0] == "Each"]
    assert [(log[5], log[6]) for log in each] == [({"par": i}, i) for i in items]
    assert [log[2] for log in each] == [i < 2 for i in items]
    assert each[0][4] == '{"result": 0, "stdout": ""}'
    if status == "FAILED":
        assert each[-1][3].endswith("bad item 2")
        assert spread[1][-1][:3] == ("Fan", "parallel", False)
    else:  # the parallel's own log: its results, as inline
        [fan] = [log for log in spread[1] if log[0] == "Fan"]
        assert fan[2] and '"result": 10' in fan[4]


@pytest.mark.parametrize("text, items, status", [(LOOP, [0, 1, 2], "SUCCEEDED"),
                                                 (LOOP, [0, 1, 2, 3, 4], "FAILED"),
                                                 (NATIVE_LOOP, [0, 1, 2, 3, 4], "SUCCEEDED")])
@pytest.mark.usefixtures("engine")
def test_a_chunked_loop_logs_each_iterations_blocks_as_inline(engine: LocalEngine, monkeypatch: Any, text: str,
                                                              items: list[int], status: str) -> None:
    chunk = compile_text(text.replace("MODE", "distributed")).definition["States"]["Lap"]
    assert chunk["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == (
        "EXPRESS" if text is NATIVE_LOOP else "STANDARD")
    monkeypatch.setattr(distributed, "MAX_CHUNK", 2)  # chunks of two iterations
    spread_status, spread = _logs(engine, text, "distributed", items)
    inline_status, inline = _logs(engine, text, "inline", items)
    assert spread_status == inline_status == status
    if status == "FAILED":
        # distributed, the loop itself is logged as failed, last (an inline loop is not)
        *spread, lap = spread
        assert lap[:4] == ("Lap", "loop", False, "Nxt: " + inline[-1][3])
    assert spread == inline
    inside = [log for log in spread if log[0] in ("Prev", "Nxt")]
    assert [(log[0], log[5], log[7]) for log in inside] == [
        (name, {"L": i}, i) for i in items for name in ("Prev", "Nxt")]
    assert inside[2][4] == '{"p": "0|1"}'  # iteration 1 saw iteration 0's output
    assert (inside[3][4] == '{"result": "1"}') == (text is NATIVE_LOOP)
    if status == "FAILED":
        assert inside[-1][2:4] == (False, inline[-1][3]) and inside[-1][3].endswith("bad item 4")
    else:
        assert [log[0] for log in spread[-2:]] == ["Lap", "After"]


@pytest.mark.usefixtures("engine")
def test_kept_events_read_as_get_execution_history_gives_them(engine: LocalEngine) -> None:
    # the children's events are read straight from moto's (ten thousand of them for one
    # run): the same members and values as the API's, timestamps to the millisecond
    result, _ = run_text(engine, PARALLEL.replace("MODE", "inline"), {"items": [0, 1, 2]})
    raw = stepfunctions_parser_backends[ACCOUNT][REGION].get_execution_history(result.execution_arn)
    plain = moto_history.plain_events(raw["events"])
    expected = fetch_history(engine.sfn, result.execution_arn)
    assert {"MapIterationStarted", "LambdaFunctionFailed", "FailStateEntered"} <= {e["type"] for e in plain}

    def ms(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**e, "timestamp": event_time(e).replace(microsecond=event_time(e).microsecond // 1000 * 1000)}
                for e in events]

    assert ms(plain) == ms(expected)
