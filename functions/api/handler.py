"""Lambda entry point of the ``api`` block: one HTTP request.

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only (never URLs, params, outputs or secrets); ``stepweave.tools.request`` does the
request. ``httpx`` is imported on first use, not here.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.tools.request import run_api
from stepweave.blocks.entry import run_block

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one api block; raise a ``BlockError`` subclass on failure."""
    return run_block(
        logger, event, lambda params, _secrets: run_api(params),
        started=lambda params: {"param_count": len(params)},
        finished=lambda out: {"status": out["status"], "header_count": len(out["headers"])},
    )
