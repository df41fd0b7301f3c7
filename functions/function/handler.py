"""Lambda entry point of the ``function`` block: JavaScript in a V8 sandbox.

Thin by design: ``stepweave.blocks.entry`` validates the event and logs ids and sizes
only (never code, params, outputs or secrets); ``stepweave.blocks.function_block``
runs the code. The V8 engine is loaded on first use, not here.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.entry import run_block
from stepweave.blocks.function_block import run_function

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def _started(params: dict[str, Any]) -> dict[str, Any]:
    code, bindings = params.get("code"), params.get("bindings")
    return {"code_chars": len(code) if isinstance(code, str) else None,
            "binding_count": len(bindings) if isinstance(bindings, dict) else 0}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Run one function block; raise a ``BlockError`` subclass on failure."""
    return run_block(
        logger, event, lambda params, env: run_function(params, env=env),
        started=_started, finished=lambda out: {"stdout_chars": len(out["stdout"])},
    )
