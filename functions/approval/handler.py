"""Lambda entry point of the ``approval`` block: store the request, email the approvers.

Invoked by a ``lambda:invoke.waitForTaskToken`` task: the run waits until the decision
answers the token, so what this returns is not the block's output. Logs ids only (never
display data, addresses or the token). boto3 is imported on first use, not here.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.approval_block import request_approval
from stepweave.blocks.entry import parse_event
from stepweave.errors import BlockError
from stepweave.runtime.payloads import execution_prefix, resolve
from stepweave.runtime.settings import Settings, SettingsError

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Store one approval request and send its email; raise a ``BlockError`` on failure."""
    import boto3

    block_event = parse_event(event)
    logger.append_keys(workflow=block_event.context.workflow,
                       execution=block_event.context.execution, block=block_event.block.id)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise BlockError(f"Invalid handler configuration: {exc}") from None
    if settings.payload_bucket:  # display data may read large outputs of earlier blocks
        params = resolve(dict(block_event.params), None, bucket=settings.payload_bucket,
                         prefix=execution_prefix(block_event.context.execution))
        block_event = block_event.model_copy(update={"params": params})
    ses = boto3.client("ses") if settings.approval_sender else None
    approval = request_approval(block_event, ddb=boto3.client("dynamodb"), ses=ses, settings=settings)
    logger.info("approval requested", extra={"approvers": len(approval.approvers),
                                             "deadline": approval.deadline})
    return {"requested": True}
