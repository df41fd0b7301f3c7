"""Sim's run API beside ``/v1``: what Sim's SDKs (``simstudio-sdk`` on PyPI, the TypeScript
SDK) call, with Sim's JSON shapes, on the same resolver, tenants, keys and executions.

| route | what |
|---|---|
| ``POST /api/v2/workflows/{id}/execute`` | ``{"input": {...}}``: run and answer the run (200); with ``"async": true``, start it and answer ``{"data": {"runId", "statusUrl"}}`` (202) |
| ``POST /api/workflows/{id}/execute`` | Sim's older execute (``simstudio-ts-sdk``): the body is the input; ``{success, executionId, output, error, metadata}``, with ``X-Execution-Mode: async`` 202 and the job's ``statusUrl`` |
| ``GET /api/v2/workflows/{id}/runs/{runId}`` | the run: status, times, error; ``?includeOutput=true`` its output, ``?selectedOutputs=Block.path,...`` block outputs |
| ``GET /api/jobs/{jobId}`` | the same run as Sim's job (``taskId``, ``status`` pending/processing/completed/failed/cancelled) |
| ``GET /api/workflows/{id}/status`` | ``{"isDeployed", "deployedAt", "needsRedeployment"}`` |
| ``GET /api/users/me/usage-limits`` | the key's rate limit as it stands |

Sim's workflow id is the Stepweave workflow's name, or an id ``STEPWEAVE_SIM_WORKFLOW_IDS``
maps to one (``{"<Sim workflow id>": "<workflow>"}``); a run id is the execution's name (the
one ``X-Run-Id`` gives, else a random one), and its ARN works too. A run's status maps to
Sim's: queued -> ``queued``, running -> ``running``, paused (waiting for an approval) ->
``paused``, succeeded -> ``completed``, failed and timed_out -> ``failed`` (error code
``EXECUTION_FAILED``/``BLOCK_EXECUTION_FAILED`` or ``TIMEOUT``), aborted -> ``cancelled``
(``CANCELLED``); as a job: pending, processing (running or paused), completed, failed,
cancelled. A failed run is answered in band (200, ``status: "failed"``), as Sim does.

Errors have Sim's shapes: ``{"error": {"code": "NOT_FOUND", "message", "details"?}}`` on the
v2 routes, ``{"error": "<message>", "code": "..."}`` on the older ones (execute, jobs, status,
usage).
The execute, runs and jobs routes count against the key's per-minute limit
(``stepweave.api.ratelimit``) and say where it stands in ``X-RateLimit-*`` headers; over it,
429 ``RATE_LIMITED`` with ``Retry-After``.

Not served (a 400 that says so): ``stream`` (Server-Sent Events), ``executionTimeoutSeconds``
(no per-request cap on a run) and the output-shaping options ``includeThinking``,
``includeToolCalls``, ``includeFileBase64``, ``base64MaxBytes``. ``selectedOutputs`` on a
synchronous run is accepted and, as in Sim without ``stream``, changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepweave.api.auth import Tenant
from stepweave.api.errors import (
    JSON_HEADERS,
    ApiError,
    Conflict,
    InvalidInput,
    NotFound,
    OutputUnavailable,
    PayloadTooLarge,
    SyncTimeout,
    Throttled,
)
from stepweave.api.executions import Outcome
from stepweave.api.models import NAME_PATTERN, client_name
from stepweave.api.ratelimit import Quota, peek, take
from stepweave.api.starts import ApiContext, new_name, owned, payload_of, record_start, start_sync
from stepweave.api.sync import failure, fits, run_output
from stepweave.runtime.approvals import pending_approvals
from stepweave.runtime.query import ExecutionDetail
from stepweave.runtime.recorder import iso
from stepweave.runtime.records import ExecutionRecord

__all__ = ["JOB_STATUS", "LEGACY_ROUTES", "RUN_ID_HEADER", "RUN_STATUS", "SIM_ROUTES", "add_sim_routes",
           "openapi_paths", "sim_error", "sim_error_response"]

#: (method, path) of Sim's routes, as API Gateway names them.
SIM_ROUTES = (
    ("POST", "/api/v2/workflows/{workflow_id}/execute"),
    ("POST", "/api/workflows/{workflow_id}/execute"),
    ("GET", "/api/v2/workflows/{workflow_id}/runs/{run_id}"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/workflows/{workflow_id}/status"),
    ("GET", "/api/users/me/usage-limits"),
)
#: Sim's older routes, which answer errors as ``{"error": "<message>", "code"}``.
LEGACY_ROUTES = ("/api/workflows/{workflow_id}/execute", "/api/jobs/{job_id}",
                 "/api/workflows/{workflow_id}/status", "/api/users/me/usage-limits")
#: The header naming a run (given by the caller to choose its id; answered on every run).
RUN_ID_HEADER = "X-Run-Id"
#: A Stepweave execution status -> Sim's run status, and Sim's (older) job status.
RUN_STATUS = {"queued": "queued", "running": "running", "paused": "paused", "succeeded": "completed",
              "failed": "failed", "timed_out": "failed", "aborted": "cancelled"}
JOB_STATUS = {"queued": "pending", "running": "processing", "paused": "processing",
              "succeeded": "completed", "failed": "failed", "timed_out": "failed", "aborted": "cancelled"}
#: HTTP status -> Sim's v2 error code (``INTERNAL_ERROR`` for any other).
_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT",
          413: "PAYLOAD_TOO_LARGE", 429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT"}
_UNSERVED = {"stream": "Stepweave does not stream runs (Server-Sent Events): leave it unset or false",
             "executionTimeoutSeconds": "Stepweave does not cap a run per request (a block's "
                                        "timeoutSeconds caps that block): leave it unset",
             "includeThinking": "needs stream, which Stepweave does not serve",
             "includeToolCalls": "needs stream, which Stepweave does not serve",
             "includeFileBase64": "Stepweave does not inline files as base64",
             "base64MaxBytes": "Stepweave does not inline files as base64"}


#: What Sim's older execute route takes out of the body before the rest is the input.
_V1_CONTROL = frozenset({
    "selectedOutputs", "triggerType", "stream", "useDraftState", "inputFromExecutionId", "includeFileBase64",
    "base64MaxBytes", "workflowStateOverride", "deploymentVersionId", "triggerBlockId", "stopAfterBlockId",
    "runFromBlock", "copilotToolCallId", "workflowId", "parentWorkspaceId"})
#: ... and of those, what would change the run in ways Stepweave does not do: refused.
_V1_UNSERVED = ("useDraftState", "inputFromExecutionId", "workflowStateOverride", "deploymentVersionId",
                "triggerBlockId", "stopAfterBlockId", "runFromBlock")


class ExecuteRequest(BaseModel):
    """Sim's execute body (``v2ExecuteWorkflowBodySchema``)."""

    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any] | None = Field(default=None, description="the workflow's input (an object)")
    async_: bool = Field(default=False, alias="async", description="start the run and answer 202")
    stream: bool = False
    selectedOutputs: list[str] | None = Field(default=None, max_length=100)  # noqa: N815 - Sim's name
    executionTimeoutSeconds: int | None = Field(default=None, ge=1, le=604_800)  # noqa: N815
    includeThinking: bool = False  # noqa: N815
    includeToolCalls: bool = False  # noqa: N815
    includeFileBase64: bool | None = None  # noqa: N815
    base64MaxBytes: int | None = None  # noqa: N815


