"""Anthropic messages API.

``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version``. ``max_tokens`` is
required (default ``DEFAULT_MAX_TOKENS``). Tools are ``{name, description, input_schema}``
and come back as ``tool_use`` content blocks, answered by ``tool_result`` blocks in a user
turn. Structured output without tools is a forced tool whose input is the answer; with
tools, the schema goes into the system prompt and the final text is parsed as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.ai.http_provider import HttpSettings, parse_arguments, post_json
from stepweave.ai.types import ChatRequest, ChatResponse, Message, ToolCall, Usage
from stepweave.errors import ProviderUnavailable

__all__ = ["AnthropicProvider", "ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS",
           "schema_instruction", "ANSWER_TOOL"]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
#: The forced tool whose input is the structured answer.
ANSWER_TOOL = "structured_answer"


def schema_instruction(schema: Any) -> str:
    return ("Answer with a single JSON object (no prose, no code fences) matching this JSON "
            "schema:\n" + json.dumps(schema))


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings

    def complete(self, request: ChatRequest) -> ChatResponse:
        headers = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        answer = post_json(self.name, self.settings, "/v1/messages", headers, self.body(request))
        return _response(answer, forced=self._forced(request))

    @staticmethod
    def _forced(request: ChatRequest) -> bool:
        return request.response_schema is not None and not request.tools

    def body(self, request: ChatRequest) -> dict[str, Any]:
        system = request.system
        body: dict[str, Any] = {"model": request.model,
                                "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
                                "messages": _messages(request.messages)}
        if request.temperature is not None:
            body["temperature"] = min(1.0, request.temperature)
        tools = [{"name": t.name, "description": t.description,
                  "input_schema": dict(t.parameters)} for t in request.tools]
        if self._forced(request):
            tools = [{"name": ANSWER_TOOL, "description": "Give the answer.",
                      "input_schema": dict(request.response_schema or {})}]
            body["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
        elif tools:
            body["tool_choice"] = {"type": {"auto": "auto", "required": "any",
                                            "none": "none"}[request.tool_choice]}
            if request.response_schema is not None:
                system = (system + "\n\n" if system else "") + schema_instruction(
                    request.response_schema)
        if tools:
            body["tools"] = tools
        if system:
            body["system"] = system
        return body


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content,
                     **({"is_error": True} if m.is_error else {})}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # one user turn answers every tool_use
            else:
                out.append({"role": "user", "content": [block]})
        elif m.tool_calls:
            content: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
                        for c in m.tool_calls]
            out.append({"role": "assistant", "content": content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _response(answer: dict[str, Any], *, forced: bool) -> ChatResponse:
    blocks = answer.get("content")
    if not isinstance(blocks, list):
        raise ProviderUnavailable("anthropic: the answer has no content")
    text = "".join(str(b.get("text") or "") for b in blocks
                   if isinstance(b, dict) and b.get("type") == "text")
    calls = [ToolCall(id=str(b.get("id")), name=str(b.get("name")),
                      arguments=parse_arguments(b.get("input")))
             for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    if forced:
        answer_call = next((c for c in calls if c.name == ANSWER_TOOL), None)
        if answer_call is not None:
            text, calls = json.dumps(dict(answer_call.arguments)), []
    usage = answer.get("usage") or {}
    return ChatResponse(content=text, tool_calls=tuple(calls),
                        usage=Usage(int(usage.get("input_tokens") or 0),
                                    int(usage.get("output_tokens") or 0)),
                        model=str(answer.get("model") or ""),
                        stop_reason=str(answer.get("stop_reason") or ""))
