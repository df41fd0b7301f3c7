"""Lambda entry point of a distributed container's ``collect`` step.

A distributed parallel's results come back from the payload bucket (``op: parallel``: the
Map Run's manifest and result files), and a chunked loop's results grow by a chunk
(``op: append``); ``stepweave.runtime.mapresults`` does the work, and
``stepweave.blocks.entry`` resolves stubs in the params and stores a large output as
stubs (``stepweave.runtime.payloads``), as for every block.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.blocks.entry import run_block
from stepweave.runtime.mapresults import collect

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Read a distributed parallel's results, or append a loop chunk's."""
    return run_block(
        logger, event, lambda params, _secrets: collect(params),
        started=lambda params: {"op": params.get("op")},
        finished=lambda out: {"results": len(out["results"]) if isinstance(out.get("results"), list)
                              else None},
    )
