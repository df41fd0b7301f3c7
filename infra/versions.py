"""Versions and the ``live`` alias of each workflow's state machine: what a deploy publishes.

Each deploy publishes a state machine version when the workflow's deployed definition
changed (``AWS::StepFunctions::StateMachineVersion``, its logical id and description
derived from the definition's hash, so an unchanged definition publishes nothing; the
deployed definition names the workflow file's SHA-256, so it follows the file) and
points the ``live`` alias at it (``AWS::StepFunctions::StateMachineAlias``). A version
is kept when a newer one replaces it (``DeletionPolicy`` and ``UpdateReplacePolicy``
``Retain``), so ``stepweave rollback`` can move ``live`` back; deleting the state machine
deletes its versions.

The version's description (``stepweave.runtime.versions``; ``stepweave versions`` reads
it back)::

    stepweave workflow=<name> file=sha256:<16 hex> definition=sha256:<16 hex>

Gradual deployment (``canary`` context, ``read_canary``): the alias shifts ``percent`` of
the starts to the new version for ``minutes``, then all of them (CloudFormation's
``DeploymentPreference``, type ``CANARY``; the previous version keeps the rest meanwhile),
and CloudFormation rolls the alias back if one of the workflow's alarms fires meanwhile.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepweave.runtime.versions import description_fields, version_description

__all__ = ["CANARY_CONTEXT", "Canary", "DeploySource", "definition_hash", "description_fields",
           "read_canary", "version_description"]

#: The context key: ``<workflow>:<percent>[:<minutes>]``, several separated by commas.
CANARY_CONTEXT = "canary"
#: How long the canary's share runs before the alias moves whole, unless given.
DEFAULT_CANARY_MINUTES = 10
_CANARY = re.compile(r"^(?P<workflow>[A-Za-z0-9][A-Za-z0-9_-]*):(?P<percent>\d{1,3})"
                     r"(?::(?P<minutes>\d{1,4}))?$")


@dataclass(frozen=True)
class Canary:
    """Send ``percent`` of the starts to the new version for ``minutes``, then all."""

    percent: int
    minutes: int = DEFAULT_CANARY_MINUTES


@dataclass(frozen=True)
class DeploySource:
    """Where a deployed workflow came from: its file, the file's SHA-256 and its block
    summary (``stepweave.workflow.summary``)."""

    file: str
    file_sha256: str
    summary: dict[str, Any]

    @classmethod
    def of(cls, path: Path, file: str, summary: dict[str, Any]) -> DeploySource:
        return cls(file, hashlib.sha256(path.read_bytes()).hexdigest(), summary)


def definition_hash(definition: str, workflow_type: str, substitutions: Iterable[str]) -> str:
    """The SHA-256 of what a version pins: the definition as deployed (placeholders
    included), the workflow type and the names of the substituted values."""
    text = "\n".join([workflow_type, definition, *sorted(substitutions)])
    return hashlib.sha256(text.encode()).hexdigest()


def read_canary(value: Any, workflows: Iterable[str]) -> tuple[dict[str, Canary], list[str]]:
    """The ``canary`` context value -> workflow -> ``Canary``, and every problem found."""
    if value is None or value == "":
        return {}, []
    known = set(workflows)
    out: dict[str, Canary] = {}
    problems: list[str] = []
    for item in str(value).split(","):
        item = item.strip()
        match = _CANARY.match(item)
        if not match:
            problems.append(f"context value '{CANARY_CONTEXT}': {item!r} is not "
                            "<workflow>:<percent>[:<minutes>] (e.g. -c canary=triage:10)")
            continue
        name, percent = match["workflow"], int(match["percent"])
        minutes = int(match["minutes"]) if match["minutes"] else DEFAULT_CANARY_MINUTES
        if name not in known:
            problems.append(f"context value '{CANARY_CONTEXT}': no workflow named {name!r} "
                            f"(workflows: {', '.join(sorted(known)) or 'none'})")
        elif not 1 <= percent <= 99:
            problems.append(f"context value '{CANARY_CONTEXT}': {name}'s share must be 1 to 99 "
                            f"percent; got {percent}")
        elif not 1 <= minutes <= 2100:
            problems.append(f"context value '{CANARY_CONTEXT}': {name}'s interval must be 1 to "
                            f"2100 minutes; got {minutes}")
        elif name in out:
            problems.append(f"context value '{CANARY_CONTEXT}': {name} is given twice")
        else:
            out[name] = Canary(percent, minutes)
    return out, problems


def canaries_for(value: Any, workflows: Mapping[str, Any]) -> dict[str, Canary]:
    """``read_canary`` raising ``ValueError`` with every problem."""
    canaries, problems = read_canary(value, workflows)
    if problems:
        raise ValueError("\n".join(problems))
    return canaries