def sim_error(path: str, exc: ApiError) -> Response[Any] | None:
    """``exc`` in Sim's shape when ``path`` is one of Sim's (``/api/...``), else None: what
    is refused before a route answers (a body that is not JSON)."""
    if path.startswith("/api/v2/"):
        return _v2_error(exc)
    return _legacy_error(exc) if path.startswith("/api/") else None


def sim_error_response(path: str, exc: ApiError) -> dict[str, Any] | None:
    """``sim_error`` as an API Gateway proxy response."""
    answer = sim_error(path, exc)
    if answer is None:
        return None
    return {"statusCode": answer.status_code, "body": answer.body, "isBase64Encoded": False,
            "headers": {k: v if isinstance(v, str) else ",".join(v) for k, v in answer.headers.items()}}


def _ok(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return _json_text(status, json.dumps(body, ensure_ascii=False), headers)


def _json_text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=text,
                    headers={**JSON_HEADERS, **(headers or {})})


def _run_answer(status: int, body: Any, outcome: Outcome, workflow: str, run_id: str) -> Response[Any]:
    """A finished run's answer, unless it is over what a response carries: then, as Sim
    answers it, ``413`` (``workflow_response_too_large``)."""
    text = json.dumps(body, ensure_ascii=False)
    try:
        fits(text, outcome, workflow)
    except OutputUnavailable as exc:
        raise PayloadTooLarge(exc.message, code="workflow_response_too_large", runId=run_id) from None
    return _json_text(status, text, {RUN_ID_HEADER: run_id})


