"""A rerun's input: a recorded execution's input (or an edited one) with ``trigger`` saying
what it reruns, for ``stepweave rerun`` and ``POST /v1/executions/{id}/rerun``.

``trigger`` becomes ``{"type": "rerun", "of": <the first run's ARN>, "previous": <the
trigger its input had>}``; a rerun of a rerun names the run it reruns and keeps the first
trigger as ``previous``, so the chain never nests.
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.runtime.records import ExecutionRecord

__all__ = ["RerunError", "rerun_input"]


class RerunError(StepweaveError):
    """The execution cannot be rerun as asked (its input was not kept whole, or is not an object)."""


def rerun_input(record: ExecutionRecord, edited: Any | None = None) -> dict[str, Any]:
    """The rerun's input: ``edited`` when given, else the recorded input."""
    if edited is None:
        if record.input_truncated:
            raise RerunError(f"the recorded input of {record.name} was too large to keep whole: "
                             "give the input")
        try:
            edited = json.loads(record.input or "{}")
        except ValueError:
            raise RerunError(f"the recorded input of {record.name} is not JSON: give the input") from None
    if not isinstance(edited, dict):
        raise RerunError("a run input is a JSON object")
    previous = edited.get("trigger")
    if isinstance(previous, dict) and previous.get("type") == "rerun":
        previous = previous.get("previous")
    trigger: dict[str, Any] = {"type": "rerun", "of": record.execution_arn}
    if isinstance(previous, dict):
        trigger["previous"] = previous
    return {**edited, "trigger": trigger}
