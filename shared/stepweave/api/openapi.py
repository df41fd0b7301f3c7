"""The OpenAPI document of everything ``StepweaveApi`` serves (``docs/openapi.json``), and a
page listing its routes (``stepweave serve``'s ``/docs``).

The run API's routes describe themselves (the Powertools resolver of ``stepweave.api.app``,
with its pydantic models); the routes handled outside it -- the approval API and pages
(``stepweave.api.decisions``, ``decision_pages``) and the webhook ingest
(``stepweave.triggers.webhook``) -- are described here by hand, and every route gets its
classified error responses in the one error shape (``ErrorBody``; the HTML pages answer
errors as pages). Regenerate the file with ``python -m stepweave.api.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection
from typing import Any

__all__ = ["docs_page", "openapi_document"]

_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_KEYS: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

#: The classified errors each route answers (``stepweave.api.errors``), besides its success.
_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/health"): (503,),
    ("post", "/v1/workflows/{workflow}/executions"): (400, 401, 403, 404, 409, 413, 429),
    ("post", "/v1/workflows/{workflow}/run"): (400, 401, 403, 404, 409, 413, 429, 500, 502, 504),
    ("get", "/v1/executions"): (400, 401, 403, 429),
    ("get", "/v1/executions/{execution_id}"): (401, 403, 404, 429),
    ("post", "/v1/executions/{execution_id}/cancel"): (401, 403, 404, 409, 429),
    ("post", "/v1/executions/{execution_id}/rerun"): (400, 401, 403, 404, 409, 413, 429),
    ("post", "/v1/executions/{execution_id}/retry"): (401, 403, 404, 409, 429),
    ("get", "/v1/approvals"): (401, 403, 429),
    ("post", "/v1/approvals/{approval_id}/decision"): (400, 401, 403, 404, 409, 410, 429),
    ("post", "/webhooks/{workflow}"): (400, 401, 404, 405, 409, 413, 429, 500, 503),
    ("get", "/approvals/{approval_id}"): (404, 409, 410),
    ("post", "/approvals/{approval_id}"): (400, 403, 404, 409, 410),
    ("post", "/api/v2/workflows/{workflow_id}/execute"): (400, 401, 403, 404, 409, 413, 429, 500, 502, 504),
    ("post", "/api/workflows/{workflow_id}/execute"): (400, 401, 403, 404, 409, 413, 429, 500, 502, 504),
    ("get", "/api/v2/workflows/{workflow_id}/runs/{run_id}"): (400, 401, 403, 404, 429),
    ("get", "/api/jobs/{job_id}"): (401, 403, 404, 429),
    ("get", "/api/workflows/{workflow_id}/status"): (401, 403, 404),
    ("get", "/api/users/me/usage-limits"): (401, 403),
}
_ERROR_TEXT = {400: "invalid input", 401: "missing or invalid API key", 403: "disabled API key",
               404: "unknown workflow or execution (another tenant's too)", 409: "duplicate or ended",
               405: "only POST", 410: "the approval's deadline passed",
               413: "body too large", 429: "throttled (Retry-After)", 500: "the run failed (block, error)",
               502: "the run succeeded but its output cannot be the answer (too large, unreadable)",
               503: "a dependency does not answer", 504: "still running: poll with executionId"}
#: Where a route's errors mean something else than ``_ERROR_TEXT`` says.
_ERROR_TEXT_OF: dict[str, dict[int, str]] = {
    "/webhooks/{workflow}": {401: "the signature does not verify", 404: "no workflow of that name takes webhooks",
                             409: "the same content is being accepted as another delivery (Retry-After)",
                             500: "internal error", 503: "the signing secret is not configured (Retry-After)"},
    "/v1/approvals/{approval_id}/decision": {404: "unknown approval (or another tenant's)",
                                             409: "already decided, or the run no longer waits"},
    "/approvals/{approval_id}": {400: "a field is invalid (the form again, with the message)",
                                 403: "the form's token does not match (reload the page)",
                                 404: "unknown approval", 409: "already decided, or the run no longer waits"},
    "/api/v2/workflows/{workflow_id}/execute": {
        409: "the X-Run-Id is taken (details.code RUN_ID_CONFLICT)",
        413: "too large (the input; or the run's output: details.code workflow_response_too_large)",
        429: "over the key's rate limit (Retry-After, X-RateLimit-*)",
        500: "internal error (a failed run is a 200 with status failed)",
        502: "the run succeeded but a stored part of its output cannot be read",
        504: "still running: poll details.statusUrl"},
    "/api/workflows/{workflow_id}/execute": {
        409: "the X-Run-Id is taken", 413: "too large (the input; or the run's output)",
        429: "over the key's rate limit (Retry-After, X-RateLimit-*; the reset in epoch seconds)",
        500: "the run failed: {success: false, error, code, output, metadata}",
        502: "the run succeeded but a stored part of its output cannot be read",
        504: "still running: poll /api/jobs/{runId}"},
    "/api/v2/workflows/{workflow_id}/runs/{run_id}": {429: "over the key's rate limit (Retry-After, X-RateLimit-*)"},
    "/api/jobs/{job_id}": {429: "over the key's rate limit (Retry-After, X-RateLimit-*)"},
    "/v1/executions/{execution_id}/retry": {
        409: "cannot be retried: it succeeded or still runs, it is an Express run, or it stopped over 14 days ago"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


_SCHEMAS: dict[str, Any] = {
    "ApprovalSummary": {
        "type": "object", "description": "a pending approval as the deciding person or program sees it",
        "required": ["id", "workflow", "executionId", "block", "blockId", "form"],
        "properties": {
            "id": {"type": "string"}, "workflow": {"type": "string"}, "executionId": {"type": "string"},
            "block": {"type": "string", "description": "the approval block's name"},
            "blockId": {"type": "string"},
            "position": {"type": "object", "description": "loop iteration or parallel branch, if any"},
            "subject": {"type": "string"}, "display": {"type": "object"},
            "form": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}, "required": {"type": "boolean"}}}},
            "createdAt": {"type": "string"},
            "deadline": {"type": ["integer", "null"], "description": "epoch seconds"},
            "tenant": {"type": ["string", "null"]}}},
    "ApprovalList": {"type": "object", "required": ["approvals"],
                     "properties": {"approvals": {"type": "array", "items": _ref("ApprovalSummary")}}},
    "DecisionRequest": {
        "type": "object", "required": ["submission"],
        "properties": {"submission": {"type": "object", "description": "the form's fields, e.g. "
                                      "{\"approved\": true, \"comments\": \"ok\"}"}}},
    "Decided": {
        "type": "object", "required": ["approval", "block", "executionId", "output"],
        "properties": {"approval": {"type": "string"}, "block": {"type": "string"},
                       "executionId": {"type": "string"},
                       "output": {"type": "object", "description": "the approval block's output: the "
                                  "fields, submission, submittedAt, decidedBy"}}},
    "WebhookAccepted": {
        "type": "object", "required": ["executionId", "workflow", "deliveryId", "duplicate"],
        "properties": {"executionId": {"type": "string"}, "workflow": {"type": "string"},
                       "deliveryId": {"type": "string"},
                       "duplicate": {"type": "boolean", "description": "a delivery (or its content) "
                                     "already accepted: the same execution, nothing started"}}},
}

_PATHS: dict[str, Any] = {
    "/v1/approvals": {"get": {
        "summary": "the pending approvals of this tenant's runs (the operator tenant's: every run "
                   "without a tenant too)",
        "operationId": "list_approvals", "security": _KEYS,
        "responses": {"200": _json_ok("pending approvals, soonest deadline first", _ref("ApprovalList"))}}},
    "/v1/approvals/{approval_id}/decision": {"post": {
        "summary": "decide an approval: the form is validated, the first decision wins and the run resumes",
        "operationId": "decide_approval", "security": _KEYS,
        "parameters": [_path_parameter("approval_id", "the approval's id (from the list or the link)")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("DecisionRequest")}}},
        "responses": {"200": _json_ok("decided; the run resumes", _ref("Decided"))}}},
    "/approvals/{approval_id}": {
        "get": {"summary": "the decision page emailed to the approvers (HTML; the id is the credential)",
                "operationId": "approval_page", "security": [],
                "parameters": [_path_parameter("approval_id", "the approval's id")],
                "responses": {"200": {"description": "the page with its form", "content": _HTML}}},
        "post": {"summary": "submit the decision page's form",
                 "operationId": "submit_approval_page", "security": [],
                 "parameters": [_path_parameter("approval_id", "the approval's id")],
                 "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                     "schema": {"type": "object", "required": ["csrfToken"],
                                "properties": {"csrfToken": {"type": "string"}},
                                "additionalProperties": {"type": "string"}}}}},
                 "responses": {"200": {"description": "decided; the run resumes", "content": _HTML}}}},
    "/webhooks/{workflow}": {"post": {
        "summary": "a signed delivery of a workflow's webhook trigger: one execution per delivery",
        "operationId": "webhook", "security": [],
        "description": "Signed as the trigger's provider signs (GitHub, Stripe, Shopify, Slack, "
                       "Standard Webhooks or HMAC headers); see docs/triggers.md.",
        "parameters": [_path_parameter("workflow", "a workflow with a webhook trigger")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}},
                                                      "application/x-www-form-urlencoded": {"schema": {}}}},
        "responses": {"202": _json_ok("accepted: the execution started", _ref("WebhookAccepted")),
                      "200": _json_ok("a retry or replay of an accepted delivery: its execution",
                                      _ref("WebhookAccepted"))}}},
}


def openapi_document(version: str = "1") -> str:
    """The OpenAPI document of every route (``docs/openapi.json``)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer

    from stepweave.api.app import TITLE, ApiContext, build_resolver
    from stepweave.api.sim_routes import LEGACY_ROUTES
    from stepweave.api.sim_routes import openapi_paths as openapi_sim_paths

    def unused() -> ApiContext:
        raise RuntimeError("no context while describing the API")

    app = build_resolver(unused)
    text: str = app.get_openapi_json_schema(
        title=TITLE, version=version,
        description="Start, follow and cancel Stepweave workflow executions; decide approvals; "
                    "receive webhooks. See docs/api.md.",
        security_schemes={"bearer": HTTPBearer(),
                          "apiKey": APIKey.model_validate({"in": "header", "name": "x-api-key"})},
        security=_KEYS)
    doc = json.loads(text)
    doc["paths"].update(json.loads(json.dumps(_PATHS)))
    for path, operations in openapi_sim_paths().items():
        for method, extra in operations.items():
            doc["paths"][path][method].update(extra)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(json.loads(json.dumps(_SCHEMAS)))
    return json.dumps(_with_errors(doc, LEGACY_ROUTES), indent=2, sort_keys=True) + "\n"


