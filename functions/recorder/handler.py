"""Lambda entry point of the recorder: Step Functions status changes -> execution records.

Triggered by an EventBridge rule on ``source: aws.states``, ``detail-type: Step Functions
Execution Status Change`` (Standard workflows; ``stepweave.runtime.recorder``) and by
CloudWatch Logs subscriptions on Express workflows' log groups (``{"awslogs": ...}``;
``stepweave.runtime.express``). Clients are created on first use. The manifests are
``<workflow>.json`` files (and an optional ``index.json``) in ``STEPWEAVE_MANIFESTS_DIR``,
by default ``manifests/`` beside this file. Logs carry the execution ARN as correlation
id, the workflow and the status — never inputs, outputs or errors' causes. An event that
is not a status change is logged and dropped; AWS errors are raised so that Lambda
retries the event, and so is the final status of a split run whose Express stretches'
logs (``stepweave.runtime.stretch_logs``) are not all delivered yet -- or the log of an
Express child execution of a distributed Map it reads (``stepweave.runtime.map_runs``: at
most ``ITEM_BOUND`` of a run's items are read; the record counts the others).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.runtime.express import is_log_delivery, record_log_delivery
from stepweave.runtime.manifests import load_manifest
from stepweave.runtime.map_runs import ItemBound
from stepweave.runtime.recorder import Clients, InvalidEvent, ManifestSource, record
from stepweave.runtime.settings import Settings
from stepweave.runtime.stretch_logs import StretchLogsPending

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))

MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
#: How long to wait (seconds, each) for a split run's stretch log still being delivered
#: before failing the event, which Lambda then retries (after 1, then 2 minutes) and at
#: last sends to the dead-letter queue: nothing is written from a partial log.
STRETCH_LOG_WAITS = (2.0, 4.0, 8.0)
#: Which child executions of a run's distributed parallels and chunked loops are read for
#: their blocks' logs: the first 50 started (no more once 100,000 events were read: a chunk
#: holds up to 10,000) and up to 50 more that failed -- at most 100 GetExecutionHistory
#: reads (or log searches) per run, within the function's timeout, memory and Step
#: Functions' API rate; the record counts the others (``unloggedItems``).
ITEM_BOUND = ItemBound(first=50, failed=50, events=100_000)


@functools.cache
def clients() -> Clients:
    """boto3 clients, created on first use (not at import) and reused while warm."""
    import boto3

    return Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"),
                   logs=boto3.client("logs"), log_waits=STRETCH_LOG_WAITS, item_bound=ITEM_BOUND)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Record one status-change event; returns what was done (for tests and logs)."""
    logger.clear_state()
    try:
        return _record(event)
    finally:
        logger.clear_state()


def _record(event: dict[str, Any]) -> dict[str, Any]:
    settings = Settings.from_env(default_manifests_dir=MANIFESTS_DIR)
    manifests = functools.partial(load_manifest, settings.manifests_dir)
    if is_log_delivery(event):
        return _record_express(event, settings, manifests)
    detail = event.get("detail") if isinstance(event, dict) else None
    if isinstance(detail, dict):
        logger.set_correlation_id(str(detail.get("executionArn")))
        logger.append_keys(status=detail.get("status"), state_machine=detail.get("stateMachineArn"))
    try:
        outcome = record(event, settings=settings, clients=clients(), manifests=manifests)
    except InvalidEvent as exc:
        logger.warning("event ignored", extra={"reason": str(exc)})
        return {"recorded": False, "reason": str(exc)}
    except StretchLogsPending as exc:  # raised again: Lambda delivers the event later
        logger.warning("an Express execution's log is not delivered yet: nothing written, to be retried",
                       extra={"reason": str(exc)})
        raise
    logger.append_keys(workflow=outcome.workflow)
    if not outcome.manifest_found:
        logger.warning("no manifest for this state machine: block logs cannot be derived")
    logger.info("execution recorded", extra={"written": outcome.written, "block_logs": outcome.block_logs,
                                             "unlogged_items": outcome.unlogged_items})
    out = {"recorded": True, "status": outcome.status, "written": outcome.written,
           "blockLogs": outcome.block_logs, "workflow": outcome.workflow}
    return {**out, "unloggedItems": outcome.unlogged_items} if outcome.unlogged_items else out


def _record_express(event: dict[str, Any], settings: Settings, manifests: ManifestSource) -> dict[str, Any]:
    try:
        outcomes = record_log_delivery(event, settings=settings, clients=clients(), manifests=manifests)
    except InvalidEvent as exc:
        logger.warning("log delivery ignored", extra={"reason": str(exc)})
        return {"recorded": False, "reason": str(exc)}
    for outcome in outcomes:
        logger.info("express execution recorded", extra={
            "workflow": outcome.workflow, "status": outcome.status, "written": outcome.written})
    return {"recorded": bool(outcomes), "executions": len(outcomes),
            "written": sum(1 for o in outcomes if o.written)}
