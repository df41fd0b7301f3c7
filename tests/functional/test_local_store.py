"""The local records store (SQLite) answers DynamoDB requests as DynamoDB (moto) does, keeps
what the runtime writes, imports an older version's ``records.json`` once, and keeps its
files to their owner."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from stepweave.api.keys import create_key, disable_key, lookup_key
from stepweave.local.records import LocalRecords, create_table, local_client
from stepweave.runtime.query import find_execution, get_execution, list_executions
from stepweave.runtime.records import ExecutionRecord, put_final, put_started
from stepweave.runtime.settings import LOCAL_TABLE, Settings

T = LOCAL_TABLE


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _item(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"pk": _s(pk), "sk": _s(sk), **extra}


#: Requests with the expressions the runtime uses (and a few it may), in order.
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"Item": _item("EXEC#a", "META", status=_s("running"), gsi1pk=_s("WF#w"),
                                gsi1sk=_s("2025-01-01#a"), n={"N": "1"}, trigger={"M": {"type": _s("external")}}),
                  "ConditionExpression": "attribute_not_exists(pk)"}),
    ("put_item", {"Item": _item("EXEC#a", "META"), "ConditionExpression": "attribute_not_exists(pk)"}),
    ("put_item", {"Item": _item("EXEC#b", "META", status=_s("succeeded"), gsi1pk=_s("WF#w"),
                                gsi1sk=_s("2025-01-02#b"), stoppedAt=_s("2025-01-02T00:00:01Z"))}),
    ("put_item", {"Item": _item("EXEC#c", "META", status=_s("failed"), gsi1pk=_s("WF#v"),
                                gsi1sk=_s("2025-01-03#c"))}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")},
                     "UpdateExpression": "SET #s = :now, n = n + :one, tenant = if_not_exists(tenant, :t) "
                                         "REMOVE nothing",
                     "ConditionExpression": "attribute_not_exists(pk) OR #s = :queued OR #s = :running",
                     "ExpressionAttributeNames": {"#s": "status"},
                     "ExpressionAttributeValues": {":now": _s("paused"), ":one": {"N": "2"}, ":t": _s("acme"),
                                                   ":queued": _s("queued"), ":running": _s("running")},
                     "ReturnValues": "ALL_NEW"}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "UpdateExpression": "SET #s = :s",
                     "ConditionExpression": "#s = :was", "ExpressionAttributeNames": {"#s": "status"},
                     "ExpressionAttributeValues": {":s": _s("x"), ":was": _s("running")}}),
    ("update_item", {"Key": {"pk": _s("EXEC#b"), "sk": _s("META")}, "UpdateExpression": "SET durationMs = :d",
                     "ConditionExpression": "attribute_not_exists(stoppedAt) OR stoppedAt < :stopped",
                     "ExpressionAttributeValues": {":d": {"N": "5"}, ":stopped": _s("2025-01-03T00:00:00Z")},
                     "ReturnValues": "UPDATED_NEW"}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")},
                     "UpdateExpression": "SET #t = :trigger", "ConditionExpression": "#t.#type = :external",
                     "ExpressionAttributeNames": {"#t": "trigger", "#type": "type"},
                     "ExpressionAttributeValues": {":trigger": {"M": {"type": _s("api")}},
                                                   ":external": _s("external")}}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "UpdateExpression": "SET x = :x",
                     "ConditionExpression": "#t.#type = :external",
                     "ExpressionAttributeNames": {"#t": "trigger", "#type": "type"},
                     "ExpressionAttributeValues": {":x": _s("1"), ":external": _s("external")}}),
    ("update_item", {"Key": {"pk": _s("KEY#k"), "sk": _s("META")}, "UpdateExpression": "SET disabled = :t",
                     "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": {":t": {"BOOL": True}}}),
    ("update_item", {"Key": {"pk": _s("DLV#d"), "sk": _s("META")}, "UpdateExpression": "SET claimToken = :n",
                     "ExpressionAttributeValues": {":n": _s("one")}, "ReturnValues": "ALL_OLD"}),
    ("update_item", {"Key": {"pk": _s("DLV#d"), "sk": _s("META")},
                     "UpdateExpression": "SET claimToken = :new, claimedAt = :now",
                     "ConditionExpression": "claimToken = :old AND attribute_not_exists(executionArn)",
                     "ExpressionAttributeValues": {":new": _s("two"), ":old": _s("one"), ":now": {"N": "3"}},
                     "ReturnValues": "ALL_OLD"}),
    ("get_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "ProjectionExpression": "tenant"}),
    ("get_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "ConsistentRead": True}),
    ("get_item", {"Key": {"pk": _s("EXEC#zz"), "sk": _s("META")}}),
    ("batch_write_item", {"RequestItems": {T: [
        {"PutRequest": {"Item": _item("EXEC#a", f"BLOCK#{n:05d}", seq={"N": str(n)})}} for n in range(1, 8)]}}),
    ("query", {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :b)",
               "ExpressionAttributeValues": {":pk": _s("EXEC#a"), ":b": _s("BLOCK#")}, "Limit": 3}),
    ("query", {"KeyConditionExpression": "pk = :pk AND begins_with(sk, :b)",
               "ExpressionAttributeValues": {":pk": _s("EXEC#a"), ":b": _s("BLOCK#")}, "Limit": 3,
               "ExclusiveStartKey": {"pk": _s("EXEC#a"), "sk": _s("BLOCK#00003")}}),
    ("query", {"KeyConditionExpression": "pk = :pk AND sk < :before",
               "ExpressionAttributeValues": {":pk": _s("EXEC#a"), ":before": _s("BLOCK#00003")},
               "ScanIndexForward": False}),
    ("query", {"IndexName": "byWorkflow", "KeyConditionExpression": "gsi1pk = :key",
               "ExpressionAttributeValues": {":key": _s("WF#w")}, "ScanIndexForward": False}),
    ("query", {"IndexName": "byWorkflow", "ScanIndexForward": False, "Limit": 1,
               "KeyConditionExpression": "gsi1pk = :key AND gsi1sk BETWEEN :since AND :until",
               "FilterExpression": "#status = :status", "ExpressionAttributeNames": {"#status": "status"},
               "ExpressionAttributeValues": {":key": _s("WF#w"), ":since": _s("2025-01-01"),
                                             ":until": _s("2025-01-09"), ":status": _s("succeeded")}}),
    ("query", {"IndexName": "byWorkflow", "KeyConditionExpression": "gsi1pk = :key AND gsi1sk >= :since",
               "ExpressionAttributeValues": {":key": _s("WF#w"), ":since": _s("2025-01-02")}}),
    ("scan", {"FilterExpression": "sk = :meta AND begins_with(pk, :exec) AND contains(pk, :id)",
              "ExpressionAttributeValues": {":meta": _s("META"), ":exec": _s("EXEC#"), ":id": _s("b")}}),
    ("scan", {"FilterExpression": "#k = :meta OR begins_with(pk, :dlv)", "ExpressionAttributeNames": {"#k": "sk"},
              "ExpressionAttributeValues": {":meta": _s("META"), ":dlv": _s("DLV#")}}),
    ("scan", {"FilterExpression": "(sk = :meta OR sk = :b1) AND begins_with(pk, :exec) AND NOT sk = :meta",
              "ExpressionAttributeValues": {":meta": _s("META"), ":b1": _s("BLOCK#00001"), ":exec": _s("EXEC#")}}),
    ("scan", {"FilterExpression": "NOT (#s IN (:a, :b)) AND attribute_exists(#s)",
              "ExpressionAttributeNames": {"#s": "status"},
              "ExpressionAttributeValues": {":a": _s("failed"), ":b": _s("paused")}}),
    ("delete_item", {"Key": {"pk": _s("DLV#d"), "sk": _s("META")},
                     "ConditionExpression": "claimToken = :token AND attribute_not_exists(executionArn)",
                     "ExpressionAttributeValues": {":token": _s("one")}}),
    ("delete_item", {"Key": {"pk": _s("DLV#d"), "sk": _s("META")},
                     "ConditionExpression": "claimToken = :token AND attribute_not_exists(executionArn)",
                     "ExpressionAttributeValues": {":token": _s("two")}, "ReturnValues": "ALL_OLD"}),
    ("scan", {}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "UpdateExpression": "SET pk = :v",
                     "ExpressionAttributeValues": {":v": _s("EXEC#z")}}),
    ("update_item", {"Key": {"pk": _s("EXEC#a"), "sk": _s("META")}, "UpdateExpression": "SET x = :x",
                     "ExpressionAttributeValues": {":x": _s("1"), ":unused": _s("1")}}),
    ("query", {"KeyConditionExpression": "sk = :sk", "ExpressionAttributeValues": {":sk": _s("META")}}),
]


def _answer(client: Any, operation: str, params: dict[str, Any]) -> Any:
    request = {"TableName": T, **params} if operation != "batch_write_item" else params
    try:
        response = getattr(client, operation)(**request)
    except ClientError as exc:
        return {"error": exc.response["Error"]["Code"]}
    response.pop("ResponseMetadata", None)
    response.pop("ConsumedCapacity", None)
    response.pop("ItemCollectionMetrics", None)
    if operation == "scan":  # DynamoDB's scan order is its own
        response["Items"] = sorted(response["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    return json.loads(json.dumps(response, sort_keys=True))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LocalRecords]:
    with LocalRecords.open(Settings(), tmp_path / "records.db") as records:
        yield records


def test_the_store_answers_requests_as_dynamodb_does(store: LocalRecords) -> None:
    with mock_aws():
        moto = local_client("dynamodb")
        create_table(moto, T)
        for operation, params in STEPS:
            expected, got = _answer(moto, operation, params), _answer(store.ddb, operation, params)
            assert got == expected, (operation, params)


def test_runtime_writes_read_back_through_the_query_code(store: LocalRecords) -> None:
    ddb, settings = store.ddb, store.settings
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:run-1"
    record = ExecutionRecord(workflow="w", execution_arn=arn, name="run-1", status="running",
                             trigger={"type": "local"}, started_at="2025-03-01T10:00:00.000Z",
                             expires_at=int(time.time()) + 3600)
    assert put_started(ddb, settings, record)
    final = record.model_copy(update={"status": "succeeded", "stopped_at": "2025-03-01T10:00:01.000Z"})
    assert put_final(ddb, settings, final) and not put_final(ddb, settings, final)
    assert not put_started(ddb, settings, record)  # never over a final record
    assert find_execution(ddb, settings, "run-1") == [arn]
    detail = get_execution(ddb, settings, arn)
    assert detail is not None and detail.record.status == "succeeded"
    assert [r.name for r in list_executions(ddb, settings, workflow="w").items] == ["run-1"]
    key, _ = create_key(ddb, settings, tenant="acme", name="ci")
    disable_key(ddb, settings, key)
    found = lookup_key(ddb, settings, key)
    assert found is not None and found.disabled


def test_an_older_records_json_is_imported_once(tmp_path: Path) -> None:
    folder = tmp_path / ".stepweave"
    folder.mkdir()
    now = int(time.time())
    items = [{"pk": "EXEC#arn:x:run-old", "sk": "META", "workflow": "w", "executionArn": "arn:x:run-old",
              "name": "run-old", "status": "succeeded", "trigger": {"type": "local"},
              "startedAt": "2025-03-01T10:00:00.000Z", "gsi1pk": "WF#w",
              "gsi1sk": "2025-03-01T10:00:00.000Z#arn:x:run-old", "expiresAt": now + 3600},
             {"pk": "EXEC#arn:x:run-gone", "sk": "META", "expiresAt": now - 1}]
    (folder / "records.json").write_text(json.dumps({"format": 1, "items": items}))
    with LocalRecords.open(Settings(), folder / "records.db") as store:
        names = [r.name for r in list_executions(store.ddb, store.settings).items]
        store.ddb.delete_item(TableName=store.table, Key={"pk": {"S": "EXEC#arn:x:run-old"},
                                                          "sk": {"S": "META"}})
    assert names == ["run-old"]
    with LocalRecords.open(Settings(), folder / "records.db") as store:  # not imported again
        assert list_executions(store.ddb, store.settings).items == []


def test_the_database_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "local" / "records.db"
    with LocalRecords.open(Settings(), path) as store:
        put_started(store.ddb, store.settings, ExecutionRecord(
            workflow="w", execution_arn="arn:x:run-2", name="run-2", status="running",
            trigger={"type": "local"}, started_at="2025-03-01T10:00:00.000Z",
            expires_at=int(time.time()) + 3600))
        for file in path.parent.iterdir():  # records.db and SQLite's -wal and -shm while open
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
