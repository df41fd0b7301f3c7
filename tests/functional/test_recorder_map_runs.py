"""The recorder Lambda on runs with distributed containers, as deployed: it reads the blocks
inside them back from the children of their Map Runs (``stepweave.runtime.map_runs``).

A distributed parallel (Express children) and a chunked loop (Standard children: its body
calls Lambda) run on the embedded engine, which keeps each child's events. The test then
presents those children the way AWS keeps them, through boto3 against moto:
``ListExecutions(mapRunArn=...)`` lists a Map Run's children (moto lists none: this module
answers it, and ``GetExecutionHistory`` of the Standard children, from the kept events), and
an Express child's events are log events in the parent state machine's log group (level
``ALL``, execution data included), read with ``FilterLogEvents`` from moto's CloudWatch Logs.
The recorder gets the parent's EventBridge status changes without the engine's
``map_items``: its block logs must be exactly those the embedded engine recorded; past the
item bound, the first items and every failed one are logged and the record counts the rest.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core.responses import ActionResult
from moto.stepfunctions.responses import StepFunctionResponse
from stepweave.compiler import CompiledWorkflow, compile_workflow
from stepweave.local import distributed_map
from stepweave.local.engine import LocalEngine, RunResult
from stepweave.local.moto_history import plain_events
from stepweave.local.records import local_client
from stepweave.runtime.history import event_time
from stepweave.runtime.map_runs import ItemBound, map_run_arns
from stepweave.runtime.recorder import fetch_history
from stepweave.runtime.query import get_execution
from stepweave.runtime.settings import Settings
from stepweave.runtime.stretch_logs import StretchLogsPending, log_message
from stepweave.workflow.loader import parse_workflow, parse_yaml

from functions.recorder import handler
from tests.engine.test_distributed_block_logs import LOOP, PARALLEL
from tests.functional.test_recorder import _event, deployed_recorder

pytestmark = pytest.mark.usefixtures("engine")
TABLE = "stepweave-records-map-runs"
ACCOUNT_REGION = "us-east-1:123456789012"
ITEMS = [0, 1, 2, 3]  # PARALLEL's items 2 and 3 fail (LOOP's 4 would)

#: Map Run ARN -> its children (ListExecutions items); child ARN -> its history
_LISTED: dict[str, list[dict[str, Any]]] = {}
_HISTORIES: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def runs(engine: LocalEngine) -> Iterator[dict[str, tuple[CompiledWorkflow, RunResult, dict[str, Any]]]]:
    """The distributed parallel (Express children: items 2 and 3 fail) and the chunked loop
    (Standard children, chunks of two iterations), each with the events the engine kept of
    its children."""
    from stepweave.compiler import distributed

    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distributed_map, "forget_items", lambda _arn: None)  # kept for the test
        mp.setattr(distributed, "MAX_CHUNK", 2)
        for key, text, items in (("parallel", PARALLEL, ITEMS), ("loop", LOOP, [0, 1, 2])):
            # unsplit: only the Map Runs' children are read back here (test_recorder_split: stretches)
            compiled = compile_workflow(parse_workflow(parse_yaml(text.replace("MODE", "distributed")), "<test>"),
                                        "<test>", split=False)
            result = engine.run(compiled, {"items": items})
            kept = distributed_map.item_events(result.execution_arn)
            out[key] = (compiled, result, kept)
    assert out["parallel"][1].status == "FAILED" and out["loop"][1].status == "SUCCEEDED"
    yield out
    for _compiled, result, _kept in out.values():
        distributed_map.forget_items(result.execution_arn)


def _list_executions(self: Any) -> Any:
    run = self._get_param("mapRunArn")
    if run is None:
        return _moto_list_executions(self)
    children = sorted(_LISTED.get(run, []), key=lambda c: c["startDate"], reverse=True)  # newest first
    return ActionResult({"executions": children})


def _get_execution_history(self: Any) -> Any:
    arn = self._get_param("executionArn")
    if arn in _HISTORIES:
        return ActionResult({"events": _HISTORIES[arn]})
    return _moto_get_execution_history(self)


_moto_list_executions = StepFunctionResponse.list_executions
_moto_get_execution_history = StepFunctionResponse.get_execution_history


@pytest.fixture()
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    ddb = deployed_recorder(monkeypatch, TABLE)
    monkeypatch.setattr(StepFunctionResponse, "list_executions", _list_executions)
    monkeypatch.setattr(StepFunctionResponse, "get_execution_history", _get_execution_history)
    yield ddb
    handler.clients.cache_clear()
    _LISTED.clear()
    _HISTORIES.clear()


def _history(kept: list[Any], express: bool) -> tuple[list[dict[str, Any]], str]:
    """A child's whole history as AWS keeps it, from the events the engine kept (which
    leave out its own start and end): ``ExecutionStarted`` with the ItemSelector's output
    as input, the events renumbered after it, and its end."""
    events = plain_events(kept)
    first = events[0]
    item_input = first["stateEnteredEventDetails"]["input"]
    failed = any(e["type"] == "FailStateEntered" for e in events)
    out: list[dict[str, Any]] = [{
        "timestamp": event_time(first), "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
        "executionStartedEventDetails": {"input": item_input, "inputDetails": {"truncated": False},
                                         **({} if express else {"roleArn": "arn:aws:iam::123456789012:role/r"})}}]
    for event in events:
        previous = int(event.get("previousEventId") or 0)
        out.append({**event, "timestamp": event_time(event), "id": int(event["id"]) + 1,
                    "previousEventId": previous + 1 if previous < int(event["id"]) else 1})
    end = ({"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "BlockError", "cause": "failed"}}
           if failed else {"type": "ExecutionSucceeded",
                           "executionSucceededEventDetails": {"output": "{}", "outputDetails": {"truncated": False}}})
    out.append({**end, "timestamp": event_time(events[-1]), "id": len(out) + 1, "previousEventId": len(out)})
    return out, "FAILED" if failed else "SUCCEEDED"


def _present(engine: LocalEngine, result: RunResult, kept: dict[str, Any], express: bool,
             group: str | None) -> dict[str, list[dict[str, Any]]]:
    """The run's children as AWS keeps them: listed by Map Run, a Standard child's history
    answered by GetExecutionHistory, an Express child's log messages (returned by child ARN,
    to be put in ``group``, the parent's log group, which the parent then logs to)."""
    messages = {}
    for run, items in kept.items():
        machine_label = run.split(":")[6]
        for _index, events in items:
            history, status = _history(events, express)
            child = (f"arn:aws:states:{ACCOUNT_REGION}:express:{machine_label}:{uuid.uuid4()}:{uuid.uuid4()}"
                     if express else f"arn:aws:states:{ACCOUNT_REGION}:execution:{machine_label}:{uuid.uuid4()}")
            _LISTED.setdefault(run, []).append({
                "executionArn": child, "stateMachineArn": run.replace(":mapRun:", ":stateMachine:").rsplit(":", 1)[0],
                "name": child.split(":")[7], "status": status, "startDate": history[0]["timestamp"],
                "stopDate": history[-1]["timestamp"], "mapRunArn": run, "itemCount": 1})
            if express:
                messages[child] = [log_message(e, child) for e in history]
            else:
                _HISTORIES[child] = history
    if group is not None:
        logs = local_client("logs")
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="states/stream")
        machine = engine.sfn.describe_execution(executionArn=result.execution_arn)["stateMachineArn"]
        engine.sfn.update_state_machine(stateMachineArn=machine, loggingConfiguration={
            "level": "ALL", "includeExecutionData": True,
            "destinations": [{"cloudWatchLogsLogGroup": {
                "logGroupArn": f"arn:aws:logs:{ACCOUNT_REGION}:log-group:{group}:*"}}]})
    return messages


