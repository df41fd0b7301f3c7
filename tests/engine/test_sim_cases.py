"""Sim's conformance scenarios (S1-S30), run as exported by Sim on the embedded engine.

Each ``*.export.json`` is compiled exactly as ``stepweave run`` would and executed
with the recorded input; status, error, output and the blocks that ran are compared
with what Sim's own engine produced (``*.expected.json``). Deliberate divergences are
listed in ``DIVERGENCES`` with the behaviour we assert instead (docs/sim-compatibility.md).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from stepweave.tools.request import run_api
from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.local.engine import LocalEngine
from stepweave.runtime.history import block_runs
from stepweave.workflow.loader import load_workflow
from tests.conftest import sim_cases_dir

CASES = sorted(p.name[: -len(".export.json")] for p in sim_cases_dir().glob("*.export.json"))
# Human-in-the-loop cases belong to the approvals work (a later block type).
HITL = {c for c in CASES if "hitl" in c}
# Sim detects these at run time; Stepweave rejects them before anything runs.
REJECTED_AT_VALIDATION = {
    "S07-condition-eval-error": "undefinedVar",
}


IN_FLIGHT_WHEN_RUN_ENDED = {
    "S14-error-no-edge-fails-run": ("Sib",),
    "S26-response-ends-run": ("Slow",),
    "S28a-response-then-late-failure": ("Bad",),
    "S28b-failure-before-response": ("Slow",),
}


class FakeHttp:
    """Sim's fake-http stub: /flaky/<key>?succeedOnTry=N answers 503 until try N."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests[url] += 1
        k = self.requests[url]
        succeed_on = int(request.url.params.get("succeedOnTry", "1"))
        if k < succeed_on:
            return httpx.Response(503, json={"error": f"flaky failure #{k}"})
        return httpx.Response(200, json={"tries": k})


def _expected(case: str) -> dict[str, Any]:
    return json.loads((sim_cases_dir() / f"{case}.expected.json").read_text())


def _run(case: str) -> tuple[Any, Any, list[str]]:
    fake = FakeHttp()

    def api(event: dict[str, Any]) -> Any:
        return run_api(event["params"], transport=httpx.MockTransport(fake))

    workflow = load_workflow(sim_cases_dir() / f"{case}.export.json")
    compiled = compile_workflow(workflow, case)
    with LocalEngine(handlers={"api": api}) as engine:
        result = engine.run(compiled, _expected(case)["run"]["input"])
    return result, compiled, [r.name for r in block_runs(result.events, compiled.manifest())]


def _runnable() -> list[Any]:
    params = []
    for case in CASES:
        if case in HITL or case in REJECTED_AT_VALIDATION:
            continue
        marks = [pytest.mark.slow] if "retry" in case else []
        params.append(pytest.param(case, marks=marks, id=case))
    return params


@pytest.mark.parametrize("case", _runnable())
def test_sim_case(case: str) -> None:
    expected = _expected(case)
    result, _compiled, ran = _run(case)
    nondeterministic = " ".join(expected.get("nondeterministic") or [])
    if expected["status"] == "fail":
        assert result.status == "FAILED"
        assert result.error == "Stepweave.BlockFailed"
        assert result.cause == expected["error"]
    else:
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        if "output" not in nondeterministic:
            assert result.output in _outputs(case, expected)
    if case == "S29-response-inside-parallel":
        # every branch reaches its Response; the first to finish ends the run and stops
        # the others, so 1 to 3 of them are logged (Sim logs all 3)
        assert set(ran) == {"Start", "Response"} and 1 <= ran.count("Response") <= 3
        return
    assert Counter(ran) == _ran(case, expected)


def _outputs(case: str, expected: dict[str, Any]) -> list[Any]:
    """The final outputs the run may give."""
    if case == "S11-reconverge-race-join-dropped":
        # Sim drops the join M (its ordering race); Stepweave runs it, as Sim's docs intend.
        # M and D both start once C has decided, so either may be the last terminal block
        # to finish, whose output is the run's: M's, or D's as in Sim.
        return [{"result": {"a": "a", "b": None}, "stdout": ""}, expected["output"]]
    return [expected["output"]]


def _ran(case: str, expected: dict[str, Any]) -> Counter[str]:
    ran = Counter(expected["ran"])
    if case == "S11-reconverge-race-join-dropped":
        ran["M"] += 1
    # When a branch fails or a Response ends the run, Step Functions stops the sibling
    # branches; Sim lets blocks already running finish (and logs them). Nothing new
    # starts in either engine.
    for in_flight in IN_FLIGHT_WHEN_RUN_ENDED.get(case, ()):
        ran.pop(in_flight, None)
    return ran


@pytest.mark.parametrize("case", sorted(REJECTED_AT_VALIDATION))
def test_sim_runtime_errors_are_rejected_before_running(case: str) -> None:
    workflow = load_workflow(sim_cases_dir() / f"{case}.export.json")
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(workflow, case)
    assert REJECTED_AT_VALIDATION[case] in caught.value.report()
    assert "block 'check'" in caught.value.report()
