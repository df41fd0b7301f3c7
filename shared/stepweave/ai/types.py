"""The one interface every provider speaks: a ``ChatRequest`` in, a ``ChatResponse`` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["ToolCall", "Message", "FunctionSpec", "ChatRequest", "Usage", "ChatResponse",
           "Provider", "ToolChoice"]

ToolChoice = Literal["auto", "required", "none"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Message:
    """A turn: ``user`` / ``assistant`` text, an assistant's tool calls, or a tool result."""

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool a ``tool`` message answers
    is_error: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    #: A JSON schema the answer must match (structured output), or None for text.
    response_schema: Mapping[str, Any] | None = None
    schema_name: str = "response"
    tools: tuple[FunctionSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    #: What the offline ``local`` model decides from (route choices, metrics); real
    #: providers ignore it.
    local_hints: Mapping[str, Any] = field(default_factory=dict)

    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True)
class Usage:
    prompt: int = 0
    completion: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt + other.prompt, self.completion + other.completion)


@dataclass(frozen=True)
class ChatResponse:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    model: str = ""
    stop_reason: str = ""


class Provider(Protocol):
    name: str

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One model call; raises a ``stepweave.errors.ProviderError`` subclass on failure."""
        ...
