"""Lambda entry point of the ``api`` block: one HTTP request.

Thin by design: validate the ``BlockEvent``, run ``stepweave.blocks.api_block``
with the Lambda environment (for ``{{NAME}}`` values), return its output. Logs carry
ids and sizes only, never params, URLs, outputs or secrets. ``httpx`` is imported on
first use, not here.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools.logging import Logger
from pydantic import ValidationError
from stepweave.blocks.api_block import run_api
from stepweave.blocks.contract import BlockEvent
from stepweave.errors import BlockError, BlockInputError

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one api block; raise a ``BlockError`` subclass on failure."""
    block_event = _parse_event(event)
    logger.append_keys(
        workflow=block_event.context.workflow,
        execution=block_event.context.execution,
        block=block_event.block.id,
    )
    logger.info("api block started", extra={"param_count": len(block_event.params)})
    started = time.perf_counter()
    try:
        output = run_api(dict(block_event.params), env=os.environ)
    except BlockError as exc:
        logger.warning("api block failed", extra={"error": type(exc).__name__})
        raise
    logger.info(
        "api block finished",
        extra={
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "status": output["status"],
            "header_count": len(output["headers"]),
        },
    )
    return output


def _parse_event(event: object) -> BlockEvent:
    """Validate the raw event, turning pydantic's report into a ``BlockInputError``."""
    try:
        return BlockEvent.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise BlockInputError(f"Invalid block event: {problems}") from None
