"""OpenAI chat completions, and any OpenAI-compatible server (Ollama, vLLM, Groq, Together...).

``POST {base}/chat/completions`` with ``Authorization: Bearer <key>``. Structured output is
``response_format: {type: json_schema, json_schema: {name, schema}}``; tools are
``{type: function, function: {name, description, parameters}}`` and come back as
``message.tool_calls`` with JSON-text arguments, answered by ``role: tool`` messages.
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.ai.http_provider import HttpSettings, parse_arguments, post_json
from stepweave.ai.types import ChatRequest, ChatResponse, Message, ToolCall, Usage
from stepweave.errors import ProviderUnavailable

__all__ = ["OpenAIProvider", "OPENAI_BASE_URL"]

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    def __init__(self, settings: HttpSettings, *, name: str = "openai") -> None:
        self.name = name
        self.settings = settings

    def complete(self, request: ChatRequest) -> ChatResponse:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        answer = post_json(self.name, self.settings, "/chat/completions", headers,
                           self.body(request))
        return _response(self.name, answer)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [_message(m) for m in request.messages]
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            # OpenAI's own API takes max_completion_tokens; compatible servers max_tokens
            key = "max_completion_tokens" if self.name == "openai" else "max_tokens"
            body[key] = request.max_tokens
        if request.tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": dict(t.parameters)}}
                for t in request.tools]
            body["tool_choice"] = request.tool_choice
        if request.response_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.schema_name, "schema": dict(request.response_schema)}}
        return body


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": json.dumps(dict(c.arguments))}} for c in message.tool_calls]
    return out


def _response(provider: str, answer: dict[str, Any]) -> ChatResponse:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderUnavailable(f"{provider}: the answer has no choices")
    message = choices[0].get("message") or {}
    calls = tuple(
        ToolCall(id=str(c.get("id") or f"call_{i}"), name=str((c.get("function") or {}).get("name")),
                 arguments=parse_arguments((c.get("function") or {}).get("arguments")))
        for i, c in enumerate(message.get("tool_calls") or []) if isinstance(c, dict))
    usage = answer.get("usage") or {}
    return ChatResponse(content=str(message.get("content") or ""), tool_calls=calls,
                        usage=Usage(int(usage.get("prompt_tokens") or 0),
                                    int(usage.get("completion_tokens") or 0)),
                        model=str(answer.get("model") or ""),
                        stop_reason=str(choices[0].get("finish_reason") or ""))
