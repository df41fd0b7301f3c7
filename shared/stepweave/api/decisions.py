"""Approvals for programs: the authenticated JSON routes of the decision function.

- ``GET /v1/approvals``: the pending approvals of the caller's tenant, soonest deadline first
  (id, workflow, execution, block, position, display, form, subject, deadline).
- ``POST /v1/approvals/{id}/decision`` with ``{"submission": {<form fields>}}``: decides it
  exactly like the form page (same validation, same one-winner conditional write, same
  ``SendTaskSuccess``), recorded as decided by ``api:<tenant>/<key name>``.

Callers authenticate with a run-API key (``stepweave.api.auth``). An approval belongs to the
tenant of its run; runs not started through the run API (webhooks, schedules, events) have
no tenant and their approvals are answered by keys of the operator tenant
(``STEPWEAVE_OPERATOR_TENANT``) or through the emailed link. Another tenant's approval is
answered ``404``, as an unknown one. Errors use the API's error shape
(``stepweave.api.errors``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from stepweave.api.auth import Tenant, authenticate
from stepweave.api.errors import (
    ApiError,
    Conflict,
    Expired,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from stepweave.api.events import BadBody, request_body
from stepweave.api.strict_json import BadJson
from stepweave.api.strict_json import loads as strict_loads
from stepweave.runtime.approvals import (
    Approval,
    ApprovalDecided,
    ApprovalExpired,
    ApprovalInvalid,
    ApprovalNotFound,
    ApprovalRunGone,
    approval_summary,
    decide,
    get_approval,
    list_pending,
)
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["handle_api", "handle_decision", "is_api_request", "MAX_BODY_BYTES"]

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
_DECISION = re.compile(r"^/v1/approvals/([A-Za-z0-9_-]{1,128})/decision/?$")
_LIST = re.compile(r"^/v1/approvals/?$")


def is_api_request(event: dict[str, Any]) -> bool:
    return str(event.get("path") or "").startswith("/v1/")


def handle_decision(event: dict[str, Any], *, clients: Clients, settings: Settings) -> dict[str, Any]:
    """Every route of the decision function: the pages and the JSON API (the deployed
    function and the local gateway both call this)."""
    if is_api_request(event):
        return handle_api(event, clients=clients, settings=settings)
    from stepweave.api.decision_pages import handle

    return handle(event, clients=clients, settings=settings)


def handle_api(event: dict[str, Any], *, clients: Clients, settings: Settings,
               now: float | None = None) -> dict[str, Any]:
    """One API Gateway proxy event -> the proxy response (JSON)."""
    try:
        status, body = _handle(event, clients, settings, time.time() if now is None else now)
    except ApiError as exc:
        return exc.response()
    except Exception:
        logger.exception("approval API request failed")
        return InternalError("the request could not be processed").response()
    return {"statusCode": status, "body": json.dumps(body, allow_nan=False),
            "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"}}


def _handle(event: dict[str, Any], clients: Clients, settings: Settings,
            now: float) -> tuple[int, dict[str, Any]]:
    path = str(event.get("path") or "")
    method = str(event.get("httpMethod") or "GET").upper()
    decision, listing = _DECISION.match(path), _LIST.match(path)
    if not decision and not listing:
        raise NotFound("no such route")
    if (listing and method != "GET") or (decision and method != "POST"):
        raise MethodNotAllowed(f"{method} is not allowed here")
    tenant = authenticate(event, clients.ddb, settings)
    if listing:
        tenants = {tenant.name, None} if _operator(settings, tenant) else {tenant.name}
        pending = list_pending(clients.ddb, settings, tenants=tenants)
        return 200, {"approvals": [approval_summary(a) for a in pending]}
    assert decision is not None
    approval = get_approval(clients.ddb, settings, decision.group(1))
    if approval is None or not _owns(settings, tenant, approval):
        raise NotFound("unknown approval")
    submission = _submission(event)
    try:
        output = decide(approval.id, submission, decided_by=f"api:{tenant.name}/{tenant.key_name}",
                        clients=clients, settings=settings, now=now)
    except ApprovalInvalid as exc:
        raise InvalidInput(str(exc)) from None
    except ApprovalNotFound:
        raise NotFound("unknown approval") from None
    except ApprovalExpired as exc:
        raise Expired(str(exc)) from None
    except ApprovalRunGone as exc:
        raise Conflict(str(exc), reason="run_gone") from None
    except ApprovalDecided as exc:
        raise Conflict(str(exc), reason="decided") from None
    return 200, {"approval": approval.id, "block": approval.block_name,
                 "executionId": approval.execution_arn, "output": output}


def _operator(settings: Settings, tenant: Tenant) -> bool:
    return settings.operator_tenant is not None and tenant.name == settings.operator_tenant


def _owns(settings: Settings, tenant: Tenant, approval: Approval) -> bool:
    if approval.tenant is None:
        return _operator(settings, tenant)
    return approval.tenant == tenant.name


def _submission(event: dict[str, Any]) -> dict[str, Any]:
    try:
        data = request_body(event)
    except BadBody as exc:
        raise InvalidInput(str(exc)) from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = strict_loads(data or b"{}", what="the body")
    except BadJson as exc:
        raise InvalidInput(f"{exc}; expected {{\"submission\": {{<form fields>}}}}") from None
    submission = body.get("submission") if isinstance(body, dict) else None
    if not isinstance(submission, dict):
        raise InvalidInput("the body must be JSON: {\"submission\": {<form fields>}}")
    return submission
