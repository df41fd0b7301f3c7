"""An approval that runs the stretch before it: the notifier's half of a lead-in.

``stepweave.compiler.split`` lets an approval task run the Express stretch that comes before
it (a *lead-in*): the task's event carries the stretch (``stretch``: its state machine and
input), and the notifier starts it with ``StartSyncExecution`` before anything else. Then

- the stretch failed: the task fails at once (``SendTaskFailure``) with
  ``stepweave.runtime.stretches.LEAD_FAILED_ERROR`` and, as its cause, the stretch's ``{"Error", "Cause"}``, which the
  parent raises as it would a failed stretch task's;
- the stretch ended the run (it did not leave towards this approval): the task succeeds at
  once with ``{"ended": <the run's output>, "stretch": <its execution ARN>}``, and the
  stretch after the approval passes that output through;
- else the approval is asked, with the parameters the stretch computed, and the variables it
  returned are kept with the request (``Approval.carry``): the decision gives them back to
  the task (``{"output": <the decision>, "vars": ...}``).

When the stretch succeeded but the request then failed (an address it cannot send to, SES
down), the notifier keeps what the stretch did in the payload bucket (``keep``) before the
task fails: a redrive of the run (which runs the task again) takes it from there
(``kept``) instead of running the stretch's blocks a second time, as a redrive of the
unsplit run would not run them again. The stretch itself resumes where it failed from its
own checkpoint (``stepweave.compiler.split``).

The notifier answers Step Functions with the stretch's ``ExecutionArn`` (the ``Payload`` of
the task's ``TaskSubmitted`` event), where the recorder finds it.

Deployed, the stretch runs through the notifier's own Step Functions client (a read timeout
past the 5 minutes an Express execution may run). On the embedded engine, which has no
``StartSyncExecution``, the engine runs it (``IN_PROCESS_RUNNER``).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stepweave.runtime.stretches import checkpoint_folder

__all__ = ["RETRIED_CODES", "RETRY_WAITS", "lambda_error_cause", "keep", "kept", "kept_key", "SyncRunner", "IN_PROCESS_RUNNER", "LeadIn", "run_lead_in", "aws_runner", "failure_cause",
           "MAX_CAUSE_CHARS", "ended_output", "SYNC_TIMEOUT_S"]

#: (state machine ARN, input JSON) -> a ``StartSyncExecution`` answer: ``executionArn``,
#: ``status``, and ``output`` or ``error`` / ``cause``
SyncRunner = Callable[[str, str], Mapping[str, Any]]

#: The embedded engine's runner while it calls a handler in-process; deployed: None
IN_PROCESS_RUNNER: ContextVar[SyncRunner | None] = ContextVar("IN_PROCESS_RUNNER", default=None)

#: An Express execution runs at most 5 minutes: the client waits a little longer
SYNC_TIMEOUT_S = 310.0
#: ``SendTaskFailure`` takes a cause of at most 32,768 characters
MAX_CAUSE_CHARS = 32_768
#: Keys the console reads to link a child to its parent: only Step Functions may set it
_CONSOLE_LINK = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"


@dataclass(frozen=True)
class LeadIn:
    """What the stretch did: its execution, and (when it succeeded) where it left, its
    output, the variables it returned and the approval's parameters."""

    arn: str
    status: str
    exit: str | None = None
    output: Any = None
    vars: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    error: str = ""
    cause: str = ""
    #: when it started (epoch ms), when known
    started_ms: int | None = None
    #: taken from an earlier attempt of the task (``kept``): its events are that attempt's
    reused: bool = False

    def answer(self) -> dict[str, Any]:
        """What the notifier answers Step Functions with (the ``Payload`` of the task's
        ``TaskSubmitted`` event): where the recorder finds the stretch (``Reused``: an earlier
        attempt's, whose blocks are spliced in there, not again)."""
        return {"ExecutionArn": self.arn, **({"StartDate": self.started_ms} if self.started_ms else {}),
                **({"Reused": True} if self.reused else {})}


#: Refusals that start nothing, tried again (as the stretch's own ``.sync`` task retried
#: ``StepFunctions.ExecutionLimitExceeded``); any other error is not (a second call could
#: start the stretch twice)
RETRIED_CODES = frozenset({"ExecutionLimitExceeded", "ThrottlingException", "TooManyRequestsException"})
#: Seconds before each try again (with full jitter)
RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)


def aws_runner(sfn: Any, sleep: Callable[[float], None] = time.sleep) -> SyncRunner:
    """The deployed runner: ``StartSyncExecution`` through ``sfn`` (a client whose read
    timeout is ``SYNC_TIMEOUT_S`` and which makes one attempt), tried again after a refusal
    that started nothing (``RETRIED_CODES``)."""
    def run(machine: str, payload: str) -> Mapping[str, Any]:
        for wait in (*RETRY_WAITS, None):
            try:
                answer: Mapping[str, Any] = sfn.start_sync_execution(stateMachineArn=machine, input=payload)
                return answer
            except Exception as exc:
                code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
                if wait is None or code not in RETRIED_CODES:
                    raise
                sleep(random.uniform(0, wait))
        raise AssertionError("unreachable")
    return run


