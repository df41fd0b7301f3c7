"""The ``router`` block's handler (its params: ``stepweave.params.router.RouterParams``).

The run is ``stepweave.ai.judge.run_router``, imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["run_router_block"]


def run_router_block(params: dict[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The handler's entry (``stepweave.ai.judge.run_router``, imported on first use)."""
    from stepweave.ai.judge import run_router

    return run_router(params, secrets=secrets)
