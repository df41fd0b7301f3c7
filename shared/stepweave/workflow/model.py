"""The canonical workflow model (format v1).

One pydantic model for every input form: our YAML/JSON files (full or terse) and,
through ``stepweave.workflow.sim``, Sim exports. The JSON Schema in
``shared/stepweave/schema/workflow.schema.json`` is generated from it
(``stepweave schema``) for editor validation.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepweave.triggers.declare import Trigger, WebhookTrigger

__all__ = [
    "VariableType",
    "Variable",
    "RetryPolicy",
    "Block",
    "Edge",
    "Workflow",
    "normalize_name",
    "RESERVED_NAMES",
]

VariableType = Literal["plain", "string", "number", "boolean", "object", "array"]

#: Names that cannot be block names: they are reference prefixes.
RESERVED_NAMES = frozenset({"loop", "parallel", "variable"})

_EDGE_SHORTHAND = re.compile(
    r"^\s*(?P<src>[^\s]+)\s*(?:->|-\[(?P<handle>[^\]]+)\]->)\s*(?P<dst>[^\s]+)\s*$")


def normalize_name(name: str) -> str:
    """Sim's reference normalisation: lowercase, no whitespace, no dots."""
    return re.sub(r"[\s.]", "", name).lower()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Variable(_Strict):
    """A workflow variable (``<variable.name>``), changed by Variables blocks."""

    name: str = Field(min_length=1)
    type: VariableType = "plain"
    value: Any = None


class RetryPolicy(_Strict):
    """Retries of the block's handler call (Sim's ``BlockRetryConfig``).

    ``maxTries`` counts the first try and is clamped to 2..5; ``waitBetweenTriesMs`` to
    0..5000 (Step Functions waits whole seconds: it is rounded up, minimum 1 s).
    """

    enabled: bool = True
    maxTries: int = 3
    waitBetweenTriesMs: int = 1000

    def clamped(self) -> tuple[int, int]:
        return max(2, min(5, self.maxTries)), max(0, min(5000, self.waitBetweenTriesMs))


class Block(_Strict):
    """A block: a unit of work, a control block, or a loop/parallel container."""

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)
    name: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    retry: RetryPolicy | None = None
    parent: str | None = Field(default=None, description="Id of the enclosing loop/parallel.")
    timeoutSeconds: int | None = Field(default=None, ge=1, le=31_536_000)
    simId: str | None = Field(
        default=None, max_length=200,
        description="The block's id in the Sim export it was imported from (metadata; "
        "the compiler ignores it).")

    @model_validator(mode="after")
    def _default_name(self) -> Block:
        if not self.name:
            self.name = self.id
        return self

    @property
    def ref_name(self) -> str:
        return normalize_name(self.name)


class Edge(_Strict):
    """A connection. ``sourceHandle`` selects which outcome of the source fires it."""

    source: str
    target: str
    sourceHandle: str | None = "source"

    @classmethod
    def parse_shorthand(cls, text: str) -> Edge:
        """``"a -> b"`` or ``"a -[handle]-> b"``."""
        match = _EDGE_SHORTHAND.match(text)
        if not match:
            raise ValueError(f"edge {text!r} is not of the form 'a -> b' or 'a -[handle]-> b'")
        return cls(source=match["src"], target=match["dst"],
                   sourceHandle=match["handle"] or "source")


class Workflow(_Strict):
    """A workflow file."""

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    description: str = ""
    type: Literal["auto", "standard", "express"] = Field(
        default="auto", description="Step Functions workflow type; 'auto' lets the compiler choose."
    )
    split: Literal["auto", "off"] = Field(
        default="auto", description="A Standard workflow as a Standard parent holding only what needs "
        "Standard, each stretch between those states run as a nested Express execution ('auto', "
        "the default: when it lowers the cost; 'off': one Standard state machine; see "
        "docs/how-it-compiles.md).")
    variables: list[Variable] = Field(default_factory=list)
    blocks: list[Block] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)
    triggers: list[Trigger] = Field(
        default_factory=list, description="What starts the workflow from outside "
        "(webhook, schedule, event, poll); see docs/triggers.md.")

    @field_validator("triggers")
    @classmethod
    def _one_webhook(cls, value: list[Trigger]) -> list[Trigger]:
        if sum(isinstance(t, WebhookTrigger) for t in value) > 1:
            raise ValueError("at most one webhook trigger per workflow (POST /webhooks/<workflow>)")
        names = [t.label for t in value]
        if len(set(names)) != len(names):
            raise ValueError("trigger names must be unique (set 'name' on each trigger)")
        return value

    @field_validator("edges", mode="before")
    @classmethod
    def _edge_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Edge.parse_shorthand(v) if isinstance(v, str) else v for v in value]
        return value

    def block(self, block_id: str) -> Block:
        for block in self.blocks:
            if block.id == block_id:
                return block
        raise KeyError(block_id)