def _run(kept: dict[str, Any]) -> str:
    [run] = kept
    return str(run)


def _epoch_ms(moment: Any) -> int:
    return round(moment.timestamp() * 1000)


def _put(group: str, messages: list[dict[str, Any]]) -> None:
    if messages:
        local_client("logs").put_log_events(logGroupName=group, logStreamName="states/stream", logEvents=[
            {"timestamp": int(m["event_timestamp"]), "message": json.dumps(m)} for m in messages])


def _use_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiled: CompiledWorkflow,
                  machine: str) -> None:
    (tmp_path / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()))
    (tmp_path / "index.json").write_text(json.dumps({machine.rsplit(":", 1)[-1]: compiled.name}))
    monkeypatch.setenv("STEPWEAVE_MANIFESTS_DIR", str(tmp_path))


def _dumped(blocks: Any) -> list[dict[str, Any]]:
    return [b.model_dump(exclude={"expires_at"}) for b in blocks]


def _record(engine: LocalEngine, result: RunResult, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
            compiled: CompiledWorkflow) -> dict[str, Any]:
    desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
    _use_manifest(monkeypatch, tmp_path, compiled, desc["stateMachineArn"])
    handler.lambda_handler(_event(desc, "RUNNING"), None)
    return handler.lambda_handler(_event(desc, desc["status"]), None)


