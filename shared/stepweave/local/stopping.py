"""A local run stopped from outside (Ctrl-C, SIGTERM) is stopped in the engine and recorded.

``terminate_as_interrupt()`` makes SIGTERM unwind the main thread like Ctrl-C (raising
``Terminated``, a ``KeyboardInterrupt``), so ``finally`` and ``except`` paths run instead of
the process vanishing; a second SIGTERM ends the process at once. ``record_stopped(engine)``
then stops whatever the engine still runs (``Stepweave.Interrupted``) and records every
execution it started: the interrupted run shows ``aborted``, and its pending approvals lapse
(their links answer that the run no longer waits).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepweave.local.engine import LocalEngine

__all__ = ["INTERRUPTED", "Terminated", "record_stopped", "terminate_as_interrupt"]

logger = logging.getLogger(__name__)

#: The error of an execution stopped because its command was interrupted.
INTERRUPTED = "Stepweave.Interrupted"


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread (elsewhere: no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, previous)  # a second one is not caught
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def record_stopped(engine: LocalEngine, cause: str = "the command was interrupted") -> list[str]:
    """Stop the engine's running executions and record all of them; their ARNs."""
    from stepweave.runtime.approvals import lapse, pending_approvals

    records, sfn = engine.records, engine.sfn
    recorded = []
    stretches = engine.stretch_machines()
    for machine, compiled in list(engine.machines.items()):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if execution["status"] == "RUNNING":
                    sfn.stop_execution(executionArn=arn, error=INTERRUPTED, cause=cause)
                if machine in stretches:
                    continue  # a stretch's blocks are recorded with its parent's run
                records.record_run(sfn, arn, compiled.manifest())
                for approval in pending_approvals(records.ddb, records.settings, arn):
                    try:
                        lapse(records.ddb, records.settings, approval)
                    except Exception:  # the run is recorded; the listing is secondary
                        logger.exception("cannot lapse an approval", extra={"approval": approval.id})
                recorded.append(arn)
    return recorded
