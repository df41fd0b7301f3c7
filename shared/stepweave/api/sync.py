"""A finished synchronous run as the HTTP response: the response block's ``{data, status,
headers}``, any other output as JSON (200), a failure as ``execution_failed`` naming the block."""

from __future__ import annotations

import json
from typing import Any

from stepweave.api.errors import JSON_HEADERS, ExecutionFailed
from stepweave.api.executions import Outcome
from stepweave.errors import BLOCK_FAILED_ERROR

__all__ = ["EXECUTION_HEADER", "sync_response"]

#: Every synchronous answer names its execution in this header.
EXECUTION_HEADER = "x-stepweave-execution-id"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}


def _is_response(output: Any) -> bool:
    return isinstance(output, dict) and set(output) <= {"data", "status", "headers"} \
        and isinstance(output.get("status"), int) and "data" in output


def _failure(outcome: Outcome, workflow: str) -> ExecutionFailed:
    ident: dict[str, Any] = {"executionId": outcome.execution_arn, "workflow": workflow,
                             "status": outcome.status.lower()}
    if outcome.error == BLOCK_FAILED_ERROR and outcome.cause and ": " in outcome.cause:
        block, message = outcome.cause.split(": ", 1)
        return ExecutionFailed(f"block '{block}' failed: {message}", block=block, error=outcome.error, **ident)
    message = outcome.cause or outcome.error or outcome.status.lower()
    return ExecutionFailed(f"the execution {outcome.status.lower()}: {message}", error=outcome.error, **ident)


def sync_response(outcome: Outcome, workflow: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a finished run; raises ``ExecutionFailed`` for a failed one."""
    if outcome.status != "SUCCEEDED":
        raise _failure(outcome, workflow)
    output: Any = json.loads(outcome.output) if outcome.output else None
    headers = {EXECUTION_HEADER: outcome.execution_arn or ""}
    if not _is_response(output):
        return 200, {**JSON_HEADERS, **headers}, json.dumps(output, ensure_ascii=False)
    assert isinstance(output, dict)
    status = int(output["status"]) if 100 <= int(output["status"]) <= 599 else 200
    data = output["data"]
    given = {str(k): str(v) for k, v in (output.get("headers") or {}).items()
             if str(k).lower() not in _HOP_BY_HOP} if isinstance(output.get("headers"), dict) else {}
    if isinstance(data, str) and any(k.lower() == "content-type" for k in given):
        body = data
    else:
        body = json.dumps(data, ensure_ascii=False)
        given = {k: v for k, v in given.items() if k.lower() != "content-type"}
        given["Content-Type"] = "application/json"
    return status, {**given, **headers}, body
