"""The contracts of the blocks Step Functions runs itself, the start block, the function
block, the containers and human approval: one pydantic model of params per block type
(unknown or mistyped params are validation errors). The api block's params are the api
tool's (``stepweave.tools.request.ApiParams``); the AI blocks' and the tool block's are
their own modules of this package.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stepweave.params.tool import ToolBlockParams

__all__ = ["FieldType", "InputField", "StartParams", "FunctionParams", "ConditionRow",
           "ConditionParams", "Assignment", "VariablesParams", "WaitParams", "ResponseRow",
           "ResponseParams", "LoopParams", "ParallelParams", "FormField", "ApprovalParams",
           "WorkflowParams"]

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
    mode: Literal["auto", "inline", "distributed"] = Field(default="auto", description=(
        "distributed: run the iterations in chunks, each a child execution (a Standard "
        "workflow's loop of 10,000+ iterations); auto: so when the count written in the file "
        "needs it; inline: never (docs/how-it-compiles.md)"))


class ParallelParams(_Params):
    parallelType: Literal["count", "collection"] = "count"
    count: int = Field(default=5, ge=1, le=100_000)
    collection: Any = None
    batchSize: int = Field(default=20, ge=1, le=20)
    mode: Literal["auto", "inline", "distributed"] = Field(default="auto", description=(
        "distributed: each item is a child execution (a distributed Map; a Standard "
        "workflow's parallel of 10,000+ items); auto: so from 1,000 items written in the "
        "file; inline: never (docs/how-it-compiles.md)"))
    toleratedFailurePercentage: float | None = Field(default=None, ge=0, le=100, description=(
        "a distributed parallel still succeeds while at most this percentage of its items fail"))
    toleratedFailureCount: int | None = Field(default=None, ge=0, description=(
        "a distributed parallel still succeeds while at most this many of its items fail"))


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
