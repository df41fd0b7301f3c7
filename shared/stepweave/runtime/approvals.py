"""Approval requests in the records table, and the decision that resumes the run.

- request: ``pk = APPROVAL#<id>``, ``sk = META``: execution, block, loop/parallel position,
  display data, form, approvers, ``status`` (``pending`` -> ``decided``, or ``lapsed`` when the
  run no longer waits), ``deadline`` (epoch seconds; none without a timeout), the task token
  (server-side only: never shown, never returned), and after the decision ``decision``,
  ``decidedBy``, ``decidedAt``. ``expiresAt`` is the table's TTL (deadline + retention).
- pointer: ``pk = EXEC#<executionArn>``, ``sk = APPROVAL#<id>``, so an execution lists its
  approvals (``pending_approvals``).
- waiting list: ``pk = APPROVALS#PENDING``, ``sk = <deadline, 10 digits>#<id>`` (``9999999999``
  without a deadline) while the approval is pending, deleted when it is decided or lapses:
  every pending approval of the deployment in deadline order (``list_pending``), and the
  overdue ones (``overdue``) from one key-range query, without an index or a scan.

While an approval is pending the execution's record shows ``paused`` (``mark_paused``); the
decision sets it back to ``running`` once none of its approvals is pending.

``decide`` validates the submission against the form, records the decision with a
conditional write (of concurrent submissions exactly one wins) and sends ``SendTaskSuccess``
with the block's output: the submitted fields, ``submission``, ``submittedAt``, ``decidedBy``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import exec_pk, from_dynamo, to_dynamo
from stepweave.runtime.settings import Settings

__all__ = ["Approval", "ApprovalError", "ApprovalNotFound", "ApprovalDecided", "ApprovalExpired",
           "ApprovalInvalid", "ApprovalRunGone", "approval_items", "decision_link", "get_approval",
           "pending_approvals", "validate_submission", "decide", "approval_pk", "PENDING_PK",
           "list_pending", "overdue", "mark_paused", "lapse", "resume_endpoint", "approval_summary",
           "record_notifications", "approval_links"]

#: The partition of the waiting list (one item per pending approval).
PENDING_PK = "APPROVALS#PENDING"
_NO_DEADLINE = 9_999_999_999

_JSON_FIELDS = ("display", "form", "position", "decision", "notifications", "carry")


#: The error a run fails with at an approval whose decision is too large to pass on
DECISION_TOO_LARGE_ERROR = "Stepweave.DecisionTooLarge"


class ApprovalError(StepweaveError):
    """A decision cannot be made; nothing was changed."""


class ApprovalNotFound(ApprovalError):
    """No approval has this id (or it expired long ago)."""


class ApprovalDecided(ApprovalError):
    """The approval was already decided (or the run stopped waiting)."""


class ApprovalExpired(ApprovalError):
    """The approval's deadline has passed."""


class ApprovalInvalid(ApprovalError):
    """The submission does not match the form."""


class ApprovalRunGone(ApprovalError):
    """The run no longer waits for this approval (timed out, stopped or finished)."""


@dataclass(frozen=True)
class Approval:
    id: str
    execution_arn: str
    workflow: str
    block_id: str
    block_name: str
    status: str
    created_at: str
    expires_at: int
    position: dict[str, Any] = field(default_factory=dict)
    display: dict[str, Any] = field(default_factory=dict)
    form: list[dict[str, Any]] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    subject: str = ""
    message: str = ""
    deadline: int | None = None
    decision: dict[str, Any] | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    #: the tenant of the run (started through the run API), else None
    tenant: str | None = None
    #: submitted fields the form does not declare are kept instead of refused
    accept_extra_fields: bool = False
    #: what each ``notify`` tool did: ``{"tool", "ok", "output" | "error"}`` (None: no tools)
    notifications: list[dict[str, Any]] | None = None
    #: the variables a lead-in's stretch returned (``stepweave.runtime.lead_in``): the
    #: decision gives them back to the task with its output; None for any other approval
    carry: dict[str, Any] | None = None
    #: its task ran the stretch before it first (a lead-in): its run may wait past the
    #: deadline by that stretch's time (``stepweave.runtime.approval_sweep``)
    lead_in: bool = False


_ATTRS = {"id": "approvalId", "execution_arn": "executionArn", "workflow": "workflow",
          "block_id": "blockId", "block_name": "blockName", "status": "status",
          "created_at": "createdAt", "expires_at": "expiresAt", "position": "position",
          "display": "display", "form": "form", "approvers": "approvers", "subject": "subject",
          "message": "message", "deadline": "deadline", "decision": "decision",
          "decided_by": "decidedBy", "decided_at": "decidedAt", "tenant": "tenant",
          "accept_extra_fields": "acceptExtraFields", "notifications": "notifications",
          "carry": "carry", "lead_in": "leadIn"}
