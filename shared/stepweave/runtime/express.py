"""Express executions: statuses from the state machine's log, delivered by CloudWatch Logs.

Express workflows send no EventBridge events and have no execution history API, so the
deployment subscribes the recorder to their log groups, filtered to the execution-level
events (``ExecutionStarted``, ``ExecutionSucceeded``, ``ExecutionFailed``,
``ExecutionAborted``, ``ExecutionTimedOut``). A delivery is ``{"awslogs": {"data": …}}``:
base64 of gzipped JSON whose ``logEvents[].message`` are Step Functions log events
(``type``, ``execution_arn``, ``event_timestamp`` in epoch ms, ``details``).

Only the execution record is written (status, input/output when the log includes
execution data, error, times, and the workflow type its bill is priced by: a request and
its duration): there are no block logs and no billed transitions (Express bills duration,
not transitions), and its Lambda invocations are not counted. When a batch holds an execution's final event but not
its start, the start recorded earlier is kept and the duration computed from it.

A run the run API started (named ``<tenant>.<name>``) is attributed to its tenant if nothing
attributed it yet, and its name is linked to its ARN (``NAME#<name>``): a caller whose
synchronous run timed out (504, with the name only) polls ``GET /v1/executions/<name>``.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepweave.runtime.recorder import (
    Clients,
    InvalidEvent,
    ManifestSource,
    Outcome,
    StatusChange,
    final_record,
    started_record,
)
from stepweave.runtime.records import (
    ExecutionRecord,
    claim_tenant,
    link_name,
    put_final,
    put_started,
    tenant_in_name,
)
from stepweave.runtime.settings import Settings

__all__ = ["LogEvent", "is_log_delivery", "decode_log_delivery", "record_log_delivery"]

#: The trigger of a run the run API started, as far as its name tells (the API's own record,
#: when it wrote one, keeps its key's name).
API_TRIGGER = {"type": "api"}
_STATUS = {"ExecutionStarted": "RUNNING", "ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED",
           "ExecutionAborted": "ABORTED", "ExecutionTimedOut": "TIMED_OUT"}


class LogEvent(BaseModel):
    """One Step Functions log event (execution level)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    execution_arn: str = Field(min_length=1)
    event_timestamp: int
    details: dict[str, Any] = Field(default_factory=dict)


def is_log_delivery(event: object) -> bool:
    return isinstance(event, Mapping) and isinstance(event.get("awslogs"), Mapping)


def decode_log_delivery(event: Mapping[str, Any]) -> list[LogEvent]:
    """The execution-level log events of a CloudWatch Logs delivery (others are skipped)."""
    try:
        data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    except (KeyError, TypeError, ValueError, OSError):
        raise InvalidEvent("awslogs.data is not base64 of gzipped JSON") from None
    if not isinstance(data, dict) or data.get("messageType") != "DATA_MESSAGE":
        return []  # CONTROL_MESSAGE: CloudWatch Logs checking the destination
    found = []
    for entry in data.get("logEvents") or []:
        try:
            log_event = LogEvent.model_validate(json.loads(entry.get("message", "")))
        except (ValueError, ValidationError, AttributeError):
            continue
        if log_event.type in _STATUS:
            found.append(log_event)
    return found


def _arn_parts(execution_arn: str) -> tuple[str, str]:
    """``arn:<p>:states:<r>:<a>:express:<machine>:<name>:<id>`` -> (state machine ARN, name)."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] not in ("express", "execution"):
        raise InvalidEvent("not an execution ARN")
    return ":".join([*parts[:5], "stateMachine", parts[6]]), parts[7]


def _status_change(started: LogEvent | None, final: LogEvent | None) -> StatusChange:
    last = final or started
    assert last is not None
    machine, name = _arn_parts(last.execution_arn)
    details = final.details if final is not None else {}
    return StatusChange.model_validate({
        "executionArn": last.execution_arn, "stateMachineArn": machine, "name": name,
        "status": _STATUS[last.type],
        "startDate": (started or last).event_timestamp,
        "stopDate": final.event_timestamp if final is not None else None,
        "input": started.details.get("input") if started is not None else None,
        "output": details.get("output"), "error": details.get("error"), "cause": details.get("cause")})


def record_log_delivery(event: Mapping[str, Any], *, settings: Settings, clients: Clients,
                        manifests: ManifestSource) -> list[Outcome]:
    """Record every execution whose start or end is in the delivery."""
    by_execution: dict[str, list[LogEvent]] = {}
    for log_event in decode_log_delivery(event):
        by_execution.setdefault(log_event.execution_arn, []).append(log_event)
    outcomes = []
    for events in by_execution.values():
        started = next((e for e in events if e.type == "ExecutionStarted"), None)
        final = next((e for e in reversed(events) if e.type != "ExecutionStarted"), None)
        detail = _status_change(started, final)
        manifest = manifests(detail.state_machine_arn)
        workflow = str(manifest["workflow"]) if manifest else detail.state_machine_arn.rsplit(":", 1)[-1]
        if final is None:
            record = started_record(detail, workflow, settings)
            written = put_started(clients.ddb, settings, record)
            outcomes.append(Outcome("running", written, 0, workflow, manifest is not None))
        else:
            record = final_record(detail, workflow, settings, start_known=started is not None)
            record = record.model_copy(update={"workflow_type": "EXPRESS"})  # billed on duration
            written = put_final(clients.ddb, settings, record, start_known=started is not None)
            outcomes.append(Outcome(record.status, written, 0, workflow, manifest is not None))
        _attribute(clients.ddb, settings, record)
    return outcomes


def _attribute(ddb: Any, settings: Settings, record: ExecutionRecord) -> None:
    """A run the run API started (``<tenant>.<name>``) belongs to its tenant, and its name
    leads to its ARN: the API knows neither when a synchronous run outlives its wait."""
    tenant = tenant_in_name(record.name)
    if tenant is None:
        return
    claim_tenant(ddb, settings, record.execution_arn, tenant, record.started_at, API_TRIGGER)
    link_name(ddb, settings, record.name, record.execution_arn, record.expires_at)
