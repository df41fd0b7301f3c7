"""The contract between compiled state machines and block handlers.

Every handler-backed block is a Lambda task invoked with a ``BlockEvent``:

.. code-block:: json

    {"block": {"id": "enrich", "name": "Enrich", "type": "api"},
     "params": {"url": "https://...", "method": "GET"},
     "context": {"workflow": "support-timeline", "execution": "arn:...",
                 "loop": {"index": 0}, "parallel": null}}

``params`` are already resolved by the state machine (references compiled to
JSONata), except ``{{ENV}}`` placeholders, which the handler resolves itself so that
secrets never appear in a definition or its execution history.

The handler returns the block's output (a JSON object in the block type's output
shape) or raises a ``stepweave.errors.BlockError`` subclass; Lambda reports the class
name as the error name, which the ASL's Retry/Catch match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BlockRef", "RunContext", "BlockEvent"]


class BlockRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    type: str


class RunContext(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    workflow: str
    execution: str = ""
    loop: dict[str, Any] | None = None
    parallel: dict[str, Any] | None = None


class BlockEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    block: BlockRef
    params: dict[str, Any] = Field(default_factory=dict)
    context: RunContext
