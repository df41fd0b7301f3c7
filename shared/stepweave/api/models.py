"""The run API's request and response bodies (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stepweave.api.bill import BillView, bill_view
from stepweave.runtime.records import BlockLog, ExecutionRecord

__all__ = [
    "NAME_PATTERN",
    "BlockView",
    "Cancelled",
    "ErrorBody",
    "ExecutionList",
    "ExecutionSummary",
    "ExecutionView",
    "Health",
    "RerunRequest",
    "Retried",
    "StartRequest",
    "Started",
    "summary",
    "view",
]

#: Names clients give executions (the state machine sees ``<tenant>.<name>``).
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StartRequest(_Model):
    input: Any = Field(default_factory=dict, description="the workflow's input (any JSON)")
    name: str | None = Field(default=None, pattern=NAME_PATTERN,
                             description="a name unique per workflow (a second start with it is a 409); "
                                         "default: a random one")


class RerunRequest(_Model):
    input: dict[str, Any] | None = Field(
        default=None, description="the input to use instead of the recorded one (an object)")
    name: str | None = Field(default=None, pattern=NAME_PATTERN,
                             description="a name unique per workflow; default: a random one")


class Started(_Model):
    execution_id: str = Field(description="the execution's ARN: GET /v1/executions/{executionId}")
    name: str
    workflow: str
    status: str = "running"
    started_at: str


class Retried(_Model):
    execution_id: str = Field(description="the same execution, running again: GET /v1/executions/{executionId}")
    name: str
    workflow: str
    status: str = "running"
    redrive_count: int = Field(description="how many times it has been retried, this time included")
    redriven_at: str


class ExecutionSummary(_Model):
    execution_id: str
    name: str
    workflow: str
    status: str
    started_at: str
    stopped_at: str | None = None
    duration_ms: int | None = None


class BlockView(_Model):
    seq: int
    block_id: str
    name: str
    type: str
    success: bool
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    iteration: int | None = None
    branch: int | None = None
    output: Any = None
    output_truncated: bool | None = None
    error: str | None = None


class ExecutionView(ExecutionSummary):
    input: Any = None
    input_truncated: bool | None = None
    output: Any = None
    output_truncated: bool | None = None
    error: str | None = None
    cause: str | None = None
    trigger: dict[str, Any] = Field(default_factory=dict)
    redrive_count: int | None = Field(default=None, description="times it was retried (redriven)")
    redriven_at: str | None = None
    unlogged_items: int | None = Field(default=None, description=(
        "items of its distributed parallels and chunked loops whose blocks have no block logs "
        "(past what the recorder reads of them; absent when every item's are logged)"))
    bill: BillView | None = Field(default=None, description=(
        "what AWS bills for the run: its own charges, its Express stretches' and its distributed "
        "containers' child executions' (absent while it runs, and for runs recorded without them)"))
    blocks: list[BlockView] = Field(default_factory=list)


class ExecutionList(_Model):
    items: list[ExecutionSummary]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class Cancelled(_Model):
    execution_id: str
    status: str


class Dependency(_Model):
    name: str
    ok: bool
    detail: str | None = None


class Health(_Model):
    status: str = Field(description="ok, or degraded when a dependency does not answer")
    version: str
    dependencies: list[Dependency]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def client_name(name: str) -> str:
    """``<tenant>.<name>`` -> ``<name>``."""
    return name.split(".", 1)[1] if "." in name else name


def _parsed(text: str | None, truncated: bool | None) -> Any:
    if text is None or truncated:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def summary(record: ExecutionRecord) -> ExecutionSummary:
    return ExecutionSummary(execution_id=record.execution_arn, name=client_name(record.name),
                            workflow=record.workflow, status=record.status, started_at=record.started_at,
                            stopped_at=record.stopped_at, duration_ms=record.duration_ms)


def view(record: ExecutionRecord, blocks: list[BlockLog]) -> ExecutionView:
    return ExecutionView(
        **summary(record).model_dump(),
        input=_parsed(record.input, record.input_truncated), input_truncated=record.input_truncated,
        output=_parsed(record.output, record.output_truncated), output_truncated=record.output_truncated,
        error=record.error, cause=record.cause, trigger=record.trigger,
        redrive_count=record.redrive_count, redriven_at=record.redriven_at,
        unlogged_items=record.unlogged_items, bill=bill_view(record),
        blocks=[BlockView(seq=b.seq, block_id=b.block_id, name=b.name, type=b.type, success=b.success,
                          started_at=b.started_at, ended_at=b.ended_at, duration_ms=b.duration_ms,
                          iteration=b.iteration, branch=b.branch,
                          output=_parsed(b.output, b.output_truncated), output_truncated=b.output_truncated,
                          error=b.error) for b in blocks])