_POINTER = ("id", "execution_arn", "workflow", "block_id", "block_name", "status", "created_at",
            "deadline", "expires_at", "position", "display", "form", "tenant")
_WAITING = ("id", "execution_arn", "workflow", "block_id", "block_name", "status", "created_at",
            "deadline", "expires_at", "position", "tenant", "subject", "display", "form", "lead_in")


def approval_pk(approval_id: str) -> str:
    return f"APPROVAL#{approval_id}"


def decision_link(settings: Settings, approval_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/approvals/{approval_id}"


def resume_endpoint(settings: Settings, approval_id: str) -> str:
    """Where a program answers the approval (``POST``, with a run-API key)."""
    return f"{settings.public_url.rstrip('/')}/v1/approvals/{approval_id}/decision"


def approval_links(settings: Settings, approval_id: str) -> dict[str, str]:
    """The approval's ``url`` (its decision page) and ``resumeEndpoint`` (the API route that
    decides it), as its output names them."""
    return {"url": decision_link(settings, approval_id),
            "resumeEndpoint": resume_endpoint(settings, approval_id)}


def _attributes(approval: Approval, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    out = {}
    for name, attr in _ATTRS.items():
        value = getattr(approval, name)
        if (names is None or name in names) and value is not None:
            out[attr] = to_dynamo(json.dumps(value) if name in _JSON_FIELDS else value)
    return out


def _waiting_key(approval_id: str, deadline: int | None) -> dict[str, Any]:
    return {"pk": {"S": PENDING_PK},
            "sk": {"S": f"{_NO_DEADLINE if deadline is None else deadline:010d}#{approval_id}"}}


def record_notifications(ddb: Any, settings: Settings, approval_id: str,
                         results: list[dict[str, Any]]) -> None:
    """Keep what the ``notify`` tools did on the request (the decision's output shows it)."""
    ddb.update_item(TableName=settings.require_table(),
                    Key={"pk": {"S": approval_pk(approval_id)}, "sk": {"S": "META"}},
                    UpdateExpression="SET notifications = :n",
                    ExpressionAttributeValues={":n": {"S": json.dumps(results)}})


def approval_items(approval: Approval, *, task_token: str) -> list[dict[str, Any]]:
    """The request item (with the task token), the execution's pointer item and the
    waiting-list item."""
    request = {"pk": {"S": approval_pk(approval.id)}, "sk": {"S": "META"},
               **_attributes(approval), "taskToken": {"S": task_token}}
    pointer = {"pk": {"S": exec_pk(approval.execution_arn)}, "sk": {"S": approval_pk(approval.id)},
               **_attributes(approval, _POINTER)}
    waiting = {**_waiting_key(approval.id, approval.deadline), **_attributes(approval, _WAITING)}
    return [request, pointer, waiting]


def _from_item(item: dict[str, Any]) -> Approval:
    values: dict[str, Any] = {}
    for name, attr in _ATTRS.items():
        if attr in item:
            value = from_dynamo(item[attr])
            values[name] = json.loads(value) if name in _JSON_FIELDS else value
    for name in ("expires_at", "deadline"):
        if values.get(name) is not None:
            values[name] = int(values[name])
    values.setdefault("execution_arn", "")
    values.setdefault("workflow", "")
    return Approval(**values)


def get_approval(ddb: Any, settings: Settings, approval_id: str) -> Approval | None:
    """The approval request (never its task token), or None."""
    found = ddb.get_item(TableName=settings.require_table(), ConsistentRead=True,
                         Key={"pk": {"S": approval_pk(approval_id)}, "sk": {"S": "META"}})
    return _from_item(found["Item"]) if "Item" in found else None


def pending_approvals(ddb: Any, settings: Settings, execution_arn: str) -> list[Approval]:
    """The execution's approvals still waiting for a decision (from the pointer items)."""
    params: dict[str, Any] = {
        "TableName": settings.require_table(), "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :a)",
        "ExpressionAttributeValues": {":pk": {"S": exec_pk(execution_arn)}, ":a": {"S": "APPROVAL#"}}}
    found: list[Approval] = []
    while True:
        response = ddb.query(**params)
        found += [a for a in map(_from_item, response.get("Items", [])) if a.status == "pending"]
        if "LastEvaluatedKey" not in response:
            return found
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "boolean": (bool,),
                                       "object": (dict,), "array": (list,)}


def validate_submission(form: list[dict[str, Any]], submission: dict[str, Any], *,
                        accept_extra: bool = False) -> dict[str, Any]:
    """The submitted fields checked against the form; missing optional fields get their
    default; fields the form does not declare are refused, or kept as submitted with
    ``accept_extra``. Raises ``ApprovalInvalid`` naming every problem."""
    if not isinstance(submission, dict):
        raise ApprovalInvalid("the submission must be an object of form fields")
    fields = {str(f["name"]): f for f in form if f.get("name")}
    extra = [name for name in submission if name not in fields]
    problems = [] if accept_extra else [f"unknown field '{name}'" for name in extra]
    values: dict[str, Any] = {name: submission[name] for name in extra} if accept_extra else {}
    for name, spec in fields.items():
        kind = str(spec.get("type") or "string")
        if name not in submission or submission[name] is None:
            if spec.get("required"):
                problems.append(f"'{name}' is required")
            elif spec.get("value") is not None:
                values[name] = spec["value"]
            continue
        value = submission[name]
        allowed = _TYPES.get(kind)
        if allowed and (not isinstance(value, allowed) or (kind == "number" and isinstance(value, bool))):
            problems.append(f"'{name}' must be a {kind}")
            continue
        values[name] = value
    # the output goes to Step Functions as JSON: NaN, Infinity (1e400) have no JSON form
    problems += [f"'{name}' must be a finite number" for name, value in values.items()
                 if not _finite(value)]
    if problems:
        raise ApprovalInvalid("invalid submission: " + "; ".join(problems))
    return values


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (iterative: a deep value is no risk)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def decide(approval_id: str, submission: dict[str, Any], *, decided_by: str, clients: Clients,
           settings: Settings, now: float | None = None) -> dict[str, Any]:
    """Record the decision and resume the run; return the block's output."""
    now = time.time() if now is None else now
    table = settings.require_table()
    approval = get_approval(clients.ddb, settings, approval_id)
    if approval is None:
        raise ApprovalNotFound("unknown approval (the link is wrong or expired long ago)")
    if approval.status != "pending":
        raise ApprovalDecided(f"approval '{approval.block_name}' was already {approval.status}")
    if approval.deadline is not None and now >= approval.deadline:
        raise ApprovalExpired(f"approval '{approval.block_name}' expired")
    values = validate_submission(approval.form, submission, accept_extra=approval.accept_extra_fields)
    at = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
    output = {**values, "submission": values, "submittedAt": at, "decidedBy": decided_by,
              **approval_links(settings, approval_id)}
    if approval.notifications is not None:  # Sim's output has it when notifications were set
        output["notificationResults"] = approval.notifications
    key = {"pk": {"S": approval_pk(approval_id)}, "sk": {"S": "META"}}
    try:
        token = clients.ddb.update_item(
            TableName=table, Key=key, ConditionExpression="#s = :pending",
            UpdateExpression="SET #s = :decided, decision = :d, decidedBy = :by, decidedAt = :at",
            ExpressionAttributeNames={"#s": "status"}, ReturnValues="ALL_NEW",
            ExpressionAttributeValues={":pending": {"S": "pending"}, ":decided": {"S": "decided"},
                                       ":d": {"S": json.dumps(values, allow_nan=False)},
                                       ":by": {"S": decided_by},
                                       ":at": {"S": at}})["Attributes"]["taskToken"]["S"]
    except clients.ddb.exceptions.ConditionalCheckFailedException:
        raise ApprovalDecided(f"approval '{approval.block_name}' was already decided") from None
    status = "decided"
    # a lead-in's task also takes back the variables its stretch returned
    result = output if approval.carry is None else {"output": output, "vars": approval.carry}
    try:
        clients.sfn.send_task_success(taskToken=token, output=json.dumps(result, allow_nan=False))
    except (clients.sfn.exceptions.TaskTimedOut, clients.sfn.exceptions.InvalidToken,
            clients.sfn.exceptions.TaskDoesNotExist):
        status = "lapsed"
    except clients.sfn.exceptions.InvalidOutput:
        # over Step Functions' 256 KiB: the run fails at the approval, saying why, rather
        # than waiting for an answer that can never be given
        clients.sfn.send_task_failure(
            taskToken=token, error=DECISION_TOO_LARGE_ERROR,
            cause=f"the decision of approval '{approval.block_name}' (with the values the run "
                  "carries past it) is larger than the 256 KiB Step Functions passes on")
        _settle(clients.ddb, settings, approval, status)
        raise ApprovalRunGone(f"the decision of approval '{approval.block_name}' is larger than "
                              "Step Functions passes on: the run fails at the approval") from None
    _settle(clients.ddb, settings, approval, status)
    if status == "lapsed":
        raise ApprovalRunGone(f"the run no longer waits for approval '{approval.block_name}' "
                              "(it timed out, stopped or finished)")
    return output


def lapse(ddb: Any, settings: Settings, approval: Approval) -> bool:
    """Mark a pending approval whose run no longer waits (its deadline passed) as ``lapsed``.
    False when it was decided meanwhile."""
    try:
        ddb.update_item(TableName=settings.require_table(),
                        Key={"pk": {"S": approval_pk(approval.id)}, "sk": {"S": "META"}},
                        ConditionExpression="#s = :pending", UpdateExpression="SET #s = :lapsed",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":pending": {"S": "pending"},
                                                   ":lapsed": {"S": "lapsed"}})
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    _settle(ddb, settings, approval, "lapsed", request=False)
    return True


