"""``RedriveExecution`` on the embedded engine, as AWS redrives: the same execution goes on from
its failed state; Task states that succeeded (a loop's iterations, a sub-workflow's run) are
replayed, not invoked again; the history gains ``ExecutionRedriven`` and only what ran again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.local.engine import LocalEngine, real_handler
from stepweave.local.redrive import redrive
from stepweave.runtime.history import block_runs
from stepweave.runtime.recorder import fetch_history
from stepweave.workflow.loader import load_workflow

PARENT = """
name: parent
type: standard
split: off  # the replay of one Standard state machine (a split one: below)
blocks:
  - {id: start, type: start}
  - {id: child, name: Child, type: workflow, params: {workflow: child, input: '{}'}}
  - id: each
    name: Each
    type: loop
    params: {loopType: forEach, collection: [1, 2, 3]}
  - {id: body, name: Body, type: function, parent: each, params: {code: "return <loop.currentItem> * 10"}}
  - {id: check, name: Check, type: function, params: {code: "return <each.results>.length"}}
edges: [start -> child, child -> each, "each -[loop-start-source]-> body", "each -[loop-end-source]-> check"]
"""
CHILD = """
name: child
type: standard
blocks:
  - {id: start, type: start}
  - {id: inner, name: Inner, type: function, params: {code: "return 'inner'"}}
edges: [start -> inner]
"""


class Counting:
    """The function handler, counting calls per block; ``Check`` fails its first call."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.real = real_handler("function")

    def __call__(self, event: dict[str, Any]) -> Any:
        block = event["block"]["name"]
        self.calls[block] += 1
        if block == "Check" and self.calls[block] == 1:
            raise RuntimeError("not yet")
        return self.real(event)


@pytest.fixture()
def compiled(tmp_path: Path) -> Any:
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "child.yaml").write_text(CHILD)
    return compile_workflow(load_workflow(tmp_path / "parent.yaml"), str(tmp_path / "parent.yaml"))


def test_a_redrive_replays_what_succeeded_and_runs_the_rest(compiled: Any) -> None:
    handler = Counting()
    with LocalEngine(handlers={"function": handler}) as engine:
        first = engine.run(compiled, {})
        assert first.status == "FAILED"
        arn = first.execution_arn
        described = engine.sfn.describe_execution(executionArn=arn)
        assert described["redriveCount"] == 0 and described["redriveStatus"] == "REDRIVABLE"
        before = len(fetch_history(engine.sfn, arn))
        again = redrive(engine, compiled, arn)
        assert again.status == "SUCCEEDED" and again.execution_arn == arn
        assert again.output["result"] == 3
        # the child's block and the loop's 3 iterations ran once; Check failed once, then succeeded
        assert handler.calls == Counter({"Inner": 1, "Body": 3, "Check": 2})
        child = engine.descendants(engine.machine_of(arn))[0]
        assert len(engine.sfn.list_executions(stateMachineArn=child)["executions"]) == 1
        described = engine.sfn.describe_execution(executionArn=arn)
        assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1
        assert described["redriveStatus"] == "NOT_REDRIVABLE" and "redriveDate" in described
        history = fetch_history(engine.sfn, arn)
        redriven = history[before]
        assert redriven["type"] == "ExecutionRedriven"
        assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
        entered = [e["stateEnteredEventDetails"]["name"] for e in history[before:] if "stateEnteredEventDetails" in e]
        assert "Child" not in entered and "Body" not in entered and "Check" in entered
        # block logs: every block once, Check's failed attempt and its successful one
        runs = [(r.name, r.failed) for r in block_runs(history, compiled.manifest())]
        assert Counter(runs) == Counter({("start", False): 1, ("Child", False): 1, ("Body", False): 3,
                                         ("Each", False): 1, ("Check", True): 1, ("Check", False): 1})
        # billed: the states entered again only
        assert again.transitions == sum(1 for e in history[before:] if e["type"].endswith("StateEntered"))


