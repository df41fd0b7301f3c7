"""Starting, waiting for, describing and stopping executions: the ``Executions`` interface.

``AwsExecutions`` calls Step Functions (boto3 ``stepfunctions``) with the deployment's map
workflow -> state machine (``Settings.workflows`` and ``state_machine_prefix``, set by the CDK
app); ``stepweave.local.executions.LocalExecutions`` runs them on the embedded engine.
Step Functions errors are translated here into the API's errors (``stepweave.api.errors``).

A synchronous run waits at most ``timeout_s``: an Express workflow through
``StartSyncExecution`` (its ARN is only known when it ends, so a run that outlives the wait
is reported by name), a Standard one by polling ``DescribeExecution``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from stepweave.api.errors import ApiError, Conflict, InvalidInput, NotFound, SyncTimeout, Throttled
from stepweave.errors import aws_error_code
from stepweave.runtime.arns import qualifier
from stepweave.runtime.settings import Settings

__all__ = [
    "FINAL",
    "AwsExecutions",
    "Executions",
    "Outcome",
    "Started",
    "Target",
    "outcome_of",
    "ping_machines",
    "sync_client",
    "targets_from_settings",
    "translate",
    "wait_for",
]

WorkflowType = Literal["STANDARD", "EXPRESS"]
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Target:
    """A workflow's state machine (``arn``: deployed, its ``live`` alias's ARN)."""

    workflow: str
    arn: str
    type: WorkflowType


@dataclass(frozen=True)
class Started:
    execution_arn: str
    name: str
    start_date: datetime


@dataclass(frozen=True)
class Outcome:
    """Where an execution is: RUNNING or a final status, with its output or error."""

    execution_arn: str | None
    name: str
    status: str
    start_date: datetime
    stop_date: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None


class Executions(Protocol):
    def targets(self) -> Mapping[str, Target]: ...

    def start(self, workflow: str, payload: str, name: str) -> Started: ...

    def start_sync(self, workflow: str, payload: str, name: str, timeout_s: float) -> Outcome: ...

    def describe(self, execution_arn: str) -> Outcome: ...

    def stop(self, execution_arn: str, error: str, cause: str) -> None: ...

    def redrive(self, execution_arn: str) -> datetime:
        """Resume a failed Standard execution from its failed state (``RedriveExecution``); when."""
        ...

    def ping(self) -> dict[str, str | None]:
        """Workflow -> None when its state machine answers, else a short reason."""
        ...


def ping_machines(sfn: Any, targets: Mapping[str, Target]) -> dict[str, str | None]:
    """Does each target answer: its alias (a target through an alias) or its state machine."""
    result: dict[str, str | None] = {}
    for name, target in targets.items():
        try:
            named = qualifier(target.arn)
            if named is not None and not named.isdigit():
                sfn.describe_state_machine_alias(stateMachineAliasArn=target.arn)
            else:
                sfn.describe_state_machine(stateMachineArn=target.arn)
            result[name] = None
        except Exception as exc:  # noqa: BLE001 - reported by /health
            result[name] = aws_error_code(exc) or type(exc).__name__
    return result


def targets_from_settings(settings: Settings) -> dict[str, Target]:
    """Workflow -> its state machine, started through ``state_machine_alias`` when set
    (deployed: ``live``, which each deploy moves to the version it publishes)."""
    prefix = settings.state_machine_prefix or ""
    suffix = f":{settings.state_machine_alias}" if settings.state_machine_alias else ""
    return {name: Target(name, prefix + name + suffix, kind)
            for name, kind in (settings.workflows or {}).items()}


_ERRORS: dict[str, Callable[[str], ApiError]] = {
    "ExecutionAlreadyExists": lambda m: Conflict("an execution with this name already exists"),
    "StateMachineDoesNotExist": lambda m: NotFound("the workflow's state machine does not exist"),
    "StateMachineDeleting": lambda m: NotFound("the workflow's state machine is being deleted"),
    "ExecutionDoesNotExist": lambda m: NotFound("no such execution"),
    "InvalidName": lambda m: InvalidInput("invalid execution name"),
    "InvalidExecutionInput": lambda m: InvalidInput("invalid input"),
    "InvalidArn": lambda m: NotFound("no such execution"),
    "ExecutionNotRedrivable": lambda m: Conflict(f"the execution cannot be retried: {_aws_message(m)}"),
    "ExecutionLimitExceeded": lambda m: Throttled("too many running executions", retry_after=5),
    "ThrottlingException": lambda m: Throttled(),
    "TooManyRequestsException": lambda m: Throttled(),
}


def _aws_message(text: str) -> str:
    """``An error occurred (Code) when calling the Op operation: <message>`` -> the message."""
    return text.split(": ", 1)[1] if "operation: " in text else text


def translate(exc: Exception) -> Exception:
    """A Step Functions ``ClientError`` as the API error it means (others unchanged)."""
    make = _ERRORS.get(aws_error_code(exc) or "")
    return make(str(exc)) if make is not None else exc


def outcome_of(desc: Mapping[str, Any]) -> Outcome:
    return Outcome(str(desc.get("executionArn") or "") or None, str(desc.get("name") or ""),
                   str(desc["status"]), desc.get("startDate") or datetime.now(UTC), desc.get("stopDate"),
                   desc.get("output"), desc.get("error"), desc.get("cause"))


def wait_for(describe: Callable[[str], Outcome], arn: str, name: str, timeout_s: float,
             poll_s: float = 0.05) -> Outcome:
    """Poll until the execution ends; ``SyncTimeout`` (with its id) past ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = poll_s
    while True:
        outcome = describe(arn)
        if outcome.status in FINAL:
            return outcome
        if time.monotonic() + delay > deadline:
            raise SyncTimeout(f"the execution is still running after {timeout_s:g} s: "
                              "poll GET /v1/executions/{executionId}", executionId=arn, executionName=name)
        time.sleep(delay)
        delay = min(1.0, delay * 1.5)


