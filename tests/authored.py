"""Params as a workflow author wrote them, prepared the way a deployed block receives them.

The compiler turns each ``{{NAME}}`` the author wrote into a secret template and lists the
names the block may read (``stepweave.compiler.secrets.plan_secrets``); the handler's entry
joins those templates with the named secrets (``stepweave.runtime.secrets.fill_secrets``).
Tests that call a block's function directly go through the same two steps, so they see
exactly what a handler would pass it. (Values that references resolve to at run time are
put into the event after planning, as the state machine does.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stepweave.compiler.secrets import plan_secrets
from stepweave.runtime.secrets import DeclaredSecrets, fill_secrets


def authored(block_type: str, params: dict[str, Any],
             env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], DeclaredSecrets]:
    """``params`` filled as the handler's entry would, and the block's secrets."""
    plan = plan_secrets(block_type, params)
    scope = DeclaredSecrets(dict(env or {}), sorted(plan.names))
    return fill_secrets(plan.params, plan.at, scope), scope


def authored_event(block: dict[str, str], params: dict[str, Any],
                   context: dict[str, Any] | None = None) -> dict[str, Any]:
    """A handler event for ``params`` as the compiled state machine sends it."""
    plan = plan_secrets(block["type"], params)
    event: dict[str, Any] = {
        "block": block, "params": plan.params,
        "context": context or {"workflow": "support", "execution": "arn:aws:states:x:run-1"}}
    secrets = plan.event_field()
    if secrets is not None:
        event["secrets"] = secrets
    return event
