"""From "Step Functions Execution Status Change" events to execution records.

``record`` is what the recorder Lambda does, with its clients passed in (the embedded
engine feeds it the same events, built by ``status_change_event``):

- ``RUNNING``: the started record (never replacing a final one: events may arrive out
  of order);
- a final status: ``DescribeExecution`` and the whole ``GetExecutionHistory``, block logs
  derived with the workflow's manifest (``stepweave.runtime.history``), written first,
  then the final record (so a retried event completes what a failed one started). A split
  workflow's Express stretches are spliced in (``stepweave.runtime.stretches``), read from
  their logs when deployed (``stepweave.runtime.stretch_logs``): while one is still being
  delivered, nothing is written and ``StretchLogsPending`` is raised (retry the event later).
  The items of distributed parallels and chunked loops are spliced in too
  (``stepweave.runtime.map_items``): all of them from ``Clients.map_items`` (the embedded
  engine keeps them), or deployed, those ``Clients.item_bound`` allows, read back from
  their Map Runs (``stepweave.runtime.map_runs``); how many were not is the record's
  ``unlogged_items``. What the stretches and the items' child executions are billed is
  gathered on the way (``stepweave.runtime.billing``): the record's billed figures beside
  the run's own transitions, which ``stepweave.runtime.pricing.record_bill`` prices.

Step Functions sends these events for Standard workflows only; Express executions have
no execution history API either: their statuses come from their logs
(``stepweave.runtime.express``), without block logs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepweave.runtime.history import (
    BlockRun,
    billed_transitions,
    block_runs,
    fetch_history,
    lambda_invocations,
)
from stepweave.runtime.manifests import state_machine_name
from stepweave.runtime.records import (
    BlockLog,
    ExecutionRecord,
    Status,
    claim_tenant,
    put_block_logs,
    put_final,
    put_redriven,
    put_started,
    tenant_in_name,
    tenant_of,
)
from stepweave.runtime.settings import Settings
from stepweave.runtime.billing import StretchTimes, billed_figures
from stepweave.runtime.pricing import BilledChild, ChildrenBill, children_bill
from stepweave.runtime.stretch_logs import StretchLogs, child_starts
from stepweave.runtime.map_items import ItemEvents, with_items
from stepweave.runtime.map_runs import ItemBound, map_run_arns, read_items
from stepweave.runtime.stretches import spliced

__all__ = ["Clients", "Outcome", "StatusChange", "InvalidEvent", "record", "status_change_event",
           "started_record", "final_record",
           "fetch_history", "child_events_reader", "read_map_items", "MapItems",
           "block_logs", "iso",
           "ManifestSource", "DETAIL_TYPE", "EXTERNAL_TRIGGER",
           "trigger_in_input"]

DETAIL_TYPE = "Step Functions Execution Status Change"
#: The trigger recorded when nothing else recorded one first: started outside Stepweave's
#: own starters (the console, an SDK call, another service).
EXTERNAL_TRIGGER = {"type": "external"}
_STATUS: dict[str, Status] = {"RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed",
                              "TIMED_OUT": "timed_out", "ABORTED": "aborted"}
ManifestSource = Callable[[str], "dict[str, Any] | None"]
#: Triggers that start executions themselves (EventBridge Scheduler, event rules, a parent
#: workflow's sub-workflow block, ``stepweave rerun``) and put what started the run in its
#: input as ``trigger``: the record shows it.
_INPUT_TRIGGERS = ("schedule", "event", "workflow", "rerun")


def trigger_in_input(execution_input: str | None) -> dict[str, Any] | None:
    """The ``trigger`` object a schedule or an event rule put in the run's input, if any."""
    try:
        found = json.loads(execution_input or "null")
    except ValueError:
        return None
    trigger = found.get("trigger") if isinstance(found, dict) else None
    if isinstance(trigger, dict) and trigger.get("type") in _INPUT_TRIGGERS:
        return trigger
    return None


class InvalidEvent(ValueError):
    """Not a status-change event this recorder handles."""


