"""A split Standard workflow (a Standard parent, Express stretches) runs as the unsplit one.

Each workflow runs on the embedded engine compiled both ways; the run's status, output,
error and cause, its block logs (as ``stepweave.runtime.history`` derives them and as the
records table holds them) and its record must be the same, and the split run must bill
fewer state transitions.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import CompiledWorkflow, compile_workflow
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.runtime.history import block_runs
from stepweave.runtime.query import get_execution
from stepweave.workflow.loader import load_workflow, parse_workflow, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from internal_api import InternalApi  # noqa: E402

ORDER = json.loads((ROOT / "examples" / "shopify-order.json").read_text(encoding="utf-8"))

#: an approval in the middle, a condition routing around it, a loop and a parallel in the
#: stretches, an error edge, and a block failing without one (``fail``)
MIDDLE = """
version: 1
name: middle
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}, {name: fail, type: boolean}]}}
  - {id: prep, name: Prep, type: function, params: {code: "return {double: <start.amount> * 2}"}}
  - id: each
    name: Each
    type: loop
    params: {loopType: forEach, collection: "[1, 2, 3]"}
  - {id: square, name: Square, type: function, parent: each, params: {code: "return <loop.currentItem> * <loop.currentItem>"}}
  - id: fan
    name: Fan
    type: parallel
    params: {parallelType: collection, collection: "[10, 20]"}
  - {id: plus, name: Plus, type: function, parent: fan, params: {code: "return <parallel.currentItem> + 1"}}
  - id: big
    name: Big
    type: condition
    params:
      conditions:
        - {id: yes, title: if, value: "<prep.result.double> > 100"}
        - {id: no, title: else}
  - id: ok
    name: Ok
    type: approval
    params:
      subject: "Approve <start.amount>?"
      approvers: lead@example.com
      form: [{name: approved, type: boolean, required: true}]
  - {id: after, name: After, type: function, params: {code: "if (<start.fail>) throw new Error('nope'); return {approved: <ok.approved> ?? null, squares: <each.results>, fan: <fan.results>}"}}
  - {id: risky, name: Risky, type: function, params: {code: "throw new Error('caught')"}}
  - {id: handled, name: Handled, type: function, params: {code: "return 'handled: ' + <risky.error>"}}
  - {id: done, name: Done, type: response, params: {data: {after: "<after.result>", handled: "<handled.result>", prep: "<prep.result>"}}}
edges:
  - start -> prep
  - prep -> each
  - each -[loop-end-source]-> fan
  - fan -[parallel-end-source]-> big
  - big -[condition-yes]-> ok
  - big -[condition-no]-> after
  - ok -> after
  - after -> risky
  - risky -[error]-> handled
  - handled -> done
