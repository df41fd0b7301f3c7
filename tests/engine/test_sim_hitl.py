"""Sim's human-in-the-loop scenarios (S22-S25), run as exported by Sim on the embedded engine.

Sim ends a run at a pause and starts a new execution per resume; Stepweave's run waits on a
task token and goes on when the approval is decided. So a scenario's pause is checked
while the run waits (which blocks ran, which approvals wait, what they display), and its
resumes are decisions made in the recorded order. Outputs are compared with what Sim
produced, except the pause metadata Sim adds to the approval's output (``response``,
``_pauseMetadata``, ``_resumed``...) and the links' addresses (ours point at the decision
page and ``/v1/approvals``), as docs/sim-compatibility.md lists.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from stepweave.compiler import compile_workflow
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.runtime.approvals import Approval, pending_approvals
from stepweave.runtime.history import block_runs
from stepweave.runtime.recorder import fetch_history
from stepweave.workflow.loader import load_workflow
from tests.conftest import sim_cases_dir

pytestmark = pytest.mark.slow


def _expected(case: str) -> dict[str, Any]:
    return json.loads((sim_cases_dir() / f"{case}.expected.json").read_text())


class Scenario:
    """One HITL export on the embedded engine; ``decide`` answers the waiting approvals."""

    def __init__(self, case: str, engine: LocalEngine) -> None:
        self.case, self.engine = case, engine
        self.compiled = compile_workflow(load_workflow(sim_cases_dir() / f"{case}.export.json"), case)
        self.expected = _expected(case)

    def ran(self, execution_arn: str) -> Counter[str]:
        history = fetch_history(self.engine.sfn, execution_arn)
        return Counter(r.name for r in block_runs(history, self.compiled.manifest()))

    def paused_ran(self, execution_arn: str) -> Counter[str]:
        """The blocks that ran, counting the waiting approvals as Sim counts paused blocks."""
        return self.ran(execution_arn) + Counter(a.block_name for a in self.waiting(execution_arn))

    def waiting(self, execution_arn: str) -> list[Approval]:
        return pending_approvals(self.engine.records.ddb, self.engine.records.settings, execution_arn)

    def run(self, decide: Callable[[Approval, Scenario], dict[str, Any] | None]) -> RunResult:
        return self.engine.run(self.compiled, self.expected["run"]["input"], poll_s=0.02,
                               timeout_s=60, approver=lambda approval: decide(approval, self))


@pytest.fixture()
def engine() -> Any:
    with LocalEngine() as eng:
        yield eng


def _until(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("case", ["S22-hitl-pause", "S24a-hitl-in-parallel", "S24b-hitl-in-loop"])
def test_the_pause_matches_sims(case: str, engine: LocalEngine) -> None:
    scenario = Scenario(case, engine)
    expected = scenario.expected
    seen: dict[str, Any] = {}

    def observe(approval: Approval, s: Scenario) -> None:
        if seen:
            return None
        arn = approval.execution_arn
        # the pause is complete when every branch that does not wait has finished (Sim counts
        # a paused block as ran; here its task is still open)
        assert _until(lambda: s.paused_ran(arn) == Counter(expected["ran"])
                      and len(s.waiting(arn)) == len(expected["pausePoints"])), (s.ran(arn), expected["ran"])
        seen["waiting"] = s.waiting(arn)
        s.engine.sfn.stop_execution(executionArn=arn)  # Sim's run ends at the pause
        return None

    result = scenario.run(observe)
    assert result.status == "ABORTED" and seen, result
    waiting = sorted(seen["waiting"], key=lambda a: json.dumps(a.position))
    points = expected["pausePoints"]
    assert [a.block_name for a in waiting] == [p["block"] for p in points]
    for approval, point in zip(waiting, points, strict=True):
        data = point["response"]["data"]
        assert approval.display == {r["name"]: r["value"] for r in data["responseStructure"]}
        assert [(f["name"], f["type"]) for f in approval.form] == [
            (f["name"], f["type"]) for f in data["inputFormat"]]
    if case == "S24a-hitl-in-parallel":  # one approval per branch, told apart by position
        assert [a.position["parallel"]["index"] for a in waiting] == [0, 1]
    if case == "S24b-hitl-in-loop":  # paused in the first iteration
        assert waiting[0].position["loop"]["index"] == 0


def test_s23_resume_reads_the_submission_and_the_link(engine: LocalEngine) -> None:
    scenario = Scenario("S23-hitl-resume", engine)
    expected = scenario.expected
    (pause, resume) = expected["steps"]

    def answer(approval: Approval, s: Scenario) -> dict[str, Any] | None:
        if s.paused_ran(approval.execution_arn) != Counter(pause["ran"]):
            return None  # the branch that does not wait has not finished yet
        return dict(resume["input"])  # `note` is not a form field: kept, as Sim does

    result = scenario.run(answer)
    assert result.status == "SUCCEEDED", result.cause
    after = result.output["result"]["after"]
    want = expected["output"]["result"]["after"]
    assert after["approved"] is want["approved"] and after["sub"] == want["sub"]
    assert after["url"].startswith("http") and "/approvals/" in after["url"]
    assert result.output["result"]["other"] == expected["output"]["result"]["other"]
    ran = Counter(r.name for r in block_runs(result.events, scenario.compiled.manifest()))
    assert ran == Counter(expected["ranCounts"])


def test_s25_branches_resume_independently_and_the_join_waits(engine: LocalEngine) -> None:
    scenario = Scenario("S25-hitl-parallel-resume-per-branch", engine)
    expected = scenario.expected
    _, first, second = expected["steps"]
    order = [(first["resumes"]["pauseIndex"], first["input"]),
             (second["resumes"]["pauseIndex"], second["input"])]
    answered: list[int] = []

    def answer(approval: Approval, s: Scenario) -> dict[str, Any] | None:
        arn = approval.execution_arn
        if len(answered) == len(order) or len(s.waiting(arn)) + len(answered) < len(order):
            return None  # wait until both branches are paused
        branch, submission = order[len(answered)]
        if approval.position["parallel"]["index"] != branch:
            return None
        if answered:  # the first resume ran its branch's B, and the join still waits
            assert _until(lambda: s.ran(arn)["B"] == 1)
            assert s.ran(arn)["After"] == 0 and len(s.waiting(arn)) == 1
        answered.append(branch)
        return dict(submission)

    result = scenario.run(answer)
    assert result.status == "SUCCEEDED", result.cause
    assert answered == [1, 0]
    got = result.output["result"]
    want = expected["output"]["result"]
    assert [branch[-1] for branch in got] == [branch[-1] for branch in want]
    assert [branch[0]["approved"] for branch in got] == [branch[0]["approved"] for branch in want]
    ran = Counter(r.name for r in block_runs(result.events, scenario.compiled.manifest()))
    assert ran == Counter(expected["ranCounts"])
