"""Lambda entry point of the ``approval`` block: store the request, email the approvers.

Invoked by a ``lambda:invoke.waitForTaskToken`` task: the run waits until the decision
answers the token, so what this returns is not the block's output. The block's ``notify``
tools run last, with the secrets the workflow names for them. First it writes the run's
block logs so far (``stepweave.runtime.pause``; the manifests are bundled beside this file,
``STEPWEAVE_MANIFESTS_DIR``). Logs ids only (never
display data, addresses or the token). boto3 is imported on first use, not here.

A lead-in (``stepweave.runtime.lead_in``) first runs the stretch before the approval: when it
fails or ends the run, the task is answered at once and nothing is asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.approval_block import request_approval
from stepweave.blocks.contract import BlockEvent
from stepweave.blocks.entry import declared_secrets, parse_event
from stepweave.errors import BlockError
from stepweave.runtime.map_items import IN_PROCESS_ITEMS
from stepweave.runtime.lead_in import (
    IN_PROCESS_RUNNER,
    SYNC_TIMEOUT_S,
    LeadIn,
    aws_runner,
    ended_output,
    failure_cause,
    keep,
    lambda_error_cause,
    kept,
    kept_key,
    run_lead_in,
)
from stepweave.runtime.map_runs import ItemBound
from stepweave.runtime.pause import record_pause
from stepweave.runtime.payloads import execution_prefix, resolve
from stepweave.runtime.recorder import Clients
from stepweave.runtime.secrets import fill_secrets
from stepweave.runtime.settings import Settings, SettingsError
from stepweave.runtime.stretches import LEAD_FAILED_ERROR

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))

#: The workflows' manifests, generated into the code asset at synth (as the recorder's).
MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
#: A split run's stretch that ran just before the approval is read from its log: how long
#: to wait (seconds, each) for it to be delivered before going on without a snapshot
PAUSE_LOG_WAITS = (1.0, 2.0, 4.0)
#: The items of the run's distributed parallels and chunked loops that the snapshot reads
#: (the first 10 and up to 10 failed: at most 20 reads, well within the notifier's 30 s;
#: the final record reads more)
PAUSE_ITEM_BOUND = ItemBound(first=10, failed=10, events=20_000)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Store one approval request and send its email; raise a ``BlockError`` on failure."""
    import boto3

    block_event = parse_event(event)
    logger.append_keys(workflow=block_event.context.workflow,
                       execution=block_event.context.execution, block=block_event.block.id)
    try:
        settings = Settings.from_env(default_manifests_dir=MANIFESTS_DIR)
    except SettingsError as exc:
        raise BlockError(f"Invalid handler configuration: {exc}") from None
    ddb, sfn = boto3.client("dynamodb"), boto3.client("stepfunctions")
    lead: LeadIn | None = None
    if block_event.stretch is not None:
        lead = _lead_in(block_event, settings, sfn)
        if lead.exit != block_event.block.name:
            return lead.answer()  # answered: the run failed or ended before it
        block_event = block_event.model_copy(update={"params": lead.params or {}})
        try:
            return _ask(block_event, settings, ddb, sfn, lead)
        except Exception as exc:
            if settings.payload_bucket:  # a redrive takes the stretch's result from there
                try:
                    keep(boto3.client("s3"), settings.payload_bucket, _kept_key(block_event), lead)
                except Exception as kept_exc:  # noqa: BLE001 - the request's error is the one to raise
                    logger.warning("stretch result not kept for a redrive", extra={"error": type(kept_exc).__name__})
            # the task fails as the Lambda's error would fail it (the same error and cause), but
            # answered here, so that the run's history names the stretch that ran (its blocks
            # are in the run's records)
            try:
                sfn.send_task_failure(
                    taskToken=block_event.taskToken, error=type(exc).__name__[:256], cause=lambda_error_cause(exc, lead))
            except Exception:  # noqa: BLE001 - then the Lambda's own error fails the task
                raise exc from None
            logger.warning("approval request failed", extra={"error": type(exc).__name__})
            return lead.answer()
    return _ask(block_event, settings, ddb, sfn, None)


