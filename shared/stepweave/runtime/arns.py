"""Step Functions ARNs: an execution's from its state machine and name, and back."""

from __future__ import annotations

__all__ = ["execution_arn", "state_machine_arn"]


def execution_arn(state_machine: str, name: str) -> str:
    """``arn:...:stateMachine:<machine>`` + ``name`` -> ``arn:...:execution:<machine>:<name>``
    (a Standard execution's ARN, known before or without starting it)."""
    return state_machine.replace(":stateMachine:", ":execution:", 1) + ":" + name


def state_machine_arn(execution: str) -> str:
    """The state machine of an execution ARN: ``arn:...:execution:<machine>:<name>``, or an
    Express one, ``arn:...:express:<machine>:<name>:<id>``."""
    parts = execution.split(":")
    return ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) > 7 else ""
