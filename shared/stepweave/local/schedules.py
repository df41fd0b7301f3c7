"""Schedules firing on this machine: what EventBridge Scheduler does once deployed, for
``stepweave serve``.

Every enabled schedule trigger of the served workflows starts its workflow at its next start
time (``stepweave.triggers.next_runs``), with the run input the deployed schedule gives
(``stepweave.triggers.fire.schedule_run_input``: the trigger's ``input`` and
``trigger.scheduledTime``). The execution is named after the schedule and the scheduled
minute, so one start time never starts two runs. A start time missed while nothing was
serving is not caught up (EventBridge Scheduler's flexible window aside, neither is it there).

Poll triggers (``type: poll``) are polled as the deployed poller function is: once when serving
starts, then every ``rate``, each poll through ``stepweave.triggers.poll.poll`` against the
engine's records table (``local_poller``), so an item starts one run however often it polls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from stepweave.compiler.compiled import CompiledWorkflow
from stepweave.triggers.declare import PollTrigger, ScheduleTrigger

__all__ = ["LocalScheduler", "Fired", "PollRunner", "local_poller"]

#: (workflow, trigger) -> the execution ARNs the poll started
PollRunner = Callable[[str, PollTrigger], list[str]]


def local_poller(api: Any) -> PollRunner:
    """Polls against a ``stepweave.local.api.LocalApi``: its engine's Step Functions and
    records table, secrets from the environment (as ``stepweave serve`` reads them)."""
    import time

    import httpx

    from stepweave.runtime.secrets import Secrets
    from stepweave.triggers.poll import PollTarget, poll

    secrets = Secrets.from_settings(api.settings)
    http = httpx.Client(headers={"User-Agent": "stepweave-poller"})

    def run(workflow: str, trigger: PollTrigger) -> list[str]:
        target = api.executions.targets()[workflow]
        result = poll(PollTarget(workflow, target.arn, target.type, trigger), clients=api.clients,
                      settings=api.settings, secrets=secrets, http=http, now=time.time())
        return list(result.started)

    return run


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
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 poller: PollRunner | None = None) -> None:
        self.executions = executions  # stepweave.api.executions.Executions
        self.clock = clock
        self.log = log
        self.schedules = [(name, trigger) for name, compiled in sorted(workflows.items())
                          for trigger in compiled.triggers
                          if isinstance(trigger, ScheduleTrigger) and trigger.enabled]
        self.poller = poller
        self.polls = [(name, trigger) for name, compiled in sorted(workflows.items())
                      for trigger in compiled.triggers
                      if isinstance(trigger, PollTrigger) and trigger.enabled] if poller else []
        self._next: dict[int, datetime | None] = {}
        self._next_poll: dict[int, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._plan(self.clock())

    def _plan(self, after: datetime) -> None:
        from stepweave.triggers.next_runs import next_runs

        for index in range(len(self.polls)):
            self._next_poll.setdefault(index, after)  # the first poll: as serving starts
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

    def _due(self) -> datetime | None:
        """When the next schedule fires or the next poll is due."""
        times = [when for _, _, when in self.upcoming()] + list(self._next_poll.values())
        return min(times) if times else None

    def _poll(self, now: datetime) -> list[Fired]:
        from datetime import timedelta

        from stepweave.triggers.rules import rate_seconds

        fired: list[Fired] = []
        for index, (workflow, trigger) in enumerate(self.polls):
            if self._next_poll[index] > now or self.poller is None:
                continue
            self._next_poll[index] = now + timedelta(seconds=rate_seconds(trigger.rate))
            try:
                started = self.poller(workflow, trigger)
            except Exception as exc:  # noqa: BLE001 - reported; the next poll still comes
                fired.append(Fired(workflow, trigger.label, now, None, f"{type(exc).__name__}: {exc}"))
                self._say(fired[-1], "poll")
                continue
            for arn in started:
                fired.append(Fired(workflow, trigger.label, now, arn))
                self._say(fired[-1], "poll")
        return fired

    def tick(self, now: datetime) -> list[Fired]:
        """Start every schedule due at ``now`` and run every poll due; plan what comes next."""
        from stepweave.triggers.fire import schedule_run_input

        fired: list[Fired] = self._poll(now)
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

    def _say(self, fired: Fired, kind: str = "schedule") -> None:
        if self.log is None:
            return
        at = fired.scheduled.strftime("%Y-%m-%d %H:%M UTC")
        what = f"started {fired.execution_arn.rsplit(':', 1)[-1]}" if fired.execution_arn \
            else f"could not {'poll' if kind == 'poll' else 'start'}: {fired.error}"
        print(f"{kind} '{fired.trigger}' of {fired.workflow} ({at}): {what}", file=self.log)
        self.log.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self._due()
            if due is None:
                return
            wait = (due - self.clock()).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return  # stopped; otherwise re-check the clock at least every minute
            self.tick(self.clock())

    def __enter__(self) -> LocalScheduler:
        if self.schedules or self.polls:
            self._thread = threading.Thread(target=self._run, name="stepweave-schedules", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