@dataclass(frozen=True)
class Clients:
    sfn: Any  # boto3 "stepfunctions" client
    ddb: Any  # boto3 "dynamodb" client
    #: boto3 "logs" client: a split workflow's Express stretches are read from their logs
    #: (deployed: they have no history API); None: from their history (the embedded engine)
    logs: Any = None
    #: with ``logs``: how long to wait (seconds, each) for a stretch's log still being delivered
    log_waits: tuple[float, ...] = ()
    #: a run's distributed Map items' events, for their blocks' logs
    #: (``stepweave.runtime.map_items``; the embedded engine's), None: not read
    map_items: ItemEvents | None = None
    #: without ``logs``: how a stretch execution's history is read (None: GetExecutionHistory;
    #: the embedded engine also reads those it kept of a run redriven in another process)
    child_history: Callable[[str], list[dict[str, Any]]] | None = None
    #: deployed (no ``map_items``): how many of a run's distributed Map items the recorder
    #: reads back, from their Map Runs (``stepweave.runtime.map_runs``); None: none
    item_bound: ItemBound | None = None
    #: the child executions a run's distributed Maps started, each as billed (the embedded
    #: engine notes them: ``stepweave.local.distributed_map.noted_children``); None: deployed,
    #: priced from what ``item_bound`` lists and reads of the Map Runs
    map_children: Callable[[str], Sequence[BilledChild]] | None = None
    #: how long a stretch execution ran, by its start and stop dates (the embedded engine's
    #: ``DescribeExecution``, as ``stepweave run`` measures it); None: by its events' times
    execution_span: Callable[[str], float | None] | None = None


@dataclass(frozen=True)
class Outcome:
    status: str
    written: bool
    block_logs: int
    workflow: str
    manifest_found: bool = True
    #: distributed Map items whose blocks were not logged (``Clients.item_bound``)
    unlogged_items: int = 0