def sync_client(timeout_s: float, config: Any = None, **client_kwargs: Any) -> Any:
    """A Step Functions client for ``StartSyncExecution``, which blocks until the run ends: it
    gives up after ``timeout_s`` and makes one attempt only (a retry would start the run
    again and wait as long once more, past API Gateway's limit). ``config`` (a botocore
    ``Config``) is merged over these settings."""
    import boto3
    from botocore.config import Config

    base = Config(read_timeout=timeout_s, connect_timeout=min(5.0, timeout_s),
                  retries={"total_max_attempts": 1})
    return boto3.client("stepfunctions", config=base.merge(config) if config else base, **client_kwargs)


class AwsExecutions:
    """Step Functions through a boto3 client; ``sync_client`` is one whose read timeout is
    the synchronous wait (``StartSyncExecution`` blocks until the run ends)."""

    def __init__(self, sfn: Any, targets: Mapping[str, Target], sync_client: Any = None) -> None:
        self.sfn, self._targets, self.sync_client = sfn, dict(targets), sync_client or sfn

    def targets(self) -> Mapping[str, Target]:
        return self._targets

    def _target(self, workflow: str) -> Target:
        target = self._targets.get(workflow)
        if target is None:
            raise NotFound(f"unknown workflow {workflow!r}")
        return target

    def start(self, workflow: str, payload: str, name: str) -> Started:
        target = self._target(workflow)
        try:
            started = self.sfn.start_execution(stateMachineArn=target.arn, name=name, input=payload)
        except Exception as exc:
            raise translate(exc) from None
        return Started(started["executionArn"], name, started["startDate"])

    def start_sync(self, workflow: str, payload: str, name: str, timeout_s: float) -> Outcome:
        target = self._target(workflow)
        if target.type == "STANDARD":
            started = self.start(workflow, payload, name)
            return wait_for(self.describe, started.execution_arn, name, timeout_s)
        from botocore.exceptions import ReadTimeoutError

        try:
            desc = self.sync_client.start_sync_execution(stateMachineArn=target.arn, name=name,
                                                         input=payload)
        except ReadTimeoutError:
            raise SyncTimeout(f"the execution is still running after {timeout_s:g} s: poll "
                              "GET /v1/executions/{executionName}",
                              executionName=name, workflow=workflow) from None
        except Exception as exc:
            raise translate(exc) from None
        return outcome_of({**desc, "name": desc.get("name") or name})

    def describe(self, execution_arn: str) -> Outcome:
        try:
            return outcome_of(self.sfn.describe_execution(executionArn=execution_arn))
        except Exception as exc:
            raise translate(exc) from None

    def ping(self) -> dict[str, str | None]:
        return ping_machines(self.sfn, self._targets)

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        try:
            self.sfn.stop_execution(executionArn=execution_arn, error=error, cause=cause)
        except Exception as exc:
            raise translate(exc) from None

    def redrive(self, execution_arn: str) -> datetime:
        try:
            answer = self.sfn.redrive_execution(executionArn=execution_arn)
        except Exception as exc:
            raise translate(exc) from None
        when = answer.get("redriveDate")
        return when if isinstance(when, datetime) else datetime.now(UTC)
