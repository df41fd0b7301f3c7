"""The block-type catalog: the one place a block type is declared.

Each entry says how the block runs (``native``: compiled to Step Functions states, no
Lambda; ``handler``: a Lambda block handler; ``container``: loop/parallel), which
parameters it takes (a pydantic model: unknown or mistyped params are validation
errors) and which output fields references may read (Sim's output shapes).

Adding a block type = a params model + an entry here (+ a handler module and a
lowering in ``stepweave.compiler.blocks`` when it needs one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stepweave.blocks.agent_block import AgentParams, response_fields
from stepweave.blocks.evaluator_block import EvaluatorParams, metric_fields
from stepweave.blocks.router_block import RouterParams
from stepweave.blocks.tool_block import ToolBlockParams, tool_outputs

__all__ = ["BlockType", "CATALOG", "block_type", "InputField", "ConditionRow",
           "FormField", "ApprovalParams"]

FieldType = Literal["string", "number", "boolean", "object", "array", "files", "plain", "json", "any"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputField(_Params):
    """A typed field of a start block's input format (or an approval form)."""

    name: str = Field(min_length=1)
    type: FieldType = "string"
    value: Any = None
    description: str = ""
    id: str | None = None


class StartParams(_Params):
    inputFormat: list[InputField] = Field(default_factory=list)


class FunctionParams(_Params):
    code: str = Field(min_length=1)
    language: Literal["javascript"] = "javascript"
    timeoutMs: int = Field(default=10_000, ge=1, le=840_000)
    memoryMb: int = Field(default=128, ge=16, le=1024)


class ApiParams(_Params):
    url: str = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    params: Any = None
    headers: Any = None
    body: Any = None
    timeout: int = Field(default=300_000, ge=1, le=600_000)
    retries: int = Field(default=0, ge=0, le=10)
    retryDelayMs: int = Field(default=500, ge=0)
    retryMaxDelayMs: int = Field(default=30_000, ge=0)
    retryNonIdempotent: bool = False


class ConditionRow(_Params):
    id: str = Field(min_length=1)
    title: str = "if"
    value: str = ""


class ConditionParams(_Params):
    conditions: list[ConditionRow] = Field(min_length=1)


class Assignment(_Params):
    variableName: str = Field(min_length=1)
    value: Any = ""
    type: Literal["plain", "string", "number", "boolean", "object", "array"] | None = None
    id: str | None = None
    variableId: str | None = None


class VariablesParams(_Params):
    variables: list[Assignment] = Field(default_factory=list)


_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class WaitParams(_Params):
    """Sim's limits: up to 5 minutes in place, up to 30 days with ``async``."""

    timeValue: str | int | float = "10"
    timeUnit: Literal["seconds", "minutes"] = "seconds"
    async_: bool = Field(default=False, alias="async")
    timeUnitLong: Literal["minutes", "hours", "days"] = "minutes"

    def unit_seconds(self) -> int:
        return _UNIT_SECONDS[self.timeUnitLong if self.async_ else self.timeUnit]

    def seconds(self) -> float | None:
        """The wait in seconds, or None when it comes from a reference (known at run time)."""
        if isinstance(self.timeValue, str) and "<" in self.timeValue:
            return None
        text = str(self.timeValue).strip() or "10"
        try:
            amount = float(text)
        except ValueError:
            raise ValueError(f"Wait amount must be a positive number, got {text!r}") from None
        if not math.isfinite(amount) or amount <= 0:
            raise ValueError("Wait amount must be a positive number")
        return amount * self.unit_seconds()

    @model_validator(mode="after")
    def _limits(self) -> WaitParams:
        seconds = self.seconds()
        if seconds is not None and not self.async_ and seconds > 300:
            raise ValueError("Wait time exceeds maximum of 5 minutes; enable async mode to wait "
                             "up to 30 days")
        if seconds is not None and seconds > 30 * 86400:
            raise ValueError("Wait time exceeds maximum of 30 days")
        return self


class ResponseRow(_Params):
    name: str = Field(min_length=1)
    type: FieldType = "string"
    value: Any = None
    id: str | None = None


class ResponseParams(_Params):
    dataMode: Literal["structured", "json"] = "json"
    builderData: list[ResponseRow] = Field(default_factory=list)
    data: Any = None
    status: int | str | None = None
    headers: dict[str, str] | list[Any] | None = None


class LoopParams(_Params):
    loopType: Literal["for", "forEach", "while", "doWhile"] = "for"
    count: int = Field(default=5, ge=1, le=100_000)
    collection: Any = None
    whileCondition: str = ""
    doWhileCondition: str = ""


class ParallelParams(_Params):
    parallelType: Literal["count", "collection"] = "count"
    count: int = Field(default=5, ge=1, le=10_000)
    collection: Any = None
    batchSize: int = Field(default=20, ge=1, le=20)


class FormField(InputField):
    """A typed field of an approval's resume form (Sim's ``inputFormat`` rows)."""

    label: str | None = None
    required: bool = False


