"""Block runs derived from a Step Functions execution history.

Native blocks leave no Lambda trace, so which blocks ran is read from the history:
a block ran when the state that completes it assigned its end-time variable a
non-null value (skipped blocks assign null). This works the same on AWS, whose
history carries ``assignedVariables`` too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from stepweave.compiler import CompiledWorkflow

__all__ = ["BlockRun", "block_runs"]


@dataclass(frozen=True)
class BlockRun:
    block: str
    name: str
    type: str
    output: Any
    failed: bool


def _assigned(event: dict[str, Any]) -> dict[str, str]:
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict) and "assignedVariables" in details:
            return dict(details["assignedVariables"])
    return {}


def block_runs(events: list[dict[str, Any]], compiled: CompiledWorkflow) -> list[BlockRun]:
    """Every block execution (loop iterations and parallel branches included), in order."""
    runs: list[BlockRun] = []
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if event["type"] == "FailStateEntered" and entered:
            entry = compiled.state_map.get(entered.get("name", ""))
            if entry is not None and compiled.blocks[entry[0]][1] == "response":
                name, btype = compiled.blocks[entry[0]]
                runs.append(BlockRun(entry[0], name, btype, None, False))
            continue
        details = next((v for k, v in event.items() if k == "stateExitedEventDetails"), None)
        if not details:
            continue
        entry = compiled.state_map.get(details.get("name", ""))
        if entry is None or entry[1] not in ("main", "end", "continue?"):
            continue
        node = entry[0]
        stem = re.escape(compiled.stems[node])
        assigned = _assigned(event)
        marks = [k for k in assigned if re.fullmatch(rf"t\d*_{stem}", k)] or \
            [k for k in assigned if re.fullmatch(rf"b\d*_{stem}", k)]
        if not marks or assigned[marks[0]] == "null":
            continue
        bvar = "b" + marks[0][1:]
        output = json.loads(assigned[bvar]) if bvar in assigned else None
        failed = isinstance(output, dict) and "error" in output and compiled.blocks[node][1] != "variables"
        name, btype = compiled.blocks[node]
        runs.append(BlockRun(node, name, btype, output, failed))
    return runs