def test_what_aws_would_not_redrive_is_refused(compiled: Any) -> None:
    from botocore.exceptions import ClientError

    with LocalEngine() as engine:
        done = engine.run(compiled, {})
        assert done.status == "SUCCEEDED"
        with pytest.raises(ClientError) as refused:
            engine.sfn.redrive_execution(executionArn=done.execution_arn)
        assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
        assert "Execution is SUCCEEDED and cannot be redriven" in str(refused.value)
        with pytest.raises(ClientError) as missing:
            engine.sfn.redrive_execution(executionArn=done.execution_arn + "x")
        assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


APPROVAL = """
name: refund
type: standard
blocks:
  - {id: start, type: start}
  - {id: ask, name: Approval, type: approval, params: {form: [{name: approved, type: boolean, required: true}]}}
  - {id: pay, name: Pay, type: function, params: {code: "return 'paid: ' + <approval.approved>"}}
edges: [start -> ask, ask -> pay]
"""


class Approver:
    """Approves every approval, keeping the executions that asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, approval: Any) -> dict[str, Any]:
        self.asked.append(approval.execution_arn)
        return {"approved": True}


def test_an_answered_approval_is_not_asked_again() -> None:
    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(APPROVAL.replace("Pay", "Check"))  # Check fails its first call
    approver = Approver()
    asked = approver.asked

    with LocalEngine(handlers={"function": handler}) as engine:
        first = engine.run(flow, {}, poll_s=0.01, approver=approver)
        assert first.status == "FAILED" and len(asked) == 1
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01, approver=approver)
        assert again.status == "SUCCEEDED" and again.output["result"] == "paid: true"
    assert len(asked) == 1 and handler.calls == Counter({"Check": 2})


SPLIT = """
name: refund
type: standard
split: auto
blocks:
  - {id: start, type: start}
  - {id: quote, name: Quote, type: function, params: {code: "return 40"}}
  - {id: fee, name: Fee, type: function, params: {code: "return <quote.result> + 2"}}
  - {id: ask, name: Approval, type: approval, params: {form: [{name: approved, type: boolean, required: true}]}}
  - {id: fetch, name: Fetch, type: function, params: {code: "return 'fetched'"}}
  - {id: charge, name: Charge, type: function, params: {code: "return 'charged ' + <fee.result>"}}
  - {id: check, name: Check, type: function, params: {code: "return <charge.result> + ' and ' + <fetch.result>"}}
edges: [start -> quote, quote -> fee, fee -> ask, ask -> fetch, fetch -> charge, charge -> check]
"""


def test_a_split_run_failed_in_a_stretch_resumes_there(tmp_path: Path) -> None:
    """The stretch after the approval fails at Check: the redrive starts a new Express child,
    which resumes at Check with the stretch's variables (Fetch and Charge do not run again,
    nor does the approval nor the stretch before it), and the block logs are the unsplit
    redrive's: every block once, Check's failed attempt and its successful one."""
    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(SPLIT)
    assert flow.stretches, "the workflow is split"
    approver = Approver()
    asked = approver.asked

    with LocalEngine(handlers={"function": handler}) as engine:
        first = engine.run(flow, {}, poll_s=0.01, approver=approver)
        assert first.status == "FAILED" and "not yet" in (first.cause or "")
        assert handler.calls == Counter({"Quote": 1, "Fee": 1, "Fetch": 1, "Charge": 1, "Check": 1})
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01, approver=approver)
        assert again.status == "SUCCEEDED", again.cause
        assert again.output["result"] == "charged 42 and fetched"
        assert handler.calls == Counter({"Quote": 1, "Fee": 1, "Fetch": 1, "Charge": 1, "Check": 2})
        assert len(asked) == 1
        # billed: the stretches each attempt started (the redrive, one: the resumed stretch)
        assert (len(first.stretches_s), len(again.stretches_s)) == (2, 1)
        runs = [(r.name, r.failed) for r in block_runs(first.events + again.events, flow.manifest())]
        assert Counter(runs) == Counter({("start", False): 1, ("Quote", False): 1, ("Fee", False): 1,
                                         ("Approval", False): 1, ("Fetch", False): 1,
                                         ("Charge", False): 1, ("Check", True): 1, ("Check", False): 1})
        # the checkpoint was read and deleted: nothing is left under the prefix
        from stepweave.compiler.split import CHECKPOINTS_PREFIX
        from stepweave.runtime.settings import LOCAL_PAYLOAD_BUCKET
        left = engine.s3.list_objects_v2(Bucket=LOCAL_PAYLOAD_BUCKET, Prefix=CHECKPOINTS_PREFIX)
        assert left.get("KeyCount", 0) == 0


BIG = """
name: big
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: blob, type: string}]}}
  - {id: ask, name: Approval, type: approval, params: {form: [{name: approved, type: boolean, required: true}]}}
  - {id: size, name: Size, type: function, params: {code: "return (<start.blob>).length"}}
  - {id: twice, name: Twice, type: function, params: {code: "return <size.result> * 2"}}
  - {id: check, name: Check, type: function, params: {code: "return <twice.result> + (<start.blob>).length"}}
