"""The HTTP request of the ``api`` block and of the ``api`` tool: Sim-compatible params
(``ApiParams``) and output.

Output shape: ``{"data": <JSON body or text>, "status": int, "headers": {...}}``.
Params arrive with the author's ``{{NAME}}`` secrets already put in by the handler's
entry (``stepweave.blocks.entry``: only where the workflow author wrote them, never in
values from references), which also masks every secret in error messages. Nothing here
scans params for placeholders. ``httpx`` is imported lazily to keep the handler's cold
start small.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from stepweave.errors import BlockInputError, HttpStatusError, HttpTransportError
from stepweave.retries import retry_after_seconds, retryable_status

if TYPE_CHECKING:
    import httpx

__all__ = ["ApiParams", "run_api"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
DEFAULT_TIMEOUT_MS = 300_000
MAX_TIMEOUT_MS = 600_000
MAX_RETRIES = 10
MAX_ERROR_TEXT = 500


class ApiParams(BaseModel):  # the api block's params (and the api tool's)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    params: Any = None
    headers: Any = None
    body: Any = None
    timeout: int = Field(default=300_000, ge=1, le=600_000)
    retries: int = Field(default=0, ge=0, le=10)
    retryDelayMs: int = Field(default=500, ge=0)
    retryMaxDelayMs: int = Field(default=30_000, ge=0)
    retryNonIdempotent: bool = False



@dataclass(frozen=True)
class _Request:
    """A fully resolved request plus what error messages may show of it."""

    method: str
    url: str
    display_url: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    content: bytes | None
    timeout_s: float
    retries: int
    delay_ms: int
    max_delay_ms: int
    retry_any_method: bool

    def failure(self, detail: str) -> str:
        """A failure message in Sim's format (the caller masks secrets)."""
        return (f"HTTP Request failed: URL: {self.display_url} | Method: {self.method} | "
                f"Error: {detail}")