def _settle(ddb: Any, settings: Settings, approval: Approval, status: str, *,
            request: bool = True) -> None:
    """After a decision (or a lapse): the request's and pointer's status, the waiting-list
    item gone, and the execution back to ``running`` when nothing else waits."""
    table = settings.require_table()
    key = {"pk": {"S": approval_pk(approval.id)}, "sk": {"S": "META"}}
    if request:
        _set_status(ddb, table, key, status)
    _set_status(ddb, table, {"pk": {"S": exec_pk(approval.execution_arn)}, "sk": key["pk"]}, status)
    ddb.delete_item(TableName=table, Key=_waiting_key(approval.id, approval.deadline))
    if status == "decided" and not pending_approvals(ddb, settings, approval.execution_arn):
        _set_run_status(ddb, table, approval.execution_arn, "running", only_if="paused")


def mark_paused(ddb: Any, settings: Settings, execution_arn: str) -> None:
    """The execution's record shows ``paused`` (when it has a running record; a record that
    is not there yet or already final is left alone: readers also derive ``paused`` from the
    pending approvals, ``stepweave.runtime.query``)."""
    _set_run_status(ddb, settings.require_table(), execution_arn, "paused", only_if="running")


def _set_run_status(ddb: Any, table: str, execution_arn: str, status: str, *, only_if: str) -> None:
    try:
        ddb.update_item(TableName=table, Key={"pk": {"S": exec_pk(execution_arn)}, "sk": {"S": "META"}},
                        ConditionExpression="#s = :was", UpdateExpression="SET #s = :now",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":was": {"S": only_if}, ":now": {"S": status}})
    except ddb.exceptions.ConditionalCheckFailedException:
        pass


