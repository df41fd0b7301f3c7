"""Lambda entry point of the ``evaluator`` block: a model scores content on metrics.

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only; ``stepweave.ai.judge`` does the work. httpx and boto3 are imported on first use.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.entry import run_block
from stepweave.blocks.evaluator_block import run_evaluator_block

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one evaluator block; raise a ``BlockError`` subclass on failure."""
    return run_block(
        logger, event, run_evaluator_block,
        started=lambda params: {"metric_count": len(params.get("metrics") or [])},
        finished=lambda out: {"provider": out.get("provider"),
                              "tokens": (out.get("tokens") or {}).get("total")},
    )
