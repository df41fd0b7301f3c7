"""The agent: messages in, a model's answer out, with a bounded tool loop and memory.

1. Params checked (``AgentParams``); the provider chosen from the model id.
2. Messages: conversation memory (if any), then ``systemPrompt`` + ``messages`` (system
   turns join the system prompt; Sim's legacy ``userPrompt`` when there are no messages).
3. Tool loop: while the model calls tools and fewer than ``maxToolCalls`` calls were
   made, run them (``stepweave.ai.toolbox``) and ask again; past the bound, one last call
   without tools.
4. Output (Sim's): ``content``, ``model``, ``provider``, ``tokens``, ``toolCalls``
   (``{list, count}``), ``cost``, ``providerTiming``. With a ``responseFormat`` the parsed
   JSON fields replace ``content`` at the top level; unparsable JSON gives the standard
   output plus ``_responseFormatWarning``.
5. Memory: the new user turns and the answer are appended.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from stepweave.ai.memory import MAX_CONVERSATION, ConversationMemory
from stepweave.params.model import number_param
from stepweave.ai.session import Deps, Session, parse_params, sampling
from stepweave.ai.toolbox import Toolbox
from stepweave.ai.types import ChatRequest, Message, ToolChoice
from stepweave.params.agent import AgentParams, response_schema
from stepweave.errors import BlockInputError
from stepweave.tools.base import ToolContext

__all__ = ["run_agent", "parse_json_answer"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]")


def run_agent(raw: Mapping[str, Any], *, secrets: Mapping[str, str],
              deps: Deps | None = None) -> dict[str, Any]:
    deps = deps or Deps()
    params = parse_params(AgentParams, raw, "agent")
    temperature, max_tokens = sampling(params)
    session = Session(params, secrets, deps)
    system, turns = _conversation(params)
    memory, history = _memory(params, deps)
    schema = response_schema(params.responseFormat)
    toolbox = Toolbox(params.tools, ToolContext(secrets=secrets, settings=deps.get_settings(),
                                                transport=deps.transport, clients=deps.clients,
                                                sleep=deps.sleep))
    functions = toolbox.functions()
    messages = list(history) + turns
    records: list[dict[str, Any]] = []
    choice: ToolChoice = "required" if toolbox.forced else "auto"
    while True:
        offered = functions if len(records) < params.maxToolCalls else ()
        request = ChatRequest(model=session.model, messages=tuple(messages), system=system,
                              temperature=temperature, max_tokens=max_tokens,
                              response_schema=schema, schema_name=_schema_name(params),
                              tools=offered, tool_choice=choice if offered else "auto")
        response = session.complete(request)
        if not response.tool_calls or not offered:
            break
        messages.append(Message(role="assistant", content=response.content,
                                tool_calls=response.tool_calls))
        for call in response.tool_calls:
            began = time.time()
            message, record = toolbox.call(call)
            session.timed("tool", call.name, began)
            messages.append(message)
            records.append(record)
        choice = "auto"
    if memory is not None and params.conversationId:
        memory.append(params.conversationId, [m for m in turns if m.role == "user"]
                      + [Message(role="assistant", content=response.content)])
    return _output(response.content, schema, session.outputs(), records)


#: The user turn Sim's providers send for an agent with a system message only
SIM_EMPTY_USER_MESSAGE = "Hello"


def _conversation(params: AgentParams) -> tuple[str, list[Message]]:
    system_parts = [params.systemPrompt.strip()] if params.systemPrompt.strip() else []
    turns: list[Message] = []
    raw = params.messages
    if isinstance(raw, str):  # a reference that resolved to JSON text
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BlockInputError("agent block: 'messages' is not a list of {role, content}") \
                from None
        raw = parse_params(AgentParams, {"model": params.model, "messages": raw}, "agent").messages
    for message in raw or []:
        text = _text(message.content)  # type: ignore[union-attr]
        role = message.role  # type: ignore[union-attr]
        if role == "system":
            system_parts.append(text)
        elif text.strip():
            turns.append(Message(role=role, content=text))
    if not any(t.role == "user" for t in turns) and params.userPrompt not in (None, ""):
        turns.append(Message(role="user", content=_text(params.userPrompt)))
    if not turns and system_parts:
        # a system message only: Sim sends it as it is, and its providers that need a user
        # turn (Anthropic, its default model's) get "Hello" (SIM_EMPTY_USER_MESSAGE)
        turns.append(Message(role="user", content=SIM_EMPTY_USER_MESSAGE))
    if not turns:
        raise BlockInputError("agent block: no message (set 'systemPrompt', 'messages' or "
                              "'userPrompt')")
    return "\n\n".join(system_parts), turns


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _memory(params: AgentParams, deps: Deps) -> tuple[ConversationMemory | None, list[Message]]:
    if params.memoryType == "none" or not params.conversationId:
        return None, []
    settings = deps.get_settings()
    if not settings.table:
        raise BlockInputError("agent block: conversation memory needs the records table "
                              "(STEPWEAVE_TABLE)")
    if "dynamodb" not in deps.clients:
        import boto3

        deps.clients["dynamodb"] = boto3.client("dynamodb")
    memory = ConversationMemory(deps.clients["dynamodb"], settings.table, settings.retention_seconds)
    limit = MAX_CONVERSATION
    if params.memoryType == "sliding_window":
        try:
            size = number_param(params.slidingWindowSize, "slidingWindowSize", 1, MAX_CONVERSATION)
        except ValueError as exc:
            raise BlockInputError(f"agent block: {exc}") from None
        limit = int(size or 10)
    return memory, memory.load(params.conversationId, limit)


def _schema_name(params: AgentParams) -> str:
    raw = params.responseFormat
    if isinstance(raw, dict) and isinstance(raw.get("json_schema"), dict):
        raw = raw["json_schema"]  # OpenAI's response_format
    name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("schema"), dict) else None
    cleaned = _SCHEMA_NAME.sub("_", str(name or "response"))[:64]
    return cleaned or "response"


def parse_json_answer(content: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer (code fences tolerated), or None."""
    match = _FENCE.match(content)
    text = match.group(1) if match else content.strip()
    try:
        value = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            return None
        try:
            value = json.loads(text[start:end + 1])
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _output(content: str, schema: Mapping[str, Any] | None, meta: dict[str, Any],
            records: list[dict[str, Any]]) -> dict[str, Any]:
    tool_calls = {"list": records, "count": len(records)}
    if schema is not None:
        parsed = parse_json_answer(content)
        if parsed is not None:
            return {**parsed, **meta, "toolCalls": tool_calls}
        return {"content": content, **meta, "toolCalls": tool_calls,
                "_responseFormatWarning": "the answer is not valid JSON for the response format"}
    return {"content": content, **meta, "toolCalls": tool_calls}
