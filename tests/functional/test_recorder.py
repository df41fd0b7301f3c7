"""The recorder Lambda with EventBridge status-change events, against moto's Step Functions.

Executions run on the embedded engine; the recorder then receives the events AWS would
send (RUNNING, then the final status) and reads the history through the Step Functions API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stepweave.compiler import CompiledWorkflow, compile_workflow
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.local.records import create_table, local_client
from stepweave.runtime.manifests import load_manifest
from stepweave.runtime.query import ExecutionDetail, get_execution
from stepweave.runtime.settings import Settings
from stepweave.workflow.loader import load_workflow

from functions.recorder import handler
from tests.engine.helpers import compile_text

pytestmark = pytest.mark.usefixtures("engine")

ROOT = Path(__file__).resolve().parents[2]
TABLE = "stepweave-records"
FAILING = """
name: failing
blocks:
  - {id: start, type: start}
  - {id: ok, name: Ok, type: function, params: {code: "return 1"}}
  - {id: risky, name: Risky, type: function, params: {code: "throw new Error('boom')"}}
edges: [start -> ok, ok -> risky]
"""


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("manifests")


@pytest.fixture()
def recorder_env(engine: LocalEngine, manifests: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    ddb = local_client("dynamodb")
    if TABLE not in ddb.list_tables()["TableNames"]:
        create_table(ddb, TABLE)
    monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
    monkeypatch.setenv("STEPWEAVE_MANIFESTS_DIR", str(manifests))
    monkeypatch.setenv("STEPWEAVE_RETENTION_DAYS", "3")
    handler.clients.cache_clear()
    yield ddb
    handler.clients.cache_clear()


def _run(engine: LocalEngine, compiled: CompiledWorkflow, manifests: Path,
         payload: Any = None) -> tuple[RunResult, dict[str, Any]]:
    result = engine.run(compiled, {} if payload is None else payload)
    desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
    (manifests / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()))
    index = manifests / "index.json"
    entries = json.loads(index.read_text()) if index.is_file() else {}
    index.write_text(json.dumps({**entries, desc["stateMachineArn"]: compiled.name}))
    return result, desc


def deployed_recorder(monkeypatch: pytest.MonkeyPatch, table: str) -> Any:
    """The recorder handler as deployed, on an empty records table ``table`` (moto's
    DynamoDB; its DynamoDB client), not waiting for late stretch logs. Clear
    ``handler.clients`` after the test."""
    ddb = local_client("dynamodb")
    if table in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=table)
    create_table(ddb, table)
    monkeypatch.setenv("STEPWEAVE_TABLE", table)
    monkeypatch.setenv("STEPWEAVE_RETENTION_DAYS", "3")
    monkeypatch.setattr(handler, "STRETCH_LOG_WAITS", ())  # no waiting in tests
    handler.clients.cache_clear()
    return ddb


def _event(desc: dict[str, Any], status: str) -> dict[str, Any]:
    """As EventBridge delivers it (dates in epoch ms; output/error only when final)."""
    final = status != "RUNNING"
    return {
        "version": "0", "id": "6f0e5b7a-2c1d-4c7e-9d0a-1b2c3d4e5f60",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2025-03-01T10:00:00Z", "region": "us-east-1",
        "resources": [desc["executionArn"]],
        "detail": {
            "executionArn": desc["executionArn"], "stateMachineArn": desc["stateMachineArn"],
            "name": desc["name"], "status": status,
            "startDate": int(desc["startDate"].timestamp() * 1000),
            "stopDate": int(desc["stopDate"].timestamp() * 1000) if final else None,
            "input": desc["input"], "inputDetails": {"included": True},
            "output": desc.get("output") if final else None, "outputDetails": {"included": True} if final else None,
            "error": desc.get("error") if final else None, "cause": desc.get("cause") if final else None,
            "redriveCount": 0, "redriveStatus": "NOT_REDRIVABLE",
        },
    }


def _detail(ddb: Any, arn: str) -> ExecutionDetail:
    detail = get_execution(ddb, Settings(table=TABLE), arn)
    assert detail is not None
    return detail


def test_running_then_succeeded_records_the_execution_and_its_block_logs(
        engine: LocalEngine, manifests: Path, recorder_env: Any) -> None:
    compiled = compile_workflow(load_workflow(ROOT / "workflows/containers-showcase.yaml"))
    result, desc = _run(engine, compiled, manifests)
    out = handler.lambda_handler(_event(desc, "RUNNING"), None)
    assert out == {"recorded": True, "status": "running", "written": True, "blockLogs": 0,
                   "workflow": "containers-showcase"}
    assert _detail(recorder_env, result.execution_arn).record.status == "running"
    out = handler.lambda_handler(_event(desc, "SUCCEEDED"), None)
    assert out["status"] == "succeeded" and out["written"] and out["blockLogs"] == 10

    record, blocks = (d := _detail(recorder_env, result.execution_arn)).record, d.blocks
    assert record.workflow == "containers-showcase" and record.trigger == {"type": "external"}
    assert json.loads(record.output or "") == result.output
    assert (record.transitions, record.lambda_invocations) == (result.transitions, result.lambda_invocations)
    stop_s = int(desc["stopDate"].timestamp())
    assert record.expires_at == stop_s + 3 * 86_400 and all(b.expires_at == record.expires_at for b in blocks)
    assert record.started_at.endswith("Z") and record.duration_ms is not None
    lines = [b for b in blocks if b.name == "Line total"]
    assert sorted(b.branch for b in lines) == [0, 1, 2]  # type: ignore[type-var]
    assert all(b.containers == ["price_lines"] and b.iteration is None for b in lines)
    reminders = [b for b in blocks if b.name == "Schedule reminder"]
    assert [b.iteration for b in reminders] == [0, 1, 2]
    assert [b.where for b in reminders] == [{"follow_ups": i} for i in range(3)]
    assert json.loads(reminders[1].output or "") == {"result": {"day": 3, "n": 2}, "stdout": ""}
    assert all(b.success and b.started_at and b.ended_at and b.started_at <= b.ended_at for b in blocks)
    loop = next(b for b in blocks if b.name == "Follow-ups")
    assert loop.started_at <= reminders[0].started_at and loop.ended_at >= reminders[-1].ended_at  # type: ignore[operator]
    assert blocks[-1].name == "Summarize" and [b.seq for b in blocks] == list(range(1, 11))

    again = handler.lambda_handler(_event(desc, "SUCCEEDED"), None)  # delivered twice
    assert again["written"] is False and again["blockLogs"] == 10
    late = handler.lambda_handler(_event(desc, "RUNNING"), None)  # out of order
    assert late["written"] is False
    detail = _detail(recorder_env, result.execution_arn)
    assert detail.record.status == "succeeded" and detail.blocks == blocks


def test_failed_execution_records_error_cause_and_the_failed_block(
        engine: LocalEngine, manifests: Path, recorder_env: Any) -> None:
    result, desc = _run(engine, compile_text(FAILING), manifests)
    assert result.status == "FAILED"
    handler.lambda_handler(_event(desc, "RUNNING"), None)
    out = handler.lambda_handler(_event(desc, "FAILED"), None)
    assert out["status"] == "failed" and out["blockLogs"] == 3
    detail = _detail(recorder_env, result.execution_arn)
    assert detail.record.error == "Stepweave.BlockFailed" and detail.record.output is None
    assert detail.record.cause == "Risky: Line 1: `throw new Error('boom')` - boom"
    risky = detail.blocks[-1]
    assert (risky.name, risky.success, risky.output) == ("Risky", False, None)
    assert risky.error == "Line 1: `throw new Error('boom')` - boom"
    assert [b.success for b in detail.blocks] == [True, True, False]


def test_without_a_manifest_the_record_has_no_block_logs(engine: LocalEngine, recorder_env: Any,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEPWEAVE_MANIFESTS_DIR", str(tmp_path))
    result = engine.run(compile_text(FAILING.replace("name: failing", "name: unknown-flow")), {})
    desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
    out = handler.lambda_handler(_event(desc, "FAILED"), None)
    machine = desc["stateMachineArn"].rsplit(":", 1)[-1]
    assert out["blockLogs"] == 0 and out["workflow"] == machine
    assert _detail(recorder_env, result.execution_arn).record.status == "failed"


def test_other_events_are_ignored(recorder_env: Any) -> None:
    assert handler.lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, None)["recorded"] is False
    bad = {"detail-type": "Step Functions Execution Status Change", "detail": {"status": "RUNNING"}}
    out = handler.lambda_handler(bad, None)
    assert out["recorded"] is False and "executionArn" in out["reason"]


def test_manifest_lookup_by_index_or_state_machine_name_suffix(tmp_path: Path) -> None:
    manifest = {"workflow": "support-timeline", "type": "EXPRESS", "states": {"Start": ["start", "main"]},
                "blocks": {"start": {"name": "Start", "type": "start", "stem": "start", "containers": []}}}
    (tmp_path / "support-timeline.json").write_text(json.dumps(manifest))
    (tmp_path / "timeline.json").write_text(json.dumps({**manifest, "workflow": "timeline"}))
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:{}"
    assert load_manifest(tmp_path, arn.format("prod-support-timeline"))["workflow"] == "support-timeline"  # type: ignore[index]
    assert load_manifest(tmp_path, arn.format("prod-timeline"))["workflow"] == "timeline"  # type: ignore[index]
    assert load_manifest(tmp_path, arn.format("prod-other")) is None
    (tmp_path / "index.json").write_text(json.dumps({"Flow7": "timeline", arn.format("x"): "support-timeline"}))
    assert load_manifest(tmp_path, arn.format("Flow7"))["workflow"] == "timeline"  # type: ignore[index]
    assert load_manifest(tmp_path, arn.format("x"))["workflow"] == "support-timeline"  # type: ignore[index]
    assert load_manifest(None, arn.format("x")) is None


def _logs(*events: dict[str, Any], message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """A CloudWatch Logs subscription delivery of Step Functions log events."""
    import base64
    import gzip

    data = {"messageType": message_type, "owner": "123456789012", "logGroup": "/aws/vendedlogs/states/x",
            "logStream": "states/x/2025-03-01", "subscriptionFilters": ["stepweave-recorder-x"],
            "logEvents": [{"id": str(i), "timestamp": e["event_timestamp"], "message": json.dumps(e)}
                          for i, e in enumerate(events)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()}}


def _log_event(kind: str, name: str, at_ms: int, **details: Any) -> dict[str, Any]:
    arn = f"arn:aws:states:us-east-1:123456789012:express:dev-triage:{name}:0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    return {"id": "1", "type": kind, "details": details, "previous_event_id": "0",
            "event_timestamp": str(at_ms), "execution_arn": arn, "redrive_count": "0"}


def test_express_statuses_from_log_deliveries(recorder_env: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = {"workflow": "triage", "type": "EXPRESS", "states": {}, "blocks": {}}
    (tmp_path / "triage.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("STEPWEAVE_MANIFESTS_DIR", str(tmp_path))
    t0 = 1_740_823_200_000
    both = _logs(_log_event("ExecutionStarted", "e1", t0, input='{"n": 1}'),
                 _log_event("ExecutionSucceeded", "e1", t0 + 250, output='{"ok": true}'),
                 _log_event("ExecutionStarted", "e2", t0 + 10, input="{}"))
    assert handler.lambda_handler(both, None) == {"recorded": True, "executions": 2, "written": 2}
    arn = _log_event("ExecutionStarted", "{}", 0)["execution_arn"]
    one = _detail(recorder_env, arn.format("e1")).record
    assert (one.workflow, one.status, one.duration_ms, one.output) == ("triage", "succeeded", 250, '{"ok": true}')
    assert one.transitions is None and one.input == '{"n": 1}'
    assert _detail(recorder_env, arn.format("e2")).record.status == "running"

    end = _logs(_log_event("ExecutionFailed", "e2", t0 + 1010, error="Stepweave.BlockFailed", cause="X: boom"))
    assert handler.lambda_handler(end, None)["written"] == 1
    assert handler.lambda_handler(end, None)["written"] == 0  # delivered twice
    two = _detail(recorder_env, arn.format("e2")).record
    assert (two.status, two.error, two.duration_ms, two.input) == ("failed", "Stepweave.BlockFailed", 1000, "{}")
    assert two.started_at == "2025-03-01T10:00:00.010Z"
    # billed on its request and duration (1.0 s at 64 MB); its Lambda invocations not counted
    from stepweave.api.bill import bill_view
    from stepweave.runtime.pricing import record_bill

    bill = record_bill(two)
    assert bill is not None and two.workflow_type == "EXPRESS"
    assert bill.text() == ("1 Express request, 1.0 s at 64 MB ($0.0020 per 1,000 runs on Express), "
                           "its Lambda invocations not counted")
    view = bill_view(two)
    assert view is not None and view.lambda_invocations is None and view.cost_usd == pytest.approx(
        1e-6 + 64 / 1024 * 1.0 * 0.00001667, rel=0.05)

    alone = _logs(_log_event("ExecutionTimedOut", "e3", t0 + 5000, error="States.Timeout"))
    handler.lambda_handler(alone, None)
    three = _detail(recorder_env, arn.format("e3")).record
    assert three.status == "timed_out" and three.duration_ms is None and three.started_at == three.stopped_at
    assert record_bill(three) is None  # its start is not known: nor is its duration

    assert handler.lambda_handler(_logs(message_type="CONTROL_MESSAGE"), None)["recorded"] is False
    assert handler.lambda_handler({"awslogs": {"data": "not base64 gzip"}}, None)["recorded"] is False


def test_a_schedule_or_event_rule_started_run_records_its_trigger_from_the_input(
        engine: LocalEngine, manifests: Path, recorder_env: Any) -> None:
    from stepweave.triggers.declare import EventTrigger
    from stepweave.triggers.rules import event_input

    compiled = compile_workflow(load_workflow(ROOT / "workflows/containers-showcase.yaml"))
    # the input an event rule's transformer makes (values as EventBridge inserts them)
    paths, template = event_input(compiled.name, EventTrigger.model_validate(
        {"type": "event", "name": "orders", "source": ["shop.orders"]}))
    event = {"source": "shop.orders", "detail-type": "order.created", "id": "ev-1",
             "time": "2027-01-15T08:00:00Z", "detail": {"orderId": 7}}
    values = {name: json.dumps(event[path.removeprefix("$.")]) for name, path in paths.items()}
    text = template
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    result, desc = _run(engine, compiled, manifests, payload=json.loads(text))
    handler.lambda_handler(_event(desc, "SUCCEEDED"), None)
    record = _detail(recorder_env, result.execution_arn).record
    assert record.trigger == {"type": "event", "workflow": compiled.name, "name": "orders",
                              "source": "shop.orders", "detailType": "order.created",
                              "eventId": "ev-1", "time": "2027-01-15T08:00:00Z"}


def test_a_redriven_execution_runs_again_in_its_record_then_ends_with_its_redrive_count(
        engine: LocalEngine, manifests: Path, recorder_env: Any) -> None:
    import time

    from tests.loopback import Request, loopback

    calls: list[str] = []

    def respond(request: Request) -> tuple[int, bytes, float]:
        calls.append(request.path)
        return (503 if len(calls) == 1 else 200), b'{"v": 1}', 0.0

    with loopback(respond) as server:
        compiled = compile_text(f"""
