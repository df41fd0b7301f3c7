"""The run API's routes (Powertools ``APIGatewayRestResolver`` with validation).

``build_resolver(context)`` returns the resolver; ``context`` is called on each request for
the ``ApiContext`` (clients, settings, ``Executions``), so a Lambda creates its clients on
first use and tests pass their own. Every route but ``/health`` needs an API key
(``stepweave.api.auth``); a tenant sees only the executions it started, another tenant's
execution is a 404. Errors answer ``{"error": {"code", "message", ...}}``
(``stepweave.api.errors``). ``stepweave.api.openapi`` describes its routes (``docs/openapi.json``).
Sim's routes (``/api/...``, what Sim's SDKs call: ``stepweave.api.sim_routes``) are on the same
resolver, with the same keys, tenants and executions; what both start and find is
``stepweave.api.starts``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel

from stepweave.api import models
from stepweave.api.auth import Tenant, authenticate
from stepweave.api.errors import (
    JSON_HEADERS,
    ApiError,
    Conflict,
    InternalError,
    InvalidInput,
    NotFound,
)
from stepweave.api.events import BadBody, request_body
from stepweave.api.health import check_health
from stepweave.api.sim_routes import add_sim_routes, sim_error_response
from stepweave.api.starts import (
    MAX_INPUT_BYTES,
    SYNC_TIMEOUT_S,
    ApiContext,
    new_name,
    owned,
    payload_of,
    record_start,
    start_sync,
)
from stepweave.api.strict_json import BadJson
from stepweave.api.strict_json import loads as strict_loads
from stepweave.api.sync import sync_response
from stepweave.runtime.query import CursorError, filter_time, list_executions
from stepweave.runtime.recorder import iso
from stepweave.runtime.rerun import RerunError, rerun_input

__all__ = ["MAX_INPUT_BYTES", "SYNC_TIMEOUT_S", "ApiContext", "build_resolver"]

logger = logging.getLogger(__name__)

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "aborted", "paused")
TITLE = "Stepweave run API"


def _json(status: int, model: BaseModel, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type="application/json",
                    body=model.model_dump(by_alias=True, exclude_none=True, mode="json"),
                    headers={**JSON_HEADERS, **(headers or {})})


def _timestamp(value: str | None, field: str) -> str | None:
    try:
        return filter_time(value, field)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None


def build_resolver(context: Callable[[], ApiContext]) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    def tenant() -> Tenant:
        ctx = context()
        return authenticate(app.current_event.raw_event, ctx.ddb, ctx.settings)

    @app.get("/health", summary="the deployment's version and whether its dependencies answer")
    def health() -> Response[models.Health]:
        ctx = context()
        report = check_health(ctx.ddb, ctx.settings, ctx.executions, ctx.version)
        return _json(200 if report.status == "ok" else 503, report)

    @app.post("/v1/workflows/<workflow>/executions", summary="start an execution (asynchronous)")
    def start(workflow: str, request: Annotated[models.StartRequest | None, Body()] = None) -> Response[models.Started]:
        who, ctx = tenant(), context()
        request = request or models.StartRequest()
        payload = payload_of(request.input)
        name = new_name(ctx, who, workflow, request.name)
        started = ctx.executions.start(workflow, payload, name)
        record_start(ctx, who, workflow, started.execution_arn, name, payload, started.start_date)
        logger.info("execution started", extra={"workflow": workflow, "execution": started.execution_arn})
        body = models.Started(execution_id=started.execution_arn, name=models.client_name(name),
                              workflow=workflow, started_at=iso(started.start_date))
        return _json(202, body, {"Location": f"/v1/executions/{started.execution_arn}"})

    @app.post("/v1/workflows/<workflow>/run",
              summary="run an execution and answer with its response block (Express: StartSyncExecution)")
    def run(workflow: str, request: Annotated[models.StartRequest | None, Body()] = None) -> Response[Any]:
        who, ctx = tenant(), context()
        request = request or models.StartRequest()
        payload = payload_of(request.input)
        name = new_name(ctx, who, workflow, request.name)
        outcome = start_sync(ctx, who, workflow, payload, name)
        status, headers, body = sync_response(outcome, workflow, store=ctx.store,
                                              bucket=ctx.settings.payload_bucket)
        return Response(status_code=status, headers=headers, body=body)

    @app.get("/v1/executions/<execution_id>",
             summary="an execution (its ARN, or its name): status, output, error, block logs")
    def describe(execution_id: str) -> Response[models.ExecutionView]:
        who, ctx = tenant(), context()
        detail = owned(ctx, who, execution_id)
        return _json(200, models.view(detail.record, detail.blocks))

    @app.get("/v1/executions", summary="this tenant's executions, newest first")
    def listing(workflow: Annotated[str | None, Query(max_length=80)] = None,
                status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
                since: Annotated[str | None, Query(description="started at or after (ISO-8601)")] = None,
                until: Annotated[str | None, Query(description="started before (ISO-8601)")] = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 20,
                cursor: Annotated[str | None, Query(max_length=2048)] = None) -> Response[models.ExecutionList]:
        who, ctx = tenant(), context()
        try:
            page = list_executions(ctx.ddb, ctx.settings, tenant=who.name, workflow=workflow, status=status,
                                   since=_timestamp(since, "since"), until=_timestamp(until, "until"),
                                   limit=limit, cursor=cursor)
        except CursorError as exc:
            raise InvalidInput(f"cursor: {exc}", field="cursor") from None
        return _json(200, models.ExecutionList(items=[models.summary(r) for r in page.items],
                                               next_cursor=page.cursor))

    @app.post("/v1/executions/<execution_id>/rerun",
              summary="start a new execution of the same workflow with the same input (or the one given)")
    def rerun(execution_id: str,
              request: Annotated[models.RerunRequest | None, Body()] = None) -> Response[models.Started]:
        who, ctx = tenant(), context()
        record = owned(ctx, who, execution_id).record
        request = request or models.RerunRequest()
        try:
            data = rerun_input(record, request.input)
        except RerunError as exc:
            if request.input is not None:
                raise InvalidInput(str(exc), field="input") from None
            raise Conflict(f"{exc} as 'input'", executionId=record.execution_arn) from None
        payload = payload_of(data)
        name = new_name(ctx, who, record.workflow, request.name)
        started = ctx.executions.start(record.workflow, payload, name)
        record_start(ctx, who, record.workflow, started.execution_arn, name, payload, started.start_date,
                     trigger=data["trigger"])
        logger.info("execution rerun", extra={"workflow": record.workflow, "execution": started.execution_arn,
                                              "of": record.execution_arn})
        body = models.Started(execution_id=started.execution_arn, name=models.client_name(name),
                              workflow=record.workflow, started_at=iso(started.start_date))
        return _json(202, body, {"Location": f"/v1/executions/{started.execution_arn}"})

    @app.post("/v1/executions/<execution_id>/retry",
              summary="resume a failed execution from the block that failed (Step Functions redrive)")
    def retry(execution_id: str) -> Response[models.Retried]:
        from stepweave.api.retry import retry_execution

        who, ctx = tenant(), context()
        body = retry_execution(ctx.executions, ctx.ddb, ctx.settings, owned(ctx, who, execution_id).record)
        logger.info("execution retried", extra={"execution": body.execution_id, "redriveCount": body.redrive_count})
        return _json(202, body, {"Location": f"/v1/executions/{body.execution_id}"})

    @app.post("/v1/executions/<execution_id>/cancel", summary="stop a running execution")
    def cancel(execution_id: str) -> Response[models.Cancelled]:
        who, ctx = tenant(), context()
        detail = owned(ctx, who, execution_id)
        if detail.record.status not in ("queued", "running", "paused"):
            raise Conflict(f"the execution has ended ({detail.record.status})", status=detail.record.status)
        arn = detail.record.execution_arn
        ctx.executions.stop(arn, "Stepweave.Cancelled", f"cancelled through the run API by {who.name}")
        return _json(202, models.Cancelled(execution_id=arn, status="aborted"))

    def invalid(exc: RequestValidationError) -> Response[Any]:
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:] if not isinstance(p, int)
                              or e.get("loc", ("",))[0] != "body") or "body",
                     "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        return _error(InvalidInput("invalid request: " + "; ".join(
            f"{p['field']}: {p['message']}" for p in problems), problems=problems))

    @app.not_found
    def unknown_route(exc: Exception) -> Response[Any]:
        return _error(NotFound(f"no route {app.current_event.http_method} {app.current_event.path}"))

    def internal(exc: Exception) -> Response[Any]:
        logger.exception("run API failure", extra={"error": type(exc).__name__})
        return _error(InternalError("internal error"))

    add_sim_routes(app, context, tenant)
    app.exception_handler(ApiError)(_error)
    app.exception_handler(RequestValidationError)(invalid)
    app.exception_handler(Exception)(internal)
    return app


def resolve(resolver: APIGatewayRestResolver, event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    """One proxy event through the routes. Bodies are JSON whatever their ``Content-Type``
    says (``curl -d`` sends ``application/x-www-form-urlencoded``), and JSON within bounds
    (``stepweave.api.strict_json``: no NaN or infinite numbers, bounded nesting) before any
    route reads them: else 400."""
    refused = _refused_body(event)
    if refused is not None:
        return sim_error_response(str(event.get("path") or ""), refused) or refused.response()
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    if event.get("body"):
        headers["Content-Type"] = "application/json"
    event = {**event, "headers": headers,
             "multiValueHeaders": {k: [v] for k, v in headers.items()} if event.get("multiValueHeaders") else None}
    return resolver.resolve(event, lambda_context)


def _refused_body(event: dict[str, Any]) -> ApiError | None:
    if not event.get("body"):
        return None
    try:
        strict_loads(request_body(event), what="the body")
    except (BadBody, BadJson) as exc:
        return InvalidInput(f"invalid request: {exc}", problems=[{"field": "body", "message": str(exc)}])
    return None


def _error(exc: ApiError) -> Response[Any]:
    return Response(status_code=exc.status, content_type="application/json",
                    body=json.dumps(exc.body(), ensure_ascii=False), headers={**JSON_HEADERS, **exc.headers})
