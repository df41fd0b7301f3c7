"""The ``evaluator`` block's handler (its params: ``stepweave.params.evaluator.EvaluatorParams``).

The run is ``stepweave.ai.judge.run_evaluator``, imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["run_evaluator_block"]


def run_evaluator_block(params: dict[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The handler's entry (``stepweave.ai.judge.run_evaluator``, imported on first use)."""
    from stepweave.ai.judge import run_evaluator

    return run_evaluator(params, secrets=secrets)
