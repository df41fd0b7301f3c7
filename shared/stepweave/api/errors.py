"""The error shape of every Stepweave HTTP API: ``{"error": {"code", "message", ...}}``.

Each ``ApiError`` subclass is one HTTP status with a stable ``code`` clients can branch on;
extra fields (an execution id, the failing block) sit beside ``code`` and ``message``.
``error_response`` turns one into an API Gateway proxy response, so the run API, the webhook
ingest and any other handler answer errors the same way.

| status | class | code |
|---|---|---|
| 400 | ``InvalidInput`` | ``invalid_input`` |
| 401 | ``Unauthorized`` | ``unauthorized`` |
| 403 | ``Forbidden`` | ``forbidden`` |
| 404 | ``NotFound`` | ``not_found`` |
| 405 | ``MethodNotAllowed`` | ``method_not_allowed`` |
| 409 | ``Conflict`` | ``conflict`` |
| 410 | ``Expired`` | ``expired`` (an approval past its deadline) |
| 413 | ``PayloadTooLarge`` | ``too_large`` |
| 429 | ``Throttled`` | ``throttled`` (``Retry-After`` header) |
| 500 | ``ExecutionFailed`` | ``execution_failed`` (``executionId``, ``block``, ``error``) |
| 500 | ``InternalError`` | ``internal`` |
| 502 | ``OutputUnavailable`` | ``output_unavailable`` (a run's output cannot be answered: ``executionId``) |
| 503 | ``Unavailable`` | ``unavailable`` |
| 504 | ``SyncTimeout`` | ``timeout`` (``executionId`` to poll) |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from stepweave.errors import StepweaveError

__all__ = [
    "JSON_HEADERS",
    "ApiError",
    "Conflict",
    "ExecutionFailed",
    "Expired",
    "Forbidden",
    "InternalError",
    "InvalidInput",
    "MethodNotAllowed",
    "NotFound",
    "OutputUnavailable",
    "PayloadTooLarge",
    "SyncTimeout",
    "Throttled",
    "Unauthorized",
    "Unavailable",
    "error_body",
    "error_response",
]

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff"}


class ApiError(StepweaveError):
    """An error answered to an HTTP client. ``details`` are extra JSON fields of the body."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.details)

    def response(self) -> dict[str, Any]:
        """The API Gateway proxy response of this error."""
        return error_response(self.status, self.code, self.message, headers=self.headers,
                              **self.details)


class InvalidInput(ApiError):
    status, code = 400, "invalid_input"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "missing or invalid API key", **details: Any) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="stepweave"'},
                         **details)


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Expired(ApiError):
    status, code = 410, "expired"


class PayloadTooLarge(ApiError):
    status, code = 413, "too_large"


class Throttled(ApiError):
    status, code = 429, "throttled"

    def __init__(self, message: str = "too many requests", *, retry_after: int = 1,
                 **details: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **details)


class ExecutionFailed(ApiError):
    """A synchronous run ended without success: its error and the failing block."""

    status, code = 500, "execution_failed"


class InternalError(ApiError):
    status, code = 500, "internal"


class OutputUnavailable(ApiError):
    """A synchronous run succeeded but its output cannot be the answer (over the response
    size limit, or stored and unreadable); ``executionId`` says where it is."""

    status, code = 502, "output_unavailable"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


class SyncTimeout(ApiError):
    """A synchronous run outlived the time a request may take; poll ``executionId``."""

    status, code = 504, "timeout"


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """``{"error": {"code": ..., "message": ..., **details}}``."""
    return {"error": {"code": code, "message": message, **details}}


def error_response(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
                   **details: Any) -> dict[str, Any]:
    """An API Gateway (REST, proxy) response carrying the error body."""
    return {"statusCode": status, "headers": {**JSON_HEADERS, **(headers or {})},
            "body": json.dumps(error_body(code, message, **details), ensure_ascii=False),
            "isBase64Encoded": False}
