"""The tool registry: one module per tool, each declaring a ``Tool``, and one tool per
integration operation (``stepweave.integrations``, built when first used).

``TOOLS`` maps a tool name to its declaration; ``get_tool`` raises ``UnknownTool`` (whose
message lists the available tools); ``tool_for_sim_block`` maps a Sim block / tool type
(and operation) to ours (for the Sim importer); ``tool_permissions`` and ``tool_secrets``
say what a set of tools needs when deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache

from stepweave.errors import StepweaveError
from stepweave.tools import api, email, file_parser, http, slack
from stepweave.tools.base import Tool, ToolContext, ToolError

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolError", "UnknownTool", "get_tool",
           "tool_names", "available", "tool_for_sim_block", "sim_operations", "tool_permissions", "tool_secrets"]

_BUILT_IN: dict[str, Tool] = {t.name: t for t in (http.TOOL, slack.TOOL, email.TOOL, api.TOOL,
                                                   file_parser.TOOL)}


class _Registry(Mapping[str, Tool]):
    """The built-in tools and the integrations' (each built on first use)."""

    def _names(self) -> list[str]:
        from stepweave.integrations.registry import operation_index

        return [*_BUILT_IN, *(n for n in operation_index() if n not in _BUILT_IN)]

    def __getitem__(self, name: str) -> Tool:
        tool = _BUILT_IN.get(name)
        if tool is None:
            from stepweave.integrations.registry import integration_tool

            tool = integration_tool(name) if isinstance(name, str) else None
        if tool is None:
            raise KeyError(name)
        return tool

    def __contains__(self, name: object) -> bool:
        return name in _BUILT_IN or name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


TOOLS: Mapping[str, Tool] = _Registry()


@cache
def _by_sim_type() -> dict[str, str]:
    return {sim: t.name for t in TOOLS.values() for sim in t.sim_types}


@cache
def _by_sim_operation() -> dict[tuple[str, str], str]:
    return {pair: t.name for t in TOOLS.values() for pair in t.sim_operations}


class UnknownTool(StepweaveError):
    """A tool name that is not in the registry."""


def tool_names() -> list[str]:
    return sorted(TOOLS)


def available(name: str = "") -> str:
    """What to say after an unknown tool name: the built-in tools, the integrations' count
    and the closest names."""
    from difflib import get_close_matches

    integrations = len(TOOLS) - len(_BUILT_IN)
    close = get_close_matches(name, tool_names(), n=3, cutoff=0.6) if name else []
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (f"available: {', '.join(sorted(_BUILT_IN))} and {integrations} integration "
            f"operations listed in docs/integrations.md{hint}")


def get_tool(name: str) -> Tool:
    tool = TOOLS.get(name)
    if tool is None:
        raise UnknownTool(f"unknown tool '{name}' ({available(name)})")
    return tool


def tool_for_sim_block(sim_type: str, operation: str | None = None) -> str | None:
    """Our tool for a Sim block or tool type (``slack``, ``http_request``, a tool id such as
    ``reddit_search``) or a block type and its operation (``notion_v2``,
    ``notion_create_page``), or None."""
    if operation:
        found = _by_sim_operation().get((sim_type, operation))
        if found is not None:
            return found
    return _by_sim_type().get(sim_type)


def sim_operations(sim_type: str) -> list[str]:
    """The operations of a Sim block type that have a tool (empty: none of them)."""
    return sorted(op for block, op in _by_sim_operation() if block == sim_type)


def tool_permissions(names: Iterable[str]) -> list[str]:
    """The IAM actions the named tools need, sorted, without duplicates."""
    return sorted({action for n in names if n in TOOLS for action in TOOLS[n].permissions})


def tool_secrets(names: Iterable[str]) -> list[str]:
    """The default secret names the named tools read."""
    return sorted({s for n in names if n in TOOLS for s in TOOLS[n].secrets})
