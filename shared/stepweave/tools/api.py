"""The ``api`` tool: the ``api`` block's request (``stepweave.tools.request``) as a tool,
same params and output (``{data, status, headers}``); a non-2xx answer is a ``ToolError``."""

from __future__ import annotations

from typing import Any

from stepweave.errors import BlockError
from stepweave.tools.base import Tool, ToolContext, ToolError, ToolParams
from stepweave.tools.request import ApiParams

__all__ = ["TOOL"]


class ApiToolParams(ApiParams, ToolParams):
    pass


def run_api_tool(params: ApiToolParams, ctx: ToolContext) -> dict[str, Any]:
    from stepweave.tools.request import run_api

    try:
        # secrets are put in by the handler's entry, where the workflow author wrote them only
        kwargs: dict[str, Any] = {"transport": ctx.transport}
        if ctx.sleep is not None:
            kwargs["sleep"] = ctx.sleep
        return run_api(params.model_dump(exclude_none=True), **kwargs)
    except BlockError as exc:
        raise ToolError(str(exc)) from None


TOOL = Tool(
    name="api",
    description="Send an HTTP request (the api block's params).",
    params=ApiToolParams,
    output_schema={"type": "object", "properties": {
        "data": {}, "status": {"type": "integer"}, "headers": {"type": "object"}}},
    run=run_api_tool,
    sim_types=("api",),
    arguments_field="body",
    model_params=("params", "body"),
)
