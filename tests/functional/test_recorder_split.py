"""The recorder Lambda on a split run as deployed: its Express stretches have no history
API, so it reads their events from their CloudWatch Logs log groups.

``support-timeline`` runs on the embedded engine split and unsplit. The recorder then gets
the EventBridge status changes of each parent and reads, through boto3 against moto, the
parent's ``GetExecutionHistory`` and each stretch's log: the child's real events (from the
engine's run) written to the stretch's log group as Step Functions writes them (level
``ALL``, execution data included). Its block logs must be those of the unsplit run, and
exactly those the embedded engine recorded for the split run; while a stretch's log is
incomplete it writes nothing and fails, so that Lambda retries.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stepweave.compiler import CompiledWorkflow, compile_workflow
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.local.records import local_client
from stepweave.runtime.query import get_execution
from stepweave.runtime.recorder import fetch_history
from stepweave.runtime.settings import Settings
from stepweave.runtime.stretches import child_executions
from stepweave.runtime.stretch_logs import (
    StretchLogs,
    StretchLogsPending,
    child_starts,
    history_event,
    log_message,
)
from stepweave.workflow.loader import load_workflow

from functions.recorder import handler
from tests.engine.test_split import _stable
from tests.functional.test_recorder import _event, deployed_recorder

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from internal_api import InternalApi  # noqa: E402

pytestmark = pytest.mark.usefixtures("engine")
TABLE = "stepweave-records-deployed"
ORDER = json.loads((ROOT / "examples" / "shopify-order.json").read_text(encoding="utf-8"))
ACCOUNT_REGION = "us-east-1:123456789012"


@pytest.fixture(scope="module")
def runs(engine: LocalEngine) -> dict[str, Any]:
    """Both compiles of support-timeline, run once each (the refund approved)."""
    path = ROOT / "workflows" / "support-timeline.yaml"
    order = {**{k: v for k, v in ORDER.items() if k != "refund"},
             "refund": {"amount": 250, "reason": "damaged"}}
    out: dict[str, Any] = {}
    for split in (False, True):
        server = InternalApi().start()  # one each: its ids count from 1
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("INTERNAL_API_URL", server.url)
                compiled = compile_workflow(load_workflow(path), str(path), split=split)
                result = engine.run(compiled, order, poll_s=0.01, approver=lambda _a: {"approved": True})
        finally:
            server.shutdown()
            server.server_close()
        assert result.status == "SUCCEEDED"
        out["split" if split else "unsplit"] = (compiled, result)
    return out


@pytest.fixture()
def deployed(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield deployed_recorder(monkeypatch, TABLE)
    handler.clients.cache_clear()


def _use_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiled: CompiledWorkflow,
                  machine: str) -> None:
    (tmp_path / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()))
    (tmp_path / "index.json").write_text(json.dumps({machine.rsplit(":", 1)[-1]: compiled.name}))
    monkeypatch.setenv("STEPWEAVE_MANIFESTS_DIR", str(tmp_path))


def _children(events: list[dict[str, Any]]) -> list[str]:
    """The stretch executions the parent ran (its tasks', and the approval's that runs the
    stretch before it)."""
    return child_executions(events, {"Approve refund": "lead:~1"})


def _log_stretches(engine: LocalEngine, result: RunResult, stretch_machines: list[str],
                   tag: str) -> dict[str, Any]:
    """Deploy-like logging for each stretch: its own log group, named in its logging
    configuration; returns child ARN -> (log group, its log messages)."""
    logs = local_client("logs")
    groups = {}
    for machine in stretch_machines:
        group = f"/aws/vendedlogs/states/{machine.rsplit(':', 1)[-1]}-{tag}"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="states/stream")
        engine.sfn.update_state_machine(stateMachineArn=machine, loggingConfiguration={
            "level": "ALL", "includeExecutionData": True,
            "destinations": [{"cloudWatchLogsLogGroup": {
                "logGroupArn": f"arn:aws:logs:{ACCOUNT_REGION}:log-group:{group}:*"}}]})
        groups[machine.rsplit(":", 1)[-1]] = group
    out = {}
    for child in _children(fetch_history(engine.sfn, result.execution_arn)):
        group = groups[child.split(":")[6]]
        out[child] = (group, [log_message(e, child) for e in fetch_history(engine.sfn, child)])
    return out


def _put(group: str, messages: list[dict[str, Any]]) -> None:
    if messages:
        local_client("logs").put_log_events(logGroupName=group, logStreamName="states/stream", logEvents=[
            {"timestamp": int(m["event_timestamp"]), "message": json.dumps(m)} for m in messages])


def _blocks(ddb: Any, table: str, arn: str) -> list[dict[str, Any]]:
    detail = get_execution(ddb, Settings(table=table), arn)
    assert detail is not None
    return _dumped(detail.blocks)


def _dumped(blocks: Any) -> list[dict[str, Any]]:
    """Every field of each block log but its expiry (the retentions differ)."""
    return [b.model_dump(exclude={"expires_at"}) for b in blocks]


def _comparable(blocks: list[dict[str, Any]]) -> list[str]:
    keep = ("block_id", "name", "type", "containers", "where", "iteration", "branch", "success",
            "output", "error")
    return sorted(repr(_stable([b[k] for k in keep])) for b in blocks)


def test_a_split_run_records_the_block_logs_of_the_unsplit_run_from_its_stretch_logs(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    unsplit, a = runs["unsplit"]
    split, b = runs["split"]
    desc_a = engine.sfn.describe_execution(executionArn=a.execution_arn)
    desc_b = engine.sfn.describe_execution(executionArn=b.execution_arn)
    machines = engine.stretches[desc_b["stateMachineArn"]]
    assert machines and engine.stretches.get(desc_a["stateMachineArn"], []) == []

    (tmp_path / "a").mkdir()
    _use_manifest(monkeypatch, tmp_path / "a", unsplit, desc_a["stateMachineArn"])
    handler.lambda_handler(_event(desc_a, "RUNNING"), None)
    out = handler.lambda_handler(_event(desc_a, "SUCCEEDED"), None)
    assert out["written"] and out["blockLogs"] > 0
    expected = _blocks(deployed, TABLE, a.execution_arn)

    delivered = _log_stretches(engine, b, machines, "whole")
    assert len(delivered) == 2  # before and after the approval
    for group, messages in delivered.values():
        _put(group, messages)
    (tmp_path / "b").mkdir()
    _use_manifest(monkeypatch, tmp_path / "b", split, desc_b["stateMachineArn"])
    handler.lambda_handler(_event(desc_b, "RUNNING"), None)
    out = handler.lambda_handler(_event(desc_b, "SUCCEEDED"), None)
    assert out == {"recorded": True, "status": "succeeded", "written": True,
                   "blockLogs": len(expected), "workflow": "support-timeline"}
    got = _blocks(deployed, TABLE, b.execution_arn)
    assert _comparable(got) == _comparable(expected)
    # exactly what the embedded engine recorded from the stretches' own histories (times too)
    local = get_execution(engine.records.ddb, engine.records.settings, b.execution_arn)
    assert local is not None and got == _dumped(local.blocks)
    record = get_execution(deployed, Settings(table=TABLE), b.execution_arn)
    assert record is not None
    assert (record.record.status, record.record.lambda_invocations, record.record.transitions) == (
        "succeeded", a.lambda_invocations, b.transitions)


def test_a_stretch_log_still_being_delivered_writes_nothing_and_fails_for_a_retry(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    split, b = runs["split"]
    desc = engine.sfn.describe_execution(executionArn=b.execution_arn)
    delivered = _log_stretches(engine, b, engine.stretches[desc["stateMachineArn"]], "late")
    (first_group, first), (second_group, second) = delivered.values()
    _put(first_group, first)
    _put(second_group, second[:-3])  # its last events not delivered yet
    _use_manifest(monkeypatch, tmp_path, split, desc["stateMachineArn"])
    handler.lambda_handler(_event(desc, "RUNNING"), None)
    with pytest.raises(StretchLogsPending, match="incomplete"):
        handler.lambda_handler(_event(desc, "SUCCEEDED"), None)
    detail = get_execution(deployed, Settings(table=TABLE), b.execution_arn)
    assert detail is not None and detail.record.status == "running" and detail.blocks == []

    _put(second_group, second[-3:])  # delivered: Lambda's retry of the same event completes it
    out = handler.lambda_handler(_event(desc, "SUCCEEDED"), None)
    assert out["status"] == "succeeded" and out["written"]
    local = get_execution(engine.records.ddb, engine.records.settings, b.execution_arn)
    assert local is not None
    assert _blocks(deployed, TABLE, b.execution_arn) == _dumped(local.blocks)


class _Logs:
    """A CloudWatch Logs client holding one execution's messages (pages of two)."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.asked = kwargs
        start = int(kwargs.get("nextToken") or 0)
        page = self.messages[start:start + 2]
        more = start + 2 < len(self.messages)
        return {"events": [{"message": json.dumps(m)} for m in page],
                **({"nextToken": str(start + 2)} if more else {})}


