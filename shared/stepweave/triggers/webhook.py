"""``POST /webhooks/{workflow}``: a signed delivery in, one execution started, 202 out.

``handle_webhook`` takes an API Gateway (REST, proxy) event and returns a proxy response,
so the ingest Lambda and the local gateway run the same code. In order:

1. route: the workflow must declare a webhook trigger (else 404); only POST (405);
2. size: a body over the trigger's ``maxBodyBytes`` -> 413; a header value over
   ``MAX_HEADER_CHARS`` -> 400;
3. signature on the raw body (``stepweave.triggers.signatures``, which bounds and checks
   its headers before reading them) -> 401, nothing started; a signing secret that is not
   configured -> 503 (the provider retries once it is);
4. body: not JSON where the trigger takes JSON, or JSON out of bounds (nesting, numbers
   that are not finite: ``stepweave.api.strict_json``) -> 400 (a ``slack`` trigger also
   takes Slack's form-encoded slash commands and interactivity: ``stepweave.triggers.slack``);
   Slack's ``url_verification`` is answered with its challenge (200), nothing started;
5. run input (``stepweave.triggers.inputs``) over Step Functions' 256 KiB -> 413;
6. replays (``stepweave.triggers.replay``): signed content already delivered under
   another delivery id -> 200 with that delivery's execution, nothing started;
7. one execution per delivery (``stepweave.triggers.deliveries``): 202 with the execution
   id, or 200 with the same id for a retry of an accepted delivery;
8. the execution record is written at once with its trigger (type, workflow, trigger
   name, provider, delivery id).

Errors use the API's JSON shape (``stepweave.api.errors``); anything unforeseen answers
500 ``internal`` (logged), never a bare Lambda error. Logs carry the workflow, the delivery
id, sizes and outcomes -- never the body, a header value or a secret.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from stepweave.api.errors import (
    JSON_HEADERS,
    ApiError,
    Conflict,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from stepweave.api.events import BadBody, request_body
from stepweave.api.strict_json import BadJson
from stepweave.api.strict_json import loads as strict_loads
from stepweave.errors import is_conditional_failure
from stepweave.runtime.recorder import EXTERNAL_TRIGGER, Clients, iso
from stepweave.runtime.records import ExecutionRecord, exec_pk, put_started, to_dynamo
from stepweave.runtime.settings import MAX_INLINE_BUDGET_BYTES, Settings
from stepweave.triggers.deliveries import Accepted, DeliveryKey, accept, accepted_delivery
from stepweave.triggers.inputs import PROVIDERS, delivery_id, run_input, unmatched
from stepweave.triggers.replay import first_delivery, guard
from stepweave.triggers.signatures import SignatureError, verify
from stepweave.triggers.slack import FORM_TYPE, challenge, form_payload
from stepweave.triggers.targets import WebhookTarget

__all__ = ["MAX_HEADER_CHARS", "MAX_RUN_INPUT_BYTES", "SecretSource", "SignatureRejected",
           "handle_webhook", "record_started"]

logger = logging.getLogger(__name__)

#: Step Functions' limit on an execution's input.
MAX_RUN_INPUT_BYTES = MAX_INLINE_BUDGET_BYTES
#: A longer header value is refused (API Gateway's own limit is 10 KiB for all headers).
MAX_HEADER_CHARS = 8192
_PATH = re.compile(r"^/webhooks/([A-Za-z0-9][A-Za-z0-9_-]{0,79})/?$")


class SecretSource(Protocol):
    """``stepweave.runtime.secrets.Secrets`` (or anything with its ``lookup``)."""

    def lookup(self, name: str) -> str | None: ...


class SignatureRejected(ApiError):
    status, code = 401, "unauthorized"


def _json(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(JSON_HEADERS),
            "body": json.dumps(body, ensure_ascii=False), "isBase64Encoded": False}


def _workflow(event: Mapping[str, Any]) -> str | None:
    params = event.get("pathParameters") or {}
    if isinstance(params, dict) and params.get("workflow"):
        return str(params["workflow"])
    match = _PATH.match(str(event.get("path") or ""))
    return match[1] if match else None


def _body(event: Mapping[str, Any]) -> bytes:
    try:
        return request_body(event)
    except BadBody as exc:
        raise InvalidInput(str(exc)) from None


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    given = event.get("headers")
    headers = {str(k).lower(): str(v) for k, v in given.items() if v is not None} \
        if isinstance(given, Mapping) else {}
    for name, value in headers.items():
        if len(value) > MAX_HEADER_CHARS:
            raise InvalidInput(f"the {name[:64]} header is over {MAX_HEADER_CHARS} characters",
                               header=name[:64])
    return headers


def _payload(target: WebhookTarget, body: bytes, headers: Mapping[str, str]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not UTF-8 text") from None
    if target.trigger.body == "text":
        return text
    if target.trigger.signature.scheme == "slack" and \
            headers.get("content-type", "").split(";")[0].strip().lower() == FORM_TYPE:
        form = form_payload(text)
        if form is None:
            raise InvalidInput("the Slack form field 'payload' is not a JSON object")
        return form
    try:
        return strict_loads(text, what="the request body")
    except BadJson as exc:
        raise InvalidInput(str(exc)) from None


def _check_signature(target: WebhookTarget, headers: Mapping[str, str], body: bytes,
                     secrets: SecretSource, now: float) -> None:
    signature = target.trigger.signature
    if signature.scheme == "none":
        return
    secret = secrets.lookup(signature.secret or "")
    if not secret:
        logger.error("webhook secret not configured", extra={"workflow": target.workflow,
                                                              "secret": signature.secret})
        raise Unavailable("this webhook is not configured yet", headers={"Retry-After": "60"})
    try:
        verify(signature, headers, body, secret, now=now)
    except SignatureError as exc:
        logger.warning("webhook signature rejected", extra={"workflow": target.workflow})
        raise SignatureRejected(str(exc)) from None


def record_started(clients: Clients, settings: Settings, workflow: str, accepted: Accepted,
                   trigger: dict[str, Any], text: str, now: float) -> None:
    """The execution record with its trigger, unless the recorder got there first with
    ``external`` (then only the trigger is set). Webhooks and pollers write it."""
    started = accepted.started_at or datetime.fromtimestamp(now, UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    put_started(clients.ddb, settings, ExecutionRecord(
        workflow=workflow, execution_arn=accepted.execution_arn, name=accepted.execution_name,
        status="running", trigger=trigger, input=text,
        started_at=iso(started),
        expires_at=int(started.timestamp()) + settings.retention_seconds))
    try:
        clients.ddb.update_item(
            TableName=settings.require_table(),
            Key={"pk": {"S": exec_pk(accepted.execution_arn)}, "sk": {"S": "META"}},
            UpdateExpression="SET #trigger = :trigger", ConditionExpression="#trigger.#type = :external",
            ExpressionAttributeNames={"#trigger": "trigger", "#type": "type"},
            ExpressionAttributeValues={":trigger": to_dynamo(trigger),
                                       ":external": {"S": str(EXTERNAL_TRIGGER["type"])}})
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


def _handle(event: Mapping[str, Any], clients: Clients, settings: Settings,
            workflows: Mapping[str, WebhookTarget], secrets: SecretSource, now: float) -> dict[str, Any]:
    name = _workflow(event)
    target = workflows.get(name) if name else None
    if target is None:
        raise NotFound(f"no workflow {name!r} takes webhooks" if name else "no such webhook")
    if str(event.get("httpMethod") or "POST").upper() != "POST":
        raise MethodNotAllowed("webhooks take POST only", headers={"Allow": "POST"})
    body = _body(event)
    limit = target.trigger.maxBodyBytes
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; this webhook takes at most {limit}",
                              limit=limit)
    headers = _headers(event)
    _check_signature(target, headers, body, secrets, now)
    payload = _payload(target, body, headers)
    if target.trigger.signature.scheme == "slack" and (answer := challenge(payload)) is not None:
        logger.info("slack url verification answered", extra={"workflow": target.workflow})
        return _json(200, {"challenge": answer})
    delivery = delivery_id(target.trigger, headers, payload, body)
    provider = PROVIDERS[target.trigger.signature.scheme]
    trigger = {"type": "webhook", "workflow": target.workflow, "name": target.trigger.label,
               "provider": provider, "deliveryId": delivery}
    query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    if (why := unmatched(target.trigger, payload, headers, query)) is not None:
        # a signed delivery of an event the workflow does not take: acknowledged (a provider
        # would retry an error), no run
        logger.info("webhook ignored", extra={"workflow": target.workflow, "delivery": delivery})
        return _json(200, {"workflow": target.workflow, "deliveryId": delivery, "ignored": True,
                           "reason": f"not an event this workflow takes: {why}"})
    data = run_input(target.trigger, payload, headers, query, trigger)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_RUN_INPUT_BYTES:
        raise PayloadTooLarge(f"the run input is over Step Functions' {MAX_RUN_INPUT_BYTES} bytes: "
                              "map fewer fields with inputMapping", limit=MAX_RUN_INPUT_BYTES)
    content = guard(target.trigger, headers, body, delivery, settings, now)
    first = first_delivery(clients.ddb, settings, target.workflow, content, delivery, now=now) \
        if content is not None else None
    if first is not None:
        return _replayed(clients, settings, target, first, delivery, len(body))
    accepted = accept(clients.ddb, clients.sfn, settings, DeliveryKey(target.workflow, delivery),
                      target.state_machine_arn, data, now=now,
                      extra={"provider": provider, "trigger": target.trigger.label})
    if not accepted.duplicate:
        record_started(clients, settings, target.workflow, accepted, trigger, text, now)
    logger.info("webhook accepted", extra={"workflow": target.workflow, "delivery": delivery,
                                           "duplicate": accepted.duplicate, "bytes": len(body)})
    return _json(200 if accepted.duplicate else 202, {
        "executionId": accepted.execution_arn, "workflow": target.workflow,
        "deliveryId": delivery, "duplicate": accepted.duplicate})


def _replayed(clients: Clients, settings: Settings, target: WebhookTarget, first: str,
              delivery: str, size: int) -> dict[str, Any]:
    """The answer to signed content already delivered as ``first``: that delivery's execution."""
    logger.warning("webhook replay", extra={"workflow": target.workflow, "delivery": delivery,
                                            "first": first, "bytes": size})
    earlier = accepted_delivery(clients.ddb, settings, DeliveryKey(target.workflow, first))
    if earlier is None:  # the first delivery is being accepted, or was released: its retry wins
        raise Conflict("this content is being accepted as another delivery; retry",
                       headers={"Retry-After": "1"})
    return _json(200, {"executionId": earlier.execution_arn, "workflow": target.workflow,
                       "deliveryId": first, "duplicate": True})


def handle_webhook(event: Mapping[str, Any], *, clients: Clients, settings: Settings,
                   workflows: Mapping[str, WebhookTarget], secrets: SecretSource,
                   clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """One webhook request -> an API Gateway proxy response (see the module doc)."""
    try:
        return _handle(event, clients, settings, workflows, secrets, clock())
    except ApiError as exc:
        return exc.response()
    except Exception as exc:  # noqa: BLE001 - a JSON 500 (the provider retries), not a bare crash
        logger.exception("webhook failure", extra={"error": type(exc).__name__})
        return InternalError("the delivery could not be processed; retry").response()
