"""A block failing inside a distributed parallel or chunked loop fails the run as inline.

GIVEN a Standard workflow whose parallel (or loop) has an item whose block throws WHEN it
runs distributed (``mode: distributed``: child executions) and inline THEN both runs fail
with the same error and cause (that block's, as SIM-COMPAT says), recorded the same way;
the user's tolerated-failure settings still let a parallel succeed while few enough items
fail, and past them the run fails with the first failed item's error; the progress shows
the container failed, never succeeded; the run's Lambda invocations include its child
executions'.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from stepweave.local.engine import LocalEngine, Progress
from stepweave.local.progress import ProgressPrinter
from stepweave.runtime.query import get_execution
from tests.engine.helpers import compile_text, run_text

PARALLEL = """
name: fanfail
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", batchSize: 1, mode: MODE EXTRA}}
  - {id: each, name: Each, type: function, parent: par, params: {code: "const i = <parallel.currentItem>; if (i >= 2) throw new Error('bad item ' + i); return i"}}
  - {id: after, name: After, type: function, params: {code: "return <fan.results>"}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> after]
"""

LOOP = """
name: lapfail
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: MODE}}
  - {id: each, name: Each, type: function, parent: L, params: {code: "const i = <loop.currentItem>; if (i >= 2) throw new Error('bad item ' + i); return i"}}
  - {id: after, name: After, type: function, params: {code: "return <lap.results>"}}
edges: [start -> L, "L -[loop-start-source]-> each", L -> after]
"""

ITEMS = {"items": [0, 1, 2, 3]}


def _run(engine: LocalEngine, text: str, mode: str, extra: str = "") -> tuple[Any, Any, Any]:
    result, _ = run_text(engine, text.replace("MODE", mode).replace(" EXTRA", extra), ITEMS)
    detail = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert detail is not None
    return result, detail.record, detail.blocks


@pytest.mark.parametrize("text, extra", [
    (PARALLEL, ""),
    # items 2 and 3 fail: one more than tolerated; inline ignores the setting
    (PARALLEL, ", toleratedFailureCount: 1"),
    (PARALLEL, ", toleratedFailurePercentage: 25"),
    (LOOP, ""),
])
@pytest.mark.usefixtures("engine")
def test_a_failing_item_fails_the_run_with_its_blocks_error(engine: LocalEngine, text: str,
                                                           extra: str) -> None:
    spread, spread_record, spread_logs = _run(engine, text, "distributed", extra)
    inline, inline_record, inline_logs = _run(engine, text, "inline", extra)
    assert spread.status == inline.status == "FAILED"
    assert (spread.error, spread.cause) == (inline.error, inline.cause)
    assert spread.error == "Stepweave.BlockFailed"
    assert spread.cause.startswith("Each: ") and spread.cause.endswith("bad item 2")
    # the run's record says the same
    assert (spread_record.status, spread_record.error, spread_record.cause) == \
        (inline_record.status, inline_record.error, inline_record.cause) == \
        ("failed", spread.error, spread.cause)
    # the container's block log says it failed, with the failed block's error (the items'
    # own logs are the child executions'), never that it succeeded
    container = "Fan" if text is PARALLEL else "Lap"
    [log] = [b for b in spread_logs if b.name == container]
    assert not log.success and log.error == spread.cause
    if text is PARALLEL:  # inline, the Map state fails the same way (an inline loop has none)
        [log] = [b for b in inline_logs if b.name == container]
        assert not log.success and log.error == spread.cause
    assert "After" not in {b.name for b in spread_logs} | {b.name for b in inline_logs}


@pytest.mark.usefixtures("engine")
def test_tolerated_failures_still_let_the_parallel_succeed(engine: LocalEngine) -> None:
    result, _ = run_text(engine, PARALLEL.replace("MODE", "distributed")
                         .replace(" EXTRA", ", toleratedFailureCount: 2"), ITEMS)
    assert result.status == "SUCCEEDED", result.cause
    assert [r[0]["result"] if r else r for r in result.output["result"]] == [0, 1, None, None]
    # the bill counts the children's Lambda invocations: 4 items, the collect step, After
    assert result.lambda_invocations == 6


@pytest.mark.usefixtures("engine")
def test_a_parallel_that_failed_shows_as_failed(engine: LocalEngine) -> None:
    for mode in ("distributed", "inline"):
        compiled = compile_text(PARALLEL.replace("MODE", mode).replace(" EXTRA", ""))
        out = io.StringIO()
        printer = ProgressPrinter(compiled, out)
        seen: list[Progress] = []

        def show(step: Progress, printer: ProgressPrinter = printer) -> None:
            seen.append(step)
            printer(step)

        result = engine.run(compiled, ITEMS, on_progress=show)
        assert result.status == "FAILED"
        lines = out.getvalue().splitlines()
        assert any(line.startswith("  ✖ Fan (parallel)") for line in lines), lines
        assert not any(line.startswith("  ✔ Fan") for line in lines), lines
