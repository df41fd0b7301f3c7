"""A finished synchronous run as the HTTP response: the response block's ``{data, status,
headers}``, any other output as JSON (200), a failure as ``execution_failed`` naming the block.

Parts of the output over the inline budget are references into the payload bucket
(``{"$ref": ...}``, ``stepweave.runtime.payloads``): they are read back, so the caller gets the
data. Only references into the run's own prefix (and the deployment's bucket) are followed.
A body over ``MAX_RESPONSE_BYTES`` (a Lambda proxy response carries at most 6 MB), or a
reference that cannot be read, answers ``502 output_unavailable`` with the ``executionId``.
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.api.errors import JSON_HEADERS, ExecutionFailed, OutputUnavailable
from stepweave.api.executions import Outcome
from stepweave.errors import BLOCK_FAILED_ERROR, StepweaveError
from stepweave.runtime.payloads import PayloadStore, execution_prefix, has_stub, resolve

__all__ = ["EXECUTION_HEADER", "MAX_RESPONSE_BYTES", "failure", "fits", "run_output", "sync_response"]

#: A Lambda proxy response is at most 6 MB (6,291,456 bytes) with its headers and the JSON
#: escaping of its body: the body, as escaped, stays under this.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 - 64 * 1024

#: Every synchronous answer names its execution in this header.
EXECUTION_HEADER = "x-stepweave-execution-id"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}


def _is_response(output: Any) -> bool:
    return isinstance(output, dict) and set(output) <= {"data", "status", "headers"} \
        and isinstance(output.get("status"), int) and "data" in output


def failure(outcome: Outcome, workflow: str) -> ExecutionFailed:
    """What a run that did not succeed answers: its error, and the failing block when known."""
    ident: dict[str, Any] = {"executionId": outcome.execution_arn, "workflow": workflow,
                             "status": outcome.status.lower()}
    if outcome.error == BLOCK_FAILED_ERROR and outcome.cause and ": " in outcome.cause:
        block, message = outcome.cause.split(": ", 1)
        return ExecutionFailed(f"block '{block}' failed: {message}", block=block, error=outcome.error, **ident)
    message = outcome.cause or outcome.error or outcome.status.lower()
    return ExecutionFailed(f"the execution {outcome.status.lower()}: {message}", error=outcome.error, **ident)


def _resolved(output: Any, outcome: Outcome, workflow: str, store: PayloadStore | None,
              bucket: str | None) -> Any:
    if not has_stub(output):
        return output
    try:
        return resolve(output, store, bucket=bucket, prefix=execution_prefix(outcome.execution_arn or ""))
    except StepweaveError as exc:
        raise OutputUnavailable(f"the run succeeded but its stored output could not be read: {exc}",
                                executionId=outcome.execution_arn, workflow=workflow) from None


def fits(body: str, outcome: Outcome, workflow: str) -> str:
    """``body``, or ``OutputUnavailable`` when it is over what a response can carry."""
    size = len(json.dumps(body))  # as escaped inside the proxy response (worst case)
    if size > MAX_RESPONSE_BYTES:
        raise OutputUnavailable(
            f"the run succeeded but its response is {size:,} bytes, over the {MAX_RESPONSE_BYTES:,} "
            "an API response can carry: read it where the workflow stores it, or return less",
            executionId=outcome.execution_arn, workflow=workflow, bytes=size, limit=MAX_RESPONSE_BYTES)
    return body


def run_output(outcome: Outcome, workflow: str, *, store: PayloadStore | None = None,
               bucket: str | None = None) -> Any:
    """A finished run's output with its stored parts read back; ``ExecutionFailed`` (naming
    the block) for a run that did not succeed, ``OutputUnavailable`` for a part unreadable."""
    if outcome.status != "SUCCEEDED":
        raise failure(outcome, workflow)
    output: Any = json.loads(outcome.output) if outcome.output else None
    return _resolved(output, outcome, workflow, store, bucket)


def sync_response(outcome: Outcome, workflow: str, *, store: PayloadStore | None = None,
                  bucket: str | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a finished run; raises ``ExecutionFailed`` for a failed
    one, ``OutputUnavailable`` for one whose output cannot be answered. ``store`` and
    ``bucket``: where stored parts of the output are read (the default store; any bucket)."""
    output = run_output(outcome, workflow, store=store, bucket=bucket)
    headers = {EXECUTION_HEADER: outcome.execution_arn or ""}
    if not _is_response(output):
        return 200, {**JSON_HEADERS, **headers}, fits(json.dumps(output, ensure_ascii=False), outcome,
                                                      workflow)
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
    return status, {**given, **headers}, fits(body, outcome, workflow)
