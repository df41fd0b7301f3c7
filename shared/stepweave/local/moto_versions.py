"""State machine versions and aliases in moto, as far as Stepweave's deployment uses them.

moto (pinned, see ``pyproject.toml``) publishes a version on ``CreateStateMachine`` and
``UpdateStateMachine`` with ``publish=True``, describes a version by its ARN, and creates,
updates, describes and lists aliases. It lacks two things, which ``install()`` adds:

* ``ListStateMachineVersions`` (moto: "not yet implemented"), from the versions moto keeps,
  as AWS answers it: the newest version first, each with its ARN and creation date,
  ``maxResults`` (1..1000, default 100 here) and an opaque ``nextToken``; an unknown state
  machine is ``StateMachineDoesNotExist``, a version or alias ARN ``ValidationException``.
  ``stepweave versions`` and ``stepweave rollback`` call it.
* ``StartExecution`` of a version or alias ARN (moto: "does not exist"): the version runs
  (through an alias, one of its routes, chosen by weight); the execution is the state
  machine's, named ``arn:...:execution:<machine>:<name>`` as on AWS, and
  ``DescribeExecution`` gives its ``stateMachineVersionArn`` and ``stateMachineAliasArn``.
  The run API and the webhook ingest start the ``live`` alias when deployed.

``tests/functional/test_cli_versions.py`` and ``tests/functional/test_run_api_handler.py``
drive them with boto3. Nothing else here installs it (the embedded engine starts state
machines directly).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
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


_SWAP = threading.Lock()


def _version_for(machine: Any, arn: str, name: str) -> tuple[Any, str | None]:
    """(the version a start through ``arn``'s qualifier runs, the alias's ARN or None)."""
    from moto.stepfunctions.exceptions import StateMachineDoesNotExist

    if name.isdigit():
        version = machine.versions.get(int(name))
        if version is None:
            raise StateMachineDoesNotExist(f"State Machine Version Does Not Exist: '{arn}'")
        return version, None
    alias = machine.aliases.get(name)
    if alias is None:
        raise StateMachineDoesNotExist(f"State Machine Alias Does Not Exist: '{arn}'")
    routes = [(str(r["stateMachineVersionArn"]), int(r["weight"])) for r in alias.routing_configuration]
    chosen = random.choices([a for a, _ in routes], weights=[w for _, w in routes])[0]
    return machine.versions[int(chosen.rsplit(":", 1)[1])], str(alias.arn)


def _start_qualified(original: Callable[..., Any]) -> Callable[..., Any]:
    """``StartExecution`` of a version or alias ARN: the version (for an alias, one of its
    routes, by weight) runs, the execution belongs to the state machine (its ARN names the
    machine, as on AWS) and remembers the version and alias for ``DescribeExecution``."""
    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        from stepweave.runtime.arns import qualifier, unqualified

        name = qualifier(state_machine_arn)
        if name is None:
            return original(self, state_machine_arn, *args, **kwargs)
        machine = self.describe_state_machine(unqualified(state_machine_arn))
        version, alias = _version_for(machine, state_machine_arn, name)
        with _SWAP:  # the execution snapshots the machine's definition as it starts
            definition, machine.definition = machine.definition, version.definition
            try:
                execution = original(self, machine.arn, *args, **kwargs)
            finally:
                machine.definition = definition
        execution.stepweave_version_arn = version.arn
        execution.stepweave_alias_arn = alias
        return execution
    start_execution.stepweave_versions = True  # type: ignore[attr-defined]
    return start_execution


def _describe_execution(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_execution(self: Any) -> Any:
        result = original(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        for attribute, key in (("stepweave_version_arn", "stateMachineVersionArn"),
                               ("stepweave_alias_arn", "stateMachineAliasArn")):
            value = getattr(execution, attribute, None)
            if value:
                result.result[key] = value
        return result
    describe_execution.stepweave_versions = True  # type: ignore[attr-defined]
    return describe_execution


def installed() -> bool:
    from moto.stepfunctions.responses import StepFunctionResponse

    return getattr(StepFunctionResponse, "list_state_machine_versions", None) is _list_state_machine_versions


def install() -> None:
    """Give moto's Step Functions API ``ListStateMachineVersions`` and starts through a
    version or an alias (idempotent)."""
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    StepFunctionResponse.list_state_machine_versions = _list_state_machine_versions  # type: ignore[attr-defined]
    for backend in (StepFunctionBackend, StepFunctionsParserBackend):
        start = backend.__dict__.get("start_execution")
        if start is not None and not getattr(start, "stepweave_versions", False):
            backend.start_execution = _start_qualified(start)  # type: ignore[method-assign]
    describe = StepFunctionResponse.describe_execution
    if not getattr(describe, "stepweave_versions", False):
        StepFunctionResponse.describe_execution = _describe_execution(describe)  # type: ignore[method-assign]
