"""Lambda entry point of the ``router`` block: a model picks one route.

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only; ``stepweave.ai.judge`` does the work. httpx and boto3 are imported on first use.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.entry import run_block
from stepweave.blocks.router_block import run_router_block

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one router block; raise a ``BlockError`` subclass (``RouterNoMatch``...) on failure."""
    return run_block(
        logger, event, run_router_block,
        started=lambda params: {"route_count": len(params.get("routes") or [])},
        finished=lambda out: {"provider": out.get("provider"),
                              "tokens": (out.get("tokens") or {}).get("total")},
    )