def run_lead_in(stretch: Mapping[str, Any], runner: SyncRunner) -> LeadIn:
    """Run the stretch of a lead-in's event (``{"StateMachineArn", "Input"}``)."""
    machine = str(stretch.get("StateMachineArn") or "")
    given = stretch.get("Input")
    payload = dict(given) if isinstance(given, dict) else {}
    payload.pop(_CONSOLE_LINK, None)
    answer = runner(machine, json.dumps(payload, allow_nan=False))
    arn, status = str(answer.get("executionArn") or ""), str(answer.get("status") or "")
    started = answer.get("startDate")
    started_ms = round(started.timestamp() * 1000) if isinstance(started, datetime) else None
    if status != "SUCCEEDED":
        error = str(answer.get("error") or "")
        if not error:
            error = "States.Timeout" if status == "TIMED_OUT" else f"States.{status.title() or 'Failed'}"
        return LeadIn(arn, status, error=error, cause=str(answer.get("cause") or ""), started_ms=started_ms)
    try:
        output = json.loads(answer.get("output") or "null")
    except ValueError:
        output = None
    if not isinstance(output, dict):
        return LeadIn(arn, "FAILED", error="Stepweave.LeadInStretchOutput",
                      cause="the stretch before the approval answered without its exit",
                      started_ms=started_ms)
    return _succeeded(arn, output, started_ms)


def _succeeded(arn: str, result: Mapping[str, Any], started_ms: Any, reused: bool = False) -> LeadIn:
    """A stretch that succeeded, from its result (``{"exit", "output", "vars", "params"}``:
    its exit state's output, or what ``keep`` kept of it)."""
    return LeadIn(arn, "SUCCEEDED", reused=reused,
                  exit=result["exit"] if isinstance(result.get("exit"), str) else None,
                  output=result.get("output"),
                  vars=result["vars"] if isinstance(result.get("vars"), dict) else None,
                  params=result["params"] if isinstance(result.get("params"), dict) else None,
                  started_ms=started_ms if isinstance(started_ms, int) else None)


def _fitted(fields: dict[str, Any], long: str) -> str:
    """``fields`` as JSON, their text field ``long`` shortened until it fits a cause
    (``MAX_CAUSE_CHARS``)."""
    while True:
        text = json.dumps(fields)
        if len(text) <= MAX_CAUSE_CHARS:
            return text
        value = str(fields[long])
        fields = {**fields, long: value[: max(0, len(value) - (len(text) - MAX_CAUSE_CHARS) - 16)] + " (shortened)"}


def failure_cause(lead: LeadIn) -> str:
    """The ``SendTaskFailure`` cause of a failed stretch: its ``{"Error", "Cause"}`` (the
    cause shortened to fit), and its ``ExecutionArn`` (whichever of the task's events Step
    Functions records last, it names the stretch)."""
    return _fitted({"Error": lead.error[:256], "Cause": lead.cause, "ExecutionArn": lead.arn}, "Cause")


def lambda_error_cause(exc: BaseException, lead: LeadIn) -> str:
    """The cause a Lambda function's error gives its task (its error payload), for a task the
    notifier fails itself after the stretch ran: the parent words it as it would the
    Lambda's (``errorMessage``); it names the stretch (``ExecutionArn``)."""
    return _fitted({"errorMessage": str(exc), "errorType": type(exc).__name__, "ExecutionArn": lead.arn},
                   "errorMessage")


def ended_output(lead: LeadIn) -> str:
    """The task's result when the stretch ended the run."""
    return json.dumps({"ended": lead.output, "stretch": lead.arn}, allow_nan=False)


def kept_key(workflow: str, execution: str, block_id: str) -> str:
    """Where a lead-in keeps its stretch's result for a redrive: beside the stretches'
    checkpoints (``<prefix>/<workflow>/<execution name>/lead-<block>.json``)."""
    return f"{checkpoint_folder(workflow)}/{execution.rsplit(':', 1)[-1]}/lead-{block_id}.json"


def keep(s3: Any, bucket: str, key: str, lead: LeadIn) -> None:
    """Keep what the stretch did (its request then failed)."""
    body = {"arn": lead.arn, "exit": lead.exit, "output": lead.output, "vars": lead.vars,
            "params": lead.params, "started_ms": lead.started_ms}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, allow_nan=False).encode(),
                  ContentType="application/json")


def kept(s3: Any, bucket: str, key: str) -> LeadIn | None:
    """What an earlier attempt's stretch did (taken: the object is deleted), or None."""
    try:
        body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:  # noqa: BLE001 - none kept (or unreadable): the stretch runs again
        return None
    s3.delete_object(Bucket=bucket, Key=key)
    if not isinstance(body, dict) or not isinstance(body.get("arn"), str):
        return None
    return _succeeded(body["arn"], body, body.get("started_ms"), reused=True)
