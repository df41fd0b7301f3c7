"""The block-type catalog: the one place a block type is declared.

Each entry says how the block runs (``native``: compiled to Step Functions states, no
Lambda; ``handler``: a Lambda block handler; ``container``: loop/parallel), which
parameters it takes (a pydantic model of ``stepweave.params``: unknown or mistyped params
are validation errors) and which output fields references may read (Sim's output shapes).

Adding a block type = a params model in ``stepweave.params`` + an entry here (+ a handler
module and an emitter in ``stepweave.compiler.emitters`` when it needs one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from stepweave.params.agent import AgentParams, response_fields
from stepweave.params.core import (
    ApprovalParams,
    ConditionParams,
    FunctionParams,
    LoopParams,
    ParallelParams,
    ResponseParams,
    StartParams,
    VariablesParams,
    WaitParams,
    WorkflowParams,
)
from stepweave.params.evaluator import EvaluatorParams, metric_fields
from stepweave.params.router import RouterParams
from stepweave.params.tool import ToolBlockParams, tool_outputs
from stepweave.tools.request import ApiParams

__all__ = ["BlockType", "CATALOG", "block_type"]

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
