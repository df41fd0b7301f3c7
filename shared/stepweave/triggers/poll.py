"""One poll of a ``poll`` trigger: one execution per new item, however often or however
concurrently it polls.

``poll`` asks the provider for its items (``stepweave.triggers.pollers``) and, oldest first:

1. skips the items the last poll already handled: the trigger's **snapshot**, one item of
   the records table (``pk = POLL#<workflow>#<trigger>, sk = SEEN``: the digests of the ids
   the last poll handled, at most ``MAX_REMEMBERED``; TTL ``expiresAt``). An item that stays
   in the feed stays in the snapshot, so it is never new again, however long it stays;
2. for each other item (at most the trigger's ``maxItems`` per poll; the rest wait for the
   next one), claims it with a **conditional put** and starts its execution under a name
   derived from the item, ``poll-<sha256>`` (``stepweave.triggers.deliveries.accept``, keyed
   ``poll:<trigger>:<digest of the item id>``): a concurrent or repeated poll finds the claim
   (the same execution, or 409 while the first is starting it) and starts nothing. Claims
   expire (TTL) after ``webhook_dedup_days``: memory of items no longer in the feed is bounded;
3. writes the execution record with its trigger (``type: poll``, workflow, name, provider,
   ``itemId``) and the new snapshot (the handled items that are still in the feed).

A provider in ``SEEDED_PROVIDERS`` (Google Sheets) starts nothing on its first poll (no
snapshot yet): it remembers the rows already there, as Sim does. Logs carry the workflow,
the trigger and counts, never an item's content or a token.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stepweave.api.errors import Conflict
from stepweave.errors import StepweaveError
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import from_dynamo, to_dynamo
from stepweave.runtime.settings import MAX_INLINE_BUDGET_BYTES, Settings
from stepweave.triggers.declare import PollTrigger
from stepweave.triggers.deliveries import DeliveryKey, accept
from stepweave.triggers.pollers import (SEEDED_PROVIDERS, Endpoints, PolledItem, PollError,
                                        SecretSource, close_sessions, fetch_items)
from stepweave.triggers.webhook import record_started

__all__ = ["MAX_REMEMBERED", "POLLS_FILE", "PollResult", "PollTarget", "load_poll_targets",
           "poll", "poll_targets", "polls_document", "snapshot_key"]

logger = logging.getLogger(__name__)

POLLS_FILE = "polls.json"
#: The snapshot keeps at most this many item digests (a feed longer than this is trimmed).
MAX_REMEMBERED = 2000
_DIGEST = 32


@dataclass(frozen=True)
class PollTarget:
    workflow: str
    state_machine_arn: str
    workflow_type: str
    trigger: PollTrigger


@dataclass
class PollResult:
    workflow: str
    trigger: str
    items: int = 0
    started: list[str] = field(default_factory=list)
    seen: int = 0
    duplicates: int = 0
    busy: int = 0
    deferred: int = 0
    seeded: bool = False

    def summary(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "trigger": self.trigger, "items": self.items,
                "started": len(self.started), "executions": list(self.started),
                "seen": self.seen, "duplicates": self.duplicates, "busy": self.busy,
                "deferred": self.deferred, "seeded": self.seeded}


def _digest(item_id: str) -> str:
    return hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:_DIGEST]


def snapshot_key(workflow: str, trigger: str) -> dict[str, Any]:
    return {"pk": {"S": f"POLL#{workflow}#{trigger}"}, "sk": {"S": "SEEN"}}


def _snapshot(ddb: Any, table: str, key: dict[str, Any]) -> set[str] | None:
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not item:
        return None
    seen = from_dynamo(item.get("seen", {"L": []}))
    return {str(s) for s in seen} if isinstance(seen, list) else set()


def _save(ddb: Any, settings: Settings, key: dict[str, Any], seen: list[str], now: float) -> None:
    ddb.put_item(TableName=settings.require_table(), Item={
        **key, "seen": to_dynamo(seen[-MAX_REMEMBERED:]), "polledAt": to_dynamo(int(now)),
        "expiresAt": to_dynamo(int(now) + settings.webhook_dedup_days * 86_400)})


def poll(target: PollTarget, *, clients: Clients, settings: Settings, secrets: SecretSource,
         http: httpx.Client, now: float, endpoints: Endpoints | None = None) -> PollResult:
    """One poll (see the module doc). Raises ``PollError`` when the provider cannot be read
    (nothing is started or forgotten then)."""
    trigger = target.trigger
    result = PollResult(target.workflow, trigger.label)
    key = snapshot_key(target.workflow, trigger.label)
    previous = _snapshot(clients.ddb, settings.require_table(), key)
    items = fetch_items(trigger, http, secrets, endpoints)
    try:
        return _handle(target, items, previous, key, clients, settings, now, result)
    finally:
        close_sessions(items)


def _handle(target: PollTarget, items: list[PolledItem], previous: set[str] | None,
            key: dict[str, Any], clients: Clients, settings: Settings, now: float,
            result: PollResult) -> PollResult:
    trigger = target.trigger
    result.items = len(items)
    digests = [_digest(item.id) for item in items]
    if previous is None and trigger.provider in SEEDED_PROVIDERS:
        result.seeded = True
        _save(clients.ddb, settings, key, digests, now)
        logger.info("poll seeded", extra={"workflow": target.workflow, "trigger": trigger.label,
                                          "items": len(items)})
        return result
    handled: list[str] = []
    for item, digest in zip(items, digests, strict=True):
        if previous is not None and digest in previous:
            result.seen += 1
            handled.append(digest)
            continue
        if len(result.started) + result.duplicates + result.busy >= trigger.maxItems:
            result.deferred += 1
            continue
        if _start(target, item, digest, clients, settings, now, result):
            handled.append(digest)
    _save(clients.ddb, settings, key, handled, now)
    logger.info("poll done", extra={k: v for k, v in result.summary().items() if k != "executions"})
    return result


def _start(target: PollTarget, item: PolledItem, digest: str, clients: Clients,
           settings: Settings, now: float, result: PollResult) -> bool:
    """Start the item's execution once; True when it is handled (started now or before)."""
    trigger = target.trigger
    info = {"type": "poll", "workflow": target.workflow, "name": trigger.label,
            "provider": trigger.provider, "itemId": item.id[:500]}
    data = {**item.load(), "trigger": info}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_INLINE_BUDGET_BYTES:
        raise PollError(f"{trigger.provider}: item {item.id[:80]!r} makes a run input over Step "
                        f"Functions' {MAX_INLINE_BUDGET_BYTES} bytes")
    try:
        accepted = accept(clients.ddb, clients.sfn, settings,
                          DeliveryKey(target.workflow, f"poll:{trigger.label}:{digest}"),
                          target.state_machine_arn, data, now=now,
                          extra={"provider": trigger.provider, "trigger": trigger.label},
                          name_prefix="poll")
    except Conflict:  # another poll is starting it right now
        result.busy += 1
        return False
    if accepted.duplicate:
        result.duplicates += 1
        return True
    record_started(clients, settings, target.workflow, accepted, info, text, now)
    result.started.append(accepted.execution_arn)
    if item.done is not None:
        item.done()
    return True


