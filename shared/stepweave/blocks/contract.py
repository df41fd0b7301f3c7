"""The contract between compiled state machines and block handlers.

Every handler-backed block is a Lambda task invoked with a ``BlockEvent``:

.. code-block:: json

    {"block": {"id": "enrich", "name": "Enrich", "type": "api"},
     "params": {"url": "https://...", "method": "GET"},
     "context": {"workflow": "support-timeline", "execution": "arn:...",
                 "loop": {"index": 0}, "parallel": null},
     "keep": ["data.customer.id"]}

``params`` are already resolved by the state machine (references compiled to
JSONata), except ``{{NAME}}`` secrets, which the handler puts in itself so that secret
values never appear in a definition or its execution history. Which secrets, and where,
is decided at compile time from what the author wrote, never from run-time values:
``secrets.names`` lists every name the block may read (anything else is refused), and
``secrets.at`` the paths in ``params`` of the strings the author wrote with a ``{{NAME}}``
in them, each compiled to a template ``[text, NAME, text, ...]`` (names at odd positions,
texts holding the run's reference values at even ones) that the handler joins
(``stepweave.runtime.secrets.fill_secrets``). A value that arrives from a reference, run
input or a model is data and is never scanned for placeholders.

Large values (``stepweave.runtime.payloads``): an output of an earlier block that was
over the inline budget is a *stub* in ``params`` (``{"$ref": {"bucket", "key", "path",
"bytes"}}``, with ``"from"`` for an array's tail), which the handler replaces by the
stored value before the block runs (stubs into the payload bucket under this execution's
prefix only; anything else is plain data). ``keep`` (optional, default empty) lists the paths of
this block's output that the workflow reads (``result.items[0].id``; ``""`` is the whole
output): if the output is over the budget, the handler stores it and returns it pruned,
with these paths still inline when each is at most 8 KiB, so that native blocks (which
cannot follow a stub) still see them.

An ``approval`` block's task is a ``lambda:invoke.waitForTaskToken``: its event also has
``taskToken``, its handler returns nothing useful and the block's output is what the
decision sends with ``SendTaskSuccess`` (``stepweave.runtime.approvals``).

The handler returns the block's output (a JSON object in the block type's output
shape) or raises a ``stepweave.errors.BlockError`` subclass; Lambda reports the class
name as the error name, which the ASL's Retry/Catch match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BlockRef", "RunContext", "SecretSpec", "BlockEvent"]


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


class SecretSpec(BaseModel):
    """The secrets a block may read and where its params hold secret templates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    names: list[str] = Field(default_factory=list)
    at: list[list[str | int]] = Field(default_factory=list)


class BlockEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    block: BlockRef
    params: dict[str, Any] = Field(default_factory=dict)
    context: RunContext
    keep: list[str] = Field(default_factory=list)
    secrets: SecretSpec = Field(default_factory=SecretSpec)
    #: Approval blocks only: the task token the run waits on (kept server-side).
    taskToken: str | None = None
    #: Approval blocks only: the Express stretch it runs first (``{"StateMachineArn",
    #: "Input"}``; ``stepweave.runtime.lead_in``)
    stretch: dict[str, Any] | None = None
