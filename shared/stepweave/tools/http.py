"""The ``http`` tool: one HTTP request with an auth preset (bearer, basic, API-key header).

Params arrive with their ``{{NAME}}`` secrets already substituted (the caller's job). A
workflow fixes what it wants (``url``, ``method``, ``auth``...) and may declare the
``parameters`` the model fills; those arguments go into the query string for GET, HEAD and
DELETE and into a JSON body otherwise. A non-2xx answer is a ``ToolError`` whose message
the model sees (status and the start of the body).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field

from stepweave.tools.base import Tool, ToolContext, ToolError, ToolParams, unresolved
from stepweave.tools.transport import RetryPolicy, Unreachable, send

__all__ = ["TOOL", "HttpParams", "Auth", "auth_headers"]

_QUERY_METHODS = ("GET", "HEAD", "DELETE")
MAX_ERROR_TEXT = 300


class Auth(ToolParams):
    type: Literal["none", "bearer", "basic", "apiKey"] = "none"
    token: str | None = Field(default=None, description="bearer token, e.g. {{CRM_TOKEN}}")
    username: str | None = None
    password: str | None = None
    header: str = Field(default="X-API-Key", description="the header of an apiKey preset")
    value: str | None = Field(default=None, description="the API key, e.g. {{CRM_API_KEY}}")


class HttpParams(ToolParams):
    url: str = Field(min_length=1, description="absolute http(s) URL")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    arguments: dict[str, Any] | None = Field(default=None, description="the model's arguments")
    auth: Auth = Field(default_factory=Auth)
    timeoutMs: int = Field(default=30_000, ge=100, le=600_000)
    retries: int = Field(default=0, ge=0, le=5)


def auth_headers(auth: Auth) -> dict[str, str]:
    """The header an auth preset adds (secrets already substituted)."""
    needed = {"bearer": [auth.token], "basic": [auth.username, auth.password],
              "apiKey": [auth.value]}.get(auth.type, [])
    if any(unresolved(v) for v in needed):
        raise ToolError(f"http tool: the {auth.type} credentials are not set")
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {auth.token}"}
    if auth.type == "basic":
        pair = f"{auth.username}:{auth.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if auth.type == "apiKey":
        return {auth.header: str(auth.value)}
    return {}


def run_http(params: HttpParams, ctx: ToolContext) -> dict[str, Any]:
    import httpx

    resolved = params
    if not resolved.url.startswith(("http://", "https://")):
        raise ToolError("http tool: 'url' must be an absolute http(s) URL")
    headers = {**resolved.headers, **auth_headers(resolved.auth)}
    query: dict[str, Any] = dict(resolved.query)
    body = resolved.body
    if resolved.arguments:
        if resolved.method in _QUERY_METHODS:
            query.update(resolved.arguments)
        else:
            body = {**body, **resolved.arguments} if isinstance(body, dict) else resolved.arguments
    policy = RetryPolicy(retries=resolved.retries, timeout_s=resolved.timeoutMs / 1000)
    try:
        with httpx.Client(transport=ctx.transport, follow_redirects=True) as client:
            response = send(client, resolved.method, resolved.url, policy=policy, headers=headers,
                            json=body, params=query or None, sleep=ctx.sleep)
    except Unreachable as exc:
        raise ToolError(f"http tool: no answer from {params.url} ({exc.kind})") from None
    data = _data(response)
    if not 200 <= response.status_code < 300:
        raise ToolError(f"http tool: {params.method} {params.url} answered "
                        f"{response.status_code}: {response.text[:MAX_ERROR_TEXT]}")
    return {"status": response.status_code, "data": data,
            "headers": {k.lower(): v for k, v in response.headers.items()}}


def _data(response: Any) -> Any:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


TOOL = Tool(
    name="http",
    description="Send an HTTP request and return its status, data and headers.",
    params=HttpParams,
    output_schema={"type": "object", "properties": {
        "status": {"type": "integer"}, "data": {}, "headers": {"type": "object"}}},
    run=run_http,
    sim_types=("http_request",),
    arguments_field="arguments",
    model_params=("query", "body"),
)
