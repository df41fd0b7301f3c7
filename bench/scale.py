"""Parallels and loops of 1,000 to 10,000 iterations: one execution's history and largest
state, inline (a Map state / a Choice back-edge) against distributed (child executions).

    python bench/scale.py [--counts 1000,2500,10000]

For each count, a Standard workflow whose parallel (over a collection) or forEach loop has a
trivial body (one variables block) runs on the embedded engine twice: compiled inline
(``mode: inline``, today's shapes below the bound) and distributed (``mode: distributed``).
Printed per run: the outcome (an inline run fails where AWS stops it: 25,000 history events
or a 256 KiB state), the run's own history events, the largest state payload in it (a
state's input or output, or the variables one state assigns) and, distributed, the most
events of any child execution; then what Step Functions bills per 1,000 runs: the run's own
state transitions ("parent $") and, distributed, its child executions' charges ("children
$": each Express child's request and duration at 64 MB, each Standard child's transitions,
each start a transition; ``stepweave.local.progress.children_bill``, as ``stepweave run``
prints them), with the children's count and type. Times (and so Express durations) are the
embedded engine's, not AWS's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PARALLEL = """
name: scale-parallel
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: MODE}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
  - {id: done, type: response, params: {data: {results: "<fan.results>"}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> done]
"""
LOOP = """
name: scale-loop
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: L, name: Lap, type: loop, params: {loopType: forEach, collection: "<start.items>", mode: MODE}}
  - {id: each, type: variables, parent: L, params: {variables: [{variableName: v, value: "<loop.currentItem>"}]}}
  - {id: done, type: response, params: {data: {results: "<lap.results>", last: "<each.v>"}}}
edges: [start -> L, "L -[loop-start-source]-> each", L -> done]
"""


def _largest_state(events: list[dict[str, Any]]) -> int:
    largest = 0
    for event in events:
        for details in event.values():
            if not isinstance(details, dict):
                continue
            for key in ("input", "output"):
                if isinstance(details.get(key), str):
                    largest = max(largest, len(details[key].encode()))
            assigned = details.get("assignedVariables")
            if isinstance(assigned, dict):
                largest = max(largest, sum(len(str(v).encode()) for v in assigned.values()))
    return largest


def measure(engine: Any, text: str, mode: str, count: int) -> dict[str, Any]:
    from stepweave.compiler import compile_workflow
    from stepweave.local import distributed_map
    from stepweave.workflow.loader import parse_workflow, parse_yaml

    compiled = compile_workflow(parse_workflow(parse_yaml(text.replace("MODE", mode)), "<bench>"),
                                "<bench>")
    distributed_map.reset_child_history_peak()
    began = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):
        result = engine.run(compiled, {"items": list(range(count))}, timeout_s=3600)
    from stepweave.local.progress import children_bill, workflow_cost

    outcome = result.status if result.status == "SUCCEEDED" else f"{result.error}: {result.cause}"
    return {"outcome": outcome, "events": len(result.events), "largest": _largest_state(result.events),
            "child": distributed_map.child_history_peak(), "seconds": time.monotonic() - began,
            "parent": workflow_cost(compiled.workflow_type, result.transitions, result.duration_s),
            "children": children_bill(result.children)}


def _children(bill: Any) -> str:
    """e.g. ``1,000 Express``, ``10 Standard (3,012 tr.)``."""
    kinds = []
    if bill.express:
        kinds.append(f"{bill.express:,} Express")
    if bill.standard:
        kinds.append(f"{bill.standard:,} Standard ({bill.standard_transitions:,} tr.)")
    return " + ".join(kinds) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1000,2500,10000")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "shared"))
    sys.path.insert(0, str(ROOT))
    from stepweave.local.engine import local_engine

    counts = [int(c) for c in args.counts.split(",")]
    print(f"{'container':9} {'N':>6} {'shape':12} {'run events':>10} {'largest state':>14} "
          f"{'child events':>12} {'local s':>8} {'parent $':>9} {'children $':>10} "
          f"{'children':28}  outcome")
    with local_engine() as engine:
        for kind, text in (("parallel", PARALLEL), ("forEach", LOOP)):
            for count in counts:
                for mode in ("inline", "distributed"):
                    m = measure(engine, text, mode, count)
                    child = f"{m['child']:,}" if mode == "distributed" else "-"
                    kids = m["children"]
                    print(f"{kind:9} {count:>6,} {mode:12} {m['events']:>10,} "
                          f"{m['largest']:>13,}B {child:>12} {m['seconds']:>8.1f} "
                          f"{m['parent'] * 1000:>9.2f} {kids.cost * 1000:>10.2f} "
                          f"{_children(kids):28}  {m['outcome'][:90]}", flush=True)
    print(json.dumps({"note": "inline shapes fail on AWS past 25,000 events or 256 KiB; "
                              "a distributed run's events exclude its children's; "
                              "$ per 1,000 runs, Lambda not included"}))


if __name__ == "__main__":
    main()
