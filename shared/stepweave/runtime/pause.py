"""The run's state at a pause, in the records table.

When an approval starts waiting, the notifier writes the block logs of everything the run
has done so far (from the execution history and the workflow's manifest, exactly as the
recorder does at the end), so the execution record shows ``paused`` *with* the blocks that
led to the question while the run waits — for days, possibly. The block logs have the keys
the recorder writes at the end (their order of completion in an append-only history), so
the final record replaces them without duplicates; a later pause (another approval) rewrites
the same prefix and adds what ran since. A split run's stretches are read as the recorder
reads them (``child_events_reader``): while a stretch's log is still being delivered there
is no snapshot, rather than one without that stretch's blocks. The items of distributed
parallels and chunked loops that ran before the pause are read as the recorder reads them
(``read_map_items``), within the notifier's own, smaller, ``Clients.item_bound``. A
lead-in's stretch (run by the notifier itself, ``stepweave.runtime.lead_in``) is not in the
history yet: the notifier names it (``lead_in``), and it is read as if the task had.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from stepweave.runtime.arns import state_machine_arn
from stepweave.runtime.history import block_runs, event_time
from stepweave.runtime.manifests import load_manifest
from stepweave.runtime.recorder import Clients, block_logs, child_events_reader, fetch_history, read_map_items
from stepweave.runtime.records import put_block_logs
from stepweave.runtime.settings import Settings
from stepweave.runtime.stretches import spliced

__all__ = ["record_pause"]


def record_pause(clients: Clients, settings: Settings, execution_arn: str,
                 now: float | None = None, lead_in: dict[str, Any] | None = None) -> int:
    """Write the block logs of the run so far; the number written (0 without a manifest).
    ``lead_in``: what the notifier will answer when it ran the stretch before the approval
    (``LeadIn.answer``: the stretch's ``ExecutionArn`` and ``StartDate``)."""
    manifest = load_manifest(settings.manifests_dir, state_machine_arn(execution_arn))
    if manifest is None:
        return 0
    history = fetch_history(clients.sfn, execution_arn)
    if lead_in is not None and history:
        # as the task will show it once the notifier answers
        last = history[-1]
        history.append({"id": int(last["id"]) + 1, "previousEventId": int(last["id"]),
                        "type": "TaskSubmitted", "timestamp": datetime.now(timezone.utc),
                        "taskSubmittedEventDetails": {"resourceType": "lambda",
                                                      "resource": "invoke.waitForTaskToken",
                                                      "output": json.dumps({"Payload": lead_in})}})
    started = event_time(history[0]) if history else None
    since = round(started.timestamp() * 1000) if started is not None else 0
    # a split run's stretches: from their logs when deployed (StretchLogsPending, raised,
    # while one is still being delivered: no snapshot rather than one without its blocks)
    events: list[dict[str, Any]] = spliced(history, manifest, child_events_reader(clients, since, history))
    # the items of distributed parallels and chunked loops that ran before the pause, as
    # many as ``Clients.item_bound`` allows (the final record reads its own, more, bound)
    events = read_map_items(clients, execution_arn, history, events).events
    now = time.time() if now is None else now
    logs = block_logs(execution_arn, block_runs(events, manifest), int(now) + settings.retention_seconds)
    put_block_logs(clients.ddb, settings, logs)
    return len(logs)
