"""The sweep of overdue approvals, run on a schedule by the deployment.

An approval with a timeout whose deadline has passed should not be waiting any more: Step
Functions timed its task out and the run went on (error edge) or failed. The sweep finds
the overdue approvals in the waiting list (``stepweave.runtime.approvals.overdue``, one
key-range query), asks Step Functions whether each run still waits, and

- marks the approval ``lapsed`` (off the waiting list) when the run stopped or moved on;
- counts it as *stuck* when its run is still RUNNING past the deadline (a task without a
  timeout, or a state machine changed under it) — the ``ApprovalsStuck`` metric, which the
  deployment alarms on. An approval that ran the stretch before it (a lead-in,
  ``stepweave.runtime.lead_in``) has a task whose timeout counts from that stretch's start,
  up to 5 minutes before the request: its run is stuck only ``STUCK_GRACE_SECONDS`` past
  the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepweave.runtime.approvals import lapse, overdue
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["SweepResult", "sweep", "STUCK_GRACE_SECONDS"]

#: How long past its deadline a lead-in's run may still wait before it counts as stuck (its
#: task times out up to an Express execution's 5 minutes after the deadline)
STUCK_GRACE_SECONDS = 330


@dataclass(frozen=True)
class SweepResult:
    overdue: int
    lapsed: int
    stuck: list[str]  # approval ids whose run still waits past the deadline


def sweep(clients: Clients, settings: Settings, now: float) -> SweepResult:
    found = overdue(clients.ddb, settings, now)
    lapsed, stuck = 0, []
    for approval in found:
        if _still_running(clients.sfn, approval.execution_arn):
            grace = STUCK_GRACE_SECONDS if approval.lead_in else 0
            if approval.deadline is None or now >= approval.deadline + grace:
                stuck.append(approval.id)
        elif lapse(clients.ddb, settings, approval):
            lapsed += 1
    return SweepResult(overdue=len(found), lapsed=lapsed, stuck=stuck)


def _still_running(sfn: Any, execution_arn: str) -> bool:
    try:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    except sfn.exceptions.ExecutionDoesNotExist:
        return False
    return bool(status == "RUNNING")
