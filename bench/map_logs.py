"""What logging a distributed parallel's Express children costs, against Standard children.

Deployed, the blocks inside a distributed parallel run in Express child executions, whose
events exist only in CloudWatch Logs: the recorder reads them from the parent's log group,
so a parent with Express children logs every event with its execution data
(``stepweave.runtime.map_runs``). The alternative -- running those children as Standard
executions, whose history Step Functions keeps for nothing -- bills their state transitions.

An item's child logs what an inline Map's iteration of the same body records (its events
between ``MapIterationStarted`` and ``MapIterationSucceeded``, those two standing for the
child's own start and end), so the parallel runs inline on the embedded engine with
``--items`` items and each iteration's events are priced as Step Functions logs them
(``stepweave.runtime.stretch_logs.log_message``, the bytes of each message) at the
vended-logs ingestion price and a month of storage, as ``bench/cost.py`` prices a split
run's stretches. Standard children: each iteration's billed transitions (plus the child's
start) at the Standard price. The parent's own events, now logged too, are priced the same
way from the distributed run. Figures per 10,000 items.

    python bench/map_logs.py [--items 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench.cost import PRICE_LOG_INGEST_GB, PRICE_LOG_STORE_GB_MONTH  # noqa: E402
from stepweave.compiler import compile_workflow  # noqa: E402
from stepweave.local.engine import LocalEngine  # noqa: E402
from stepweave.runtime.history import billed_transitions  # noqa: E402
from stepweave.runtime.recorder import fetch_history  # noqa: E402
from stepweave.runtime.stretch_logs import log_message  # noqa: E402
from stepweave.workflow.loader import parse_workflow, parse_yaml  # noqa: E402

#: Standard workflows: per state transition
PRICE_TRANSITION = 0.000025
PER = 10_000

BODIES = {
    "function": '{id: each, name: Each, type: function, parent: par, params: {code: "return <parallel.currentItem> * 10"}}',
    "variables": '{id: each, name: Each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}',
}
WORKFLOW = """
name: maplogs
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: MODE}}
  - BODY
edges: [start -> par, "par -[parallel-start-source]-> each"]
"""


def _bytes(events: list[dict[str, Any]], arn: str) -> int:
    return sum(len(json.dumps(log_message(e, arn), separators=(",", ":")).encode()) for e in events)


def _iterations(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each inline iteration's events, its MapIterationStarted to its end."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] | None = None
    for event in events:
        if event["type"] == "MapIterationStarted":
            current = []
            out.append(current)
        if current is not None:
            current.append(event)
        if event["type"] in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            current = None
    return out


def measure(engine: LocalEngine, body: str, items: int) -> dict[str, float]:
    text = WORKFLOW.replace("BODY", BODIES[body])
    runs = {}
    for mode in ("inline", "distributed"):
        compiled = compile_workflow(parse_workflow(parse_yaml(text.replace("MODE", mode)), "<bench>"),
                                    "<bench>", split=False)
        result = engine.run(compiled, {"items": list(range(items))})
        assert result.status == "SUCCEEDED", result.status
        runs[mode] = (result.execution_arn, fetch_history(engine.sfn, result.execution_arn))
    arn, inline = runs["inline"]
    iterations = _iterations(inline)
    assert len(iterations) == items
    child_bytes = sum(_bytes(it, arn) for it in iterations) / items
    # a Standard child bills its states' transitions and its start
    child_transitions = sum(billed_transitions(it) for it in iterations) / items + 1
    parent_arn, parent = runs["distributed"]
    parent_bytes = _bytes(parent, parent_arn)
    logged = child_bytes * PER + parent_bytes
    return {"child_bytes": child_bytes, "parent_bytes": parent_bytes,
            "logs_dollars": logged / 1024 ** 3 * (PRICE_LOG_INGEST_GB + PRICE_LOG_STORE_GB_MONTH),
            "child_transitions": child_transitions,
            "standard_dollars": child_transitions * PER * PRICE_TRANSITION}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    with LocalEngine() as engine:
        print(f"per {PER:,} items: {'body':10} {'log/item':>9} {'parent log':>11} {'logs $':>8} "
              f"{'transitions/item':>17} {'Standard children $':>20}")
        for body in BODIES:
            m = measure(engine, body, args.items)
            print(f"{'':20} {body:10} {m['child_bytes']:>7.0f} B {m['parent_bytes'] / 1024:>7.1f} KiB "
                  f"{m['logs_dollars']:>8.4f} "
                  f"{m['child_transitions']:>17.1f} {m['standard_dollars']:>20.2f}")


if __name__ == "__main__":
    main()
