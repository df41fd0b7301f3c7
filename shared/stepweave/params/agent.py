"""The ``agent`` block's contract: its params (``AgentParams``) and the output fields they add.

Params are Sim's: ``systemPrompt``, ``messages`` (or Sim's legacy ``userPrompt``), ``model``,
``temperature``, ``maxTokens``, ``responseFormat`` (a JSON schema: structured output whose
fields become the block's top-level outputs), ``tools``, memory (``memoryType``,
``conversationId``, ``slidingWindowSize``), plus the provider settings of
``stepweave.params.model.ModelParams``. A tool is checked against the tool registry
(``stepweave.tools``), which sits below the contracts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepweave.params.model import ModelParams, Number, json_list

__all__ = ["AgentParams", "ChatMessageParam", "ToolSpec", "response_schema", "response_fields",
           "SIM_AGENT_PARAMS"]

#: The Sim agent sub-blocks the importer keeps (others are editor or hosted-only state).
SIM_AGENT_PARAMS = ("systemPrompt", "userPrompt", "messages", "model", "temperature",
                    "maxTokens", "apiKey", "tools", "responseFormat", "memoryType",
                    "conversationId", "slidingWindowSize", "reasoningEffort", "bedrockRegion")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ChatMessageParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"] = "user"
    content: Any = ""


class ToolSpec(BaseModel):
    """A tool the model may call: a registry tool, some params fixed by the workflow."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tool: str = Field(min_length=1, description="a tool of stepweave.tools (http, slack, ...)")
    name: str | None = Field(default=None, description="the function name the model sees")
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="fixed values")
    parameters: dict[str, Any] | None = Field(
        default=None, description="a JSON schema of the arguments the model supplies (tools "
        "with free-form arguments, e.g. http)")
    usageControl: Literal["auto", "force", "none"] = "auto"

    @model_validator(mode="after")
    def _known(self) -> ToolSpec:
        from stepweave.tools import TOOLS, available

        tool = TOOLS.get(self.tool)
        if tool is None:
            raise ValueError(f"unknown tool '{self.tool}' ({available(self.tool)})")
        fields = set(tool.params.model_fields) | {
            f.alias for f in tool.params.model_fields.values() if f.alias}
        unknown = sorted(set(self.params) - fields)
        if unknown:
            raise ValueError(f"tool '{self.tool}' has no param(s) {', '.join(unknown)} "
                             f"(params: {', '.join(sorted(fields))})")
        if self.parameters is not None and tool.arguments_field is None:
            raise ValueError(f"tool '{self.tool}' takes no free-form 'parameters'")
        if self.name is not None and not _TOOL_NAME.match(self.name):
            raise ValueError("tool 'name' must be 1-64 letters, digits, '_' or '-'")
        return self

    @property
    def function_name(self) -> str:
        return self.name or self.tool


class AgentParams(ModelParams):
    systemPrompt: str = ""
    userPrompt: Any = None
    messages: list[ChatMessageParam] | str | None = None
    responseFormat: dict[str, Any] | str | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    maxToolCalls: int = Field(default=10, ge=0, le=50, description="tool loop bound")
    memoryType: Literal["none", "conversation", "sliding_window"] = "none"
    conversationId: str | None = None
    slidingWindowSize: Number = 10
    reasoningEffort: str | None = None

    @field_validator("messages", mode="before")
    @classmethod
    def _messages(cls, value: Any) -> Any:
        return json_list(value)

    @field_validator("responseFormat", mode="before")
    @classmethod
    def _response_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("is not valid JSON") from None
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, value: Any) -> Any:
        return json_list(value)

    @model_validator(mode="after")
    def _memory(self) -> AgentParams:
        if self.memoryType != "none" and not (self.conversationId or "").strip():
            raise ValueError("memory needs a 'conversationId'")
        names = [t.function_name for t in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique: {', '.join(duplicates)}")
        return self


def response_schema(value: Any) -> dict[str, Any] | None:
    """The JSON schema of a ``responseFormat``: Sim's ``{name, schema, strict}``, OpenAI's
    ``{type: json_schema, json_schema: {name, schema}}`` or a bare schema."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_schema" and isinstance(value.get("json_schema"), dict):
        value = value["json_schema"]  # OpenAI's response_format, as some Sim templates hold it
    inner = value.get("schema")
    return inner if isinstance(inner, dict) else value


def response_fields(params: Mapping[str, Any]) -> frozenset[str]:
    """Output fields a ``responseFormat`` adds (its top-level properties), for references."""
    schema = response_schema(params.get("responseFormat"))
    props = (schema or {}).get("properties")
    fields = frozenset(str(k) for k in props) if isinstance(props, dict) else frozenset()
    return fields | ({"_responseFormatWarning", "content"} if fields else frozenset())
