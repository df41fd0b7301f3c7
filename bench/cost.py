"""Cost per execution of the example workflows: handler memory before and after it was
chosen from measured peaks, and our compile versus every-block-a-Lambda.

Each example runs on the embedded engine with its input: support-timeline (Standard; its
refund needs approval, which the bench gives; and the same order without a refund, which
ends without asking), containers-showcase (Express) and
support-triage (Express; its models on an OpenAI-compatible server on loopback that answers
after ``--model-latency`` seconds, 1.0 by default: a short chat completion). What AWS bills
is priced for every execution a run makes, nested ones included, each as its own state
machine type: Standard, its state transitions; Express, a request and its duration at 64 MB
(the local run's, an upper bound of the deployed one); plus each Lambda invocation: a
request and its duration, billed per ms at its function's memory (arm64).

Each workflow runs twice and the second run is measured (the first warms the handlers up,
as a deployed instance is after its first call). A Lambda invocation's duration at a memory
size: its wall time in the run less the CPU time it spent is waiting (the network, the
model; none for function blocks, which are all CPU); the CPU a warm deployed call of its
handler takes (measured by ``bench/handler_memory.py``'s fresh-process runs, with the
deployed settings) runs at the function's share of a vCPU, memory / 1,769 MB. So a smaller
size bills less waiting and the same CPU, stretched out. An Express run's duration grows by
its invocations' stretch (summed: an upper bound). "before" prices the handlers at the
sizes deployed until they were chosen from measurements, "now" at ``infra/memory.py``'s.

"split" is the same workflow with ``split: auto`` (``stepweave.compiler.split``): a Standard parent holding only the approval, each stretch between a
nested Express execution; it is priced the same way (the parent's transitions, each stretch's
Express request and duration) plus the CloudWatch Logs its stretches write (every event with
its execution data, which the recorder reads the stretches' block logs from: the bytes of
each event as Step Functions logs it, at the vended-logs ingestion price and a month of
storage), and compared with the same workflow compiled ``split: off`` ("ours") measured in
the same run. Its approval runs the stretch before it (a lead-in): the notifier is billed
while it waits on that stretch (its wall time in the run).

"1-fn" is the reference a serverless workflow engine is measured against: one orchestrating
Lambda function running the blocks itself, each as long as its handler took in the
``split: off`` run, at the largest handler's size, stopping at an approval and invoked again
after the decision (``one_lambda``). A floor rather than an alternative: it keeps no state
between blocks, retries nothing and writes no block logs, records or history.

The baseline is the naive compile in which every block is a Lambda task: the same
state machine, but each native block (start, condition, variables, wait, response)
also goes through a Lambda Task state before its own state, as it would if a
handler computed it, priced at 128 MB and 20 ms. (A real naive compile needs Choice
states to route as well, so this baseline is, if anything, cheaper than naive.)

    python bench/cost.py [--model-latency 1.0]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "examples"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench.handler_memory import PREVIOUS_MEMORY_MB, World, warm_cpu, world  # noqa: E402
from infra.memory import HANDLER_MEMORY_MB  # noqa: E402
from stepweave.compiler import CompiledWorkflow, compile_workflow  # noqa: E402
from stepweave.local.engine import LocalEngine, RunResult  # noqa: E402
from stepweave.local.progress import workflow_cost  # noqa: E402
from stepweave.runtime.arns import state_machine_arn  # noqa: E402
from stepweave.runtime.history import billed_transitions  # noqa: E402
from stepweave.runtime.recorder import fetch_history  # noqa: E402
from stepweave.runtime.stretch_logs import log_message  # noqa: E402
from stepweave.workflow.loader import load_workflow  # noqa: E402

PRICE_REQUEST = 0.0000002  # Lambda, per request
PRICE_GB_S_ARM = 0.0000133334  # Lambda arm64, per GB-second
#: a Lambda function has one vCPU's worth of CPU at this size, a proportional share below
FULL_VCPU_MB = 1769
#: CloudWatch Logs, vended logs (what Step Functions writes): ingestion per GB (first 10 TB),
#: and storage per GB-month (a month of it is priced)
PRICE_LOG_INGEST_GB = 0.50
PRICE_LOG_STORE_GB_MONTH = 0.03
#: the baseline's extra Lambda for each native block: 128 MB running 20 ms
NOOP_MB, NOOP_S = 128, 0.020

NATIVE = {"start", "condition", "variables", "wait", "response"}
#: handlers whose calls are all CPU (no network): JavaScript in V8
CPU_BOUND = {"function"}
HANDLERS = ("agent", "router", "evaluator", "api", "tool", "function", "approval")


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


# -- what a run bills --------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    handler: str
    wall_s: float
    #: CPU of the invoking thread (V8's own thread, for function blocks, is not in it)
    cpu_s: float


@dataclass(frozen=True)
class Execution:
    workflow_type: str
    transitions: int
    duration_s: float
    #: bytes it writes to CloudWatch Logs with its execution data (a split run's stretches)
    log_bytes: int = 0


class Timed:
    """The real handlers, each invocation's wall and CPU time recorded."""

    def __init__(self) -> None:
        self.calls: list[Invocation] = []

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        out: dict[str, Callable[[dict[str, Any]], Any]] = {"noop": self._noop}
        for name in HANDLERS:
            out[name] = self._timed(name, importlib.import_module(f"functions.{name}.handler"))
        return out

    def _timed(self, name: str, module: Any) -> Callable[[dict[str, Any]], Any]:
        def call(event: dict[str, Any]) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return module.lambda_handler(event, None)
            finally:
                self.calls.append(Invocation(name, time.perf_counter() - t0, time.thread_time() - c0))
        return call

    def _noop(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(Invocation("noop", NOOP_S, 0.0))
        return {}


def executions(engine: LocalEngine, result: RunResult, compiled: CompiledWorkflow) -> list[Execution]:
    """The run's execution and every nested one it started, each with its own type."""
    out = [Execution(compiled.workflow_type, result.transitions, result.duration_s)]
    root = state_machine_arn(result.execution_arn)
    stretches = set(engine.stretches.get(root, []))
    for machine in [*engine.descendants(root), *stretches]:
        child = engine.machines[machine]
        for page in engine.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                events = fetch_history(engine.sfn, arn)
                duration = (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds()
                logged = sum(len(json.dumps(log_message(e, arn), separators=(",", ":")).encode())
                             for e in events) if machine in stretches else 0
                out.append(Execution(child.workflow_type, billed_transitions(events), duration, logged))
    return out


def lambda_seconds(call: Invocation, memory_mb: int, warm_cpu_s: dict[str, float]) -> float:
    """Billed duration of ``call`` on a function of ``memory_mb``: its waiting, plus its
    handler's warm CPU at the function's share of a vCPU (1 ms steps)."""
    if call.handler == "noop":
        return call.wall_s
    # a function block's JavaScript does no I/O, and parallel branches share this process's
    # CPU here (a deployed call has its own): a call is its CPU
    waiting = 0.0 if call.handler in CPU_BOUND else max(0.0, call.wall_s - call.cpu_s)
    cpu = warm_cpu_s.get(call.handler, call.cpu_s) * FULL_VCPU_MB / min(memory_mb, FULL_VCPU_MB)
    return math.ceil((waiting + cpu) * 1000) / 1000


@dataclass(frozen=True)
class Bill:
    transitions: int
    invocations: int
    workflow_dollars: float
    lambda_dollars: float
    log_bytes: int = 0
    log_dollars: float = 0.0

    @property
    def dollars(self) -> float:
        return self.workflow_dollars + self.lambda_dollars + self.log_dollars


def bill(runs: list[Execution], calls: list[Invocation], memory: dict[str, int],
         warm_cpu_s: dict[str, float]) -> Bill:
    lambdas, stretch = 0.0, 0.0
    for call in calls:
        mb = NOOP_MB if call.handler == "noop" else memory[call.handler]
        seconds = lambda_seconds(call, mb, warm_cpu_s)
        stretch += max(0.0, seconds - call.wall_s)
        lambdas += PRICE_REQUEST + mb / 1024 * seconds * PRICE_GB_S_ARM
    workflow = sum(workflow_cost(r.workflow_type, r.transitions,
                                 r.duration_s + (stretch if r.workflow_type == "EXPRESS" else 0))
                   for r in runs)
    # the transitions Standard bills (a split run's Express stretches bill duration instead);
    # an Express run's own, for comparison, when nothing is Standard
    standard = [r for r in runs if r.workflow_type == "STANDARD"]
    logged = sum(r.log_bytes for r in runs)
    logs = logged / 1024 ** 3 * (PRICE_LOG_INGEST_GB + PRICE_LOG_STORE_GB_MONTH)
    return Bill(sum(r.transitions for r in standard or runs), len(calls), workflow, lambdas, logged, logs)


# -- the examples ------------------------------------------------------------------------


def one_lambda(calls: list[Invocation], warm_cpu_s: dict[str, float]) -> tuple[int, float]:
    """The reference a workflow engine is measured against: one orchestrating Lambda function
    that runs the blocks itself, in order, at the largest handler's size (512 MB: V8), each
    block as long as its handler took in the run (``calls``, the run compiled ``split: off``);
    it stops at an approval and a second invocation goes on after the decision (a Lambda
    cannot wait days). Its (invocations, dollars) -- a floor: no durable state between the
    blocks, no retries, no block logs or records, no run history."""
    size = max(HANDLER_MEMORY_MB.values())
    work = [c for c in calls if c.handler != "noop"]
    invocations = 1 + sum(1 for c in work if c.handler == "approval")
    seconds = sum(lambda_seconds(c, size, warm_cpu_s) for c in work)
    return invocations, invocations * PRICE_REQUEST + size / 1024 * seconds * PRICE_GB_S_ARM


def split(compiled: CompiledWorkflow, path: Path) -> CompiledWorkflow | None:
    """The workflow compiled with its Express stretches split off (``split: auto``), or
    None when that changes nothing (it is Express, or no stretch lowers its cost)."""
    parts = compile_workflow(load_workflow(path), compiled.name, split=True)
    return parts if parts.stretches else None


def examples(w: World) -> list[tuple[str, CompiledWorkflow, Any]]:
    """(label, compiled ``split: off``, input); a label's first word names its workflow file."""
    order = json.loads((ROOT / "examples" / "shopify-order.json").read_text())
    triage = load_workflow(ROOT / "workflows" / "support-triage.yaml")
    for block in triage.blocks:  # the offline model -> an OpenAI-compatible server
        if block.params.get("model") == "local":
            block.params.update(model="gpt-4o-mini", baseUrl=w.fake.url + "/openai/v1")
    message = {"message": "I was charged twice for my order, please refund one of the charges.",
               "customer": "Ada"}
    # "ours": split off (a Standard workflow's stretches are compared in the "split" rows)
    timeline = compile_workflow(load_workflow(ROOT / "workflows" / "support-timeline.yaml"),
                                "support-timeline", split=False)
    # most orders ask for no refund: the run ends in the first stretch, no approval asked
    no_refund = {k: v for k, v in order.items() if k != "refund"}
    return [("support-timeline", timeline, order),
            ("support-timeline (no refund)", timeline, no_refund),
            ("containers-showcase", compile_workflow(
                load_workflow(ROOT / "workflows" / "containers-showcase.yaml"), "containers-showcase",
                split=False), {}),
            ("support-triage", compile_workflow(triage, "support-triage", split=False), message)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-latency", type=float, default=1.0,
                        help="seconds the fake model server takes per call")
    args = parser.parse_args()
    with world() as w:
        used = {"agent", "router", "api", "function", "approval"}  # what the examples run
        cpu = warm_cpu(w, used)
        w.fake.latency_s = args.model_latency
        env = {"INTERNAL_API_URL": w.api_url, "OPENAI_API_KEY": "sk-bench",
               "SLACK_WEBHOOK_URL": w.fake.secrets["SLACK_WEBHOOK_URL"]}
        os.environ.update(env)
        before, now = dict(PREVIOUS_MEMORY_MB), dict(HANDLER_MEMORY_MB)
        print("handler memory, MB (before -> now): " + ", ".join(
            f"{h} {before[h]} -> {now[h]}" for h in HANDLERS))
        print("warm CPU per call with the deployed settings: " + ", ".join(
            f"{h} {cpu[h] * 1000:.0f} ms" for h in sorted(cpu)))
        print(f"model latency on the fake server: {args.model_latency:.1f} s per call\n")
        print(f"{'workflow':28} {'type':8} {'compile':6} {'transitions':>11} {'lambdas':>7} "
              f"{'$/1M before':>12} {'$/1M now':>10} {'now/before':>10} "
              f"{'Lambda share':>16}  status")
        timed = Timed()
        with LocalEngine(handlers=timed.handlers()) as engine:
            for name, ours, payload in examples(w):
                rows = []
                split_compile = split(ours, ROOT / "workflows" / f"{name.split()[0]}.yaml")
                compiles = [("ours", ours), ("naive", naive(ours))]
                if split_compile is not None:
                    compiles.append(("split", split_compile))
                for label, compiled in compiles:
                    # the first run warms the handlers up (imports, V8, clients), as a
                    # deployed instance is after its first call; the second is measured.
                    # The example's refund needs approval: answered at once (yes)
                    for _ in range(2):
                        timed.calls.clear()
                        r = engine.run(compiled, payload, poll_s=0.01,
                                       approver=lambda approval: {"approved": True})
                    runs = executions(engine, r, compiled)
                    old, new = (bill(runs, timed.calls, memory, cpu) for memory in (before, now))
                    rows.append((old, new))
                    if label == "ours":
                        reference = one_lambda(timed.calls, cpu)
                    types = "+".join(sorted({x.workflow_type.lower() for x in runs}))
                    print(f"{name:28} {types:8} {label:6} {new.transitions:11d} {new.invocations:7d} "
                          f"{old.dollars * 1e6:12.2f} {new.dollars * 1e6:10.2f} "
                          f"{new.dollars / old.dollars:10.2f} "
                          f"{old.lambda_dollars / old.dollars:7.0%} -> {new.lambda_dollars / new.dollars:4.0%}"
                          f"  {r.status}")
                (o1, n1), (o2, n2) = rows[:2]
                print(f"{'':28} {'':8} {'ratio':6} {n1.transitions / n2.transitions:11.2f} "
                      f"{n1.invocations / n2.invocations:7.2f} {o1.dollars / o2.dollars:12.2f} "
                      f"{n1.dollars / n2.dollars:10.2f}")
                if len(rows) > 2:  # split / unsplit ("ours"), both measured in this run
                    o3, n3 = rows[2]
                    print(f"{'':28} {'':8} {'split/':6} {n3.transitions / n1.transitions:11.2f} "
                          f"{n3.invocations / n1.invocations:7.2f} {o3.dollars / o1.dollars:12.2f} "
                          f"{n3.dollars / n1.dollars:10.2f}   (split: auto vs split: off)")
                    lambdas, dollars = reference
                    print(f"{'':28} {'lambda':8} {'1-fn':6} {0:11d} {lambdas:7d} {'':12} "
                          f"{dollars * 1e6:10.2f}   one orchestrating Lambda at "
                          f"{max(HANDLER_MEMORY_MB.values())} MB (a floor: no state, retries or "
                          f"records); split: {n3.dollars / dollars:.0f}x it")
                    print(f"{'':28} {'':8} {'logs':6} stretch logs with execution data: "
                          f"{n3.log_bytes / 1024:.1f} KiB per run, ${n3.log_dollars * 1e6:.2f} per 1M runs "
                          f"(${PRICE_LOG_INGEST_GB:.2f}/GB ingested + ${PRICE_LOG_STORE_GB_MONTH:.2f}/GB "
                          f"for a month), included above")


if __name__ == "__main__":
    main()