name: flaky-call
type: standard
blocks:
  - {{id: start, type: start}}
  - {{id: ok, name: Ok, type: function, params: {{code: "return 1"}}}}
  - {{id: call, name: Call, type: api, params: {{url: "{server.url}/x", method: POST, retries: 0}}}}
edges: [start -> ok, ok -> call]
""")
        result, desc = _run(engine, compiled, manifests)
        assert result.status == "FAILED"
        handler.lambda_handler(_event(desc, "RUNNING"), None)
        handler.lambda_handler(_event(desc, "FAILED"), None)
        arn = result.execution_arn
        engine.sfn.redrive_execution(executionArn=arn)
        running = engine.sfn.describe_execution(executionArn=arn)
        event = _event(running, "RUNNING")
        event["detail"].update(redriveCount=1, redriveDate=int(running["redriveDate"].timestamp() * 1000))
        assert handler.lambda_handler(event, None)["written"] is True
        record = _detail(recorder_env, arn).record
        assert record.status == "running" and record.redrive_count == 1 and record.redriven_at
        assert record.stopped_at is None and record.error is None
        assert handler.lambda_handler(event, None)["written"] is False  # delivered twice
        late = handler.lambda_handler(_event(desc, "FAILED"), None)  # the first attempt's, late
        assert late["written"] is False and _detail(recorder_env, arn).record.status == "running"
        while engine.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(0.02)
        done = engine.sfn.describe_execution(executionArn=arn)
        final = _event(done, "SUCCEEDED")
        final["detail"]["redriveCount"] = 1
        out = handler.lambda_handler(final, None)
        assert out["status"] == "succeeded" and out["written"]
    detail = _detail(recorder_env, arn)
    assert detail.record.status == "succeeded" and detail.record.redrive_count == 1
    assert [(b.name, b.success) for b in detail.blocks] == [
        ("start", True), ("Ok", True), ("Call", False), ("Call", True)]
    assert calls == ["/x", "/x"]