def _kept_key(block_event: BlockEvent) -> str:
    return kept_key(block_event.context.workflow, block_event.context.execution, block_event.block.id)


def _ask(block_event: BlockEvent, settings: Settings, ddb: Any, sfn: Any, lead: LeadIn | None) -> dict[str, Any]:
    """Request the approval (after the stretch before it, for a lead-in)."""
    import boto3

    if settings.payload_bucket:  # display data may read large outputs of earlier blocks
        params = resolve(dict(block_event.params), None, bucket=settings.payload_bucket,
                         prefix=execution_prefix(block_event.context.execution))
        block_event = block_event.model_copy(update={"params": params})
    # the run's state so far, before the approval becomes visible (whoever sees the approval
    # sees the blocks that led to it); the approval is requested whatever happens here
    try:
        clients = Clients(sfn=sfn, ddb=ddb, logs=boto3.client("logs"),
                          log_waits=PAUSE_LOG_WAITS, item_bound=PAUSE_ITEM_BOUND,
                          map_items=IN_PROCESS_ITEMS.get())
        written = record_pause(clients, settings, block_event.context.execution,
                               lead_in=lead.answer() if lead else None)
    except Exception as exc:  # noqa: BLE001 - a snapshot must never fail the block
        logger.warning("pause snapshot not written", extra={"error": type(exc).__name__})
    else:
        logger.info("pause snapshot written", extra={"block_logs": written})
    ses = boto3.client("ses") if settings.approval_sender else None
    # the secrets the author wrote (in its notify tools' params) and nothing else
    secrets = declared_secrets(block_event, settings)
    block_event = block_event.model_copy(update={"params": fill_secrets(
        dict(block_event.params), block_event.secrets.at, secrets)})
    approval = request_approval(block_event, ddb=ddb, ses=ses, settings=settings,
                                secrets=secrets, carry=(lead.vars or {}) if lead else None)
    logger.info("approval requested", extra={
        "approvers": len(approval.approvers), "deadline": approval.deadline,
        "notifications": len(approval.notifications or []),
        "notifications_failed": sum(1 for n in approval.notifications or [] if not n["ok"])})
    return {"requested": True, **(lead.answer() if lead else {})}


def _lead_in(block_event: BlockEvent, settings: Settings, sfn: Any) -> LeadIn:
    """Run the stretch before the approval (or take what a failed attempt's did); answer
    the task at once when it failed or ended the run (``stepweave.runtime.lead_in``)."""
    import boto3

    from stepweave.api.executions import sync_client

    token, block, stretch = block_event.taskToken, block_event.block.name, block_event.stretch or {}
    if not token:
        raise BlockError("approval block invoked without a task token")
    given = stretch.get("Input")
    redriven = isinstance(given, dict) and isinstance(given.get("redrive"), int) and given["redrive"] > 0
    lead = kept(boto3.client("s3"), settings.payload_bucket, _kept_key(block_event)) \
        if redriven and settings.payload_bucket else None
    if lead is not None:
        logger.info("stretch before the approval taken from the failed attempt", extra={"stretch": lead.arn})
        return lead
    runner = IN_PROCESS_RUNNER.get() or aws_runner(sync_client(SYNC_TIMEOUT_S))
    lead = run_lead_in(stretch, runner)
    if lead.status != "SUCCEEDED":
        logger.info("stretch before the approval failed", extra={"stretch": lead.arn, "error": lead.error})
        sfn.send_task_failure(taskToken=token, error=LEAD_FAILED_ERROR, cause=failure_cause(lead))
    elif lead.exit != block:
        logger.info("run ended before the approval", extra={"stretch": lead.arn})
        sfn.send_task_success(taskToken=token, output=ended_output(lead))
    return lead
