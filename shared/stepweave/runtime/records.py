"""Execution records and block logs in one DynamoDB table, and the functions that write them.

Table: keys ``pk``/``sk`` (strings), TTL attribute ``expiresAt``, GSI ``byWorkflow``
(``gsi1pk``/``gsi1sk``, projection ALL), GSI ``byTenant`` (``gsi2pk``/``gsi2sk``, projection ALL).

- execution: ``pk = EXEC#<executionArn>``, ``sk = META``, ``gsi1pk = WF#<workflow>``,
  ``gsi1sk = <startedAt>#<executionArn>`` (newest first when read backwards); executions
  started through the run API also carry ``tenant``, ``gsi2pk = TENANT#<tenant>`` and
  ``gsi2sk = <startedAt>#<executionArn>``, written once and never erased by the recorder;
- block log: ``pk = EXEC#<executionArn>``, ``sk = BLOCK#<seq, 5 digits>``.

Inputs and outputs are JSON strings. An item that would exceed ``ITEM_BUDGET`` bytes
keeps only the first ``PREVIEW_BYTES`` of its largest values, flagged
``outputTruncated``/``inputTruncated``: large values are cut to a preview for now.

Writes are idempotent: block logs have deterministic keys (their order of completion
in the history), the started record never replaces a final one, and a final record is
only replaced by a final record that stopped at the same time or later (a redrive).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stepweave.errors import is_conditional_failure
from stepweave.runtime.settings import Settings

__all__ = ["ExecutionRecord", "BlockLog", "Status", "FINAL_STATUSES", "ITEM_BUDGET", "PREVIEW_BYTES",
           "put_started", "put_final", "put_block_logs", "exec_pk", "to_dynamo", "from_dynamo",
           "record_from_item", "tenant_pk", "claim_tenant", "tenant_in_name", "tenant_name", "name_pk", "link_name",
           "arn_of_name", "tenant_of", "put_redriven"]

Status = Literal["queued", "running", "succeeded", "failed", "timed_out", "aborted", "paused"]
FINAL_STATUSES = ("succeeded", "failed", "timed_out", "aborted")
ITEM_BUDGET = 300 * 1024
PREVIEW_BYTES = 1024
BATCH_SIZE = 25
_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")


class _Item(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    def attributes(self) -> dict[str, Any]:
        """The item's attributes (no keys), without empty values."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ExecutionRecord(_Item):
    workflow: str
    execution_arn: str
    name: str
    status: Status
    trigger: dict[str, Any] = Field(default_factory=dict)
    input: str | None = None
    input_truncated: bool | None = None
    output: str | None = None
    output_truncated: bool | None = None
    error: str | None = None
    cause: str | None = None
    started_at: str
    stopped_at: str | None = None
    duration_ms: int | None = None
    transitions: int | None = None
    lambda_invocations: int | None = None
    expires_at: int
    #: who started it through the run API (None: started any other way)
    tenant: str | None = None
    #: how many times it was redriven (``stepweave retry``, ``RedriveExecution``), and the last time
    redrive_count: int | None = None
    redriven_at: str | None = None
    #: items (child executions) of its distributed parallels and chunked loops whose blocks
    #: have no block logs: past what the recorder reads of them (``stepweave.runtime.map_runs``)
    unlogged_items: int | None = None
    #: what it is billed on beside ``transitions`` (``stepweave.runtime.pricing.record_bill``
    #: prices them; None on records written before they were recorded): the workflow's type
    workflow_type: Literal["STANDARD", "EXPRESS"] | None = None
    #: a split workflow's Express stretch executions, and their duration as billed (each
    #: rounded up to 100 ms)
    stretch_executions: int | None = None
    stretch_billed_seconds: float | None = None
    #: the child executions of its distributed parallels and chunked loops: the Express ones
    #: and their duration as billed (each rounded up to 100 ms), the Standard ones and their
    #: state transitions, and (deployed) those whose own charges are not known (not read)
    child_express_executions: int | None = None
    child_express_billed_seconds: float | None = None
    child_standard_executions: int | None = None
    child_standard_transitions: int | None = None
    unread_child_executions: int | None = None

    def keys(self) -> dict[str, str]:
        keys = {"pk": exec_pk(self.execution_arn), "sk": "META", "gsi1pk": f"WF#{self.workflow}",
                "gsi1sk": f"{self.started_at}#{self.execution_arn}"}
        if self.tenant:
            keys.update(gsi2pk=tenant_pk(self.tenant), gsi2sk=f"{self.started_at}#{self.execution_arn}")
        return keys

    def to_item(self) -> dict[str, Any]:
        return {**self.keys(), **_fit(self, ("output", "input", "cause")).attributes()}