def _v2_error(exc: ApiError) -> Response[Any]:
    """``{"error": {"code", "message", "details"?}}`` (``details``: the error's fields)."""
    error: dict[str, Any] = {"code": _CODES.get(exc.status, "INTERNAL_ERROR"), "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    return _ok(exc.status, {"error": error}, exc.headers)


def _legacy_error(exc: ApiError) -> Response[Any]:
    """``{"error": "<message>", "code"}`` (``code``: the error's own, else the status's)."""
    code = str(exc.details.get("code") or _CODES.get(exc.status, "INTERNAL_ERROR"))
    return _ok(exc.status, {"error": exc.message, "code": code}, exc.headers)


def _status_url(event: dict[str, Any], workflow: str, run_id: str) -> str:
    """The run's absolute URL."""
    return _url(event, f"/api/v2/workflows/{workflow}/runs/{run_id}")


def _url(event: dict[str, Any], path: str) -> str:
    """``path``'s absolute URL, as the caller reached this API (the stage in the path on
    API Gateway's own domain; a custom domain maps it away)."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    context = event.get("requestContext") or {}
    host = str(context.get("domainName") or headers.get("host") or "localhost")
    scheme = headers.get("x-forwarded-proto") or ("https" if context.get("domainName") else "http")
    stage = f"/{context['stage']}" if ".execute-api." in host and context.get("stage") else ""
    return f"{scheme}://{host}{stage}{path}"


def _error_of(status: str, error: str | None, cause: str | None, workflow: str) -> dict[str, Any] | None:
    """Sim's structured run error of a run that ended ``status`` (None when it did not fail)."""
    if status in ("succeeded", "running", "queued", "paused"):
        return None
    if status == "timed_out":
        return {"code": "TIMEOUT", "message": f"the execution timed out: {cause or error or 'timed out'}"}
    if status == "aborted":
        return {"code": "CANCELLED", "message": f"the execution was cancelled: {cause or error or 'aborted'}"}
    exc = failure(Outcome(None, "", status.upper(), datetime.now(UTC), error=error, cause=cause), workflow)
    block = exc.details.get("block")
    return {"code": "BLOCK_EXECUTION_FAILED", "message": exc.message, "blockName": block} if block \
        else {"code": "EXECUTION_FAILED", "message": exc.message}


def _record_error(record: ExecutionRecord) -> dict[str, Any] | None:
    return _error_of(record.status, record.error, record.cause, record.workflow)


def _sync_data(outcome: Outcome, run_id: str, workflow: str, output: Any) -> dict[str, Any]:
    """Sim's run result of a finished synchronous run."""
    status = outcome.status.lower()
    ended = {"endedAt": iso(outcome.stop_date), "durationMs": _duration_ms(outcome)} \
        if outcome.stop_date else {}
    return {"runId": run_id, "workflowId": workflow, "status": RUN_STATUS.get(status, "failed"),
            "output": output, "error": _error_of(status, outcome.error, outcome.cause, workflow),
            "startedAt": iso(outcome.start_date), **ended}


def _paused(ctx: ApiContext, record: ExecutionRecord) -> dict[str, Any] | None:
    """Sim's pause details of a run waiting for approvals: ``contextId`` is the first
    approval's id (decided through ``/v1/approvals/{id}/decision`` or its page)."""
    if record.status != "paused":
        return None
    waiting = sorted(pending_approvals(ctx.ddb, ctx.settings, record.execution_arn),
                     key=lambda approval: approval.created_at)
    if not waiting:
        return None
    return {"contextId": waiting[0].id, "pausedAt": waiting[0].created_at, "resumeAt": None,
            "pauseKind": "human", "blockedOnBlockId": waiting[0].block_id,
            "automaticResumeWaitingReason": None, "pausePointCount": len(waiting), "resumedCount": 0}


def _run_data(detail: ExecutionDetail, workflow_id: str, run_id: str, include_output: bool,
              selectors: list[str], paused: dict[str, Any] | None) -> dict[str, Any]:
    """Sim's run resource of a recorded execution (``workflow_id``: as the caller names it)."""
    record = detail.record
    wanted = include_output and record.status == "succeeded"
    output, whole = _record_output(detail) if wanted else (None, True)
    return {"runId": run_id, "workflowId": workflow_id, "status": RUN_STATUS[record.status],
            "trigger": record.trigger.get("type"), "startedAt": record.started_at,
            "endedAt": record.stopped_at, "durationMs": record.duration_ms, "paused": paused, "cost": None,
            "error": _record_error(record), "output": output,
            "blockOutputs": _block_outputs(detail, selectors) if selectors else None,
            **({} if whole else {"outputTruncated": True})}


def _duration_ms(outcome: Outcome) -> int | None:
    if outcome.stop_date is None:
        return None
    return max(0, int((outcome.stop_date - outcome.start_date).total_seconds() * 1000))


def _record_output(detail: ExecutionDetail) -> tuple[Any, bool]:
    """(output, whether it is whole): an output kept truncated in the record is not answered."""
    record = detail.record
    if record.output is None or record.output_truncated:
        return None, record.output is None
    try:
        return json.loads(record.output), True
    except ValueError:
        return record.output, True


def _normal(name: str) -> str:
    return name.replace(" ", "").lower()


def _block_outputs(detail: ExecutionDetail, selectors: list[str]) -> dict[str, Any]:
    """``Block name.path`` (or ``blockId.path``; object keys and list indexes) -> that value
    of the block's last output (None when there is none)."""
    found: dict[str, Any] = {}
    for selector in selectors:
        block, _, path = selector.partition(".")
        logs = [b for b in detail.blocks if b.block_id == block or _normal(b.name) == _normal(block)]
        value: Any = None
        if logs and logs[-1].output is not None and not logs[-1].output_truncated:
            try:
                value = json.loads(logs[-1].output)
            except ValueError:
                value = logs[-1].output
            for part in [p for p in path.split(".") if p]:
                if isinstance(value, list) and part.isdigit():
                    value = value[int(part)] if int(part) < len(value) else None
                else:
                    value = value.get(part) if isinstance(value, dict) else None
        found[selector] = value
    return found


def _bool_query(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{name}: true or false", field=name)


def add_sim_routes(app: APIGatewayRestResolver, context: Callable[[], ApiContext],
                   tenant: Callable[[], Tenant]) -> None:
    """Register Sim's routes on the run API's resolver (``tenant()`` authenticates the request)."""

    def answer(work: Callable[[ApiContext, Tenant], Response[Any]], *, legacy: bool,
               limited: bool, epoch_reset: bool = False) -> Response[Any]:
        """``work``'s answer for the authenticated tenant, errors in Sim's shape (``legacy``:
        the older routes'); ``limited``: counted against the key's limit, which the answer
        reports in its headers."""
        quota: Quota | None = None
        try:
            who, ctx = tenant(), context()
            if limited:
                quota = take(ctx.ddb, ctx.settings, who.key_hash)
                if quota.exceeded:
                    raise Throttled("API rate limit exceeded", retry_after=quota.retry_after_s,
                                    retryAfter=quota.reset_at)
            response = work(ctx, who)
        except ApiError as exc:
            response = _legacy_error(exc) if legacy else _v2_error(exc)
        if quota is not None:
            response.headers.update(quota.headers(epoch_reset))
        return response

    def parsed(model: type[ExecuteRequest]) -> ExecuteRequest:
        body = app.current_event.json_body if app.current_event.body else {}
        try:
            return model.model_validate(body if body is not None else {})
        except ValidationError as exc:
            problems = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                        for e in exc.errors(include_url=False)]
            raise InvalidInput("invalid request: " + "; ".join(f"{p['field']}: {p['message']}"
                                                               for p in problems),
                               problems=problems) from None

    def run_name(ctx: ApiContext, who: Tenant, workflow: str) -> str:
        requested = app.current_event.headers.get(RUN_ID_HEADER)
        if requested is not None and not re.fullmatch(NAME_PATTERN, requested):
            raise InvalidInput(f"{RUN_ID_HEADER}: 1 to 40 letters, digits, '-' or '_'", field=RUN_ID_HEADER)
        try:
            return new_name(ctx, who, workflow, requested)
        except NotFound:
            raise NotFound("Workflow not found", workflowId=workflow) from None
        except Conflict:
            raise Conflict("Run ID has already been used", code="RUN_ID_CONFLICT", runId=requested) from None

    def run_sync(ctx: ApiContext, who: Tenant, workflow: str, payload: str, name: str,
                 poll_url: str) -> tuple[Outcome, Any]:
        """Run to the end and record the start: the outcome and, when it succeeded, its output.
        A run longer than the wait is a 504 saying where to poll it."""
        run_id = client_name(name)
        try:
            outcome = start_sync(ctx, who, workflow, payload, name)
        except SyncTimeout:
            raise SyncTimeout(f"the run is still going after {ctx.sync_timeout_s:g} s: poll {poll_url}",
                              headers={RUN_ID_HEADER: run_id}, runId=run_id, statusUrl=poll_url) from None
        succeeded = outcome.status == "SUCCEEDED"
        return outcome, run_output(outcome, workflow, store=ctx.store,
                                   bucket=ctx.settings.payload_bucket) if succeeded else None

    @app.post("/api/v2/workflows/<workflow_id>/execute",
              summary="Sim: run a workflow (its name) and answer the run; async: start it (202)")
    def sim_execute(workflow_id: str) -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            request = parsed(ExecuteRequest)
            for field, why in _UNSERVED.items():
                if getattr(request, field) not in (None, False):
                    raise InvalidInput(f"{field}: {why}", field=field)
            if request.async_ and request.selectedOutputs:
                raise InvalidInput("Async execution does not support streaming or output-shaping options",
                                   field="selectedOutputs")
            payload = payload_of(request.input or {})
            workflow = _workflow(ctx, workflow_id)
            name = run_name(ctx, who, workflow)
            run_id = client_name(name)
            if request.async_:
                started = ctx.executions.start(workflow, payload, name)
                record_start(ctx, who, workflow, started.execution_arn, name, payload, started.start_date)
                url = _status_url(app.current_event.raw_event, workflow_id, run_id)
                return _ok(202, {"data": {"runId": run_id, "statusUrl": url}}, {RUN_ID_HEADER: run_id})
            outcome, output = run_sync(ctx, who, workflow, payload, name,
                                       _status_url(app.current_event.raw_event, workflow_id, run_id))
            return _run_answer(200, {"data": _sync_data(outcome, run_id, workflow_id, output)}, outcome,
                               workflow, run_id)

        return answer(work, legacy=False, limited=True)

    @app.post("/api/workflows/<workflow_id>/execute",
              summary="Sim (older): the body is the input; answer the run, or start it "
                      "(X-Execution-Mode: async)")
    def sim_execute_v1(workflow_id: str) -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            body = app.current_event.json_body if app.current_event.body else {}
            if not isinstance(body, dict):
                raise InvalidInput("Invalid request body: the input, a JSON object")
            event = app.current_event
            streamed = body.get("stream") is True or event.headers.get("X-Stream-Response") == "true"
            unserved = [k for k in _V1_UNSERVED if body.get(k) not in (None, False)]
            unserved += ["stream"] if streamed else []
            if unserved:
                raise InvalidInput(f"{unserved[0]}: not served by Stepweave", field=unserved[0])
            given = {k: v for k, v in body.items() if k not in _V1_CONTROL}
            # as Sim does for a key: the body but its control fields is the input, else its `input`
            payload = payload_of(given if given else body.get("input") or {})
            workflow = _workflow(ctx, workflow_id)
            name = run_name(ctx, who, workflow)
            run_id = client_name(name)
            if (event.headers.get("X-Execution-Mode") or "").lower() == "async":
                started = ctx.executions.start(workflow, payload, name)
                record_start(ctx, who, workflow, started.execution_arn, name, payload, started.start_date)
                return _ok(202, {"success": True, "async": True, "jobId": run_id, "executionId": run_id,
                                 "message": "Workflow execution queued",
                                 "statusUrl": _url(event.raw_event, f"/api/jobs/{run_id}")})
            outcome, output = run_sync(ctx, who, workflow, payload, name,
                                       _url(event.raw_event, f"/api/jobs/{run_id}"))
            data = _sync_data(outcome, run_id, workflow_id, output)
            error = data["error"]
            result = {"success": error is None, "executionId": run_id, "output": data["output"],
                      "error": error["message"] if error else None,
                      "metadata": {"duration": data.get("durationMs"), "startTime": data["startedAt"],
                                   "endTime": data.get("endedAt")},
                      **({"code": error["code"]} if error else {})}
            return _run_answer(500 if error else 200, result, outcome, workflow, run_id)

        return answer(work, legacy=True, limited=True, epoch_reset=True)

    @app.get("/api/v2/workflows/<workflow_id>/runs/<run_id>",
             summary="Sim: a run's status, times and error (includeOutput, selectedOutputs)")
    def sim_run(workflow_id: str, run_id: str) -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            query = app.current_event.query_string_parameters or {}
            include = _bool_query(query.get("includeOutput"), "includeOutput")
            selectors = [s.strip() for s in (query.get("selectedOutputs") or "").split(",") if s.strip()]
            detail = _run_of(ctx, who, _workflow(ctx, workflow_id), run_id)
            data = _run_data(detail, workflow_id, run_id, include, selectors, _paused(ctx, detail.record))
            return _ok(200, {"data": data})

        return answer(work, legacy=False, limited=True)

    @app.get("/api/jobs/<job_id>", summary="Sim: a run as a job (Sim's older status route)")
    def sim_job(job_id: str) -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            try:
                detail = owned(ctx, who, job_id)
            except NotFound:
                raise NotFound("Task not found", code="TASK_NOT_FOUND") from None
            record = detail.record
            body: dict[str, Any] = {
                "success": True, "taskId": job_id, "status": JOB_STATUS[record.status],
                "metadata": {"workflowId": _sim_id(ctx, record.workflow), "runId": client_name(record.name),
                             "startedAt": record.started_at,
                             **({"completedAt": record.stopped_at} if record.stopped_at else {})}}
            if record.status == "succeeded":
                body["output"] = _record_output(detail)[0]
            error = _record_error(record)
            if error is not None:
                body["error"] = error["message"]
            return _ok(200, body)

        return answer(work, legacy=True, limited=True)

    @app.get("/api/workflows/<workflow_id>/status", summary="Sim: whether a workflow (its name) is deployed")
    def sim_status(workflow_id: str) -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            if _workflow(ctx, workflow_id) not in ctx.executions.targets():
                raise NotFound("Workflow not found", code="WORKFLOW_NOT_FOUND")
            return _ok(200, {"isDeployed": True, "deployedAt": None, "needsRedeployment": False})

        return answer(work, legacy=True, limited=False)

    @app.get("/api/users/me/usage-limits", summary="Sim: the API key's rate limit as it stands")
    def sim_usage() -> Response[Any]:
        def work(ctx: ApiContext, who: Tenant) -> Response[Any]:
            quota = peek(ctx.ddb, ctx.settings, who.key_hash)
            bucket = {"isLimited": quota.remaining == 0, "requestsPerMinute": quota.limit,
                      "maxBurst": quota.limit, "remaining": quota.remaining, "resetAt": quota.reset_at}
            limits = {"sync": bucket, "async": bucket, "authType": "api"}
            return _ok(200, {"success": True, "rateLimit": limits, "usage": {}}, quota.headers())

        return answer(work, legacy=True, limited=False)


def _workflow(ctx: ApiContext, workflow_id: str) -> str:
    """The workflow a Sim workflow id names: ``STEPWEAVE_SIM_WORKFLOW_IDS``, else its name."""
    return (ctx.settings.sim_workflow_ids or {}).get(workflow_id, workflow_id)


def _sim_id(ctx: ApiContext, workflow: str) -> str:
    """The Sim workflow id of a workflow (its name when it has none)."""
    return next((k for k, v in sorted((ctx.settings.sim_workflow_ids or {}).items()) if v == workflow),
                workflow)


def _run_of(ctx: ApiContext, who: Tenant, workflow: str, run_id: str) -> ExecutionDetail:
    try:
        detail = owned(ctx, who, run_id)
    except NotFound:
        detail = None
    if detail is None or detail.record.workflow != workflow:
        raise NotFound("Run not found", runId=run_id, workflowId=workflow)
    return detail


def _schema(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties}


_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_RUN_ERROR = {"type": ["object", "null"], "description": "code (BLOCK_EXECUTION_FAILED, EXECUTION_FAILED, "
              "TIMEOUT, CANCELLED), message; blockName when a block failed",
              "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                             "blockName": {"type": "string"}}}
_RUN_RESULT = _schema({"runId": {"type": "string"}, "workflowId": {"type": "string"},
                       "status": {"enum": ["completed", "failed", "paused", "cancelled"]}, "output": {},
                       "error": _RUN_ERROR, "startedAt": {"type": "string"}, "endedAt": {"type": "string"},
                       "durationMs": {"type": "integer"}}, "a finished run (a failed one too)")
_RUN = _schema({"runId": {"type": "string"}, "workflowId": {"type": "string"},
                "status": {"enum": sorted(set(RUN_STATUS.values()))}, "trigger": _TEXT,
                "startedAt": _TEXT, "endedAt": _TEXT, "durationMs": {"type": ["integer", "null"]},
                "paused": {"type": ["object", "null"]}, "cost": {"type": "null"}, "error": _RUN_ERROR,
                "output": {"description": "with includeOutput=true, once completed"},
                "blockOutputs": {"type": ["object", "null"], "description": "the selectedOutputs"}},
               "a run, as Sim's run resource")


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


def _ok_doc(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_paths() -> dict[str, Any]:
    """What the resolver cannot say of Sim's routes (their bodies are read and written by
    hand, to answer Sim's shapes): the execute body and every route's answer."""
    queued = _schema({"runId": {"type": "string"}, "statusUrl": {"type": "string"}}, "a started run")
    job = _schema({"success": {"type": "boolean"}, "taskId": {"type": "string"},
                   "status": {"enum": sorted(set(JOB_STATUS.values()))}, "metadata": {"type": "object"},
                   "output": {}, "error": {"type": "string"}}, "a run as Sim's job")
    status = _schema({"isDeployed": {"type": "boolean"}, "deployedAt": {"type": "null"},
                      "needsRedeployment": {"type": "boolean"}}, "a workflow of this deployment")
    usage = _schema({"success": {"type": "boolean"}, "rateLimit": {"type": "object"},
                     "usage": {"type": "object"}}, "the key's rate limit (sync and async: the same)")
    v1_done = _schema({"success": {"type": "boolean"}, "executionId": {"type": "string"}, "output": {},
                       "error": _TEXT, "code": {"type": "string"},
                       "metadata": {"type": "object", "properties": {"duration": {"type": ["integer", "null"]},
                                                                     "startTime": {"type": "string"},
                                                                     "endTime": _TEXT}}},
                      "a finished run (a failed one: 500, success false)")
    v1_queued = _schema({"success": {"type": "boolean"}, "async": {"type": "boolean"}, "jobId": {"type": "string"},
                         "executionId": {"type": "string"}, "message": {"type": "string"},
                         "statusUrl": {"type": "string"}}, "a started run: poll statusUrl (its job)")
    return {
        "/api/workflows/{workflow_id}/execute": {"post": {
            "parameters": [{"name": "workflow_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "X-Execution-Mode", "in": "header", "required": False,
                            "description": "async: start the run and answer 202",
                            "schema": {"enum": ["async", "sync"]}}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "description": "the input (Sim's control fields, e.g. selectedOutputs, "
                                                 "are taken out; a body of only those: its `input`)"}}}},
            "responses": {"200": _ok_doc("the run, finished", v1_done),
                          "202": _ok_doc("X-Execution-Mode: async: started", v1_queued)}}},
        "/api/v2/workflows/{workflow_id}/execute": {"post": {
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": ExecuteRequest.model_json_schema(by_alias=True)}}},
            "responses": {"200": _ok_doc("the run, finished (a failed run too: status failed)",
                                         _data(_RUN_RESULT)),
                          "202": _ok_doc("async: started; poll statusUrl", _data(queued))}}},
        "/api/v2/workflows/{workflow_id}/runs/{run_id}": {"get": {
            "responses": {"200": _ok_doc("the run", _data(_RUN))}}},
        "/api/jobs/{job_id}": {"get": {"responses": {"200": _ok_doc("the run as a job", job)}}},
        "/api/workflows/{workflow_id}/status": {"get": {"responses": {"200": _ok_doc("deployed", status)}}},
        "/api/users/me/usage-limits": {"get": {"responses": {"200": _ok_doc("the key's limit", usage)}}},
    }