edges: [start -> ask, ask -> size, size -> twice, twice -> check]
"""


def test_a_checkpoint_over_its_size_limit_is_not_kept() -> None:
    """The stretch after the approval holds the run's input (250,000 characters, read by its
    blocks): its checkpoint would be over the 240,000 bytes one may have (read back, it must
    fit into a state's result, 256 KiB, beside the object's metadata), so none is kept and
    the redrive runs the stretch again from its start -- Size and Twice run twice -- rather
    than risk failing the redrive on reading it."""
    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(BIG)
    assert flow.stretches, "the workflow is split"
    blob = "x" * 250_000
    with LocalEngine(handlers={"function": handler}) as engine:
        first = engine.run(flow, {"blob": blob}, poll_s=0.01, approver=Approver())
        assert first.status == "FAILED" and "not yet" in (first.cause or "")
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01, approver=Approver())
        assert again.status == "SUCCEEDED", again.cause
        assert again.output["result"] == 750_000
    assert handler.calls == Counter({"Size": 2, "Twice": 2, "Check": 2})


def test_a_retry_from_another_engine_lets_go_of_the_stretch_histories_it_put_back(tmp_path: Path) -> None:
    """A run put back from disk brings its stretches' histories with it (their blocks are
    logged again when the retry ends); once the retry has ended and is recorded, the process
    holds them no more -- a long-lived ``stepweave serve`` does not grow with each retry."""
    from stepweave.local import redrive as kept
    from stepweave.local.records import RECORDS_FILE
    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(SPLIT)
    records = tmp_path / RECORDS_FILE
    with LocalEngine(handlers={"function": handler}, records_file=records) as engine:
        first = engine.run(flow, {}, poll_s=0.01, approver=Approver())
        assert first.status == "FAILED"
    with LocalEngine(handlers={"function": handler}, records_file=records) as engine:
        kept.restore(engine, flow, first.execution_arn)
        assert len(kept.KEPT_HISTORIES) == 2  # the stretch before the approval and the failed one
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01)
        assert again.status == "SUCCEEDED", again.cause
        assert kept.KEPT_HISTORIES == {}
        # the record still has every block, the stretches' included
        from stepweave.runtime.query import get_execution

        detail = get_execution(engine.records.ddb, engine.records.settings, first.execution_arn)
        assert detail is not None
        assert Counter((b.name, b.success) for b in detail.blocks) == Counter({
            ("start", True): 1, ("Quote", True): 1, ("Fee", True): 1, ("Approval", True): 1,
            ("Fetch", True): 1, ("Charge", True): 1, ("Check", False): 1, ("Check", True): 1})


LEAD_IN = """
name: fee
type: standard
blocks:
  - {id: start, type: start}
  - {id: quote, name: Quote, type: function, params: {code: "return 40"}}
  - {id: fee, name: Fee, type: function, params: {code: "return <quote.result> + 2"}}
  - id: ask
    name: Approval
    type: approval
    params:
      approvers: lead@example.com
      subject: "A fee of <fee.result>?"
      form: [{name: approved, type: boolean, required: true}]
  - {id: charge, name: Charge, type: function, params: {code: "return 'charged ' + <fee.result>"}}
  - {id: done, name: Done, type: function, params: {code: "return <charge.result> + ' ' + <approval.approved>"}}