class BlockLog(_Item):
    execution_arn: str
    seq: int = Field(ge=1, le=99_999)
    block_id: str
    name: str
    type: str
    containers: list[str] = Field(default_factory=list)
    #: container id -> loop iteration or parallel branch index
    where: dict[str, int] = Field(default_factory=dict)
    iteration: int | None = None
    branch: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    success: bool
    output: str | None = None
    output_truncated: bool | None = None
    error: str | None = None
    expires_at: int

    def keys(self) -> dict[str, str]:
        return {"pk": exec_pk(self.execution_arn), "sk": f"BLOCK#{self.seq:05d}"}

    def to_item(self) -> dict[str, Any]:
        return {**self.keys(), **_fit(self, ("output", "error")).attributes()}


def exec_pk(execution_arn: str) -> str:
    return f"EXEC#{execution_arn}"


def tenant_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


#: A tenant's name as the run API puts it in front of its executions' names (``acme.<name>``).
TENANT_IN_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,31})\.")


def tenant_name(tenant: str, name: str) -> str:
    """The execution name the run API gives a tenant's run (``tenant_in_name`` reads it back)."""
    return f"{tenant}.{name}"


def tenant_in_name(execution_name: str) -> str | None:
    """The tenant of an execution the run API started (its name is ``<tenant>.<name>``);
    None for names given any other way (webhooks ``wh-…``, schedules, nested runs)."""
    match = TENANT_IN_NAME.match(execution_name)
    return match[1] if match else None


def name_pk(execution_name: str) -> str:
    return f"NAME#{execution_name}"


def link_name(ddb: Any, settings: Settings, execution_name: str, execution_arn: str, expires_at: int) -> None:
    """Remember which execution an Express run's name belongs to: its ARN ends with an id
    only known once it runs, and a caller whose synchronous run timed out has only the name."""
    ddb.put_item(TableName=settings.require_table(),
                 Item=_typed({"pk": name_pk(execution_name), "sk": "META", "executionArn": execution_arn,
                              "expiresAt": expires_at}))


def tenant_of(ddb: Any, settings: Settings, execution_arn: str) -> str | None:
    """The tenant on an execution's record (runs the run API started have one), if any."""
    found = ddb.get_item(TableName=settings.require_table(), ProjectionExpression="tenant",
                         ConsistentRead=True,
                         Key=_typed({"pk": exec_pk(execution_arn), "sk": "META"})).get("Item") or {}
    tenant = found.get("tenant", {}).get("S")
    return str(tenant) if tenant else None


def arn_of_name(ddb: Any, settings: Settings, execution_name: str) -> str | None:
    """The execution ARN ``link_name`` remembered for a name, if any."""
    found = ddb.get_item(TableName=settings.require_table(),
                         Key=_typed({"pk": name_pk(execution_name), "sk": "META"}), ConsistentRead=True)
    item = found.get("Item")
    return str(item["executionArn"]["S"]) if item else None


def _size(item: BaseModel) -> int:
    return len(item.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))


def _preview(text: str) -> str:
    return text.encode("utf-8")[:PREVIEW_BYTES].decode("utf-8", errors="ignore")


def _fit(item: Any, fields: tuple[str, ...]) -> Any:
    """Cut the given string fields to a preview, in order, until the item fits the budget."""
    for name in fields:
        if _size(item) <= ITEM_BUDGET:
            break
        value = getattr(item, name)
        if isinstance(value, str) and len(value.encode("utf-8")) > PREVIEW_BYTES:
            flag = f"{name}_truncated"
            update: dict[str, Any] = {name: _preview(value)}
            if flag in type(item).model_fields:
                update[flag] = True
            item = item.model_copy(update=update)
    return item


# -- DynamoDB attribute values ----------------------------------------------------------------

