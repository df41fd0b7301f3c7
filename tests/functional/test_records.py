"""Execution records in DynamoDB (moto): models, idempotent writers, queries, TTL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from stepweave.local.records import LocalRecords, create_table, local_client
from stepweave.runtime.query import CursorError, find_execution, get_execution, list_executions
from stepweave.runtime.records import (
    ITEM_BUDGET,
    PREVIEW_BYTES,
    BlockLog,
    ExecutionRecord,
    put_block_logs,
    put_final,
    put_started,
    record_from_item,
    to_dynamo,
)
from stepweave.runtime.settings import Settings, SettingsError

TABLE = "records"
ARN = "arn:aws:states:us-east-1:123456789012:execution:dev-triage:{}"


@pytest.fixture()
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = local_client("dynamodb")
        create_table(client, TABLE)
        yield client


@pytest.fixture()
def settings() -> Settings:
    return Settings(table=TABLE, retention_days=7)


def _record(name: str, minute: int, status: str = "running", workflow: str = "triage", **extra: Any) -> ExecutionRecord:
    started = f"2025-03-01T10:{minute:02d}:00.000Z"
    return ExecutionRecord(workflow=workflow, execution_arn=ARN.format(name), name=name, status=status,  # type: ignore[arg-type]
                           trigger={"type": "api"}, input='{"n": 1}', started_at=started,
                           expires_at=1_900_000_000, **extra)


def _final(record: ExecutionRecord, status: str = "succeeded", stopped: str = "2025-03-01T11:00:00.000Z",
           **extra: Any) -> ExecutionRecord:
    return record.model_copy(update={"status": status, "stopped_at": stopped, "duration_ms": 5, "output": "{}",
                                     "trigger": {"type": "external"}, **extra})


def _log(seq: int, **extra: Any) -> BlockLog:
    fields: dict[str, Any] = {
        "execution_arn": ARN.format("a"), "seq": seq, "block_id": f"b{seq}", "name": f"B {seq}",
        "type": "function", "containers": ["loop1"], "where": {"loop1": seq - 1}, "iteration": seq - 1,
        "success": True, "output": '{"ok": true}', "started_at": "2025-03-01T10:00:00.000Z",
        "ended_at": "2025-03-01T10:00:00.010Z", "duration_ms": 10, "expires_at": 1_900_000_000}
    return BlockLog(**{**fields, **extra})


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    return {k: to_dynamo(v) for k, v in item.items()}


def test_models_round_trip_through_dynamodb_items() -> None:
    record = _final(_record("a", 1), status="failed", error="Stepweave.BlockFailed", cause="X: boom",
                    transitions=4, lambda_invocations=2)
    item = record.to_item()
    assert item["pk"] == "EXEC#" + ARN.format("a") and item["sk"] == "META"
    assert item["gsi1pk"] == "WF#triage" and item["gsi1sk"] == f"2025-03-01T10:01:00.000Z#{ARN.format('a')}"
    assert "outputTruncated" not in item and item["lambdaInvocations"] == 2
    assert record_from_item(_typed(item)) == record
    log = _log(3, branch=2, error=None)
    assert log.to_item()["sk"] == "BLOCK#00003"
    assert record_from_item(_typed(log.to_item())) == log


def test_large_values_are_cut_to_a_preview() -> None:
    big = json.dumps({"blob": "x" * (ITEM_BUDGET + 10)})
    item = _final(_record("a", 1), output=big).to_item()
    assert item["outputTruncated"] is True and len(item["output"].encode()) <= PREVIEW_BYTES
    assert item["input"] == '{"n": 1}' and "inputTruncated" not in item
    log_item = _log(1, output="é" * ITEM_BUDGET).to_item()
    assert log_item["outputTruncated"] is True and len(log_item["output"].encode()) <= PREVIEW_BYTES


def _get(ddb: Any, settings: Settings, name: str) -> ExecutionRecord:
    detail = get_execution(ddb, settings, ARN.format(name))
    assert detail is not None
    return detail.record


def test_started_never_replaces_final_and_final_is_written_once(ddb: Any, settings: Settings) -> None:
    started = _record("a", 1)
    assert put_started(ddb, settings, started)
    assert put_started(ddb, settings, started)  # a repeated RUNNING event is harmless
    final = _final(started, status="failed", error="E", cause="C")
    assert put_final(ddb, settings, final)
    assert not put_final(ddb, settings, final)  # the same final event again
    assert not put_started(ddb, settings, started)  # a late RUNNING event
    stored = _get(ddb, settings, "a")
    assert stored.status == "failed" and stored.error == "E"
    assert stored.trigger == {"type": "api"}  # whoever recorded the trigger first wins
    # a redrive stops later and succeeds: the stale error goes
    assert put_final(ddb, settings, _final(started, stopped="2025-03-01T12:00:00.000Z"))
    stored = _get(ddb, settings, "a")
    assert stored.status == "succeeded" and stored.error is None and stored.cause is None


def test_block_logs_are_idempotent_and_unprocessed_items_retried(ddb: Any, settings: Settings) -> None:
    assert put_started(ddb, settings, _record("a", 1))
    logs = [_log(seq) for seq in range(1, 31)]
    assert put_block_logs(ddb, settings, logs) == 30
    assert put_block_logs(ddb, settings, logs) == 30  # the same final event processed twice
    detail = get_execution(ddb, settings, ARN.format("a"))
    assert detail is not None and detail.blocks == logs

    class Throttled:
        """The real client, but the first request of each batch leaves half unprocessed."""

        def __init__(self) -> None:
            self.calls = 0

        def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
            self.calls += 1
            requests = RequestItems[TABLE]
            if self.calls % 2 == 1 and len(requests) > 1:
                half = len(requests) // 2
                ddb.batch_write_item(RequestItems={TABLE: requests[:half]})
                return {"UnprocessedItems": {TABLE: requests[half:]}}
            return dict(ddb.batch_write_item(RequestItems=RequestItems))

    throttled = Throttled()
    more = [_log(seq).model_copy(update={"execution_arn": ARN.format("b")}) for seq in range(1, 28)]
    assert put_block_logs(throttled, settings, more, sleep=lambda _s: None) == 27
    assert throttled.calls == 4
    detail = get_execution(ddb, settings, ARN.format("b"))
    assert detail is None  # no META item for "b": block logs alone are not an execution
    items = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "EXEC#" + ARN.format("b")}})["Items"]
    assert len(items) == 27


def _fill(ddb: Any, settings: Settings) -> None:
    for minute in range(6):
        record = _record(f"t{minute}", minute)
        put_started(ddb, settings, record)
        if minute % 2 == 0:
            put_final(ddb, settings, _final(record, status="succeeded" if minute != 4 else "failed"))
        put_started(ddb, settings, _record(f"o{minute}", minute, workflow="other"))


def test_list_newest_first_with_cursor_pages_and_status_filter(ddb: Any, settings: Settings) -> None:
    _fill(ddb, settings)
    names: list[str] = []
    cursor = None
    for _ in range(4):
        page = list_executions(ddb, settings, workflow="triage", limit=4, cursor=cursor)
        names += [r.name for r in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert names == [f"t{m}" for m in (5, 4, 3, 2, 1, 0)]
    running = list_executions(ddb, settings, workflow="triage", status="running", limit=2)
    assert [r.name for r in running.items] == ["t5", "t3"] and running.cursor
    rest = list_executions(ddb, settings, workflow="triage", status="running", limit=2, cursor=running.cursor)
    assert [r.name for r in rest.items] == ["t1"] and rest.cursor is None
    assert [r.name for r in list_executions(ddb, settings, workflow="triage", status="failed").items] == ["t4"]
    both = list_executions(ddb, settings, limit=3)
    assert [r.name for r in both.items] == ["t5", "o5", "t4"]  # same start: by ARN
    after = list_executions(ddb, settings, limit=20, cursor=both.cursor)
    assert len(both.items) + len(after.items) == 12 and after.cursor is None
    with pytest.raises(CursorError):
        list_executions(ddb, settings, workflow="other", cursor=running.cursor)
    with pytest.raises(CursorError):
        list_executions(ddb, settings, cursor="not a cursor!")


def test_find_by_name_or_arn_suffix(ddb: Any, settings: Settings) -> None:
    _fill(ddb, settings)
    assert find_execution(ddb, settings, "t3") == [ARN.format("t3")]
    assert find_execution(ddb, settings, "dev-triage:t3") == [ARN.format("t3")]
    assert find_execution(ddb, settings, "nope") == []
    assert get_execution(ddb, settings, ARN.format("nope")) is None


def test_retention_sets_expiry_and_expired_local_records_are_dropped(tmp_path: Path) -> None:
    assert Settings.from_env({}).retention_days == 30
    assert Settings.from_env({"STEPWEAVE_RETENTION_DAYS": "7"}).retention_seconds == 7 * 86_400
    with pytest.raises(SettingsError, match="STEPWEAVE_RETENTION_DAYS"):
        Settings.from_env({"STEPWEAVE_RETENTION_DAYS": "soon"})
    with pytest.raises(SettingsError, match="STEPWEAVE_TABLE"):
        Settings.from_env({}).require_table()
    path = tmp_path / "records.db"
    with LocalRecords.open(Settings(), path) as store:
        put_started(store.ddb, store.settings, _record("kept", 1))
        put_started(store.ddb, store.settings, _record("gone", 2).model_copy(update={"expires_at": 1_000}))
    with LocalRecords.open(Settings(), path) as store:
        names = [r.name for r in list_executions(store.ddb, store.settings).items]
    assert names == ["kept"]
