"""What every block handler's Lambda entry point does around the block's own logic.

Validate the ``BlockEvent`` (a bad event is a ``BlockInputError``, not a pydantic
traceback), tag the logs with workflow, execution and block ids, run the block with
the Lambda environment (for ``{{NAME}}`` values), and log ids, sizes and durations —
never params, outputs or secrets. Each run also emits CloudWatch metrics in the embedded
metric format (Powertools Metrics; namespace and service from ``POWERTOOLS_METRICS_NAMESPACE``
and ``POWERTOOLS_SERVICE_NAME``): ``BlockDuration`` (ms) and, on failure, ``BlockFailures``,
with a ``BlockType`` dimension. ``POWERTOOLS_METRICS_DISABLED=true`` turns them off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from pydantic import ValidationError

from stepweave.blocks.contract import BlockEvent
from stepweave.errors import BlockError, BlockInputError

__all__ = ["parse_event", "run_block"]

BlockRunner = Callable[[dict[str, Any], Mapping[str, str]], dict[str, Any]]
Summary = Callable[[dict[str, Any]], dict[str, Any]]


def parse_event(event: object) -> BlockEvent:
    """Validate the raw event, turning pydantic's report into a ``BlockInputError``."""
    try:
        return BlockEvent.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise BlockInputError(f"Invalid block event: {problems}") from None


def run_block(logger: Logger, event: object, run: BlockRunner, *,
              started: Summary, finished: Summary) -> dict[str, Any]:
    """Run one block for a Lambda invocation; raise a ``BlockError`` subclass on failure.

    ``started``/``finished`` give the extra log fields (sizes only) from the params and
    from the output.
    """
    block_event = parse_event(event)
    kind = block_event.block.type
    logger.append_keys(workflow=block_event.context.workflow,
                       execution=block_event.context.execution, block=block_event.block.id)
    params = dict(block_event.params)
    logger.info(f"{kind} block started", extra=started(params))
    began = time.perf_counter()
    try:
        output = run(params, os.environ)
    except BlockError as exc:
        logger.warning(f"{kind} block failed", extra={"error": type(exc).__name__})
        _emit_metrics(kind, began, failed=True)
        raise
    duration_ms = round((time.perf_counter() - began) * 1000, 1)
    logger.info(f"{kind} block finished", extra={"duration_ms": duration_ms, **finished(output)})
    _emit_metrics(kind, began, failed=False)
    return output


def _emit_metrics(kind: str, began: float, *, failed: bool) -> None:
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true"):
        return  # nothing added: Powertools keeps metrics in a store shared by instances
    metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stepweave"))
    metrics.add_dimension(name="BlockType", value=kind)
    metrics.add_metric(name="BlockDuration", unit=MetricUnit.Milliseconds,
                       value=round((time.perf_counter() - began) * 1000, 1))
    if failed:
        metrics.add_metric(name="BlockFailures", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
