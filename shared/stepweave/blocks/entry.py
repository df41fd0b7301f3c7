"""What every block handler's Lambda entry point does around the block's own logic.

Validate the ``BlockEvent`` (a bad event is a ``BlockInputError``, not a pydantic
traceback), tag the logs with workflow, execution and block ids, run the block with
its named secrets (``{{NAME}}`` values: ``stepweave.runtime.secrets``, the environment
locally, SSM when deployed), and log ids, sizes and durations —
never params, outputs or secrets. Each run also emits CloudWatch metrics in the embedded
metric format (Powertools Metrics; namespace and service from ``POWERTOOLS_METRICS_NAMESPACE``
and ``POWERTOOLS_SERVICE_NAME``): ``BlockDuration`` (ms) and, on failure, ``BlockFailures``,
with a ``BlockType`` dimension. ``POWERTOOLS_METRICS_DISABLED=true`` turns them off.

Large values (``stepweave.runtime.payloads``): stubs in the params (outputs of earlier
blocks of the same execution, stored in the payload bucket) are resolved before the block
runs, and an output over the inline budget is stored there and returned pruned, keeping the
event's ``keep`` paths inline. S3 is touched only then.
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
from stepweave.runtime.payloads import PayloadStore, execution_prefix, offload, resolve
from stepweave.runtime.secrets import DeclaredSecrets, Secrets, fill_secrets, mask_secrets
from stepweave.runtime.settings import Settings, SettingsError

__all__ = ["parse_event", "run_block", "declared_secrets"]

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
              started: Summary, finished: Summary,
              store: PayloadStore | None = None) -> dict[str, Any]:
    """Run one block for a Lambda invocation; raise a ``BlockError`` subclass on failure.

    ``started``/``finished`` give the extra log fields (sizes only) from the params and
    from the output. ``store`` holds large outputs (default: the payload bucket on S3).
    """
    block_event = parse_event(event)
    kind = block_event.block.type
    logger.append_keys(workflow=block_event.context.workflow,
                       execution=block_event.context.execution, block=block_event.block.id)
    began = time.perf_counter()
    try:
        settings = _settings()
        params = dict(block_event.params)
        if settings.payload_bucket:  # without a bucket nothing can have been stored
            params = resolve(params, store, bucket=settings.payload_bucket,
                             prefix=execution_prefix(block_event.context.execution))
        logger.info(f"{kind} block started", extra=started(params))
        secrets = declared_secrets(block_event, settings)
        try:
            params = fill_secrets(params, block_event.secrets.at, secrets)
            output = run(params, secrets)
        except BlockError as exc:
            raise _masked(exc, secrets) from None
        summary = finished(output)
        inline = offload(output, keep=block_event.keep, store=store, settings=settings,
                         where=(block_event.context.execution, block_event.block.id))
    except BlockError as exc:
        logger.warning(f"{kind} block failed", extra={"error": type(exc).__name__})
        _emit_metrics(kind, began, failed=True)
        raise
    duration_ms = round((time.perf_counter() - began) * 1000, 1)
    logger.info(f"{kind} block finished", extra={"duration_ms": duration_ms, **summary,
                                                 "offloaded": inline is not output})
    _emit_metrics(kind, began, failed=False)
    result: dict[str, Any] = inline
    return result


def declared_secrets(block_event: BlockEvent, settings: Settings) -> DeclaredSecrets:
    """The secrets this block may read: the names its workflow declared for it, from the
    deployment's backend (the environment locally, SSM deployed)."""
    return DeclaredSecrets(Secrets.from_settings(settings), block_event.secrets.names)


def _masked(exc: BlockError, secrets: DeclaredSecrets) -> BlockError:
    """The error with every encoding of every secret the block read masked, and a hint
    naming the secrets it asked for that are not set."""
    message = mask_secrets(str(exc), secrets.revealed)
    if secrets.unset:
        names = ", ".join(sorted(secrets.unset))
        where = "; ".join(secrets.where(name) for name in sorted(secrets.unset))
        message += (f" (not set: {names}; looked for in {where}. Locally pass --env NAME=value "
                    "or export it; deployed, create the SSM parameter)")
    if message == str(exc):
        return exc
    return type(exc)(message)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise BlockError(f"Invalid handler configuration: {exc}") from None


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
