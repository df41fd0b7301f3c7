"""The tool registry: one module per tool, each declaring a ``Tool``.

``TOOLS`` maps a tool name to its declaration; ``get_tool`` raises ``UnknownTool`` (whose
message lists the available tools); ``tool_for_sim_block`` maps a Sim block / tool type to
ours (for the Sim importer); ``tool_permissions`` and ``tool_secrets`` say what a set of
tools needs when deployed.
"""

from __future__ import annotations

from collections.abc import Iterable

from stepweave.errors import StepweaveError
from stepweave.tools import api, email, http, slack
from stepweave.tools.base import Tool, ToolContext, ToolError

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolError", "UnknownTool", "get_tool",
           "tool_names", "tool_for_sim_block", "tool_permissions", "tool_secrets"]

TOOLS: dict[str, Tool] = {t.name: t for t in (http.TOOL, slack.TOOL, email.TOOL, api.TOOL)}
_BY_SIM_TYPE = {sim: t.name for t in TOOLS.values() for sim in t.sim_types}


class UnknownTool(StepweaveError):
    """A tool name that is not in the registry."""


def tool_names() -> list[str]:
    return sorted(TOOLS)


def get_tool(name: str) -> Tool:
    tool = TOOLS.get(name)
    if tool is None:
        raise UnknownTool(f"unknown tool '{name}' (available: {', '.join(tool_names())})")
    return tool


def tool_for_sim_block(sim_type: str) -> str | None:
    """Our tool for a Sim block or tool type (``slack``, ``http_request``...), or None."""
    return _BY_SIM_TYPE.get(sim_type)


def tool_permissions(names: Iterable[str]) -> list[str]:
    """The IAM actions the named tools need, sorted, without duplicates."""
    return sorted({action for n in names if n in TOOLS for action in TOOLS[n].permissions})


def tool_secrets(names: Iterable[str]) -> list[str]:
    """The default secret names the named tools read."""
    return sorted({s for n in names if n in TOOLS for s in TOOLS[n].secrets})
