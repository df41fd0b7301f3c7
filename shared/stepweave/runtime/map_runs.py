"""A deployed run's distributed Map items, read back for their blocks' logs (bounded).

A distributed parallel runs each item, and a chunked loop each chunk, as a child execution
of a distributed Map (``stepweave.compiler.distributed``); the blocks inside leave their
events in the child's history. ``read_items`` reads those children the way AWS keeps them,
for ``stepweave.runtime.map_items.with_items`` (which splices them into the run's history
as an inline container's iterations):

* the run's history names each Map Run (``MapRunStarted``: ``mapRunArn``);
  ``ListExecutions(mapRunArn=...)`` lists its child executions, with their status and start,
  and ``DescribeMapRun`` counts them (a child it counts that the listing lacks is counted
  as not read);
* a **Standard** child (``arn:...:execution:<machine>/<label>:<id>``) is read with
  ``GetExecutionHistory``;
* an **Express** child (``arn:...:express:...``) has no history API: its events are in the
  CloudWatch Logs log group of the parent's state machine (a distributed Map's Express
  children log with their parent's logging configuration), read as a split run's stretches
  are (``stepweave.runtime.stretch_logs.StretchLogs``: ``logs:FilterLogEvents``; a log not
  delivered yet raises ``StretchLogsPending``, and the recorder writes nothing and is retried).
  They can be read only when the parent logs every event with its execution data
  (``level: ALL``, ``includeExecutionData``: the deployment does so for a state machine
  with Express children, ``infra.constructs.workflow``); otherwise they are not read.

**The bound.** A 10,000-item parallel has 10,000 children: reading each one's history in one
recorder invocation would take minutes and exhaust Step Functions' API rate. ``ItemBound``
says how many are read: the first ``first`` children started (over all the run's Map
Runs), and every child that failed or timed out, up to ``failed`` more -- a failed item's
blocks, and its error, are what is looked for -- and no more of the first once ``events``
history events were read (a chunked loop's chunks are large). Listing the children costs
one ``ListExecutions`` call per 1,000 and a ``DescribeMapRun``. What is not read is counted
(``ItemsRead.skipped``): the recorder writes it in the run's record (``unloggedItems``), and
the blocks of those items have no block logs. A child still running when the run ended (a
Map Run stopping its children as the run fails) is not read either, nor waited for: counted.

An item's index (a parallel's branch) is its child's input ``index`` (the Map's
``ItemSelector``); a chunk (one item per Map Run) has index 0.

**What the children are billed** (``ItemsRead.children``, the record's billed figures:
``stepweave.runtime.billing``): every Express child that ended, by its listed start and stop
dates, read or not; every Standard child read, by its history's transitions; the others
(Standard children not read, children still running, children the listing lacks) are
``unread``: their starts are priced, their own charges are not known.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stepweave.runtime.history import billed_transitions, fetch_history
from stepweave.runtime.pricing import ChildrenBill, billed_seconds
from stepweave.runtime.stretch_logs import StretchLogs, machine_of

__all__ = ["ItemBound", "ItemsRead", "read_items", "map_run_arns", "FAILED_STATUSES", "ENDED_STATUSES",
           "execution_data_logged"]

#: a child in one of these statuses is a failed item (an ABORTED one was stopped because
#: another failed, or the run was)
FAILED_STATUSES = ("FAILED", "TIMED_OUT")
#: a child still running when the run ended (a Map Run aborting its children) is not read:
#: its events are not all there, and may never be (it is counted as not read)
ENDED_STATUSES = ("SUCCEEDED", "ABORTED", *FAILED_STATUSES)


@dataclass(frozen=True)
class ItemBound:
    """How many of a run's distributed Map children the recorder reads: the ``first``
    started, and up to ``failed`` more that failed; past ``events`` events read (a chunked
    loop's chunk holds up to 10,000), no more of the first (the failed ones still)."""

    first: int = 50
    failed: int = 50
    events: int = 100_000


@dataclass
class ItemsRead:
    """Map Run ARN -> [(item index, the child's events as ``GetExecutionHistory`` gives
    them)], how many children were listed, and how many the Map Runs started that were not
    read (listed or not)."""

    items: dict[str, list[tuple[int, list[dict[str, Any]]]]] = field(default_factory=dict)
    listed: int = 0
    skipped: int = 0
    #: what the children are billed (``stepweave.runtime.pricing``): every listed Express
    #: child that ended by its listed start and stop dates, every Standard child read by its
    #: history's transitions; the others' own charges are not known (``unread``)
    children: ChildrenBill = field(default_factory=ChildrenBill)


def map_run_arns(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The Map Runs a run's history started, in order."""
    found: list[str] = []
    for event in events:
        if event.get("type") != "MapRunStarted":
            continue
        arn = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
        if isinstance(arn, str) and arn not in found:
            found.append(arn)
    return found


def execution_data_logged(description: Mapping[str, Any]) -> bool:
    """Whether a state machine (``DescribeStateMachine``) logs every event with its data to a
    CloudWatch Logs log group: what reading an Express child's events back needs."""
    config = description.get("loggingConfiguration") or {}
    return (config.get("level") == "ALL" and bool(config.get("includeExecutionData"))
            and any((d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn")
                    for d in config.get("destinations") or []))


def _express(execution_arn: str) -> bool:
    parts = execution_arn.split(":")
    return len(parts) > 5 and parts[5] == "express"


def _ms(child: Mapping[str, Any], key: str = "startDate") -> int | None:
    value = child.get(key)
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return int(value) if isinstance(value, (int, float)) else None


def _start_ms(child: Mapping[str, Any]) -> int:
    return _ms(child) or 0


def _children(sfn: Any, map_run: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("list_executions").paginate(mapRunArn=map_run,
                                                          PaginationConfig={"PageSize": 1000})
    return [dict(child) for page in pages for child in page.get("executions") or []]


def _index(events: Sequence[Mapping[str, Any]], default: int) -> int:
    """The item's index: its execution input's ``index`` (a parallel's ItemSelector)."""
    for event in events[:1]:
        text = (event.get("executionStartedEventDetails") or {}).get("input")
        try:
            found = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return default
        if isinstance(found, dict) and isinstance(found.get("index"), int) \
                and not isinstance(found.get("index"), bool):
            return int(found["index"])
    return default


def read_items(sfn: Any, logs: Any, execution_arn: str, events: Sequence[Mapping[str, Any]], *,
               bound: ItemBound, waits: tuple[float, ...] = (),
               sleep: Callable[[float], None] = time.sleep) -> ItemsRead:
    """The children of the run's Map Runs that ``bound`` allows, read (``logs``: a CloudWatch
    Logs client for Express children; None: they are not read). Raises
    ``StretchLogsPending`` while an Express child's log is not all delivered."""
    runs = map_run_arns(events)
    out = ItemsRead()
    if not runs:
        return out
    listed = [(run, child) for run in runs for child in _children(sfn, run)]
    out.listed = len(listed)
    per_run = collections.Counter(run for run, _ in listed)
    unlisted = sum(max(0, _total(sfn, run) - per_run[run]) for run in runs)
    order = sorted(range(len(listed)), key=lambda i: (_start_ms(listed[i][1]), i))
    chosen = {i for i in order[:max(0, bound.first)] if listed[i][1].get("status") in ENDED_STATUSES}
    failed = [i for i in order if i not in chosen and listed[i][1].get("status") in FAILED_STATUSES]
    chosen.update(failed[:max(0, bound.failed)])
    reader = _express_reader(sfn, logs, execution_arn, listed, chosen, waits, sleep)
    positions: dict[str, int] = {}
    read = 0
    bill = _Bill()
    for i in order:
        run, child = listed[i]
        position = positions.get(run, 0)
        positions[run] = position + 1
        arn = str(child.get("executionArn") or "")
        bill.listed(child)
        if i not in chosen or not arn:
            continue
        if read >= bound.events and child.get("status") not in FAILED_STATUSES:
            continue
        if _express(arn):
            if reader is None:
                continue
            history = reader.events(arn)
        else:
            history = fetch_history(sfn, arn)
            bill.standard_read(history)
        read += len(history)
        out.items.setdefault(run, []).append((_index(history, position), history))
    out.skipped = out.listed - sum(len(items) for items in out.items.values()) + unlisted
    out.children = bill.children(out.listed + unlisted)
    return out


class _Bill:
    """The children's billed figures, as ``read_items`` lists and reads them."""

    def __init__(self) -> None:
        self.express = self.standard = self.transitions = 0
        self.seconds = 0.0

    def listed(self, child: Mapping[str, Any]) -> None:
        """An Express child that ended: its duration from its listed start and stop dates."""
        start, stop = _ms(child), _ms(child, "stopDate")
        if _express(str(child.get("executionArn") or "")) and start is not None and stop is not None \
                and child.get("status") in ENDED_STATUSES:
            self.express += 1
            self.seconds += billed_seconds(max(0, stop - start) / 1000)

    def standard_read(self, history: list[dict[str, Any]]) -> None:
        self.standard += 1
        self.transitions += billed_transitions(history)

    def children(self, started: int) -> ChildrenBill:
        """The bill of ``started`` children: those not priced are ``unread``."""
        return ChildrenBill.of(self.express, round(self.seconds, 1), self.standard, self.transitions,
                               max(0, started - self.express - self.standard))


def _total(sfn: Any, map_run: str) -> int:
    """How many child executions the Map Run started (``DescribeMapRun``)."""
    counts = sfn.describe_map_run(mapRunArn=map_run).get("executionCounts") or {}
    total = counts.get("total")
    return int(total) if isinstance(total, int) else 0


def _express_reader(sfn: Any, logs: Any, execution_arn: str, listed: list[tuple[str, dict[str, Any]]],
                    chosen: set[int], waits: tuple[float, ...],
                    sleep: Callable[[float], None]) -> StretchLogs | None:
    """Reads Express children from the parent state machine's log group (None: there are
    none to read, no logs client, or the parent does not log what they need)."""
    children = [listed[i][1] for i in chosen if _express(str(listed[i][1].get("executionArn") or ""))]
    if not children or logs is None:
        return None
    machine = machine_of(execution_arn)
    starts = {str(c["executionArn"]): _start_ms(c) for c in children}
    ends = {str(c["executionArn"]): stop for c in children if (stop := _ms(c, "stopDate")) is not None}
    reader = StretchLogs(sfn, logs, since_ms=min(starts.values()), waits=waits, sleep=sleep,
                         starts=starts, ends=ends, machine_for=lambda _child: machine)
    # the description it reads its log group from, asked once
    return reader if execution_data_logged(reader.description(machine)) else None
