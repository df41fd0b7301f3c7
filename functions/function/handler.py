"""Lambda entry point of the ``function`` block: JavaScript in a fresh V8 isolate.

Thin by design: validate the ``BlockEvent``, run ``stepweave.blocks.function_block``
with the Lambda environment (for ``{{NAME}}`` values), return its output. Logs carry
ids and sizes only, never params, outputs or secrets. ``py_mini_racer`` is imported
on first use, not here.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools.logging import Logger
from pydantic import ValidationError
from stepweave.blocks.contract import BlockEvent
from stepweave.blocks.function_block import run_function
from stepweave.errors import BlockError, BlockInputError

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one function block; raise a ``BlockError`` subclass on failure."""
    block_event = _parse_event(event)
    logger.append_keys(
        workflow=block_event.context.workflow,
        execution=block_event.context.execution,
        block=block_event.block.id,
    )
    code, bindings = block_event.params.get("code"), block_event.params.get("bindings")
    logger.info(
        "function block started",
        extra={
            "code_chars": len(code) if isinstance(code, str) else None,
            "binding_count": len(bindings) if isinstance(bindings, dict) else 0,
        },
    )
    started = time.perf_counter()
    try:
        output = run_function(dict(block_event.params), env=os.environ)
    except BlockError as exc:
        logger.warning("function block failed", extra={"error": type(exc).__name__})
        raise
    logger.info(
        "function block finished",
        extra={
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "stdout_chars": len(output["stdout"]),
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
