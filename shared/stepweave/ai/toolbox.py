"""The tools an agent's model may call: their function specs, and running one call.

Each ``ToolSpec`` of the block names a registry tool (``stepweave.tools``), fixes some
params and may declare the ``parameters`` the model fills (free-form arguments). The model
sees only the params it may supply (``Tool.model_fields``); the workflow's values win over
the model's. ``{{NAME}}`` secrets the author wrote arrive filled in (the handler's entry); the tool's
defaults are filled here, never what the model wrote, and secret values are masked in what is recorded.
A failing call becomes ``{"error": ...}`` for the model; the block goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepweave.ai.session import iso_time
from stepweave.ai.types import FunctionSpec, Message, ToolCall
from stepweave.params.agent import ToolSpec
from stepweave.tools import get_tool
from stepweave.tools.base import Tool, ToolContext, ToolError, mask, substitute, validate_params

__all__ = ["Toolbox", "MAX_RESULT_CHARS"]

#: What a tool result may weigh in the conversation (longer ones are cut).
MAX_RESULT_CHARS = 16_000


@dataclass(frozen=True)
class _Entry:
    spec: ToolSpec
    tool: Tool


class Toolbox:
    def __init__(self, specs: list[ToolSpec], ctx: ToolContext) -> None:
        self.ctx = ctx
        self.entries = {s.function_name: _Entry(s, get_tool(s.tool)) for s in specs
                        if s.usageControl != "none"}
        self.secret_values: set[str] = set()

    @property
    def forced(self) -> bool:
        return any(e.spec.usageControl == "force" for e in self.entries.values())

    def functions(self) -> tuple[FunctionSpec, ...]:
        out = []
        for name, entry in self.entries.items():
            spec, tool = entry.spec, entry.tool
            parameters = spec.parameters if spec.parameters is not None else tool.schema(spec.params)
            out.append(FunctionSpec(name=name, description=spec.description or tool.description,
                                    parameters=parameters))
        return tuple(out)

    def call(self, call: ToolCall) -> tuple[Message, dict[str, Any]]:
        """Run one call: the tool message for the model and the ``toolCalls`` entry."""
        began = time.time()
        entry = self.entries.get(call.name)
        result: Any = None
        error: str | None = None
        try:
            if entry is None:
                raise ToolError(f"unknown tool '{call.name}'")
            result = entry.tool.run(self._params(entry, call.arguments), self.ctx)
        except ToolError as exc:
            error = mask(str(exc), self._secret_values())
        ended = time.time()
        if error is None:
            result = json.loads(mask(json.dumps(result, default=str), self._secret_values()))
        text = json.dumps({"error": error} if error is not None else result, default=str)
        record: dict[str, Any] = {
            "name": call.name, "arguments": dict(call.arguments), "result": result,
            "success": error is None, "startTime": iso_time(began), "endTime": iso_time(ended),
            "duration": round((ended - began) * 1000, 1)}
        if error is not None:
            record["error"] = error
        message = Message(role="tool", content=text[:MAX_RESULT_CHARS], tool_call_id=call.id,
                          name=call.name, is_error=error is not None)
        return message, record

    def _secret_values(self) -> set[str]:
        """Every secret value this block has read so far (its fixed params' and defaults')."""
        revealed = getattr(self.ctx.secrets, "revealed", None)
        return self.secret_values | (set(revealed) if revealed else set())

    def _params(self, entry: _Entry, arguments: Mapping[str, Any]) -> Any:
        spec, tool = entry.spec, entry.tool
        if spec.parameters is not None and tool.arguments_field:
            supplied: dict[str, Any] = {tool.arguments_field: dict(arguments)}
        else:
            allowed = tool.model_fields(spec.params)
            supplied = {k: v for k, v in arguments.items() if k in allowed}
        fixed = dict(spec.params)  # the author's secrets are already in (the handler's entry)
        defaults = validate_params(tool, {**supplied, **fixed}).model_dump(by_alias=True)
        # the tool's own defaults may name secrets too (slack's {{SLACK_WEBHOOK_URL}})
        rest = {k: v for k, v in defaults.items() if k not in supplied and k not in fixed}
        resolved = substitute(rest, self.ctx.secrets, self.secret_values)
        return validate_params(tool, {**supplied, **fixed, **resolved})
