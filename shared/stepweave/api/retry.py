"""``POST /v1/executions/{id}/retry``: resume a failed execution from the block that failed.

Step Functions' ``RedriveExecution`` (``Executions.redrive``: deployed, the state machine's;
under ``stepweave serve``, the embedded engine's): the same execution goes on from its failed
state, the blocks that succeeded are not run again, ``redriveCount`` goes up. The record goes
back to ``running`` at once (the recorder writes the final one when the redrive ends). Only a
failed, timed-out or aborted Standard execution, within 14 days of its stop, can be retried:
anything else is a 409 that says why.
"""

from __future__ import annotations

from typing import Any

from stepweave.api import models
from stepweave.api.errors import Conflict
from stepweave.api.executions import Executions
from stepweave.runtime.recorder import iso
from stepweave.runtime.records import ExecutionRecord, put_redriven
from stepweave.runtime.settings import Settings

__all__ = ["retry_execution", "why_not"]

_RETRIABLE = ("failed", "timed_out", "aborted")


def why_not(record: ExecutionRecord) -> str | None:
    """Why the record's execution cannot be retried, as far as the record tells (None: ask)."""
    if ":express:" in record.execution_arn:
        return "an Express workflow's execution cannot be redriven (Standard only)"
    if record.status == "succeeded":
        return "it succeeded; only a failed, timed-out or aborted execution can be retried (rerun runs it again)"
    if record.status not in _RETRIABLE:
        return f"it is {record.status}; only an execution that ended failed, timed out or aborted can be retried"
    return None


def retry_execution(executions: Executions, ddb: Any, settings: Settings,
                    record: ExecutionRecord) -> models.Retried:
    """Redrive the recorded execution and mark its record running again."""
    reason = why_not(record)
    if reason is not None:
        raise Conflict(f"the execution cannot be retried: {reason}", executionId=record.execution_arn,
                       status=record.status)
    when = iso(executions.redrive(record.execution_arn))
    count = (record.redrive_count or 0) + 1
    put_redriven(ddb, settings, record.execution_arn, count, when)
    return models.Retried(execution_id=record.execution_arn, name=models.client_name(record.name),
                          workflow=record.workflow, redrive_count=count, redriven_at=when)
