"""Lambda entry point of the ``agent`` block: a model's answer, with tools and memory.

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only (never prompts, answers or keys); ``stepweave.ai.agent`` does the work. httpx and
boto3 are imported on first use, not here.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.agent_block import run_agent_block
from stepweave.blocks.entry import run_block

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one agent block; raise a ``BlockError`` subclass on failure."""
    return run_block(
        logger, event, run_agent_block,
        started=lambda params: {"message_count": len(params.get("messages") or []),
                                "tool_count": len(params.get("tools") or [])},
        finished=lambda out: {"provider": out.get("provider"),
                              "tokens": (out.get("tokens") or {}).get("total"),
                              "tool_calls": (out.get("toolCalls") or {}).get("count")},
    )