def test_a_chunked_loops_standard_children_are_read_with_their_histories(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    compiled, result, kept = runs["loop"]
    assert len(kept) == 2  # chunks of two iterations: two Map Runs of one child each
    _present(engine, result, kept, express=False, group=None)
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    local = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert local is not None
    assert out == {"recorded": True, "status": "succeeded", "written": True,
                   "blockLogs": len(local.blocks), "workflow": compiled.name}
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.unlogged_items is None
    got = _dumped(detail.blocks)
    assert got == _dumped(local.blocks)  # the same block logs as the embedded engine's, times too
    assert [(b["name"], b["where"]) for b in got if b["name"] in ("Prev", "Nxt")] == [
        (name, {"L": i}) for i in range(3) for name in ("Prev", "Nxt")]


def test_a_distributed_parallels_express_children_are_read_from_the_parents_log(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    compiled, result, kept = runs["parallel"]
    [(_run, items)] = kept.items()
    assert [index for index, _ in items] == [0, 1, 2, 3]
    group = f"/aws/vendedlogs/states/{compiled.name}-whole"
    messages = _present(engine, result, kept, express=True, group=group)
    *early, last = messages.values()
    for delivered in early:
        _put(group, delivered)
    _put(group, last[:-2])  # its last events not delivered yet: nothing written, retried later
    desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
    _use_manifest(monkeypatch, tmp_path, compiled, desc["stateMachineArn"])
    handler.lambda_handler(_event(desc, "RUNNING"), None)
    with pytest.raises(StretchLogsPending, match="incomplete"):
        handler.lambda_handler(_event(desc, "FAILED"), None)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.status == "running" and detail.blocks == []

    _put(group, last[-2:])
    out = handler.lambda_handler(_event(desc, "FAILED"), None)
    local = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert local is not None
    assert (out["status"], out["written"], out["blockLogs"]) == ("failed", True, len(local.blocks))
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.unlogged_items is None
    got = _dumped(detail.blocks)
    assert got == _dumped(local.blocks)
    each = [(b["where"], b["success"]) for b in got if b["name"] == "Each"]
    assert each == [({"par": 0}, True), ({"par": 1}, True), ({"par": 2}, False), ({"par": 3}, False)]


@pytest.mark.parametrize("bound, read", [
    (ItemBound(first=1, failed=5), [0, 2, 3]),  # the first started, and every failed one
    (ItemBound(first=1, failed=1), [0, 2]),  # the failed ones too are bounded: the first
    (ItemBound(first=4, failed=4, events=1), [0, 2, 3]),  # past the events read, only failed ones
])
def test_past_the_bound_the_first_items_and_the_failed_ones_are_logged_and_the_rest_counted(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bound: ItemBound, read: list[int]) -> None:
    compiled, result, kept = runs["parallel"]
    unlogged = len(ITEMS) - len(read)
    group = f"/aws/vendedlogs/states/{compiled.name}-bound-{bound.first}-{bound.failed}"
    for delivered in _present(engine, result, kept, express=True, group=group).values():
        _put(group, delivered)
    monkeypatch.setattr(handler, "ITEM_BOUND", bound)
    searched: list[dict[str, Any]] = []
    logs = local_client("logs")
    original = logs.filter_log_events

    def counted(**kwargs: Any) -> Any:
        searched.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(logs, "filter_log_events", counted)
    handler.clients.cache_clear()
    monkeypatch.setattr(handler, "clients", functools.cache(lambda: handler.Clients(
        sfn=local_client("stepfunctions"), ddb=deployed, logs=logs, item_bound=handler.ITEM_BOUND)))
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert out["unloggedItems"] == unlogged and out["status"] == "failed"
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.unlogged_items == unlogged
    # the items read are logged as the embedded engine logs them; the others not, nor read
    local = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert local is not None
    expected = [b for b in _dumped(local.blocks) if not b["where"] or b["where"]["par"] in read]
    got = _dumped(detail.blocks)
    assert [(b["name"], b["where"], b["success"]) for b in got] == [
        (b["name"], b["where"], b["success"]) for b in expected]
    assert [(b["where"], b["success"]) for b in got if b["name"] == "Each"] == [
        ({"par": i}, i < 2) for i in read]
    assert len(searched) == len(read)
    by_item = sorted(_LISTED[_run(kept)], key=lambda c: c["startDate"])  # items start in order
    for search, child in zip(searched, [by_item[i] for i in read], strict=True):
        # each child read, searched for between its start and stop (a minute either side)
        assert (json.loads(search["filterPattern"]), search["startTime"], search["endTime"]) == (
            child["executionArn"], _epoch_ms(child["startDate"]) - 60_000, _epoch_ms(child["stopDate"]) + 60_000)
    # what the run API and `stepweave execution` show of it
    from stepweave.api.models import view
    from stepweave.cli.app import main

    assert view(detail.record, detail.blocks).model_dump(by_alias=True, exclude_none=True)["unloggedItems"] == unlogged
    capsys.readouterr()
    assert main(["execution", result.execution_arn, "--aws", "--table", TABLE]) == 0
    assert f"unlogged:  {unlogged} item(s) of distributed parallels or loops" in capsys.readouterr().out


def test_express_children_of_a_parent_that_logs_without_their_data_are_counted_not_awaited(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """Without ``level: ALL`` and execution data in the parent's log, an Express child's
    events are nowhere: the record is written at once, counting every item as unlogged."""
    compiled, result, kept = runs["parallel"]
    _present(engine, result, kept, express=True, group=None)
    machine = engine.sfn.describe_execution(executionArn=result.execution_arn)["stateMachineArn"]
    engine.sfn.update_state_machine(stateMachineArn=machine, loggingConfiguration={"level": "OFF"})
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert (out["status"], out["written"], out["unloggedItems"]) == ("failed", True, 4)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.unlogged_items == 4
    assert [(b.name, b.success) for b in detail.blocks] == [("start", True), ("Fan", False)]


def test_a_child_the_map_run_counts_but_the_listing_lacks_is_counted_unlogged(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """DescribeMapRun's count of the children against ListExecutions': what the recorder was
    not shown is counted, as what it did not read (not silently missing)."""
    compiled, result, kept = runs["loop"]
    _present(engine, result, kept, express=False, group=None)
    first_run = map_run_arns(fetch_history(engine.sfn, result.execution_arn))[0]  # iterations 0 and 1
    assert len(_LISTED[first_run]) == 1
    _LISTED[first_run] = []
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert (out["status"], out["unloggedItems"]) == ("succeeded", 1)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None and detail.record.unlogged_items == 1
    assert [(b.name, b.where) for b in detail.blocks if b.name in ("Prev", "Nxt")] == [
        ("Prev", {"L": 2}), ("Nxt", {"L": 2})]  # the second chunk's iteration only


def test_a_child_still_running_when_the_run_ended_is_counted_not_awaited(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """A Map Run stopping its children as the run fails: one not ended yet has no complete
    history or log, and may never have; the record is written without it."""
    compiled, result, kept = runs["loop"]
    _present(engine, result, kept, express=False, group=None)
    second = map_run_arns(fetch_history(engine.sfn, result.execution_arn))[1]
    [child] = _LISTED[second]
    child["status"] = "RUNNING"
    _HISTORIES[child["executionArn"]] = _HISTORIES[child["executionArn"]][:-1]  # no end yet
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert (out["status"], out["unloggedItems"]) == ("succeeded", 1)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None
    assert [(b.name, b.where) for b in detail.blocks if b.name in ("Prev", "Nxt")] == [
        (name, {"L": i}) for i in (0, 1) for name in ("Prev", "Nxt")]


def test_the_pause_snapshot_reads_the_items_as_the_recorder_does_within_its_own_bound(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    # the approval notifier, deployed, snapshots the run at a pause: the items of the
    # distributed containers that ran before it are read back from their Map Runs, as many
    # as its bound allows (here the first chunk of the loop's two)
    from stepweave.runtime.pause import record_pause
    from stepweave.runtime.recorder import Clients

    compiled, result, kept = runs["loop"]
    _present(engine, result, kept, express=False, group=None)
    desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
    _use_manifest(monkeypatch, tmp_path, compiled, desc["stateMachineArn"])
    handler.lambda_handler(_event(desc, "RUNNING"), None)  # the record a waiting run has
    settings = Settings(table=TABLE, manifests_dir=tmp_path)
    clients = Clients(sfn=engine.sfn, ddb=deployed, item_bound=ItemBound(first=1, failed=1))
    written = record_pause(clients, settings, result.execution_arn)
    detail = get_execution(deployed, settings, result.execution_arn)
    assert detail is not None and written == len(detail.blocks)
    assert [(b.name, b.where) for b in detail.blocks if b.name in ("Prev", "Nxt")] == [
        (name, {"L": i}) for i in range(2) for name in ("Prev", "Nxt")]


def test_the_record_bills_the_express_children_by_their_listing_read_or_not(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """An Express child is priced by its listed start and stop dates, whether the recorder
    reads its events or not (here it reads one of four)."""
    from stepweave.runtime.pricing import billed_seconds

    compiled, result, kept = runs["parallel"]
    group = f"/aws/vendedlogs/states/{compiled.name}-bill"
    for delivered in _present(engine, result, kept, express=True, group=group).values():
        _put(group, delivered)
    monkeypatch.setattr(handler, "ITEM_BOUND", ItemBound(first=1, failed=0))
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert (out["status"], out["unloggedItems"]) == ("failed", 3)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None
    record = detail.record
    listed = _LISTED[_run(kept)]
    seconds = sum(billed_seconds((c["stopDate"] - c["startDate"]).total_seconds()) for c in listed)
    assert (record.child_express_executions, record.child_standard_executions,
            record.unread_child_executions) == (4, 0, None)
    assert record.child_express_billed_seconds == pytest.approx(seconds)


def test_the_record_bills_the_standard_children_it_read_and_counts_the_others(
        engine: LocalEngine, runs: dict[str, Any], deployed: Any, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Standard child is priced by the transitions of the history the recorder reads; one
    it does not read is counted, its start priced and its own charges said to be unknown, in
    the record, `stepweave execution` and the run API."""
    from stepweave.api.models import view
    from stepweave.cli.app import main
    from stepweave.runtime.history import billed_transitions

    compiled, result, kept = runs["loop"]
    _present(engine, result, kept, express=False, group=None)
    monkeypatch.setattr(handler, "ITEM_BOUND", ItemBound(first=1, failed=0))
    out = _record(engine, result, monkeypatch, tmp_path, compiled)
    assert (out["status"], out["unloggedItems"]) == ("succeeded", 1)
    detail = get_execution(deployed, Settings(table=TABLE), result.execution_arn)
    assert detail is not None
    record = detail.record
    first = min((c for children in _LISTED.values() for c in children), key=lambda c: c["startDate"])
    transitions = billed_transitions(_HISTORIES[first["executionArn"]])
    assert (record.child_standard_executions, record.child_standard_transitions,
            record.unread_child_executions, record.child_express_executions) == (1, transitions, 1, 0)
    # read in full, the children's transitions are those the embedded engine billed
    assert transitions in [c.transitions for c in result.children]
    bill = view(record, detail.blocks).model_dump(by_alias=True)["bill"]
    assert {k: bill["childExecutions"][k] for k in ("executions", "standard", "standardTransitions",
                                                    "startTransitions", "unread")} == {
        "executions": 2, "standard": 1, "standardTransitions": transitions, "startTransitions": 2, "unread": 1}
    capsys.readouterr()
    assert main(["execution", result.execution_arn, "--aws", "--table", TABLE]) == 0
    shown = capsys.readouterr().out
    assert (f"+ 1 Standard child executions ({transitions:,} state transitions) and 1 child execution "
            "not read (their own charges not known) and their 2 starts as state transitions ($") in shown
    assert bill["text"] in shown