def run_api(
    params: dict[str, Any],
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Perform an api block's request and return ``{"data", "status", "headers"}``.

    Raises ``BlockInputError`` for bad params, ``HttpStatusError`` for a non-2xx
    answer (after retries) and ``HttpTransportError`` when no answer came.
    """
    url_template = params.get("url")
    if url_template is None or (isinstance(url_template, str) and not url_template.strip()):
        return {"data": None, "status": 200, "headers": {}}
    request = _build_request(params)

    import httpx

    try:
        url = httpx.URL(request.url).copy_merge_params(request.query)
    except httpx.InvalidURL:
        raise BlockInputError(f"API block parameter 'url' is invalid: {url_template!r}") from None
    with httpx.Client(transport=transport, follow_redirects=True) as client:
        response = _send_with_retries(client, url, request, sleep)
    data = _response_data(response)
    if not 200 <= response.status_code < 300:
        raise HttpStatusError(_status_message(request, response, data))
    headers = {name.lower(): value for name, value in response.headers.items()}
    return {"data": data, "status": response.status_code, "headers": headers}


def _build_request(params: dict[str, Any]) -> _Request:
    """Validate params into a request."""
    url_template = params["url"]
    if not isinstance(url_template, str):
        raise BlockInputError("API block parameter 'url' must be a string")
    url = url_template.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BlockInputError(
            f"API block parameter 'url' must be an absolute http(s) URL, got {url_template!r}"
        )
    method = params.get("method") or "GET"
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise BlockInputError(f"API block parameter 'method' must be one of {', '.join(METHODS)}")
    query = _pairs(params.get("params"), "params")
    display_url = url_template.strip()
    if query:
        display_url += ("&" if "?" in display_url else "?") + urlencode(query, safe="{}")
    headers = dict(_pairs(params.get("headers"), "headers"))
    return _Request(
        method=method.upper(),
        url=url,
        display_url=display_url,
        query=tuple(query),
        headers=headers,
        content=_encode_body(params.get("body"), headers),
        timeout_s=_number(params, "timeout", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS) / 1000,
        retries=_number(params, "retries", 0, 0, MAX_RETRIES),
        delay_ms=_number(params, "retryDelayMs", 500, 0, MAX_TIMEOUT_MS),
        max_delay_ms=_number(params, "retryMaxDelayMs", 30_000, 0, MAX_TIMEOUT_MS),
        retry_any_method=params.get("retryNonIdempotent") in (True, "true"),
    )


def _text(value: object) -> str:
    """A query or header value as text, the way JavaScript's ``String()`` would."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, separators=(",", ":"))


def _pairs(raw: object, name: str) -> list[tuple[str, str]]:
    """Normalise a dict, a ``[{key, value}]`` list or Sim table rows to pairs."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [_row(entry, name) for entry in raw]
    else:
        raise BlockInputError(f"API block parameter '{name}' must be an object or a list of rows")
    pairs = [(_text(key).strip(), _text(value)) for key, value in items]
    return [(key, value) for key, value in pairs if key]


def _row(entry: object, name: str) -> tuple[object, object]:
    """One list entry: ``{"key", "value"}`` or ``{"cells": {"Key", "Value"}}``."""
    if isinstance(entry, dict):
        cells = entry.get("cells")
        if isinstance(cells, dict):
            return cells.get("Key"), cells.get("Value")
        if "key" in entry:
            return entry.get("key"), entry.get("value")
    raise BlockInputError(f"API block parameter '{name}' rows need 'key'/'value' or 'cells'")


def _number(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An optional integer param (numbers or numeric strings) within ``[low, high]``."""
    value = params.get(name)
    if value is None or value == "":
        return default
    number = low - 1
    if not isinstance(value, bool):
        with suppress(TypeError, ValueError, OverflowError):
            number = int(float(value))
    if not low <= number <= high:
        raise BlockInputError(f"API block parameter '{name}' must be a number from {low} to {high}")
    return number


def _encode_body(raw: object, headers: dict[str, str]) -> bytes | None:
    """The body as JSON (objects, JSON-looking strings) or text; sets ``Content-Type``."""
    if raw is None or raw == "":
        return None
    body: str | None = None
    if not isinstance(raw, str):
        body = json.dumps(raw)
    elif raw.lstrip()[:1] in ("{", "["):
        body = raw
        try:
            json.loads(body)
        except ValueError:
            body = None
    content_type = "application/json"
    if body is None:
        body, content_type = str(raw), "text/plain; charset=utf-8"
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return body.encode("utf-8")


def _send_with_retries(
    client: httpx.Client, url: httpx.URL, request: _Request, sleep: Callable[[float], None]
) -> httpx.Response:
    """Send, retrying retryable failures with exponential backoff or ``Retry-After``."""
    import httpx

    may_retry = request.retry_any_method or request.method in IDEMPOTENT_METHODS
    attempt = 0
    while True:
        try:
            response = client.request(
                request.method,
                url,
                headers=request.headers,
                content=request.content,
                timeout=request.timeout_s,
            )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if not may_retry or attempt >= request.retries:
                raise HttpTransportError(_transport_message(request, exc)) from None
            sleep(_backoff(request, attempt, None))
        except httpx.HTTPError as exc:
            raise HttpTransportError(_transport_message(request, exc)) from None
        else:
            if not retryable_status(response.status_code) or not may_retry or attempt >= request.retries:
                return response
            sleep(_backoff(request, attempt, response.headers.get("retry-after")))
        attempt += 1


def _backoff(request: _Request, attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before the next attempt (``Retry-After`` wins, capped)."""
    hinted = retry_after_seconds(retry_after) if retry_after else None
    wait = request.delay_ms / 1000 * 2.0**attempt if hinted is None else hinted
    return min(wait, request.max_delay_ms / 1000)


def _response_data(response: httpx.Response) -> object:
    """The body: parsed JSON when the content type says JSON, else text."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return response.text
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _status_message(request: _Request, response: httpx.Response, data: object) -> str:
    """Sim's error message for a non-2xx answer."""
    reason = response.reason_phrase
    detail: object = None
    if isinstance(data, dict):
        detail = data.get("error") or data.get("message")
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            detail = detail["message"]
    if detail is None or detail == "":
        detail = response.text[:MAX_ERROR_TEXT] or reason
    elif not isinstance(detail, str):
        detail = json.dumps(detail)[:MAX_ERROR_TEXT]
    status = response.status_code
    return request.failure(f"{detail} | Status: {status} | Status text: {reason}{_hint(status)}")


def _hint(status: int) -> str:
    """Sim's suggestion after the status text, kept so messages match Sim's."""
    if status == 403:
        return " - This may be due to CORS restrictions or authorization issues"
    if status == 404:
        return " - The requested resource was not found"
    if status == 429:
        return " - Too many requests, you may need to implement rate limiting"
    if status >= 500:
        return " - Server error, the target server is experiencing issues"
    return ""


def _transport_message(request: _Request, exc: Exception) -> str:
    """A clear message for a request that got no answer."""
    kind = type(exc).__name__
    return request.failure(f"{kind}: {str(exc) or kind}")