def to_dynamo(value: Any) -> dict[str, Any]:
    """A plain JSON-like value as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_dynamo(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_dynamo(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_dynamo(attr: Mapping[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "NULL":
        return None
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: from_dynamo(v) for k, v in value.items()}
    if kind == "L":
        return [from_dynamo(v) for v in value]
    return value  # S, BOOL


def _typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_dynamo(v) for k, v in item.items()}


# -- writers ------------------------------------------------------------------------------------

def _update(ddb: Any, settings: Settings, record: ExecutionRecord, condition: str, values: dict[str, Any],
            *, remove_missing: bool, if_absent: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """UpdateItem with every attribute of ``record``; ``trigger`` and the ``if_absent``
    attributes only where the item has none. With ``remove_missing``, other attributes the
    record lacks are removed (a redrive's stale error). Returns the item as written, or
    None when the condition failed."""
    item = record.to_item()
    keys = {k: item.pop(k) for k in ("pk", "sk")}
    item.setdefault("trigger", {})
    # the tenant (and its index keys) belong to whoever started the run: set once, never erased
    keep = if_absent | {"trigger", "tenant", "gsi2pk", "gsi2sk"}
    if record.tenant:  # the starter's own record: its trigger replaces the one a recorder assumed
        keep -= {"trigger"}
    names: dict[str, str] = {}
    expr_values = {k: to_dynamo(v) for k, v in values.items()}
    sets = []
    for i, (name, value) in enumerate(item.items()):
        names[f"#a{i}"], expr_values[f":a{i}"] = name, to_dynamo(value)
        sets.append(f"#a{i} = if_not_exists(#a{i}, :a{i})" if name in keep else f"#a{i} = :a{i}")
    expression = "SET " + ", ".join(sets)
    missing = [f.alias or n for n, f in ExecutionRecord.model_fields.items()
               if (f.alias or n) not in item and (f.alias or n) not in keep] if remove_missing else []
    if missing:
        names.update({f"#r{i}": name for i, name in enumerate(missing)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(missing)))
    if "#status" in condition:
        names["#status"] = "status"
    try:
        response = ddb.update_item(TableName=settings.require_table(), Key=_typed(keys),
                                   UpdateExpression=expression, ConditionExpression=condition,
                                   ExpressionAttributeNames=names, ExpressionAttributeValues=expr_values,
                                   ReturnValues="ALL_NEW")
    except Exception as exc:
        if is_conditional_failure(exc):
            return None
        raise
    return {k: from_dynamo(v) for k, v in (response.get("Attributes") or {}).items()}


def put_started(ddb: Any, settings: Settings, record: ExecutionRecord) -> bool:
    """Write a started (running or queued) record unless the execution already has one
    that is further along (final or paused). True when written. An existing ``trigger``
    is kept (whoever started the execution may have recorded it first)."""
    if record.status not in ("queued", "running"):
        raise ValueError(f"put_started: status {record.status!r} is not a started status")
    condition = "attribute_not_exists(pk) OR #status = :queued OR #status = :running"
    written = _update(ddb, settings, record, condition,
                      {":queued": "queued", ":running": "running"}, remove_missing=False) is not None
    if not written and record.tenant:
        claim_tenant(ddb, settings, record.execution_arn, record.tenant, record.started_at,
                     record.trigger)
    return written


def put_redriven(ddb: Any, settings: Settings, execution_arn: str, redrive_count: int, redriven_at: str) -> bool:
    """An ended execution's record goes back to ``running``: it was redriven (its ``redrive_count``-th
    time, at ``redriven_at``). Its stop, error and duration go until the redrive ends (its final
    record, which stops later, replaces them). Only a recorded execution, and only once per
    redrive: True when written."""
    try:
        ddb.update_item(
            TableName=settings.require_table(), Key=_typed({"pk": exec_pk(execution_arn), "sk": "META"}),
            UpdateExpression="SET #status = :running, redriveCount = :n, redrivenAt = :at "
                             "REMOVE stoppedAt, durationMs, #error, cause",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(redriveCount) OR redriveCount < :n)",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues=_typed({":running": "running", ":n": redrive_count, ":at": redriven_at}))
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def claim_tenant(ddb: Any, settings: Settings, execution_arn: str, tenant: str, started_at: str,
                 trigger: Mapping[str, Any] | None = None) -> None:
    """Attach ``tenant`` and ``trigger`` to an execution's record whatever its status,
    unless it has a tenant already: the recorder may have written the final record first
    (with the trigger it assumes, which the starter's replaces)."""
    values = {":t": tenant, ":pk": tenant_pk(tenant), ":sk": f"{started_at}#{execution_arn}",
              ":trigger": dict(trigger or {})}
    try:
        ddb.update_item(TableName=settings.require_table(),
                        Key=_typed({"pk": exec_pk(execution_arn), "sk": "META"}),
                        UpdateExpression="SET tenant = :t, gsi2pk = :pk, gsi2sk = :sk, #trigger = :trigger",
                        ConditionExpression="attribute_not_exists(tenant)",
                        ExpressionAttributeNames={"#trigger": "trigger"},
                        ExpressionAttributeValues={k: to_dynamo(v) for k, v in values.items()})
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


def put_final(ddb: Any, settings: Settings, record: ExecutionRecord, *, start_known: bool = True) -> bool:
    """Write the final record, replacing a started one, or a final one that stopped
    earlier (a redriven execution). True when written; False for a duplicate or stale event.

    ``start_known=False`` (an Express execution's final log event alone): the record's
    ``startedAt`` and ``input`` are used only when the item has none, and ``durationMs``
    is computed from the stored start."""
    if record.status not in FINAL_STATUSES or record.stopped_at is None:
        raise ValueError("put_final: needs a final status and stoppedAt")
    # ...and never one of an attempt before the last redrive (an event delivered late)
    condition = ("(attribute_not_exists(pk) OR attribute_not_exists(stoppedAt) OR stoppedAt < :stopped) "
                 "AND (attribute_not_exists(redrivenAt) OR redrivenAt <= :stopped)")
    if_absent = frozenset() if start_known else frozenset({"startedAt", "gsi1sk", "input", "durationMs"})
    written = _update(ddb, settings, record, condition, {":stopped": record.stopped_at},
                      remove_missing=True, if_absent=if_absent)
    if written is None:
        return False
    if not start_known and written.get("startedAt") != record.started_at:
        _set_duration(ddb, settings, record, str(written["startedAt"]))
    return True


def _set_duration(ddb: Any, settings: Settings, record: ExecutionRecord, started_at: str) -> None:
    started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    stopped = datetime.fromisoformat(str(record.stopped_at).replace("Z", "+00:00"))
    duration = max(0, round((stopped - started).total_seconds() * 1000))
    ddb.update_item(TableName=settings.require_table(),
                    Key=_typed({"pk": exec_pk(record.execution_arn), "sk": "META"}),
                    UpdateExpression="SET durationMs = :d", ConditionExpression="stoppedAt = :stopped",
                    ExpressionAttributeValues={":d": to_dynamo(duration),
                                               ":stopped": to_dynamo(record.stopped_at)})


def put_block_logs(ddb: Any, settings: Settings, logs: list[BlockLog], *, attempts: int = 6,
                   sleep: Callable[[float], None] = time.sleep) -> int:
    """BatchWriteItem the logs (25 a request), retrying unprocessed items with
    exponential backoff. Returns how many were written; raises if some never were."""
    table = settings.require_table()
    for start in range(0, len(logs), BATCH_SIZE):
        pending = [{"PutRequest": {"Item": _typed(log.to_item())}} for log in logs[start:start + BATCH_SIZE]]
        for attempt in range(attempts):
            response = ddb.batch_write_item(RequestItems={table: pending})
            pending = (response.get("UnprocessedItems") or {}).get(table) or []
            if not pending:
                break
            sleep(min(2.0, 0.05 * 2 ** attempt))
        if pending:
            raise RuntimeError(f"{len(pending)} block logs were not written after {attempts} attempts")
    return len(logs)


def record_from_item(item: Mapping[str, Any]) -> ExecutionRecord | BlockLog:
    """An item read with the low-level client (typed attribute values)."""
    plain = {k: from_dynamo(v) for k, v in item.items()}
    if plain.get("sk") == "META":
        return ExecutionRecord.model_validate(plain)
    return BlockLog.model_validate(plain)
