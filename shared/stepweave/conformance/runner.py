"""Running conformance cases on the embedded engine and on a deployed stage.

A deployed case runs on the state machine the CDK app made of the same file
(``<stage>-<workflow name>``): ``StartSyncExecution`` for Express, ``StartExecution`` and
``DescribeExecution`` until it ends for Standard. Nothing is deployed or changed; the caller's
credentials need ``states:ListStateMachines``, ``states:StartExecution`` /
``StartSyncExecution`` and ``states:DescribeExecution`` on the stage's state machines.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepweave.conformance.cases import Case

__all__ = ["Outcome", "compare", "run_local", "run_aws", "state_machine_arns"]

#: How long a Standard execution may take before verify stops waiting for it.
STANDARD_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class Outcome:
    """How one run ended: SUCCEEDED with ``output``, else its ``error`` (and cause)."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.status == "SUCCEEDED":
            out["output"] = self.output
        else:
            out["error"] = self.error
        return out


def compare(expected: Outcome | Case, actual: Outcome) -> list[str]:
    """The differences, in words (empty: the same result)."""
    problems: list[str] = []
    if expected.status != actual.status:
        problems.append(f"status {actual.status} (expected {expected.status})"
                        + (f": {actual.error}: {actual.cause}" if actual.error else ""))
    elif expected.status == "SUCCEEDED" and expected.output != actual.output:
        problems.append(f"output {_short(actual.output)} (expected {_short(expected.output)})")
    elif expected.status != "SUCCEEDED" and expected.error != actual.error:
        problems.append(f"error {actual.error} (expected {expected.error})")
    return problems


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def run_local(engine: Any, case: Case) -> Outcome:
    """The case on the embedded engine (``stepweave.local.engine.LocalEngine``)."""
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow

    compiled = compile_workflow(load_workflow(case.file), str(case.file))
    result = engine.run(compiled, case.input)
    return Outcome(result.status, result.output, result.error, result.cause)


def state_machine_arns(sfn: Any, stage: str) -> dict[str, tuple[str, str]]:
    """``<stage>-<name>`` state machines of the account and region -> (ARN, type)."""
    found: dict[str, tuple[str, str]] = {}
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page.get("stateMachines", []):
            name = str(machine["name"])
            if name.startswith(stage + "-"):
                found[name[len(stage) + 1:]] = (str(machine["stateMachineArn"]),
                                                str(machine.get("type", "STANDARD")))
    return found


def run_aws(sfn: Any, arn: str, machine_type: str, case: Case,
            sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """The case on a deployed state machine."""
    payload = json.dumps(case.input)
    name = f"verify-{uuid.uuid4().hex[:16]}"
    if machine_type == "EXPRESS":
        done = sfn.start_sync_execution(stateMachineArn=arn, input=payload, name=name)
        return _outcome(done)
    started = sfn.start_execution(stateMachineArn=arn, input=payload, name=name)
    deadline = time.monotonic() + STANDARD_WAIT_SECONDS
    delay = 0.2
    while True:
        described = sfn.describe_execution(executionArn=started["executionArn"])
        if described["status"] != "RUNNING":
            return _outcome(described)
        if time.monotonic() > deadline:
            return Outcome("TIMED_OUT", error="Stepweave.VerifyTimeout",
                           cause=f"still running after {STANDARD_WAIT_SECONDS:.0f} s")
        sleep(delay)
        delay = min(delay * 2, 5.0)


def _outcome(described: dict[str, Any]) -> Outcome:
    raw = described.get("output")
    output = json.loads(raw) if isinstance(raw, str) and raw else None
    return Outcome(str(described["status"]), output, described.get("error"), described.get("cause"))
