"""Cost per execution of the example workflows: ours versus every-block-a-Lambda.

Both figures come from executions on the embedded engine with the examples'
inputs, counting what AWS bills, priced as each workflow's type is: state transitions
(Standard) or a request and its duration at 64 MB (Express; the duration is the local
run's, an upper bound of the deployed one), plus Lambda requests.
The support-timeline order asks for a refund that needs approval; the bench approves it.

The baseline is the naive compile in which every block is a Lambda task: the same
state machine, but each native block (start, condition, variables, wait, response)
also goes through a Lambda Task state before its own state, as it would if a
handler computed it. (A real naive compile needs Choice states to route as well, so
this baseline is, if anything, cheaper than naive.)

    python bench/cost.py
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "examples"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from internal_api import InternalApi  # noqa: E402

from stepweave.compiler import CompiledWorkflow, compile_workflow  # noqa: E402
from stepweave.local.engine import LocalEngine  # noqa: E402
from stepweave.local.progress import workflow_cost  # noqa: E402
from stepweave.workflow.loader import load_workflow  # noqa: E402

PRICE_REQUEST = 0.0000002  # Lambda, per request
PRICE_GB_S_ARM = 0.0000133334  # Lambda arm64, per GB-second
ASSUMED_GB_S = 0.128 * 0.020  # a 128 MB handler running 20 ms per native block

NATIVE = {"start", "condition", "variables", "wait", "response"}

EXAMPLES = {
    "support-timeline": json.loads((ROOT / "examples/shopify-order.json").read_text()),
    "containers-showcase": {},
}


def _naive_states(states: dict[str, Any], compiled: CompiledWorkflow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, state in states.items():
        state = copy.deepcopy(state)
        for branch in state.get("Branches", []):
            branch["States"] = _naive_states(branch["States"], compiled)
        if "ItemProcessor" in state:
            state["ItemProcessor"]["States"] = _naive_states(state["ItemProcessor"]["States"], compiled)
        entry = compiled.state_map.get(name)
        if entry and entry[1] == "main" and compiled.blocks[entry[0]][1] in NATIVE:
            task = f"{name} (Lambda)"
            out[task] = {"Type": "Task", "Resource": "${Handler_noop}", "Arguments": {"block": name},
                         "Output": "{% $states.input %}", "Next": name}
            _redirect(states, name, task)
        out[name] = state
    return out


def _redirect(states: dict[str, Any], old: str, new: str) -> None:
    for state in states.values():
        if state.get("Next") == old:
            state["Next"] = new
        if state.get("Default") == old:
            state["Default"] = new
        for rule in state.get("Choices", []) + state.get("Catch", []):
            if rule.get("Next") == old:
                rule["Next"] = new


def naive(compiled: CompiledWorkflow) -> CompiledWorkflow:
    definition = copy.deepcopy(compiled.definition)
    states = definition["States"]
    first = definition["StartAt"]
    definition["States"] = _naive_states(states, compiled)
    if f"{first} (Lambda)" in definition["States"]:
        definition["StartAt"] = f"{first} (Lambda)"
    return dataclasses.replace(compiled, definition=definition, handlers=(*compiled.handlers, "noop"))


def cost(workflow_type: str, transitions: int, duration_s: float, invocations: int) -> float:
    return (workflow_cost(workflow_type, transitions, duration_s)
            + invocations * (PRICE_REQUEST + ASSUMED_GB_S * PRICE_GB_S_ARM))


def main() -> None:
    api = InternalApi().start()
    os.environ["INTERNAL_API_URL"] = api.url
    print(f"{'workflow':22} {'compile':8} {'type':8} {'transitions':>11} {'lambdas':>8} "
          f"{'$ / 1M runs':>12}  status")
    try:
        with LocalEngine(handlers={"noop": lambda event: {}}) as engine:
            for name, payload in EXAMPLES.items():
                ours = compile_workflow(load_workflow(ROOT / "workflows" / f"{name}.yaml"), name)
                rows = []
                for label, compiled in (("ours", ours), ("naive", naive(ours))):
                    # the example's refund needs approval: answered at once (yes)
                    r = engine.run(compiled, payload, poll_s=0.01,
                                   approver=lambda approval: {"approved": True})
                    dollars = cost(compiled.workflow_type, r.transitions, r.duration_s,
                                   r.lambda_invocations)
                    rows.append((r.transitions, r.lambda_invocations, dollars))
                    print(f"{name:22} {label:8} {compiled.workflow_type.lower():8} "
                          f"{r.transitions:11d} {r.lambda_invocations:8d} "
                          f"{dollars * 1e6:12.2f}  {r.status}")
                (t1, l1, c1), (t2, l2, c2) = rows
                print(f"{'':22} {'ratio':8} {'':8} {t1 / t2:11.2f} {l1 / l2:8.2f} {c1 / c2:12.2f}")
    finally:
        api.shutdown()
        api.server_close()


if __name__ == "__main__":
    main()
