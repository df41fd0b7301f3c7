"""AWS Bedrock through the Converse API (boto3 ``bedrock-runtime``).

Credentials are the function's IAM role (``bedrock:InvokeModel``), never an API key. Tools
are ``toolConfig.tools[].toolSpec`` and come back as ``toolUse`` content blocks, answered by
``toolResult`` blocks in a user turn. Structured output is a forced tool, as for Anthropic.
botocore retries throttling and 5xx itself (standard mode, ``retries`` + 1 attempts).
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.ai.anthropic import ANSWER_TOOL, schema_instruction
from stepweave.ai.http_provider import parse_arguments
from stepweave.ai.types import ChatRequest, ChatResponse, Message, ToolCall, Usage
from stepweave.errors import (ProviderAuthError, ProviderBadRequest, ProviderError,
                              ProviderRateLimited, ProviderUnavailable)

__all__ = ["BedrockProvider", "bedrock_client", "error_for_code"]

_AUTH = {"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
         "InvalidSignatureException"}
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_BAD = {"ValidationException", "ResourceNotFoundException", "ModelErrorException"}


def bedrock_client(region: str | None, *, retries: int, timeout_s: float,
                   endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": retries + 1, "mode": "standard"},
                    read_timeout=timeout_s, connect_timeout=min(10.0, timeout_s))
    return boto3.client("bedrock-runtime", region_name=region, endpoint_url=endpoint_url,
                        config=config)


def error_for_code(code: str, message: str) -> ProviderError:
    text = f"bedrock: {code}: {message}"
    if code in _AUTH:
        return ProviderAuthError(text)
    if code in _THROTTLED:
        return ProviderRateLimited(text)
    if code in _BAD:
        return ProviderBadRequest(text)
    return ProviderUnavailable(text)


class BedrockProvider:
    name = "bedrock"

    def __init__(self, client: Any) -> None:
        self.client = client

    def complete(self, request: ChatRequest) -> ChatResponse:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.converse(**self.body(request))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise error_for_code(str(error.get("Code", "ClientError")),
                                 str(error.get("Message", ""))[:300]) from None
        except BotoCoreError as exc:
            raise ProviderUnavailable(f"bedrock: {type(exc).__name__}") from None
        return _response(answer, request)

    @staticmethod
    def _forced(request: ChatRequest) -> bool:
        return request.response_schema is not None and not request.tools

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"modelId": request.model, "messages": _messages(request.messages)}
        system = request.system
        if request.response_schema is not None and request.tools:
            system = (system + "\n\n" if system else "") + schema_instruction(request.response_schema)
        if system:
            body["system"] = [{"text": system}]
        inference: dict[str, Any] = {}
        if request.max_tokens is not None:
            inference["maxTokens"] = request.max_tokens
        if request.temperature is not None:
            inference["temperature"] = min(1.0, request.temperature)
        if inference:
            body["inferenceConfig"] = inference
        if self._forced(request):
            body["toolConfig"] = {"tools": [_spec(ANSWER_TOOL, "Give the answer.",
                                                  request.response_schema or {})],
                                  "toolChoice": {"tool": {"name": ANSWER_TOOL}}}
        elif request.tools and request.tool_choice != "none":
            choice: dict[str, Any] = {"any": {}} if request.tool_choice == "required" \
                else {"auto": {}}
            body["toolConfig"] = {"tools": [_spec(t.name, t.description, t.parameters)
                                            for t in request.tools], "toolChoice": choice}
        return body


def _spec(name: str, description: str, schema: Any) -> dict[str, Any]:
    return {"toolSpec": {"name": name, "description": description or name,
                         "inputSchema": {"json": dict(schema)}}}


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            block = {"toolResult": {"toolUseId": m.tool_call_id, "content": [{"text": m.content}],
                                    "status": "error" if m.is_error else "success"}}
            if out and out[-1]["role"] == "user" and "toolResult" in out[-1]["content"][0]:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.tool_calls:
            content: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
            content += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": dict(c.arguments)}}
                        for c in m.tool_calls]
            out.append({"role": "assistant", "content": content})
        else:
            out.append({"role": m.role, "content": [{"text": m.content or " "}]})
    return out


def _response(answer: dict[str, Any], request: ChatRequest) -> ChatResponse:
    content = ((answer.get("output") or {}).get("message") or {}).get("content")
    if not isinstance(content, list):
        raise ProviderUnavailable("bedrock: the answer has no message")
    text = "".join(str(b["text"]) for b in content if isinstance(b, dict) and "text" in b)
    calls = [ToolCall(id=str(b["toolUse"].get("toolUseId")), name=str(b["toolUse"].get("name")),
                      arguments=parse_arguments(b["toolUse"].get("input")))
             for b in content if isinstance(b, dict) and isinstance(b.get("toolUse"), dict)]
    if request.response_schema is not None and not request.tools:
        answer_call = next((c for c in calls if c.name == ANSWER_TOOL), None)
        if answer_call is not None:
            text, calls = json.dumps(dict(answer_call.arguments)), []
    usage = answer.get("usage") or {}
    return ChatResponse(content=text, tool_calls=tuple(calls),
                        usage=Usage(int(usage.get("inputTokens") or 0),
                                    int(usage.get("outputTokens") or 0)),
                        model=request.model, stop_reason=str(answer.get("stopReason") or ""))