class StatusChange(BaseModel):
    """The ``detail`` of a status-change event (dates are epoch milliseconds)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    name: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    start_date: int = Field(alias="startDate")
    stop_date: int | None = Field(default=None, alias="stopDate")
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = Field(default=0, alias="redriveCount")
    redrive_date: int | None = Field(default=None, alias="redriveDate")


def parse_event(event: object) -> StatusChange:
    if not isinstance(event, Mapping) or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidEvent(f"not a {DETAIL_TYPE!r} event")
    try:
        return StatusChange.model_validate(event.get("detail"))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False))
        raise InvalidEvent(f"invalid event detail ({fields})") from None


def iso(value: datetime | int | float) -> str:
    """ISO-8601 UTC with milliseconds (``2025-01-31T12:00:00.123Z``); ints are epoch ms."""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, tz=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return int(value) if isinstance(value, (int, float)) else None


def status_change_event(description: Mapping[str, Any], status: str | None = None) -> dict[str, Any]:
    """An EventBridge status-change event as AWS sends it, from ``DescribeExecution``'s
    response (``status`` overrides, e.g. ``RUNNING`` for the start of a finished run)."""
    status = status or str(description["status"])
    final = status != "RUNNING"
    start, stop = _epoch_ms(description.get("startDate")), _epoch_ms(description.get("stopDate"))
    detail = {
        "executionArn": description["executionArn"], "stateMachineArn": description["stateMachineArn"],
        "name": description["name"], "status": status, "startDate": start,
        "stopDate": stop if final else None,
        "input": description.get("input"), "inputDetails": {"included": True},
        "output": description.get("output") if final else None, "outputDetails": {"included": True},
        "error": description.get("error") if final else None,
        "cause": description.get("cause") if final else None,
    }
    if description.get("redriveCount"):  # as AWS sends a redriven execution's events
        detail["redriveCount"] = description["redriveCount"]
        detail["redriveDate"] = _epoch_ms(description.get("redriveDate"))
    arn = str(description["executionArn"])
    region, account = arn.split(":")[3:5]
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE, "source": "aws.states",
            "account": account, "time": iso(stop if final and stop else start or 0)[:19] + "Z",
            "region": region, "resources": [arn], "detail": detail}


def _json_ms(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def block_logs(execution_arn: str, runs: list[BlockRun], expires_at: int) -> list[BlockLog]:
    logs = []
    for seq, run in enumerate(runs, start=1):
        duration = (round((run.ended - run.started).total_seconds() * 1000)
                    if run.started is not None and run.ended is not None else None)
        output = None if run.failed or run.output is None else json.dumps(run.output, ensure_ascii=False)
        logs.append(BlockLog(
            execution_arn=execution_arn, seq=seq, block_id=run.block, name=run.name, type=run.type,
            containers=list(run.containers), where=dict(run.where), iteration=run.iteration,
            branch=run.branch, started_at=_json_ms(run.started), ended_at=_json_ms(run.ended),
            duration_ms=duration, success=not run.failed, output=output,
            error=run.error if run.failed else None, expires_at=expires_at))
    return logs


def started_record(detail: StatusChange, workflow: str, settings: Settings,
                   trigger: Mapping[str, Any] | None = None) -> ExecutionRecord:
    """The record of a running execution (expires ``retention_days`` after its start)."""
    return ExecutionRecord(
        workflow=workflow, execution_arn=detail.execution_arn, name=detail.name, status="running",
        trigger=dict(trigger or EXTERNAL_TRIGGER), input=detail.input, started_at=iso(detail.start_date),
        expires_at=detail.start_date // 1000 + settings.retention_seconds)


def final_record(detail: StatusChange, workflow: str, settings: Settings,
                 trigger: Mapping[str, Any] | None = None, *, description: Mapping[str, Any] | None = None,
                 events: list[dict[str, Any]] | None = None, start_known: bool = True) -> ExecutionRecord:
    """The record of a finished execution, completed from ``DescribeExecution`` and the
    history when given (expires ``retention_days`` after its stop). Without a known start
    (``start_known=False``) there is no duration."""
    desc = description or {}
    stop = detail.stop_date or _epoch_ms(desc.get("stopDate")) or detail.start_date
    return ExecutionRecord(
        workflow=workflow, execution_arn=detail.execution_arn, name=detail.name,
        status=_STATUS[detail.status],
        trigger=dict(trigger or EXTERNAL_TRIGGER), input=desc.get("input", detail.input),
        output=desc.get("output", detail.output), error=desc.get("error", detail.error),
        cause=desc.get("cause", detail.cause), started_at=iso(detail.start_date), stopped_at=iso(stop),
        duration_ms=max(0, stop - detail.start_date) if start_known else None,
        transitions=billed_transitions(events) if events is not None else None,
        lambda_invocations=lambda_invocations(events) if events is not None else None,
        redrive_count=int(desc.get("redriveCount") or 0) or None,
        redriven_at=iso(desc["redriveDate"]) if desc.get("redriveDate") else None,
        expires_at=stop // 1000 + settings.retention_seconds)


def record(event: object, *, settings: Settings, clients: Clients, manifests: ManifestSource,
           trigger: Mapping[str, Any] | None = None) -> Outcome:
    """Record one status-change event. Raises ``InvalidEvent`` for anything else."""
    detail = parse_event(event)
    trigger = trigger or trigger_in_input(detail.input)
    manifest = manifests(detail.state_machine_arn)
    workflow = str(manifest["workflow"]) if manifest else state_machine_name(detail.state_machine_arn)
    if detail.status == "PENDING_REDRIVE":
        return Outcome("pending_redrive", False, 0, workflow, manifest is not None)
    if detail.status == "RUNNING" and detail.redrive_count:  # redriven: the ended record runs again
        written = put_redriven(clients.ddb, settings, detail.execution_arn, detail.redrive_count,
                               iso(detail.redrive_date or detail.start_date))
        return Outcome("running", written, 0, workflow, manifest is not None)
    if detail.status == "RUNNING":
        started = started_record(detail, workflow, settings, trigger)
        written = put_started(clients.ddb, settings, started)
        _inherit_tenant(clients.ddb, settings, started)
        return Outcome("running", written, 0, workflow, manifest is not None)
    desc = clients.sfn.describe_execution(executionArn=detail.execution_arn)
    events = fetch_history(clients.sfn, detail.execution_arn)
    final = final_record(detail, workflow, settings, trigger, description=desc, events=events)
    # a split workflow's blocks ran in its Express stretches too (stepweave.runtime.stretches)
    stretches = StretchTimes(child_events_reader(clients, detail.start_date, events), clients.execution_span)
    whole = spliced(events, manifest or {}, stretches)
    if whole is not events:
        final = final.model_copy(update={"lambda_invocations": lambda_invocations(whole)})
    if manifest:  # the blocks inside distributed containers
        items = read_map_items(clients, detail.execution_arn, events, whole)
        whole = items.events
        if items.unlogged:
            final = final.model_copy(update={"unlogged_items": items.unlogged})
        # what its stretches and children are billed, beside its own transitions
        final = final.model_copy(update=billed_figures(manifest, stretches.bill(), items.children))
    runs = block_runs(whole, manifest) if manifest else []
    logs = block_logs(detail.execution_arn, runs, final.expires_at)
    put_block_logs(clients.ddb, settings, logs)
    written = put_final(clients.ddb, settings, final)
    _inherit_tenant(clients.ddb, settings, final)
    return Outcome(final.status, written, len(logs), workflow, manifest is not None,
                   final.unlogged_items or 0)


@dataclass(frozen=True)
class MapItems:
    """``read_map_items``: the events with the items', how many items were not read, and
    what the children are billed (None: not known)."""

    events: list[dict[str, Any]]
    unlogged: int = 0
    children: ChildrenBill | None = None


def read_map_items(clients: Clients, execution_arn: str, history: list[dict[str, Any]],
                   events: list[dict[str, Any]]) -> MapItems:
    """``events`` (the run's, its stretches spliced in) with the events of its distributed
    Maps' items (``stepweave.runtime.map_items``): all of them from ``Clients.map_items``, or
    those ``Clients.item_bound`` allows, read back from the Map Runs ``history`` (the run's
    own) started; how many items were not read; and the bill of the children: from
    ``Clients.map_children``, or as ``read_items`` prices them from the Map Runs
    (``stepweave.runtime.billing``). ``StretchLogsPending`` while an Express item's log is
    still being delivered."""
    children = children_bill(clients.map_children(execution_arn)) if clients.map_children else None
    if clients.map_items is not None:
        return MapItems(with_items(events, clients.map_items(execution_arn)), 0, children)
    if not map_run_arns(history):
        return MapItems(events, 0, ChildrenBill())
    if clients.item_bound is None:
        return MapItems(events, 0, children)
    read = read_items(clients.sfn, clients.logs, execution_arn, history,
                      bound=clients.item_bound, waits=clients.log_waits)
    return MapItems(with_items(events, read.items), read.skipped, children or read.children)


def child_events_reader(clients: Clients, since_ms: int = 0, parent: list[dict[str, Any]] | None = None,
                        ) -> Callable[[str], list[dict[str, Any]]]:
    """How a split run's stretch executions are read (``since_ms``: the run's start;
    ``parent``: its history, which dates each child's start): from their logs when deployed
    (``StretchLogsPending`` while one is incomplete), else from their history."""
    if clients.logs is None:
        return clients.child_history or (lambda child: fetch_history(clients.sfn, child))
    return StretchLogs(clients.sfn, clients.logs, since_ms=since_ms, waits=clients.log_waits,
                       starts=child_starts(parent or [])).events


def _inherit_tenant(ddb: Any, settings: Settings, record: ExecutionRecord) -> None:
    """A nested run (a sub-workflow block's) belongs to the tenant of the run that started it.

    Only for runs the run API cannot have started: those are named ``<tenant>.…``, and their
    input (the caller's) could name any parent."""
    trigger = record.trigger
    if trigger.get("type") != "workflow" or tenant_in_name(record.name) is not None:
        return
    parent = str(trigger.get("executionId") or "")
    if not parent.startswith("arn:"):
        return
    tenant = tenant_of(ddb, settings, parent)
    if tenant:
        claim_tenant(ddb, settings, record.execution_arn, tenant, record.started_at, trigger)