"""


#: what differs between any two runs (times, the HTTP Date header, approval tokens)
_VOLATILE = {"date", "submittedAt", "url", "resumeEndpoint", "ts", "outboxFile"}


def _stable(value: Any) -> Any:
    """``value`` with the volatile fields masked (JSON text parsed first)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _stable(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: "*" if k in _VOLATILE else _stable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    return value

#: an approval inside a loop's body, asked on some iterations: the stretch around it is
#: entered again on every iteration, with the loop's variables passed in and back
LOOPED = """
version: 1
name: loopy
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: each, name: Each, type: loop, params: {loopType: for, count: 3}}
  - {id: pre, name: Pre, type: function, parent: each, params: {code: "return <loop.index> * 10"}}
  - id: ask
    name: Ask
    type: condition
    parent: each
    params:
      conditions:
        - {id: yes, title: if, value: "<loop.index> != 1"}
        - {id: no, title: else}
  - {id: ok, name: Ok, type: approval, parent: each, params: {subject: "Item <loop.index>?", approvers: a@example.com, form: [{name: approved, type: boolean, required: true}]}}
  - {id: post, name: Post, type: function, parent: each, params: {code: "return {i: <loop.index>, pre: <pre.result>, ok: <ok.approved> ?? null}"}}
  - {id: done, name: Done, type: function, params: {code: "return <each.results>"}}
edges:
  - start -> each
  - each -[loop-start-source]-> pre
  - pre -> ask
  - ask -[condition-yes]-> ok
  - ask -[condition-no]-> post
  - ok -> post
  - each -[loop-end-source]-> done
"""

def _compile_both(compiled: Any) -> tuple[CompiledWorkflow, CompiledWorkflow]:
    return compiled(False), compiled(True)


def _blocks(engine: LocalEngine, result: RunResult, compiled: CompiledWorkflow) -> tuple[Any, Any]:
    # sorted: a parallel's branches finish in any order, split or not
    runs = sorted((repr(_stable([r.block, r.output, r.failed, r.error, r.where, r.iteration, r.branch]))
                   for r in block_runs(result.events, compiled.manifest())))
    detail = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert detail is not None
    logs = sorted(repr(_stable([b.block_id, b.name, b.type, b.containers, b.where, b.iteration,
                                b.branch, b.success, b.output, b.error])) for b in detail.blocks)
    assert [b.seq for b in detail.blocks] == list(range(1, len(detail.blocks) + 1))
    record = detail.record
    return runs, _stable((logs, record.status, record.output, record.error, record.cause,
                                   record.lambda_invocations, record.workflow))


def _run_both(engine: LocalEngine, unsplit: CompiledWorkflow, split: CompiledWorkflow, payload: Any,
              approve: bool = True, api: bool = False) -> tuple[RunResult, RunResult]:
    results = []
    for compiled in (unsplit, split):
        server = InternalApi().start() if api else None
        try:
            if server is not None:
                engine_env = {"INTERNAL_API_URL": server.url}
                with pytest.MonkeyPatch.context() as mp:
                    for k, v in engine_env.items():
                        mp.setenv(k, v)
                    results.append(engine.run(compiled, payload, poll_s=0.01,
                                              approver=lambda _a: {"approved": approve}))
            else:
                results.append(engine.run(compiled, payload, poll_s=0.01,
                                          approver=lambda _a: {"approved": approve}))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
    a, b = results
    assert _stable((a.status, a.output, a.error, a.cause)) == _stable((b.status, b.output, b.error, b.cause))
    # the same Lambda invocations, and the approval's that ran the stretch before it when the
    # run did not reach the approval (it was invoked all the same)
    ran = {r.block for r in block_runs(a.events, unsplit.manifest())}
    unasked = [n for n, v in split.split_states.items()
               if v.startswith("lead:") and split.state_map[n][0] not in ran]
    assert b.lambda_invocations == a.lambda_invocations + len(unasked)
    (runs_a, (logs_a, *record_a)), (runs_b, (logs_b, *record_b)) = (
        _blocks(engine, a, unsplit), _blocks(engine, b, split))
    assert (runs_a, logs_a) == (runs_b, logs_b)
    invocations = 4  # the record's lambda_invocations (its other fields are equal)
    assert record_a[:invocations] + record_a[invocations + 1:] == record_b[:invocations] + record_b[invocations + 1:]
    assert (record_a[invocations], record_b[invocations]) == (a.lambda_invocations, b.lambda_invocations)
    return a, b


@pytest.fixture(scope="module")
def timeline() -> tuple[CompiledWorkflow, CompiledWorkflow]:
    path = ROOT / "workflows" / "support-timeline.yaml"
    return _compile_both(lambda split: compile_workflow(load_workflow(path), str(path), split=split))


@pytest.fixture(scope="module")
def middle() -> tuple[CompiledWorkflow, CompiledWorkflow]:
    return _compile_both(lambda split: compile_workflow(parse_workflow(parse_yaml(MIDDLE), "<test>"),
                                                        "<test>", split=split))


def test_support_timeline_compiles_to_a_parent_with_the_approval_and_one_express_stretch(
        timeline: tuple[CompiledWorkflow, CompiledWorkflow]) -> None:
    unsplit, split = timeline
    assert unsplit.stretches == {} and unsplit.split_states == {}
    assert split.workflow_type == "STANDARD"
    assert [s.workflow_type for s in split.stretches.values()] == ["EXPRESS"]
    parent = split.definition["States"]
    # the approval runs the stretch before it (a lead-in): first, and alone before it
    assert split.definition["StartAt"] == "Approve refund"
    approval, before = parent["Approve refund"], unsplit.definition["States"]["Approve refund"]
    payload = approval["Arguments"]["Payload"]
    assert payload["params"] == {} and payload["stretch"]["StateMachineArn"] == "${StateMachine__1}"
    assert '"entry": "Start"' in payload["stretch"]["Input"]
    assert approval["TimeoutSeconds"] == before["TimeoutSeconds"] + 300
    assert approval["Catch"][1:] == before["Catch"] and approval["Next"] == "Refund approved (express)"
    assert split.split_states["Approve refund"] == "lead:~1"
    kinds = sorted(s["Type"] for s in parent.values())
    assert kinds == ["Fail", "Fail", "Task", "Task"]
    stretch = next(iter(split.stretches.values()))
    # the stretch computes the approval's parameters, where its variables are
    exit_to = stretch.definition["States"]["Exit to Approve refund"]["Output"]
    assert exit_to["exit"] == "Approve refund"
    assert exit_to["params"] == before["Arguments"]["Payload"]["params"]
    assert set(unsplit.definition["States"]) - set(parent) <= set(stretch.definition["States"])
    assert split.manifest()["split"] == split.split_states


@pytest.mark.parametrize("refund, approve", [(250, True), (250, False), (20, True), (None, True)],
                         ids=["approved", "rejected", "small", "none"])
def test_support_timeline_split_runs_as_unsplit(engine: LocalEngine, timeline: Any, refund: Any,
                                                approve: bool) -> None:
    order = {k: v for k, v in ORDER.items() if k != "refund"}
    if refund is not None:
        order["refund"] = {"amount": refund, "reason": "damaged"}
    a, b = _run_both(engine, *timeline, order, approve=approve, api=True)
    assert a.status == "SUCCEEDED"
    assert b.transitions < a.transitions
    # the approval (which runs the stretch before it) and the stretch after it, whether the
    # approval was asked or the run ended before it
    assert b.transitions == 2
    assert len(b.stretches_s) == 2


def test_an_approval_in_the_middle_with_a_condition_around_it(engine: LocalEngine, middle: Any) -> None:
    unsplit, split = middle
    assert len(split.stretches) == 1 and "Ok" in split.definition["States"]
    a, b = _run_both(engine, unsplit, split, {"amount": 80, "fail": False})  # approval asked
    assert a.output["data"]["after"]["approved"] is True
    assert a.output["data"]["after"]["squares"] == [[{"result": n, "stdout": ""}] for n in (1, 4, 9)]
    assert a.output["data"]["handled"].endswith("- caught")
    c, d = _run_both(engine, unsplit, split, {"amount": 5, "fail": False})  # routed around it
    assert c.output["data"]["after"]["approved"] is None
    assert b.transitions < a.transitions and d.transitions < c.transitions


def test_a_block_failing_in_a_stretch_after_the_approval_fails_the_run_alike(engine: LocalEngine,
                                                                            middle: Any) -> None:
    a, _b = _run_both(engine, *middle, {"amount": 80, "fail": True})
    assert (a.status, a.error) == ("FAILED", "Stepweave.BlockFailed")
    assert a.cause is not None and "nope" in a.cause


def test_a_state_error_nothing_catches_surfaces_by_name_in_the_cause(engine: LocalEngine) -> None:
    """A condition comparing an object with a number raises States.QueryEvaluationError in
    the stretch; a Fail state may not raise a States.* error, so the split run fails with
    Stepweave.ExpressStretchFailed, the original error and cause in its cause."""
    text = MIDDLE.replace('value: "<prep.result.double> > 100"', 'value: "<start.amount> > 100"')
    unsplit, split = _compile_both(lambda s: compile_workflow(parse_workflow(parse_yaml(text), "<t>"),
                                                              "<t>", split=s))
    payload = {"amount": {"not": "a number"}, "fail": False}
    a = engine.run(unsplit, payload, poll_s=0.01)
    b = engine.run(split, payload, poll_s=0.01)
    assert (a.status, a.error) == ("FAILED", "States.QueryEvaluationError")
    assert (b.status, b.error) == ("FAILED", "Stepweave.ExpressStretchFailed")
    # the same words; the event id it names is the child's
    assert re.sub(r"event id #\d+", "#", b.cause or "") == re.sub(r"event id #\d+", "#", f"{a.error}: {a.cause}")
    assert _blocks(engine, a, unsplit)[0] == _blocks(engine, b, split)[0]


def test_the_workflow_tests_of_support_timeline_pass_split(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``stepweave test`` runs support-timeline's own tests (mocks, approvals, the failure
    case) on the workflow with ``split: auto``: all pass, as unsplit."""
    from stepweave.cli.app import main

    text = (ROOT / "workflows" / "support-timeline.yaml").read_text(encoding="utf-8")
    (tmp_path / "support-timeline.yaml").write_text(text.replace("\nblocks:\n", "\nsplit: auto\nblocks:\n", 1),
                                                    encoding="utf-8")
    tests = (ROOT / "workflows" / "support-timeline.test.yaml").read_text(encoding="utf-8")
    (tmp_path / "support-timeline.test.yaml").write_text(tests, encoding="utf-8")
    assert compile_workflow(load_workflow(tmp_path / "support-timeline.yaml")).stretches != {}
    code = main(["test", str(tmp_path), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["failed"] == 0 and document["passed"] >= 4, document


def test_an_approval_inside_a_loop(engine: LocalEngine) -> None:
    unsplit, split = _compile_both(lambda s: compile_workflow(parse_workflow(parse_yaml(LOOPED), "<t>"),
                                                              "<t>", split=s))
    assert len(split.stretches) == 1 and "Ok" in split.definition["States"]
    a, b = _run_both(engine, unsplit, split, {"n": 1})
    assert a.status == "SUCCEEDED" and b.transitions < a.transitions
    # iteration 1 skips the approval and reads iteration 0's answer (Sim's loop semantics)
    assert [row[-1]["result"] for row in a.output["result"]] == [
        {"i": 0, "pre": 0, "ok": True}, {"i": 1, "pre": 10, "ok": True}, {"i": 2, "pre": 20, "ok": True}]
    assert [len(row) for row in a.output["result"]] == [4, 3, 4]


def test_a_stretch_that_calls_a_model_keeps_its_task_before_the_approval() -> None:
    """The notifier would be billed while the stretch before the approval runs: when that
    stretch calls a model (seconds a call), it keeps its own task and exit Choice, and the
    approval is the unsplit one's."""
    text = """
name: ask-model
blocks:
  - {id: start, type: start}
  - {id: a, name: A, type: function, params: {code: "return 1"}}
  - {id: think, name: Think, type: agent, params: {model: gpt-4o-mini, messages: [{role: user, content: hi}]}}
  - {id: b, name: B, type: function, params: {code: "return 2"}}
  - {id: ask, name: Approval, type: approval, params: {form: [{name: approved, type: boolean, required: true}]}}
  - {id: c, name: C, type: function, params: {code: "return 3"}}
  - {id: d, name: D, type: function, params: {code: "return 4"}}
  - {id: e, name: E, type: function, params: {code: "return 5"}}
edges: [start -> a, a -> think, think -> b, b -> ask, ask -> c, c -> d, d -> e]
"""
    compiled = compile_workflow(parse_workflow(parse_yaml(text), "<t>"), "<t>")
    assert compiled.stretches, "the workflow is split"
    assert not any(v.startswith("lead:") for v in compiled.split_states.values())
    states = compiled.definition["States"]
    assert "stretch" not in states["Approval"]["Arguments"]["Payload"]
    lighter = compile_workflow(parse_workflow(parse_yaml(text.replace(
        "type: agent, params: {model: gpt-4o-mini, messages: [{role: user, content: hi}]}",
        'type: function, params: {code: "return 0"}')), "<t>"), "<t>")
    assert lighter.split_states.get("Approval") == "lead:~1"


@pytest.mark.parametrize("refund", [None, 250, "fail"], ids=["ended", "asked", "failed"])
def test_a_lead_ins_stretch_is_found_whichever_of_its_events_comes_last(
        engine: LocalEngine, timeline: Any, refund: Any) -> None:
    """The notifier answers the task token before its Lambda returns: Step Functions may
    record the task's end before its ``TaskSubmitted`` (which names the stretch), or, for
    all this engine can tell, not at all. The end names it too (the ended result's
    ``stretch``, the failure's ``ExecutionArn``): the spliced history, and so the block logs,
    are the same either way."""
    from stepweave.runtime.recorder import fetch_history
    from stepweave.runtime.stretches import child_executions, spliced

    _unsplit, split = timeline
    order = {k: v for k, v in ORDER.items() if k != "refund"}
    if refund == 250:
        order["refund"] = {"amount": 250, "reason": "damaged"}
    server = InternalApi().start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("INTERNAL_API_URL", server.url if refund != "fail" else "http://127.0.0.1:9")
            run = engine.run(split, order, poll_s=0.01, approver=lambda _a: {"approved": True})
    finally:
        server.shutdown()
        server.server_close()
    history = fetch_history(engine.sfn, run.execution_arn)
    submitted = next(i for i, e in enumerate(history) if e["type"] == "TaskSubmitted")
    ended = next(i for i, e in enumerate(history) if i > submitted and e["type"] in ("TaskSucceeded", "TaskFailed"))
    late = [*history[:submitted], *history[submitted + 1:ended + 1], history[submitted], *history[ended + 1:]]
    late = [{**e, "id": n} for n, e in enumerate(late, start=1)]  # as recorded in that order
    assert child_executions(late, split.split_states) == child_executions(history, split.split_states) != []

    def children(arn: str) -> list[dict[str, Any]]:
        return fetch_history(engine.sfn, arn)
    manifest = split.manifest()
    expected = [(r.block, r.failed) for r in block_runs(spliced(history, manifest, children), manifest)]
    assert [(r.block, r.failed) for r in block_runs(spliced(late, manifest, children), manifest)] == expected
    assert ("approve_refund", False) in expected if refund == 250 else ("approve_refund", False) not in expected
    assert ("enrich", refund == "fail") in expected
    if refund != 250:  # answered at once: the end alone names the stretch, were TaskSubmitted missing
        alone = [{**e, "id": n} for n, e in enumerate(
            [e for i, e in enumerate(history) if i != submitted], start=1)]
        assert [(r.block, r.failed) for r in block_runs(spliced(alone, manifest, children), manifest)] == expected


def test_a_lead_ins_pause_snapshot_has_the_blocks_of_the_stretch_it_ran(engine: LocalEngine, timeline: Any) -> None:
    """The notifier runs the stretch before the approval, then writes the run's block logs
    so far: the stretch's blocks are in the paused record (its task has not named the
    stretch in the run's history yet: the notifier names it)."""
    _unsplit, split = timeline
    order = {**ORDER, "refund": {"amount": 250, "reason": "damaged"}}
    seen: list[Any] = []

    def approver(approval: Any) -> dict[str, Any]:
        seen.append(get_execution(engine.records.ddb, engine.records.settings, approval.execution_arn))
        return {"approved": True}

    server = InternalApi().start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("INTERNAL_API_URL", server.url)
            run = engine.run(split, order, poll_s=0.01, approver=approver)
    finally:
        server.shutdown()
        server.server_close()
    assert run.status == "SUCCEEDED", run.cause
    (paused,) = seen
    assert paused is not None and paused.record.status == "paused"
    assert [b.name for b in paused.blocks] == ["Start", "Enrich customer", "Is VIP", "VIP priority",
                                               "Build timeline event", "Post timeline event", "Refund check"]
