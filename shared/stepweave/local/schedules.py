"""Schedules firing on this machine: what EventBridge Scheduler does once deployed, for
``stepweave serve``.

Every enabled schedule trigger of the served workflows starts its workflow at its next start
time (``stepweave.triggers.next_runs``), with the run input the deployed schedule gives
(``stepweave.triggers.fire.schedule_run_input``: the trigger's ``input`` and
``trigger.scheduledTime``). The execution is named after the schedule and the scheduled
minute, so one start time never starts two runs. A start time missed while nothing was
serving is not caught up (EventBridge Scheduler's flexible window aside, neither is it there).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from stepweave.compiler.compiled import CompiledWorkflow
from stepweave.triggers.declare import ScheduleTrigger

__all__ = ["LocalScheduler", "Fired"]


@dataclass(frozen=True)
class Fired:
    workflow: str
    trigger: str
    scheduled: datetime
    execution_arn: str | None
    error: str | None = None


class LocalScheduler:
    """Starts each served workflow's schedules at their times, in a thread of its own."""

    def __init__(self, executions: Any, workflows: Mapping[str, CompiledWorkflow], *,
                 log: TextIO | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.executions = executions  # stepweave.api.executions.Executions
        self.clock = clock
        self.log = log
        self.schedules = [(name, trigger) for name, compiled in sorted(workflows.items())
                          for trigger in compiled.triggers
                          if isinstance(trigger, ScheduleTrigger) and trigger.enabled]
        self._next: dict[int, datetime | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._plan(self.clock())

    def _plan(self, after: datetime) -> None:
        from stepweave.triggers.next_runs import next_runs

        for index, (_, trigger) in enumerate(self.schedules):
            current = self._next.get(index)
            if current is None or current <= after:
                runs = next_runs(trigger, after, 1)
                self._next[index] = runs[0] if runs else None

    def upcoming(self) -> list[tuple[str, str, datetime]]:
        """(workflow, trigger, next start) of every schedule that will fire, soonest first."""
        found = [(self.schedules[i][0], self.schedules[i][1].label, when)
                 for i, when in self._next.items() if when is not None]
        return sorted(found, key=lambda item: item[2])

    def tick(self, now: datetime) -> list[Fired]:
        """Start every schedule due at ``now``; plan each one's next start."""
        from stepweave.triggers.fire import schedule_run_input

        fired: list[Fired] = []
        for index, (workflow, trigger) in enumerate(self.schedules):
            when = self._next.get(index)
            if when is None or when > now:
                continue
            payload = schedule_run_input(workflow, trigger, now=when)
            name = f"schedule-{trigger.label}-{when.strftime('%Y%m%dT%H%MZ')}"[:80]
            try:
                started = self.executions.start(workflow, json.dumps(payload), name)
                fired.append(Fired(workflow, trigger.label, when, started.execution_arn))
            except Exception as exc:  # noqa: BLE001 - reported; the next start still comes
                fired.append(Fired(workflow, trigger.label, when, None, f"{type(exc).__name__}: {exc}"))
            self._say(fired[-1])
        self._plan(now)
        return fired

    def _say(self, fired: Fired) -> None:
        if self.log is None:
            return
        at = fired.scheduled.strftime("%Y-%m-%d %H:%M UTC")
        what = f"started {fired.execution_arn.rsplit(':', 1)[-1]}" if fired.execution_arn \
            else f"could not start: {fired.error}"
        print(f"schedule '{fired.trigger}' of {fired.workflow} ({at}): {what}", file=self.log)
        self.log.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            upcoming = self.upcoming()
            if not upcoming:
                return
            wait = (upcoming[0][2] - self.clock()).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return  # stopped; otherwise re-check the clock at least every minute
            self.tick(self.clock())

    def __enter__(self) -> LocalScheduler:
        if self.schedules:
            self._thread = threading.Thread(target=self._run, name="stepweave-schedules", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
