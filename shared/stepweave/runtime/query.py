"""Reading execution records back: lists by time, one execution with its block logs.

A workflow's executions come from the ``byWorkflow`` index, a tenant's from ``byTenant``
(its workflow and status filtered), newest first. Without either the table is scanned (fine for the local store and small tables; pass a
workflow on large ones). Cursors are opaque (base64 of where the page stopped).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stepweave.runtime.approvals import Approval, pending_approvals
from stepweave.runtime.records import (
    BlockLog,
    ExecutionRecord,
    exec_pk,
    from_dynamo,
    record_from_item,
    tenant_pk,
    to_dynamo,
)
from stepweave.runtime.settings import Settings

__all__ = ["Page", "ExecutionDetail", "CursorError", "filter_time", "list_executions", "get_execution",
           "find_execution"]

INDEX = "byWorkflow"
TENANT_INDEX = "byTenant"


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
    #: approvals the run is waiting for (``stepweave.runtime.approvals``)
    approvals: list[Approval] = field(default_factory=list)


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, expected: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise CursorError("invalid cursor") from None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()) \
            or not isinstance(data.get("after"), (dict, str)):
        raise CursorError("this cursor belongs to another query")
    return data


def _filters(params: dict[str, Any], *, status: str | None = None, workflow: str | None = None,
             base: str | None = None) -> None:
    parts = [base] if base else []
    names = params.setdefault("ExpressionAttributeNames", {})
    values = params.setdefault("ExpressionAttributeValues", {})
    if status is not None:
        parts.append("#status = :status")
        names["#status"], values[":status"] = "status", {"S": status}
    if workflow is not None:
        parts.append("#workflow = :workflow")
        names["#workflow"], values[":workflow"] = "workflow", {"S": workflow}
    if parts:
        params["FilterExpression"] = " AND ".join(parts)
    if not names:
        params.pop("ExpressionAttributeNames")


def _range(prefix: str, since: str | None, until: str | None, params: dict[str, Any]) -> str:
    """The sort-key part of a key condition: started at or after ``since``, before ``until``."""
    values = params["ExpressionAttributeValues"]
    if since is not None and until is not None:
        values[":since"], values[":until"] = {"S": since}, {"S": until}
        return f" AND {prefix} BETWEEN :since AND :until"
    if since is not None:
        values[":since"] = {"S": since}
        return f" AND {prefix} >= :since"
    if until is not None:
        values[":until"] = {"S": until}
        return f" AND {prefix} < :until"
    return ""


def _by_index(ddb: Any, table: str, index: str, key: str, value: str, scope: dict[str, Any], *,
              status: str | None, workflow: str | None, since: str | None, until: str | None,
              limit: int, cursor: str | None) -> Page:
    sort_key = key[:-2] + "sk"
    params: dict[str, Any] = {
        "TableName": table, "IndexName": index, "ScanIndexForward": False,
        "ExpressionAttributeValues": {":key": {"S": value}},
        "Limit": max(limit, 25) if status or workflow else limit}
    params["KeyConditionExpression"] = f"{key} = :key" + _range(sort_key, since, until, params)
    _filters(params, status=status, workflow=workflow)
    index_keys = ("pk", "sk", key, sort_key)
    if cursor:
        after = _decode(cursor, scope)["after"]
        # the key a page stopped at, as _page wrote it: anything else is forged
        if not isinstance(after, dict) or set(after) != set(index_keys) or after[key] != value \
                or not all(isinstance(v, str) and v for v in after.values()) \
                or (since is not None and after[sort_key] < since) \
                or (until is not None and after[sort_key] > until):
            raise CursorError("invalid cursor")
        params["ExclusiveStartKey"] = {k: {"S": v} for k, v in after.items()}
    items: list[dict[str, Any]] = []
    while True:
        response = ddb.query(**params)
        for i, item in enumerate(response.get("Items", [])):
            items.append(item)
            if len(items) == limit:
                more = i + 1 < len(response["Items"]) or "LastEvaluatedKey" in response
                return _page(items, scope, more, index_keys)
        if "LastEvaluatedKey" not in response:
            return _page(items, scope, False, index_keys)
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _page(items: list[dict[str, Any]], scope: dict[str, Any], more: bool,
          index_keys: tuple[str, ...]) -> Page:
    records = [record_from_item(item) for item in items]
    last = items[-1] if items else None
    cursor = None
    if more and last is not None:
        after = {k: from_dynamo(last[k]) for k in index_keys}
        cursor = _encode({**scope, "after": after})
    return Page([r for r in records if isinstance(r, ExecutionRecord)], cursor)


def _scan(ddb: Any, table: str, filter_expression: str, values: dict[str, Any],
          status: str | None = None) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"TableName": table, "ExpressionAttributeValues": dict(values)}
    _filters(params, status=status, base=filter_expression)
    while True:
        response = ddb.scan(**params)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _all_workflows(ddb: Any, table: str, status: str | None, since: str | None, until: str | None,
                   limit: int, cursor: str | None) -> Page:
    scope = {"w": None, "s": status, "from": since, "to": until}
    after = _decode(cursor, scope)["after"] if cursor else None
    if after is not None and not isinstance(after, str):
        raise CursorError("invalid cursor")
    items = [i for i in _scan(ddb, table, "sk = :meta AND begins_with(pk, :exec)",
                              {":meta": {"S": "META"}, ":exec": {"S": "EXEC#"}}, status)
             if (after is None or i["gsi1sk"]["S"] < after)
             and (since is None or i["gsi1sk"]["S"] >= since)
             and (until is None or i["gsi1sk"]["S"] < until)]
    items.sort(key=lambda i: str(i["gsi1sk"]["S"]), reverse=True)
    page = items[:limit]
    more = len(items) > limit
    next_cursor = _encode({**scope, "after": page[-1]["gsi1sk"]["S"]}) if more and page else None
    return Page([r for r in map(record_from_item, page) if isinstance(r, ExecutionRecord)], next_cursor)


def filter_time(value: str | None, field: str) -> str | None:
    """A ``since``/``until`` filter as the records store times (ISO-8601 UTC with
    milliseconds); a time without a zone is UTC. ``ValueError`` names the field."""
    from datetime import UTC, datetime

    from stepweave.runtime.recorder import iso

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field}: not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)


def list_executions(ddb: Any, settings: Settings, *, workflow: str | None = None, status: str | None = None,
                    tenant: str | None = None, since: str | None = None, until: str | None = None,
                    limit: int = 20, cursor: str | None = None) -> Page:
    """Executions newest first, optionally of one workflow, with one status, of one tenant
    (``byTenant`` index), started at or after ``since`` and before ``until`` (ISO-8601 UTC
    timestamps as records store them: ``2025-01-31T12:00:00.000Z``)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    table = settings.require_table()
    common: dict[str, Any] = {"status": status, "since": since, "until": until, "limit": limit,
                              "cursor": cursor}
    if tenant is not None:
        scope = {"t": tenant, "w": workflow, "s": status, "from": since, "to": until}
        return _by_index(ddb, table, TENANT_INDEX, "gsi2pk", tenant_pk(tenant), scope,
                         workflow=workflow, **common)
    if workflow is not None:
        scope = {"w": workflow, "s": status, "from": since, "to": until}
        return _by_index(ddb, table, INDEX, "gsi1pk", f"WF#{workflow}", scope, workflow=None, **common)
    return _all_workflows(ddb, table, status, since, until, limit, cursor)


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
            break
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    waiting = pending_approvals(ddb, settings, execution_arn)
    if waiting and record.status == "running":  # the approval handler may have run first
        record = record.model_copy(update={"status": "paused"})
    return ExecutionDetail(record, blocks, waiting)


def find_execution(ddb: Any, settings: Settings, ident: str) -> list[str]:
    """Execution ARNs matching ``ident``: an ARN as is, else executions whose name is
    ``ident`` or whose ARN ends with it (scans the table)."""
    if ident.startswith("arn:"):
        return [ident]
    matches = {item["executionArn"]["S"] for item in _scan(  # approvals' META items too have an executionArn
        ddb, settings.require_table(), "sk = :meta AND begins_with(pk, :exec) AND contains(executionArn, :id)",
        {":meta": {"S": "META"}, ":exec": {"S": "EXEC#"}, ":id": to_dynamo(ident)})
        if item["name"]["S"] == ident or item["executionArn"]["S"].endswith(ident)}
    return sorted(matches)
