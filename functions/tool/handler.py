"""Lambda entry point of the ``tool`` block: one registry tool (slack, email, http, api).

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only (never params, outputs or secrets); ``stepweave.blocks.tool_block`` runs the tool.
httpx and boto3 are imported on first use, not here.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.entry import run_block
from stepweave.blocks.tool_block import run_tool_block

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one tool block; raise a ``BlockError`` subclass on failure."""
    return run_block(
        logger, event, run_tool_block,
        started=lambda params: {"tool": str(params.get("tool") or ""),
                                "param_count": len(params.get("params") or {})},
        finished=lambda out: {"field_count": len(out)},
    )
