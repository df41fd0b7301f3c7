"""The run API's ``Executions`` on the embedded engine (``stepweave.local.engine``).

Each workflow gets its state machine in moto when the object is made. Executions run in
moto's own threads; a watcher thread lists the executions of these state machines (however
they were started: the run API, a webhook) and, when one ends, writes its records with the
recorder's code (``LocalRecords.record_run``, into the records database other ``stepweave``
processes share), as the recorder Lambda would on AWS. moto has no ``StartSyncExecution``: a
synchronous run is a start followed by a wait, recorded before the answer.

A run that ends failed is kept to be redriven (``stepweave.local.redrive``); ``redrive`` puts
one of an earlier process back first, and the watcher records the redriven run when it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from stepweave.api.errors import Conflict
from stepweave.api.executions import AwsExecutions, Outcome, Target, wait_for
from stepweave.runtime.arns import state_machine_arn

if TYPE_CHECKING:
    from stepweave.compiler import CompiledWorkflow
    from stepweave.local.engine import LocalEngine

__all__ = ["LocalExecutions"]

logger = logging.getLogger(__name__)


class LocalExecutions(AwsExecutions):
    """``AwsExecutions`` on moto's Step Functions, with synchronous runs waited for (moto has
    no ``StartSyncExecution``) and a watcher that records every run that ends."""

    def __init__(self, engine: LocalEngine, workflows: Mapping[str, CompiledWorkflow],
                 poll_s: float = 0.05) -> None:
        self.engine = engine
        self.compiled = dict(workflows)
        super().__init__(engine.sfn, {name: Target(name, engine.create(c),
                                                   "EXPRESS" if c.workflow_type == "EXPRESS" else "STANDARD")
                                      for name, c in self.compiled.items()})
        # the workflows' state machines and their sub-workflows': nested runs are recorded too
        # (not a split workflow's Express stretches: their blocks are their parent run's)
        stretches = engine.stretch_machines()
        self._manifests = {arn: c.manifest() for arn, c in engine.machines.items() if arn not in stretches}
        self._recorded: set[str] = set()
        self._lock = threading.Lock()  # one recording at a time (the sweep and synchronous runs)
        self._stop = threading.Event()
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._watch, name="stepweave-watcher", daemon=True)
        self._thread.start()

    def start_sync(self, workflow: str, payload: str, name: str, timeout_s: float) -> Outcome:
        started = self.start(workflow, payload, name)
        outcome = wait_for(self.describe, started.execution_arn, name, timeout_s, poll_s=0.01)
        self._record(started.execution_arn)
        return outcome

    def close(self) -> None:
        from stepweave.local.moto_adapter import ENDED

        self._stop.set()
        ENDED.bump()  # wakes the watcher
        self._thread.join(timeout=5)
        self._sweep()

    def _record(self, execution_arn: str) -> None:
        with self._lock:
            if execution_arn in self._recorded:
                return
            machine = state_machine_arn(execution_arn)
            self.engine.records.record_run(self.engine.sfn, execution_arn, self._manifests[machine])
            self._recorded.add(execution_arn)
            from stepweave.local.distributed_map import child_executions, forget_items

            forget_items(execution_arn)  # its distributed Maps' items are in its block logs now
            child_executions(execution_arn)  # and their bill is not printed: a long-lived server keeps neither
            from stepweave.local.live import finish

            finish(self.engine.live_dir, execution_arn)
            if self._manifests[machine].get("type") == "STANDARD":
                from stepweave.local.redrive import keep, release

                keep(self.engine, execution_arn)
                release(execution_arn)  # the stretch histories a retry put back: kept again if need be

    def redrive(self, execution_arn: str) -> datetime:
        """``RedriveExecution``; a run of an earlier process is put back first (from what was
        kept when it failed). ``Conflict`` when it cannot be redriven."""
        from stepweave.local.redrive import NotRedrivable, in_engine, load, restore

        if not in_engine(self.engine, execution_arn):
            saved = load(self.engine.redrive_dir, execution_arn)
            compiled = self.compiled.get(str((saved or {}).get("workflow")))
            if saved is None or compiled is None:
                raise Conflict("the execution cannot be retried: nothing was kept to redrive it (a failed, "
                               "timed-out or aborted Standard run is kept for 14 days)")
            try:
                machine = restore(self.engine, compiled, execution_arn)
            except NotRedrivable as exc:
                raise Conflict(f"the execution cannot be retried: {exc}") from None
            stretches = self.engine.stretch_machines()
            self._manifests.update({arn: c.manifest() for arn, c in self.engine.machines.items()
                                    if arn not in self._manifests and arn not in stretches})
            self._manifests[machine] = compiled.manifest()
        with self._lock:  # recorded again when the redrive ends
            when = super().redrive(execution_arn)
            self._recorded.discard(execution_arn)
        return when

    def unrecorded(self) -> list[str]:
        """Executions of these state machines that ended and are not recorded yet."""
        ended = []
        for machine in self._manifests:
            for page in self.engine.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
                ended += [e["executionArn"] for e in page["executions"]
                          if e["status"] != "RUNNING" and e["executionArn"] not in self._recorded]
        return ended

    def _sweep(self) -> None:
        for arn in self.unrecorded():
            try:
                self._record(arn)
            except Exception:
                logger.exception("cannot record an execution", extra={"execution": arn})
                self._recorded.add(arn)

    def _watch(self) -> None:
        """Sweeps when an execution ends (at most every ``poll_s``), else sleeps: an idle
        server uses no CPU. A sweep a minute catches an end that went unsignalled."""
        from stepweave.local.moto_adapter import ENDED

        seen = ENDED.count()
        while not self._stop.is_set():
            try:
                self._sweep()
            except Exception:
                logger.exception("watcher sweep failed")
            if self._stop.wait(self._poll_s):
                break
            seen = ENDED.wait(seen, timeout=60.0)

    def wait_recorded(self, timeout_s: float = 10.0) -> bool:
        """Until every ended execution is recorded (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self.unrecorded():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def __enter__(self) -> LocalExecutions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
