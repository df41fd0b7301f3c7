"""Starting and finding a tenant's executions: what every route set of the run API shares
(``/v1`` in ``stepweave.api.app``, Sim's routes in ``stepweave.api.sim_routes``).

``ApiContext`` is what a request works with (clients, settings, ``Executions``).
``payload_of`` checks an input against Step Functions' limit, ``new_name`` gives a run its
``<tenant>.<name>`` (a given name that is taken is a 409), ``record_start`` writes the
started record (with the key that started it) and the name -> ARN link, ``start_sync``
runs to the end (or the wait) and records the start either way, and ``owned`` finds an
execution by its ARN or name -- another tenant's is a 404.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepweave.api.auth import Tenant
from stepweave.api.errors import Conflict, NotFound, PayloadTooLarge, SyncTimeout
from stepweave.api.executions import Executions, Outcome
from stepweave.runtime.arns import execution_arn
from stepweave.runtime.payloads import PayloadStore
from stepweave.runtime.query import ExecutionDetail, get_execution
from stepweave.runtime.recorder import iso
from stepweave.runtime.records import ExecutionRecord, arn_of_name, name_pk, put_started, tenant_name
from stepweave.runtime.settings import Settings

__all__ = ["MAX_INPUT_BYTES", "SYNC_TIMEOUT_S", "ApiContext", "new_name", "owned", "payload_of",
           "record_start", "start_sync"]

#: Step Functions' limit on an execution's input.
MAX_INPUT_BYTES = 262_144
#: API Gateway answers 504 itself after 29 s: a synchronous run waits less, then says where to poll.
SYNC_TIMEOUT_S = 25.0


@dataclass(frozen=True)
class ApiContext:
    ddb: Any
    settings: Settings
    executions: Executions
    version: str
    sync_timeout_s: float = SYNC_TIMEOUT_S
    #: where stored parts of a synchronous run's output are read (None: the default store)
    store: PayloadStore | None = None


def payload_of(value: Any) -> str:
    """``value`` as an execution's input (compact JSON); ``PayloadTooLarge`` over the limit."""
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(payload.encode("utf-8")) > MAX_INPUT_BYTES:
        raise PayloadTooLarge(f"the input is over {MAX_INPUT_BYTES} bytes (Step Functions' limit)",
                              limit=MAX_INPUT_BYTES)
    return payload


def _link_name(ctx: ApiContext, name: str, arn: str, expires_at: int) -> None:
    """``NAME#<tenant>.<name>`` -> the ARN, as ``stepweave.runtime.records.link_name`` writes it
    (with ``UpdateItem``, which the run API function may call): ``GET /v1/executions/<name>``."""
    ctx.ddb.update_item(TableName=ctx.settings.require_table(),
                        Key={"pk": {"S": name_pk(name)}, "sk": {"S": "META"}},
                        UpdateExpression="SET executionArn = :arn, expiresAt = :exp",
                        ExpressionAttributeValues={":arn": {"S": arn}, ":exp": {"N": str(expires_at)}})


def record_start(ctx: ApiContext, who: Tenant, workflow: str, arn: str, name: str, payload: str,
                 started: datetime, trigger: dict[str, Any] | None = None) -> None:
    expires_at = int(started.timestamp()) + ctx.settings.retention_seconds
    put_started(ctx.ddb, ctx.settings, ExecutionRecord(
        workflow=workflow, execution_arn=arn, name=name, status="running",
        trigger={**(trigger or {"type": "api"}), "key": who.key_name}, input=payload,
        started_at=iso(started), expires_at=expires_at, tenant=who.name))
    _link_name(ctx, name, arn, expires_at)



def start_sync(ctx: ApiContext, who: Tenant, workflow: str, payload: str, name: str) -> Outcome:
    """Run ``workflow`` to its end (at most ``ctx.sync_timeout_s``) and record its start: a run
    still going after the wait is recorded too, then its ``SyncTimeout`` raised."""
    try:
        outcome = ctx.executions.start_sync(workflow, payload, name, ctx.sync_timeout_s)
    except SyncTimeout as exc:
        arn = exc.details.get("executionId")
        if arn:
            record_start(ctx, who, workflow, str(arn), name, payload, datetime.now(UTC))
        raise
    if outcome.execution_arn:
        record_start(ctx, who, workflow, outcome.execution_arn, name, payload, outcome.start_date)
    return outcome

def owned(ctx: ApiContext, who: Tenant, execution_id: str) -> ExecutionDetail:
    # an ARN; or a name: the one the caller gave (or was given), or the <tenant>.<name>
    # Step Functions knows (all a 504 of an Express run could give), once its start is recorded
    if execution_id.startswith("arn:"):
        arn: str | None = execution_id
    else:
        full = execution_id if "." in execution_id else tenant_name(who.name, execution_id)
        arn = arn_of_name(ctx.ddb, ctx.settings, full)
    detail = get_execution(ctx.ddb, ctx.settings, arn) if arn else None
    if detail is None or detail.record.tenant != who.name:
        raise NotFound("no such execution", executionId=execution_id)
    return detail


def new_name(ctx: ApiContext, who: Tenant, workflow: str, requested: str | None) -> str:
    name = tenant_name(who.name, requested or uuid.uuid4().hex)
    target = ctx.executions.targets().get(workflow)
    if target is None:
        raise NotFound(f"unknown workflow {workflow!r}", workflow=workflow)
    if requested:  # Step Functions answers a running duplicate with the same input as a success
        arn = execution_arn(target.arn, name)
        if get_execution(ctx.ddb, ctx.settings, arn) is not None:
            raise Conflict(f"an execution named {requested!r} already exists", name=requested)
    return name
