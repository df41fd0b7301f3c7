"""Exactly one execution per webhook delivery, however often the provider retries it.

Each accepted delivery is an item of the records table::

    pk = DELIVERY#<workflow>#<delivery id>, sk = DELIVERY
    claimToken, claimedAt, input (the run input, JSON), executionName, expiresAt
    executionArn, startedAt                       (once the execution is started)

``accept`` does, in order:

1. a conditional put of the item (``attribute_not_exists(pk)``): the first request of a
   delivery claims it; the item keeps the run input, so every later attempt starts the
   execution with exactly the same input;
2. ``StartExecution`` named ``wh-<sha256 of workflow and delivery id>``: Standard
   executions are idempotent by name (the same name and input return the same execution;
   ``ExecutionAlreadyExists`` is read as "already started");
3. the execution ARN recorded on the item (conditional on the claim token).

A request that finds the item: with an ARN, answers it (a duplicate); claimed less than
``CLAIM_LEASE_SECONDS`` ago, answers 409 (the first request is still at work; the
provider retries); claimed longer ago (the claimant crashed between 1 and 3), takes the
claim over and starts the execution itself -- so a crash never loses a delivery. If
``StartExecution`` fails, the claim is released and the error answered (503): the
provider's retry starts over. Express executions are not idempotent by name: only a crash
between 2 and 3 followed by a retry after the lease can start a second one.

Items expire (TTL ``expiresAt``) ``webhook_dedup_days`` after the claim (default 8, longer
than any provider's retries: Stripe retries for up to 3 days).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepweave.api.errors import Conflict, Unavailable
from stepweave.errors import aws_error_code, is_conditional_failure
from stepweave.runtime.arns import execution_arn
from stepweave.runtime.records import from_dynamo, to_dynamo
from stepweave.runtime.settings import Settings

__all__ = [
    "CLAIM_LEASE_SECONDS",
    "Accepted",
    "DeliveryKey",
    "accept",
    "accepted_delivery",
    "delivery_key",
    "execution_name",
]

logger = logging.getLogger(__name__)

#: Longer than the ingest function's timeout: a claim this old belongs to a dead request.
CLAIM_LEASE_SECONDS = 60
_SK = "DELIVERY"


@dataclass(frozen=True)
class DeliveryKey:
    workflow: str
    delivery_id: str


@dataclass(frozen=True)
class Accepted:
    execution_arn: str
    execution_name: str
    duplicate: bool
    started_at: datetime | None = None


def delivery_key(key: DeliveryKey) -> dict[str, Any]:
    return {"pk": {"S": f"DELIVERY#{key.workflow}#{key.delivery_id}"}, "sk": {"S": _SK}}


def execution_name(key: DeliveryKey, prefix: str = "wh") -> str:
    """Deterministic, within Step Functions' 80 characters and alphabet (``wh-<sha256>``;
    a poll's: ``poll-<sha256>``)."""
    digest = hashlib.sha256(f"{key.workflow}\n{key.delivery_id}".encode()).hexdigest()
    return f"{prefix}-{digest}"


def _claim(ddb: Any, table: str, key: DeliveryKey, item: dict[str, Any]) -> bool:
    try:
        ddb.put_item(TableName=table, Item={k: to_dynamo(v) for k, v in item.items()},
                     ConditionExpression="attribute_not_exists(pk)")
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def _take_over(ddb: Any, table: str, key: DeliveryKey, old: str, new: str, now: float) -> bool:
    try:
        ddb.update_item(TableName=table, Key=delivery_key(key),
                        UpdateExpression="SET claimToken = :new, claimedAt = :now",
                        ConditionExpression="claimToken = :old AND attribute_not_exists(executionArn)",
                        ExpressionAttributeValues={":new": {"S": new}, ":old": {"S": old},
                                                   ":now": to_dynamo(int(now))})
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def _read(ddb: Any, table: str, key: DeliveryKey) -> dict[str, Any]:
    response = ddb.get_item(TableName=table, Key=delivery_key(key), ConsistentRead=True)
    return {k: from_dynamo(v) for k, v in (response.get("Item") or {}).items()}