def list_pending(ddb: Any, settings: Settings, *, tenants: Collection[str | None] | None = None,
                 limit: int = 100) -> list[Approval]:
    """Pending approvals of the deployment in deadline order (soonest first), with what the
    approvers see (display, form): those of the runs of ``tenants`` (``None`` in it: runs
    without a tenant), or every one when ``tenants`` is None."""
    wanted = None if tenants is None else set(tenants)
    return _waiting(ddb, settings, None, limit,
                    keep=None if wanted is None else (lambda a: a.tenant in wanted))


def overdue(ddb: Any, settings: Settings, now: float, limit: int = 1000) -> list[Approval]:
    """Pending approvals whose deadline has passed (their runs stopped waiting)."""
    return _waiting(ddb, settings, f"{int(now):010d}", limit)


def _waiting(ddb: Any, settings: Settings, before: str | None, limit: int,
             keep: Callable[[Approval], bool] | None = None) -> list[Approval]:
    """Up to ``limit`` waiting-list entries (those ``keep`` accepts), reading pages until then."""
    values: dict[str, Any] = {":pk": {"S": PENDING_PK}}
    condition = "pk = :pk"
    if before is not None:
        condition += " AND sk < :before"
        values[":before"] = {"S": before}
    params: dict[str, Any] = {"TableName": settings.require_table(), "KeyConditionExpression": condition,
                              "ExpressionAttributeValues": values, "ConsistentRead": True}
    found: list[Approval] = []
    while len(found) < limit:
        response = ddb.query(**params)
        found += [a for a in map(_from_item, response.get("Items", [])) if keep is None or keep(a)]
        if "LastEvaluatedKey" not in response:
            break
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit]


def approval_summary(approval: Approval) -> dict[str, Any]:
    """What a person or program deciding an approval is shown (never its token)."""
    return {"id": approval.id, "workflow": approval.workflow, "executionId": approval.execution_arn,
            "block": approval.block_name, "blockId": approval.block_id, "position": approval.position,
            "subject": approval.subject, "display": approval.display, "form": approval.form,
            "createdAt": approval.created_at, "deadline": approval.deadline, "tenant": approval.tenant}


def _set_status(ddb: Any, table: str, key: dict[str, Any], status: str) -> None:
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": {"S": status}})
