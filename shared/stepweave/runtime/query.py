"""Reading execution records back: lists by time, one execution with its block logs.

A workflow's executions come from the ``byWorkflow`` index, newest first. Without a
workflow the table is scanned (fine for the local store and small tables; pass a
workflow on large ones). Cursors are opaque (base64 of where the page stopped).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stepweave.runtime.records import (
    BlockLog,
    ExecutionRecord,
    exec_pk,
    from_dynamo,
    record_from_item,
    to_dynamo,
)
from stepweave.runtime.settings import Settings

__all__ = ["Page", "ExecutionDetail", "CursorError", "list_executions", "get_execution", "find_execution"]

INDEX = "byWorkflow"


class CursorError(ValueError):
    """A cursor that this query did not produce."""


@dataclass(frozen=True)
class Page:
    items: list[ExecutionRecord]
    cursor: str | None  # pass back to get the next page; None on the last one


@dataclass(frozen=True)
class ExecutionDetail:
    record: ExecutionRecord
    blocks: list[BlockLog]


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, expected: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise CursorError("invalid cursor") from None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()) \
            or not isinstance(data.get("after"), (dict, str)):
        raise CursorError("this cursor belongs to another query")
    return data


def _status_filter(status: str | None, params: dict[str, Any], base: str | None = None) -> None:
    parts = [base] if base else []
    if status is not None:
        parts.append("#status = :status")
        params.setdefault("ExpressionAttributeNames", {})["#status"] = "status"
        params.setdefault("ExpressionAttributeValues", {})[":status"] = {"S": status}
    if parts:
        params["FilterExpression"] = " AND ".join(parts)


def _by_workflow(ddb: Any, table: str, workflow: str, status: str | None, limit: int,
                 cursor: str | None) -> Page:
    scope = {"w": workflow, "s": status}
    params: dict[str, Any] = {
        "TableName": table, "IndexName": INDEX, "ScanIndexForward": False,
        "KeyConditionExpression": "gsi1pk = :wf",
        "ExpressionAttributeValues": {":wf": {"S": f"WF#{workflow}"}},
        "Limit": max(limit, 25) if status else limit}
    _status_filter(status, params)
    if cursor:
        params["ExclusiveStartKey"] = {k: {"S": v} for k, v in _decode(cursor, scope)["after"].items()}
    items: list[dict[str, Any]] = []
    while True:
        response = ddb.query(**params)
        for i, item in enumerate(response.get("Items", [])):
            items.append(item)
            if len(items) == limit:
                more = i + 1 < len(response["Items"]) or "LastEvaluatedKey" in response
                return _page(items, scope, more)
        if "LastEvaluatedKey" not in response:
            return _page(items, scope, False)
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _page(items: list[dict[str, Any]], scope: dict[str, Any], more: bool) -> Page:
    records = [record_from_item(item) for item in items]
    last = items[-1] if items else None
    cursor = None
    if more and last is not None:
        after = {k: from_dynamo(last[k]) for k in ("pk", "sk", "gsi1pk", "gsi1sk")}
        cursor = _encode({**scope, "after": after})
    return Page([r for r in records if isinstance(r, ExecutionRecord)], cursor)


def _scan(ddb: Any, table: str, filter_expression: str, values: dict[str, Any],
          status: str | None = None) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"TableName": table, "ExpressionAttributeValues": dict(values)}
    _status_filter(status, params, filter_expression)
    while True:
        response = ddb.scan(**params)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _all_workflows(ddb: Any, table: str, status: str | None, limit: int, cursor: str | None) -> Page:
    scope = {"w": None, "s": status}
    after = _decode(cursor, scope)["after"] if cursor else None
    items = [i for i in _scan(ddb, table, "sk = :meta", {":meta": {"S": "META"}}, status)
             if after is None or i["gsi1sk"]["S"] < after]
    items.sort(key=lambda i: str(i["gsi1sk"]["S"]), reverse=True)
    page = items[:limit]
    more = len(items) > limit
    next_cursor = _encode({**scope, "after": page[-1]["gsi1sk"]["S"]}) if more and page else None
    return Page([r for r in map(record_from_item, page) if isinstance(r, ExecutionRecord)], next_cursor)


def list_executions(ddb: Any, settings: Settings, *, workflow: str | None = None, status: str | None = None,
                    limit: int = 20, cursor: str | None = None) -> Page:
    """Executions newest first, optionally of one workflow and/or with one status."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    table = settings.require_table()
    if workflow is not None:
        return _by_workflow(ddb, table, workflow, status, limit, cursor)
    return _all_workflows(ddb, table, status, limit, cursor)


def get_execution(ddb: Any, settings: Settings, execution_arn: str) -> ExecutionDetail | None:
    """One execution's record and its block logs (in completion order), or None."""
    table = settings.require_table()
    pk = {"S": exec_pk(execution_arn)}
    found = ddb.get_item(TableName=table, Key={"pk": pk, "sk": {"S": "META"}}, ConsistentRead=True)
    if "Item" not in found:
        return None
    record = record_from_item(found["Item"])
    assert isinstance(record, ExecutionRecord)
    blocks: list[BlockLog] = []
    params: dict[str, Any] = {"TableName": table,
                              "KeyConditionExpression": "pk = :pk AND begins_with(sk, :b)",
                              "ExpressionAttributeValues": {":pk": pk, ":b": {"S": "BLOCK#"}},
                              "ConsistentRead": True}
    while True:
        response = ddb.query(**params)
        blocks += [b for b in map(record_from_item, response.get("Items", [])) if isinstance(b, BlockLog)]
        if "LastEvaluatedKey" not in response:
            return ExecutionDetail(record, blocks)
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def find_execution(ddb: Any, settings: Settings, ident: str) -> list[str]:
    """Execution ARNs matching ``ident``: an ARN as is, else executions whose name is
    ``ident`` or whose ARN ends with it (scans the table)."""
    if ident.startswith("arn:"):
        return [ident]
    matches = {item["executionArn"]["S"] for item in _scan(
        ddb, settings.require_table(), "sk = :meta AND contains(executionArn, :id)",
        {":meta": {"S": "META"}, ":id": to_dynamo(ident)})
        if item["name"]["S"] == ident or item["executionArn"]["S"].endswith(ident)}
    return sorted(matches)
