"""Step Functions ARNs: an execution's from its state machine and name, and back; the
``live`` alias every deployed workflow is started through.

A state machine ARN is *unqualified* (``arn:...:stateMachine:<machine>``) or *qualified*
by a version number or an alias name (``arn:...:stateMachine:<machine>:<qualifier>``).
An execution started through a version or an alias is still named after the state
machine alone: ``arn:...:execution:<machine>:<name>``.
"""

from __future__ import annotations

__all__ = ["LIVE_ALIAS", "alias_arn", "execution_arn", "qualifier", "state_machine_arn",
           "unqualified"]

#: The alias each deploy moves to the version it publishes; triggers, the run API and
#: sub-workflow calls start this (``docs/deploying.md``).
LIVE_ALIAS = "live"
#: ``arn:<partition>:states:<region>:<account>:stateMachine:<machine>`` has 7 parts.
_UNQUALIFIED_PARTS = 7


def unqualified(state_machine: str) -> str:
    """A state machine ARN without its version or alias qualifier (one without stays)."""
    parts = state_machine.split(":")
    if len(parts) > _UNQUALIFIED_PARTS and parts[5] == "stateMachine":
        return ":".join(parts[:_UNQUALIFIED_PARTS])
    return state_machine


def qualifier(state_machine: str) -> str | None:
    """The version number or alias name of a qualified state machine ARN, else None."""
    parts = state_machine.split(":")
    if len(parts) > _UNQUALIFIED_PARTS and parts[5] == "stateMachine":
        return parts[_UNQUALIFIED_PARTS]
    return None


def alias_arn(state_machine: str, alias: str = LIVE_ALIAS) -> str:
    """The ARN of ``alias`` of a state machine (given qualified or not)."""
    return f"{unqualified(state_machine)}:{alias}"


def execution_arn(state_machine: str, name: str) -> str:
    """``arn:...:stateMachine:<machine>[:<qualifier>]`` + ``name`` ->
    ``arn:...:execution:<machine>:<name>`` (a Standard execution's ARN, known before or
    without starting it; started through an alias or a version, it is the same)."""
    return unqualified(state_machine).replace(":stateMachine:", ":execution:", 1) + ":" + name


def state_machine_arn(execution: str) -> str:
    """The state machine of an execution ARN: ``arn:...:execution:<machine>:<name>``, or an
    Express one, ``arn:...:express:<machine>:<name>:<id>``."""
    parts = execution.split(":")
    return ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) > 7 else ""