def _with_errors(doc: dict[str, Any], legacy: Collection[str] = ()) -> dict[str, Any]:
    """Every route's error responses, all of the one error shape (``ErrorBody``), but the
    pages', which are pages, and Sim's older routes' (``legacy``: ``SimLegacyError``)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["SimLegacyError"] = {
        "type": "object", "required": ["error", "code"], "description": "the error shape of Sim's older routes",
        "properties": {"error": {"type": "string", "description": "the message"}, "code": {"type": "string"}}}
    legacy_error = {"application/json": {"schema": _ref("SimLegacyError")}}
    schemas["ErrorBody"] = {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"],
                                 "additionalProperties": True,
                                 "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
    for (method, path), codes in _ERRORS.items():
        operation = doc.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)  # request validation answers 400 in the error shape
        page = path.startswith("/approvals/")
        for code in codes:
            text = _ERROR_TEXT_OF.get(path, {}).get(code, _ERROR_TEXT[code])
            content = _HTML if page else legacy_error if path in legacy else _JSON_ERROR
            responses.setdefault(str(code), {"description": text, "content": content})
    return doc


def docs_page(document: str) -> str:
    """A page listing the routes of an OpenAPI document: no script, no external asset (it
    is served with the decision pages' Content-Security-Policy)."""
    doc = json.loads(document)
    rows = []
    for path, operations in sorted(doc.get("paths", {}).items()):
        for method, operation in sorted(operations.items()):
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            keyed = operation.get("security", doc.get("security")) not in (None, [])
            codes = ", ".join(sorted(operation["responses"]))
            rows.append(f"<tr><td class=m>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code>"
                        f"</td><td>{html.escape(str(operation.get('summary', '')))}</td>"
                        f"<td>{'key' if keyed else '-'}</td><td>{html.escape(codes)}</td></tr>")
    info = doc.get("info", {})
    title = html.escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>body{{font:15px/1.45 system-ui,sans-serif;margin:2em auto;"
            "max-width:70em;padding:0 1em}table{border-collapse:collapse;width:100%}"
            "td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}"
            "td.m{font-weight:600}code{font-size:90%}</style></head><body>"
            f"<h1>{title}</h1><p>{html.escape(str(info.get('description', '')))}</p>"
            "<p>The whole description: <a href='/openapi.json'>/openapi.json</a> (OpenAPI "
            f"{html.escape(str(doc.get('openapi', '')))}). A key goes in <code>Authorization: Bearer "
            "&lt;key&gt;</code> or <code>x-api-key</code>.</p>"
            "<table><thead><tr><th>method</th><th>path</th><th>what</th><th>auth</th><th>answers</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>")


if __name__ == "__main__":
    print(openapi_document(), end="")