edges: [start -> quote, quote -> fee, fee -> ask, ask -> charge, charge -> done]
"""


def test_a_lead_in_whose_request_failed_resumes_without_running_its_stretch_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval runs the stretch before it (a lead-in); that stretch succeeds, then the
    request fails (SES refuses the sender, not verified yet). The notifier keeps what the
    stretch did; the redrive, once the sender is verified, asks the approval with the
    parameters that stretch computed, without running Quote and Fee again, as the unsplit
    run's redrive would not."""
    import boto3

    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(LEAD_IN)
    assert flow.split_states.get("Approval") == "lead:~1", "the approval runs the stretch before it"
    monkeypatch.setenv("STEPWEAVE_APPROVAL_SENDER", "approvals@example.com")
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    def subjects() -> list[str]:
        return [m.subject for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]

    approver = Approver()
    with LocalEngine(handlers={"function": handler}) as engine:
        first = engine.run(flow, {}, poll_s=0.01, approver=approver)
        assert first.status == "FAILED" and "Approval" in (first.cause or ""), first.cause
        assert handler.calls == Counter({"Quote": 1, "Fee": 1}) and subjects() == []
        from stepweave.runtime.settings import LOCAL_PAYLOAD_BUCKET
        kept = engine.s3.list_objects_v2(Bucket=LOCAL_PAYLOAD_BUCKET, Prefix="stepweave-checkpoints/fee/")
        assert [o["Key"].rsplit("/", 1)[-1] for o in kept.get("Contents", [])] == ["lead-ask.json"]

        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="approvals@example.com")
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01, approver=approver)
        assert again.status == "SUCCEEDED", again.cause
        assert again.output["result"] == "charged 42 true"
        assert handler.calls == Counter({"Quote": 1, "Fee": 1, "Charge": 1, "Done": 1})
        assert subjects() == ["A fee of 42?"]
        left = engine.s3.list_objects_v2(Bucket=LOCAL_PAYLOAD_BUCKET, Prefix="stepweave-checkpoints/fee/")
        assert left.get("KeyCount", 0) == 0
        runs = [(r.name, r.failed) for r in block_runs(first.events + again.events, flow.manifest())]
        assert Counter(runs) == Counter({("start", False): 1, ("Quote", False): 1, ("Fee", False): 1,
                                         ("Approval", True): 1, ("Approval", False): 1,
                                         ("Charge", False): 1, ("Done", False): 1})
        # the record (the whole history spliced again): every block once, the stretch's too
        assert _recorded(engine, first.execution_arn) == Counter(
            {("start", True): 1, ("Quote", True): 1, ("Fee", True): 1, ("Approval", False): 1,
             ("Approval", True): 1, ("Charge", True): 1, ("Done", True): 1})


def _recorded(engine: LocalEngine, execution_arn: str) -> Counter[tuple[str, bool]]:
    from stepweave.runtime.query import get_execution

    detail = get_execution(engine.records.ddb, engine.records.settings, execution_arn)
    assert detail is not None
    return Counter((b.name, b.success) for b in detail.blocks)


def test_a_lead_in_whose_stretch_could_not_start_runs_it_on_the_redrive() -> None:
    """The notifier's StartSyncExecution is refused past its tries (no stretch ran): the run
    fails at the approval; the redrive runs the stretch and asks, and the record has every
    block once (the first attempt named no stretch; the redriven one's is spliced in)."""
    from tests.engine.helpers import compile_text

    handler = Counting()
    flow = compile_text(LEAD_IN)
    with LocalEngine(handlers={"function": handler}) as engine:
        runner, calls = engine._run_sync, [0]

        def refused_once(machine: str, payload: str) -> Any:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("ThrottlingException: Rate exceeded")
            return runner(machine, payload)
        engine._run_sync = refused_once  # type: ignore[method-assign]
        first = engine.run(flow, {}, poll_s=0.01, approver=Approver())
        assert first.status == "FAILED" and "Rate exceeded" in (first.cause or "") and handler.calls == Counter()
        again = redrive(engine, flow, first.execution_arn, poll_s=0.01, approver=Approver())
        assert again.status == "SUCCEEDED", again.cause
        assert handler.calls == Counter({"Quote": 1, "Fee": 1, "Charge": 1, "Done": 1})
        assert _recorded(engine, first.execution_arn) == Counter(
            {("start", True): 1, ("Quote", True): 1, ("Fee", True): 1, ("Approval", False): 1,
             ("Approval", True): 1, ("Charge", True): 1, ("Done", True): 1})
