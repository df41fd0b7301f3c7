"""``ListStateMachineVersions`` for moto, which keeps state machine versions but cannot list them.

moto (pinned, see ``pyproject.toml``) publishes a version on ``CreateStateMachine`` and
``UpdateStateMachine`` with ``publish=True``, describes a version by its ARN, and creates,
updates, describes and lists aliases; it answers ``ListStateMachineVersions`` with "not
yet implemented". ``install()`` gives its Step Functions API that action, from the versions
moto already keeps, as AWS answers it: the newest version first, each with its ARN and
creation date, ``maxResults`` (1..1000, default 100 here) and an opaque ``nextToken``;
an unknown state machine is ``StateMachineDoesNotExist``, a version or alias ARN
``ValidationException``. ``tests/functional/test_cli_versions.py`` drives it with boto3.

It is what ``stepweave versions`` and ``stepweave rollback`` call, so their tests can run
against moto; nothing else here uses it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["install", "installed"]

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _list_state_machine_versions(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import StateMachineDoesNotExist, ValidationException
    from moto.stepfunctions.models import StateMachine

    arn = str(self._get_param("stateMachineArn") or "")
    max_results = self._get_int_param("maxResults") or DEFAULT_PAGE
    if not 1 <= max_results <= MAX_PAGE:
        raise ValidationException(f"maxResults must be 1 to {MAX_PAGE}")
    token = self._get_param("nextToken")
    machine = self.stepfunction_backend.describe_state_machine(arn)  # checks the ARN's form
    if not isinstance(machine, StateMachine):
        raise ValidationException(f"not an unqualified state machine ARN: '{arn}'")
    if machine.arn != arn:
        raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
    versions = sorted(machine.versions.values(), key=lambda v: v.version, reverse=True)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationException("invalid nextToken") from None
    page = versions[start:start + max_results]
    response: dict[str, Any] = {"stateMachineVersions": [
        {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in page]}
    if start + max_results < len(versions):
        response["nextToken"] = str(start + max_results)
    return ActionResult(response)


def installed() -> bool:
    from moto.stepfunctions.responses import StepFunctionResponse

    return getattr(StepFunctionResponse, "list_state_machine_versions", None) is _list_state_machine_versions


def install() -> None:
    """Give moto's Step Functions API ``ListStateMachineVersions`` (idempotent)."""
    from moto.stepfunctions.responses import StepFunctionResponse

    StepFunctionResponse.list_state_machine_versions = _list_state_machine_versions  # type: ignore[attr-defined]
