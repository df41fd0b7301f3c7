"""The ``agent`` block's handler: a model answers messages, may call tools, may remember a
conversation.

Its params are ``stepweave.params.agent.AgentParams``; the run itself is
``stepweave.ai.agent.run_agent``, imported on first use so that nothing heavy is imported by
this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["run_agent_block"]


def run_agent_block(params: dict[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The handler's entry (``stepweave.ai.agent.run_agent``, imported on first use)."""
    from stepweave.ai.agent import run_agent

    return run_agent(params, secrets=secrets)
