"""Compile time at scale: seeded random DAGs of 100, 300 and 1,000 blocks and chains of 1,000
and 5,000 blocks, against the scheduler as it was before it computed each core's longest
paths once (``shared/stepweave/compiler/schedule.py`` at commit ``BASELINE``, read with
``git show`` and swapped into the compiler in this same process).

    python bench/compile_scale.py [--baseline-max 300] [--repeat 3]

For each workflow: the outcome (the compact definition's size, or the "definition too large"
refusal past Step Functions' 1 MiB), the compile time (median of ``--repeat`` runs, wall
clock) and the time spent in the scheduler. With the baseline scheduler swapped in (random
DAGs up to ``--baseline-max`` blocks, and the chains; the 1,000-block DAG takes the baseline
about ten minutes): its compile and scheduler times, the ratios, and whether every region's
schedule and the compiled definition (or the problems reported) are identical.

Workflow files hold at most 2,000 blocks (``stepweave.workflow.limits``), so the loader
refuses the 5,000-block chain's file at once; it is compiled from the ``Workflow`` model
(``compile_workflow``), which is what the figures show. Target: under 2 s each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT / "bench"))

from generate import chain_workflow, random_dag_workflow  # noqa: E402

from stepweave.compiler import compile_workflow, lower, schedule  # noqa: E402
from stepweave.compiler.aslcheck import _jsonata_strings  # noqa: E402
from stepweave.compiler.jsonata_syntax import parse_all  # noqa: E402
from stepweave.errors import WorkflowError  # noqa: E402
from stepweave.workflow.loader import parse_workflow  # noqa: E402
from stepweave.workflow.model import Workflow  # noqa: E402

#: the last commit with the scheduler that ran one critical-path pass per candidate cut
BASELINE = "718869085b1e2b5b54739ed2a0b71b5d0cde1c0d"
SCHEDULE_PATH = "shared/stepweave/compiler/schedule.py"


def baseline_module() -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{BASELINE}:{SCHEDULE_PATH}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("baseline_schedule")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{BASELINE[:7]}:{SCHEDULE_PATH}", "exec"), module.__dict__)  # noqa: S102
    return module


def as_current(tree: Any) -> schedule.Tree:
    """A baseline tree in the current classes (the lowering checks them by type)."""
    if type(tree).__name__ == "Leaf":
        return schedule.Leaf(tree.node)
    if type(tree).__name__ == "Seq":
        return schedule.Seq(tuple(as_current(t) for t in tree.items))
    return schedule.Par(tuple(as_current(t) for t in tree.branches))


class Scheduler:
    """The scheduler the lowering calls, timed, with every tree it returns kept."""

    def __init__(self, run: Callable[..., schedule.Tree | None]) -> None:
        self.run = run
        self.seconds = 0.0
        self.trees: list[schedule.Tree | None] = []

    def __call__(self, nodes: list[str], deps: list[tuple[str, str]],
                 weight: Callable[[str], float]) -> schedule.Tree | None:
        start = time.perf_counter()
        tree = self.run(nodes, deps, weight)
        self.seconds += time.perf_counter() - start
        self.trees.append(tree)
        return tree


def compile_once(workflow: Workflow, run: Callable[..., schedule.Tree | None]) -> dict[str, Any]:
    """One compile with ``run`` as the scheduler: outcome, times, trees, definition text."""
    scheduler = Scheduler(run)
    lower.schedule = scheduler  # type: ignore[assignment]
    start = time.perf_counter()
    try:
        compiled = compile_workflow(workflow, workflow.name)
        text = json.dumps(compiled.definition, separators=(",", ":"))
        outcome, result = f"{len(text.encode()):,} B", text
    except WorkflowError as exc:
        result = exc.report()
        size = re.search(r"definition of ([\d,]+) bytes", result)
        outcome = f"too large: {size.group(1)} B" if size else "refused"
    finally:
        lower.schedule = schedule.schedule
    return {"seconds": time.perf_counter() - start, "scheduler": scheduler.seconds,
            "trees": scheduler.trees, "outcome": outcome, "result": result}


def jsonata_note(workflow: Workflow) -> str:
    """The definition check parses each distinct JSONata expression once: the figures."""
    compiled = compile_workflow(workflow, workflow.name)
    expressions = [found[2] for found in _jsonata_strings(compiled.definition)]
    unique = list(dict.fromkeys(expressions))
    start = time.perf_counter()
    parse_all(expressions)
    every = time.perf_counter() - start
    start = time.perf_counter()
    parse_all(unique)
    once = time.perf_counter() - start
    return (f"{workflow.name}: the definition check parses {len(unique):,} distinct JSONata "
            f"expressions of {len(expressions):,}: {once:.2f} s instead of {every:.2f} s "
            f"({every / once:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-max", type=int, default=300,
                        help="largest random DAG compiled with the baseline scheduler too")
    parser.add_argument("--repeat", type=int, default=3, help="compiles per figure (median)")
    args = parser.parse_args()
    baseline = baseline_module()

    def old_schedule(nodes: list[str], deps: list[tuple[str, str]],
                     weight: Callable[[str], float]) -> schedule.Tree | None:
        tree = baseline.schedule(nodes, deps, weight)
        return None if tree is None else as_current(tree)

    cases = [("random DAG", random_dag_workflow, size, size <= args.baseline_max)
             for size in (100, 300, 1000)]
    cases += [("chain", chain_workflow, size, True) for size in (1000, 5000)]
    print(f"baseline scheduler: {SCHEDULE_PATH} at {BASELINE[:7]}; load average at start: "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(f"{'workflow':<11} {'blocks':>6} {'outcome':>22} {'compile s':>10} {'scheduler s':>12} "
          f"{'baseline s':>11} {'its sched. s':>13} {'ratio':>7} {'sched. ratio':>13} "
          f"{'identical':>10}")
    notes = []
    for label, generate, size, with_baseline in cases:
        data = generate(size)
        try:
            workflow = parse_workflow(data, data["name"])
        except WorkflowError as exc:  # past the file format's limits: the model directly
            notes.append(f"{data['name']}: the loader refuses its file at once "
                         f"({exc.problems[0].message}); compiled from the Workflow model")
            workflow = Workflow.model_validate(data)
        runs = [compile_once(workflow, schedule.schedule) for _ in range(args.repeat)]
        new = runs[0]
        seconds = statistics.median(r["seconds"] for r in runs)
        sched = statistics.median(r["scheduler"] for r in runs)
        row = (f"{label:<11} {size:>6,} {new['outcome']:>22} {seconds:>10.3f} {sched:>12.3f}")
        if with_baseline:
            old = compile_once(workflow, old_schedule)
            same = old["trees"] == new["trees"] and old["result"] == new["result"]
            row += (f" {old['seconds']:>11.3f} {old['scheduler']:>13.3f} "
                    f"{old['seconds'] / seconds:>6.1f}x {old['scheduler'] / sched:>12.1f}x "
                    f"{'yes' if same else 'NO':>10}")
        else:
            row += f" {'(not run)':>11}"
        print(row, flush=True)
        if size == 300 and label == "random DAG" or size == 1000 and label == "chain":
            notes.append(jsonata_note(workflow))
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