class ApprovalParams(_Params):
    """Human approval: what the approver sees, the form they answer, who they are."""

    display: list[ResponseRow] | dict[str, Any] | None = None
    form: list[FormField] = Field(default_factory=list)
    approvers: list[str] | str = Field(default_factory=list)
    subject: str = ""
    message: str = ""
    timeoutSeconds: int | None = Field(default=None, ge=1, le=365 * 86_400)
    #: also accept submitted fields the form does not declare (Sim's behaviour; the importer
    #: sets it); declared fields are still checked
    acceptExtraFields: bool = False
    #: registry tools the notifier runs once the approval waits (a Slack message with the
    #: link...): Sim's ``notification`` tools. ``<this block.url>`` / ``.resumeEndpoint`` in
    #: their params are this approval's own links.
    notify: list[ToolBlockParams] = Field(default_factory=list, max_length=10)


class WorkflowParams(_Params):
    """A sub-workflow: another workflow of the same folder (deployment), run to its end as a
    nested execution; ``input`` is its run input."""

    workflow: str = Field(min_length=1, description="name of a workflow in the same folder")
    input: Any = None


Kind = Literal["trigger", "native", "handler", "container"]
#: What every AI block outputs besides its own fields (Sim's agent/router/evaluator).
_AI_OUTPUTS = ("model", "provider", "tokens", "cost", "providerTiming")


@dataclass(frozen=True)
class BlockType:
    name: str
    kind: Kind
    params: type[BaseModel]
    outputs: tuple[str, ...]
    handler: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    retryable: bool = False
    inner_outputs: tuple[str, ...] = field(default=())
    #: Output fields that depend on the params (an agent's response format, an
    #: evaluator's metrics), for reference checking.
    param_outputs: Callable[[Mapping[str, Any]], frozenset[str]] | None = None

    @property
    def is_container(self) -> bool:
        return self.kind == "container"


CATALOG: dict[str, BlockType] = {
    t.name: t
    for t in (
        BlockType("start", "trigger", StartParams, ("input", "conversationId", "files", "trigger"),
                  aliases=("start_trigger", "starter"),
                  description="Where a run starts; its input format types the run input."),
        BlockType("function", "handler", FunctionParams, ("result", "stdout"), handler="function",
                  retryable=True, description="JavaScript in a V8 sandbox."),
        BlockType("api", "handler", ApiParams, ("data", "status", "headers"), handler="api",
                  retryable=True, description="An HTTP request."),
        BlockType("approval", "handler", ApprovalParams,
                  ("submission", "submittedAt", "decidedBy", "url", "resumeEndpoint"),
                  handler="approval",
                  aliases=("human_in_the_loop",),
                  description="Pauses until a person answers the form sent to them by email."),
        BlockType("condition", "native", ConditionParams,
                  ("conditionResult", "selectedPath", "selectedOption"),
                  description="If / else if / else, evaluated by Step Functions."),
        BlockType("variables", "native", VariablesParams, (),
                  description="Assigns workflow variables."),
        BlockType("wait", "native", WaitParams, ("waitDuration", "status"),
                  description="Pauses the path for a while (a Wait state)."),
        BlockType("response", "native", ResponseParams, ("data", "status", "headers"),
                  description="Ends the whole run with data, status and headers."),
        BlockType("agent", "handler", AgentParams, _AI_OUTPUTS + ("content", "toolCalls"),
                  handler="agent", retryable=True, param_outputs=response_fields,
                  description="A model answers messages; may call tools, return structured "
                              "output and remember a conversation."),
        BlockType("router", "handler", RouterParams,
                  _AI_OUTPUTS + ("selectedRoute", "reasoning", "selectedPath", "context"),
                  handler="router", aliases=("router_v2",), retryable=True,
                  description="A model picks one of the declared routes for the context."),
        BlockType("evaluator", "handler", EvaluatorParams, _AI_OUTPUTS + ("content",),
                  handler="evaluator", retryable=True, param_outputs=metric_fields,
                  description="A model scores content on declared metrics."),
        BlockType("tool", "handler", ToolBlockParams, (), handler="tool", retryable=True,
                  param_outputs=tool_outputs,
                  description="Runs one registry tool (slack, email, http, api); its outputs "
                              "are the tool's."),
        BlockType("workflow", "native", WorkflowParams,
                  ("success", "childWorkflowName", "result", "error"),
                  aliases=("workflow_input",),
                  description="Runs another workflow of the deployment and waits for its output."),
        BlockType("loop", "container", LoopParams, ("results",),
                  inner_outputs=("index", "iteration", "currentItem", "item", "items"),
                  description="for / forEach / while / doWhile over its child blocks."),
        BlockType("parallel", "container", ParallelParams, ("results",),
                  inner_outputs=("index", "currentItem", "items"),
                  description="Runs its child blocks once per branch, concurrently."),
    )
}

_BY_ALIAS = {alias: t for t in CATALOG.values() for alias in (t.name, *t.aliases)}


def block_type(name: str) -> BlockType | None:
    """The catalog entry for a type name or alias, or None."""
    return _BY_ALIAS.get(name)