class _Sfn:
    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:  # noqa: N803
        return {"loggingConfiguration": {"destinations": [{"cloudWatchLogsLogGroup": {
            "logGroupArn": f"arn:aws:logs:{ACCOUNT_REGION}:log-group:/g/{stateMachineArn[-3:]}:*"}}]}}


def test_gaps_and_duplicates_in_a_stretch_log(engine: LocalEngine, runs: dict[str, Any]) -> None:
    _, b = runs["split"]
    child = _children(fetch_history(engine.sfn, b.execution_arn))[0]
    events = fetch_history(engine.sfn, child)
    messages = [log_message(e, child) for e in events]
    assert [history_event(m) for m in messages] == events  # the shape GetExecutionHistory gives
    other = dict(messages[1], execution_arn=child + "x")  # another execution naming this one
    whole = StretchLogs(_Sfn(), _Logs([*messages, messages[2], other]))
    assert whole.events(child) == events
    gap = StretchLogs(_Sfn(), _Logs(messages[:3] + messages[4:]))
    with pytest.raises(StretchLogsPending, match="1 event.s. missing"):
        gap.events(child)
    # each child is read from its own start on (the parent's TaskSubmitted dates it)
    starts = child_starts(fetch_history(engine.sfn, b.execution_arn))
    assert set(starts) == set(_children(fetch_history(engine.sfn, b.execution_arn)))
    dated = _Logs(messages)
    assert StretchLogs(_Sfn(), dated, since_ms=1, starts=starts).events(child) == events
    assert dated.asked["startTime"] == starts[child] - 60_000 > 0
    assert dated.asked["filterPattern"] == f'"{child}"' and dated.asked["logGroupName"] == f"/g/{child.split(':')[6][-3:]}"
    waited: list[float] = []
    late = _Logs(messages[:-1])
    patient = StretchLogs(_Sfn(), late, waits=(1.0, 2.0),
                          sleep=lambda s: (waited.append(s), late.messages.append(messages[-1])))
    assert patient.events(child) == events and waited == [1.0]



