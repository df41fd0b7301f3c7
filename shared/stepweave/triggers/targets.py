"""Which workflows take webhooks, and where their state machines are.

Deployed, the ingest function reads ``webhooks.json`` beside its handler (generated at
synth by ``infra/constructs/triggers.py`` from ``targets_document``)::

    {"<workflow>": {"stateMachine": "<stage>-<workflow>:live", "type": "STANDARD",
                    "trigger": {<the webhook trigger as declared>}}}

and builds each ARN from the account's state machine ARN prefix
(``arn:<partition>:states:<region>:<account>:stateMachine:``): deployed, the ingest starts
each workflow's ``live`` alias (``docs/deploying.md``). Locally (the gateway, tests),
``webhook_targets`` builds the same from compiled workflows, without an alias.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.triggers.declare import WebhookTrigger

__all__ = [
    "TARGETS_FILE",
    "TargetsError",
    "WebhookTarget",
    "load_targets",
    "state_machine_arn_prefix",
    "targets_document",
    "webhook_targets",
]

TARGETS_FILE = "webhooks.json"


class TargetsError(StepweaveError):
    """The webhook targets file is missing or malformed (a deployment fault)."""


@dataclass(frozen=True)
class WebhookTarget:
    workflow: str
    state_machine_arn: str
    workflow_type: str  # "STANDARD" | "EXPRESS"
    trigger: WebhookTrigger


def _webhook(triggers: Iterable[Any]) -> WebhookTrigger | None:
    return next((t for t in triggers if isinstance(t, WebhookTrigger)), None)


def webhook_targets(compiled: Iterable[Any], arn_for: Callable[[str], str]) -> dict[str, WebhookTarget]:
    """``{workflow: target}`` for the compiled workflows (``CompiledWorkflow``) declaring a
    webhook; ``arn_for(workflow)`` gives the state machine ARN."""
    targets: dict[str, WebhookTarget] = {}
    for workflow in compiled:
        trigger = _webhook(getattr(workflow, "triggers", ()))
        if trigger is not None:
            targets[workflow.name] = WebhookTarget(workflow.name, arn_for(workflow.name),
                                                   workflow.workflow_type, trigger)
    return targets


def targets_document(compiled: Iterable[Any], state_machine_name: Callable[[str], str]) -> dict[str, Any]:
    """The JSON document of the deployed targets (names, not ARNs: ARNs hold tokens at synth)."""
    document: dict[str, Any] = {}
    for workflow in sorted(compiled, key=lambda w: str(w.name)):
        trigger = _webhook(getattr(workflow, "triggers", ()))
        if trigger is not None:
            document[workflow.name] = {
                "stateMachine": state_machine_name(workflow.name), "type": workflow.workflow_type,
                "trigger": trigger.model_dump(mode="json", exclude_none=True)}
    return document


def load_targets(path: Path, arn_prefix: str) -> dict[str, WebhookTarget]:
    """The targets of a ``targets_document`` file; ``arn_prefix`` ends with ``stateMachine:``."""
    try:
        document: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return {name: WebhookTarget(name, arn_prefix + str(entry["stateMachine"]), str(entry["type"]),
                                    WebhookTrigger.model_validate(entry["trigger"]))
                for name, entry in document.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TargetsError(f"{path}: cannot read the webhook targets ({type(exc).__name__})") from None


def state_machine_arn_prefix(function_arn: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>`` ->
    ``arn:aws:states:<region>:<account>:stateMachine:`` (same partition, region, account)."""
    parts = function_arn.split(":")
    if len(parts) < 7 or parts[0] != "arn":
        raise TargetsError(f"not a Lambda function ARN: {function_arn!r}")
    return f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:stateMachine:"
