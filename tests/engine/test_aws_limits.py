"""The embedded engine fails where AWS Step Functions would, with AWS's error.

GIVEN a Standard workflow whose history outgrows the limit, or a block assigning more than
a variable may hold WHEN it runs locally THEN it fails as on AWS (``States.Runtime`` with
AWS's history cause; ``States.DataLimitExceeded``), and an error edge (``States.ALL``)
does not catch those terminal errors; a run within the limits succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stepweave.local.engine import LocalEngine
from stepweave.local.limits import MAX_ASSIGN_BYTES, MAX_HISTORY_EVENTS, MAX_VARIABLE_BYTES
from tests.engine.helpers import run_text

HISTORY = """
name: history
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, type: parallel, params: {parallelType: collection, collection: "<start.items>"}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
  - {id: done, type: response, params: {data: {n: "<par.results>"}}}
edges:
  - start -> par
  - par -[parallel-start-source]-> each
  - par -> done
"""

ASSIGN = """
name: big-variables
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: blob, type: string}]}}
  - id: keep
    name: Keep
    type: variables
    params: {variables: [{variableName: a, value: "<start.blob>"}, {variableName: b, value: "<start.blob>"}]}
  - {id: done, type: response, params: {data: {ok: true}}}
  - {id: caught, type: response, params: {data: {caught: true}}}
edges:
  - start -> keep
  - keep -> done
  - keep -[error]-> caught
"""


@pytest.fixture(scope="module")
def small_history() -> Iterator[LocalEngine]:
    # AWS's limit is 25,000 events (7 per parallel item here: ~3,500 items, minutes on the
    # embedded engine); the same mechanism at 300 events shows it in a second
    with LocalEngine(history_limit=300) as engine:
        yield engine


def test_the_history_limit_is_awss() -> None:
    assert MAX_HISTORY_EVENTS == 25_000
    assert MAX_VARIABLE_BYTES == MAX_ASSIGN_BYTES == 256 * 1024


def test_a_standard_run_past_the_history_limit_fails_as_on_aws(small_history: LocalEngine) -> None:
    result, _ = run_text(small_history, HISTORY, {"items": list(range(50))})
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert result.cause == "The execution reached the maximum number of history events (300)."


def test_a_run_within_the_history_limit_succeeds(small_history: LocalEngine) -> None:
    result, _ = run_text(small_history, HISTORY, {"items": list(range(5))})
    assert result.status == "SUCCEEDED", result.cause


@pytest.mark.usefixtures("engine")
def test_assigning_more_than_256_kib_is_a_data_limit_error_no_error_edge_catches(engine: Any) -> None:
    blob = "x" * (150 * 1024)  # two variables of 150 KiB: 300 KiB in one Assign
    result, _ = run_text(engine, ASSIGN, {"blob": blob})
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    assert "at most 262144 bytes" in (result.cause or "")
    assert "caught" not in json.dumps(result.output)


@pytest.mark.usefixtures("engine")
def test_assigning_within_the_limit_succeeds(engine: Any) -> None:
    result, _ = run_text(engine, ASSIGN, {"blob": "x" * 1024})
    assert result.status == "SUCCEEDED", result.cause


@pytest.mark.parametrize("count", [50, 400, 400])
def test_the_failure_is_the_last_event_at_the_limit(small_history: LocalEngine, count: int) -> None:
    # with hundreds of iterations adding events from their threads at once, none gets past
    # the limit either
    result, _ = run_text(small_history, HISTORY, {"items": list(range(count))})
    assert len(result.events) == 300
    assert result.events[-1]["type"] == "ExecutionFailed"


STORED = """
name: stored-collection
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: items, type: function, params: {code: "return Array.from({length: <start.n>}, (_, i) => 'item-' + i + '-' + 'x'.repeat(60))"}}
  - {id: par, type: parallel, params: {parallelType: collection, collection: "<items.result>"}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
  - {id: done, type: response, params: {data: {n: "<par.results>"}}}
edges:
  - start -> items
  - items -> par
  - par -[parallel-start-source]-> each
  - par -> done
"""


@pytest.mark.usefixtures("engine")
def test_a_parallel_over_a_stored_output_says_so_instead_of_iterating_the_reference(
        engine: Any) -> None:
    result, _ = run_text(engine, STORED, {"n": 5000})  # ~360 KB: stored, not inline
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
    assert "collection is an output stored outside the state machine" in (result.cause or "")
    small, _ = run_text(engine, STORED, {"n": 2})
    assert small.status == "SUCCEEDED", small.cause
    assert small.output["data"]["n"][1] == [{"v": "item-1-" + "x" * 60}]


SLOW_EXPRESS = """
name: slow-express
type: express
blocks:
  - {id: start, type: start}
  - {id: pause, type: wait, params: {timeValue: 3, timeUnit: seconds}}
  - {id: done, type: response, params: {data: {ok: true}}}
edges: [start -> pause, pause -> done]
"""


def test_an_express_run_past_its_duration_limit_times_out() -> None:
    # AWS stops an Express execution at 5 minutes; the same mechanism at 1 s
    from stepweave.local.engine import EXPRESS_LIMIT_SECONDS

    assert EXPRESS_LIMIT_SECONDS == 300
    with LocalEngine(express_limit_s=1.0) as engine:
        result, _ = run_text(engine, SLOW_EXPRESS)
    assert result.status == "TIMED_OUT"
    assert result.error == "States.Timeout"
    assert "5 minutes" in (result.cause or "")