# -- targets: which workflows poll, deployed (polls.json) and locally ------------------------

class PollTargetsError(StepweaveError):
    """The poll targets file is missing or malformed (a deployment fault)."""


def poll_targets(compiled: Iterable[Any], arn_for: Any) -> dict[tuple[str, str], PollTarget]:
    """``{(workflow, trigger): target}`` of the compiled workflows' poll triggers."""
    found: dict[tuple[str, str], PollTarget] = {}
    for workflow in compiled:
        for trigger in getattr(workflow, "triggers", ()):
            if isinstance(trigger, PollTrigger):
                found[(workflow.name, trigger.label)] = PollTarget(
                    workflow.name, arn_for(workflow.name), workflow.workflow_type, trigger)
    return found


def polls_document(compiled: Iterable[Any], state_machine_name: Any) -> dict[str, Any]:
    """The deployed poller's ``polls.json``: ``{workflow: {stateMachine, type, triggers:
    {name: trigger}}}`` (names, not ARNs: ARNs hold tokens at synth)."""
    document: dict[str, Any] = {}
    for workflow in sorted(compiled, key=lambda w: str(w.name)):
        triggers = {t.label: t.model_dump(mode="json", exclude_none=True)
                    for t in getattr(workflow, "triggers", ()) if isinstance(t, PollTrigger)}
        if triggers:
            document[workflow.name] = {"stateMachine": state_machine_name(workflow.name),
                                       "type": workflow.workflow_type, "triggers": triggers}
    return document


def load_poll_targets(path: Path, arn_prefix: str) -> dict[tuple[str, str], PollTarget]:
    """The targets of a ``polls_document`` file; ``arn_prefix`` ends with ``stateMachine:``."""
    try:
        document: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return {(name, label): PollTarget(name, arn_prefix + str(entry["stateMachine"]),
                                          str(entry["type"]), PollTrigger.model_validate(trigger))
                for name, entry in document.items() for label, trigger in entry["triggers"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PollTargetsError(f"{path}: cannot read the poll targets ({type(exc).__name__})") from None