def test_the_pause_snapshot_reads_the_stretch_logs_as_the_recorder_does(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, tmp_path: Path) -> None:
    """What the approval notifier writes when a run pauses (``record_pause``), deployed: a
    stretch log still being delivered means no snapshot, not one missing its blocks."""
    from stepweave.runtime.pause import record_pause
    from stepweave.runtime.recorder import Clients

    split, b = runs["split"]
    desc = engine.sfn.describe_execution(executionArn=b.execution_arn)
    delivered = _log_stretches(engine, b, engine.stretches[desc["stateMachineArn"]], "pause")
    (first_group, first), (second_group, second) = delivered.values()
    _put(first_group, first)
    _put(second_group, second[:1])
    (tmp_path / f"{split.name}.json").write_text(json.dumps(split.manifest()))
    (tmp_path / "index.json").write_text(json.dumps({desc["stateMachineArn"].rsplit(":", 1)[-1]: split.name}))
    settings = Settings(table=TABLE, manifests_dir=tmp_path)
    clients = Clients(sfn=local_client("stepfunctions"), ddb=deployed, logs=local_client("logs"))
    with pytest.raises(StretchLogsPending):
        record_pause(clients, settings, b.execution_arn)
    assert get_execution(deployed, Settings(table=TABLE), b.execution_arn) is None
    _put(second_group, second[1:])
    assert record_pause(clients, settings, b.execution_arn) == len(_dumped(
        get_execution(engine.records.ddb, engine.records.settings, b.execution_arn).blocks))  # type: ignore[union-attr]


def test_a_split_runs_record_bills_its_express_stretches_read_from_their_logs(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each stretch's duration is its last logged event's time minus its first's, billed
    rounded up to 100 ms: the record holds how many stretches ran and those seconds, and
    `stepweave execution` prices them."""
    from stepweave.cli.app import main
    from stepweave.runtime.history import event_time
    from stepweave.runtime.pricing import billed_seconds

    split, b = runs["split"]
    desc = engine.sfn.describe_execution(executionArn=b.execution_arn)
    for group, messages in _log_stretches(engine, b, engine.stretches[desc["stateMachineArn"]], "bill").values():
        _put(group, messages)
    _use_manifest(monkeypatch, tmp_path, split, desc["stateMachineArn"])
    handler.lambda_handler(_event(desc, "RUNNING"), None)
    assert handler.lambda_handler(_event(desc, "SUCCEEDED"), None)["written"]
    detail = get_execution(deployed, Settings(table=TABLE), b.execution_arn)
    assert detail is not None
    record = detail.record
    seconds = dated = 0.0
    for child in _children(fetch_history(engine.sfn, b.execution_arn)):
        times = [event_time(e) for e in fetch_history(engine.sfn, child)]
        seconds += billed_seconds((times[-1] - times[0]).total_seconds())  # type: ignore[operator]
        desc_child = engine.sfn.describe_execution(executionArn=child)
        dated += billed_seconds((desc_child["stopDate"] - desc_child["startDate"]).total_seconds())
    assert (record.workflow_type, record.transitions, record.stretch_executions) == ("STANDARD", b.transitions, 2)
    assert record.stretch_billed_seconds == pytest.approx(seconds)
    # the embedded engine's record measures them as `stepweave run` does: start to stop date
    local = get_execution(engine.records.ddb, engine.records.settings, b.execution_arn)
    assert local is not None
    assert local.record.stretch_executions == 2
    assert local.record.stretch_billed_seconds == pytest.approx(dated)
    capsys.readouterr()
    assert main(["execution", b.execution_arn, "--aws", "--table", TABLE]) == 0
    shown = capsys.readouterr().out
    assert f"AWS would bill: {b.transitions} state transitions (" in shown
    assert "+ 2 Express stretch executions ($" in shown and "per 1,000 runs in all" in shown