def accepted_delivery(ddb: Any, settings: Settings, key: DeliveryKey) -> Accepted | None:
    """The execution an earlier request of this delivery started, or None (never accepted,
    released, expired, or still being accepted)."""
    item = _read(ddb, settings.require_table(), key)
    if not item.get("executionArn"):
        return None
    return Accepted(str(item["executionArn"]), str(item.get("executionName") or execution_name(key)),
                    duplicate=True)


def _existing(ddb: Any, table: str, key: DeliveryKey, token: str, now: float) -> tuple[str | None, str]:
    """(the ARN of an already started execution, None when this request took the claim
    over; the stored run input). Raises ``Conflict`` while another request holds it."""
    for _ in range(2):
        item = _read(ddb, table, key)
        if item.get("executionArn"):
            return str(item["executionArn"]), str(item.get("input", ""))
        if not item:  # expired between the put and the read: a new claim
            raise Conflict("delivery is being accepted; retry", headers={"Retry-After": "1"})
        if now - float(item.get("claimedAt", 0)) < CLAIM_LEASE_SECONDS:
            raise Conflict("this delivery is being accepted by another request; retry",
                           headers={"Retry-After": "1"})
        if _take_over(ddb, table, key, str(item.get("claimToken", "")), token, now):
            return None, str(item["input"])
    raise Conflict("delivery is being accepted; retry", headers={"Retry-After": "1"})


def _start(sfn: Any, state_machine_arn: str, name: str, run_input: str) -> tuple[str, datetime | None]:
    try:
        response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=run_input)
    except Exception as exc:
        if aws_error_code(exc) != "ExecutionAlreadyExists":
            raise
        arn = execution_arn(state_machine_arn, name)
        return arn, None
    return str(response["executionArn"]), response.get("startDate")


def accept(ddb: Any, sfn: Any, settings: Settings, key: DeliveryKey, state_machine_arn: str,
           run_input: dict[str, Any], *, now: float, extra: dict[str, Any] | None = None,
           name_prefix: str = "wh") -> Accepted:
    """Start the delivery's execution once (see the module doc). ``extra``: attributes
    stored on a new item (provider, trigger name); ``name_prefix``: of the execution name."""
    table = settings.require_table()
    name = execution_name(key, name_prefix)
    token = uuid.uuid4().hex
    text = json.dumps(run_input, separators=(",", ":"), ensure_ascii=False)
    item = {**delivery_key_plain(key), **(extra or {}), "workflow": key.workflow,
            "deliveryId": key.delivery_id, "claimToken": token, "claimedAt": int(now),
            "input": text, "executionName": name,
            "expiresAt": int(now) + settings.webhook_dedup_days * 86_400}
    if not _claim(ddb, table, key, item):
        arn, text = _existing(ddb, table, key, token, now)
        if arn is not None:
            return Accepted(arn, name, duplicate=True)
    try:
        arn, started = _start(sfn, state_machine_arn, name, text)
    except Exception as exc:
        _release(ddb, table, key, token)
        raise Unavailable("the workflow could not be started; retry",
                          headers={"Retry-After": "5"}, reason=aws_error_code(exc)) from exc
    try:
        ddb.update_item(TableName=table, Key=delivery_key(key),
                        UpdateExpression="SET executionArn = :arn, startedAt = :at",
                        ConditionExpression="claimToken = :token",
                        ExpressionAttributeValues={":arn": {"S": arn}, ":token": {"S": token},
                                                   ":at": to_dynamo(int(now))})
    except Exception as exc:
        # taken over after the lease: the other request starts the same name and records it
        if not is_conditional_failure(exc):
            raise
    return Accepted(arn, name, duplicate=False, started_at=started)


def delivery_key_plain(key: DeliveryKey) -> dict[str, str]:
    return {k: v["S"] for k, v in delivery_key(key).items()}


def _release(ddb: Any, table: str, key: DeliveryKey, token: str) -> None:
    """Give the claim up (best effort: if this fails too, the lease expires)."""
    try:
        ddb.delete_item(TableName=table, Key=delivery_key(key),
                        ConditionExpression="claimToken = :token AND attribute_not_exists(executionArn)",
                        ExpressionAttributeValues={":token": {"S": token}})
    except Exception as exc:  # noqa: BLE001 - the lease covers it
        logger.warning("delivery claim not released", extra={"reason": aws_error_code(exc) or "error"})
