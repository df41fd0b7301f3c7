"""The data a parallel over a collection moves per iteration, and the largest collection a
Standard (inline Map) run can take, with today's compiler and a baseline compiler.

    python bench/parallel_data.py [--baseline REV]

A parallel over N items of 64 characters whose body is one function block runs on the
embedded engine (N = 40). From the execution history the bench measures, per iteration,
the bytes that enter it (the first state's input: the item, and the whole collection when
it is copied in) and the bytes it returns to the Map (its exports and its result), then
extrapolates the largest N under Step Functions' limits: 256 KiB for a state's input and
for the Map's result, and 25,000 history events for the run. The baseline is the same
measurement with the compiler of ``REV`` (default ``HEAD``), run from a temporary
``git worktree`` in a child process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = 40
KIB_256 = 256 * 1024
HISTORY = 25_000

WORKFLOW = """
name: par-data
blocks:
  - {id: start, type: start}
  - {id: P, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.rows>", batchSize: 20}}
  - {id: a, name: Body, type: function, parent: P, params: {code: "return <parallel.currentItem>.length"}}
  - {id: after, name: After, type: function, params: {code: "return <fan.results>.length"}}
edges: [start -> P, "P -[parallel-start-source]-> a", "P -[parallel-end-source]-> after"]
"""


def measure(size: int = 64) -> dict[str, float]:
    """Run once on the embedded engine; bytes in and out per iteration, events per item."""
    from stepweave.compiler import compile_workflow
    from stepweave.local.engine import local_engine
    from stepweave.workflow.loader import parse_workflow, parse_yaml

    compiled = compile_workflow(parse_workflow(parse_yaml(WORKFLOW), "<bench>"), "<bench>")
    rows = [f"{i:04d}" + "x" * (size - 4) for i in range(N)]
    with local_engine() as engine, contextlib.redirect_stdout(sys.stderr):  # handler metrics
        result = engine.run(compiled, {"rows": rows})
    assert result.status == "SUCCEEDED", result.cause
    def entering(state: str) -> list[str]:
        return [e["stateEnteredEventDetails"]["input"] for e in result.events
                if e.get("stateEnteredEventDetails", {}).get("name") == state]

    # an iteration's first state: a Pass setting its variables, or (folded) the block itself
    entered = entering("Fan start") or entering("Body")
    returned = [e["stateExitedEventDetails"]["output"] for e in result.events
                if e.get("stateExitedEventDetails", {}).get("name") == "Body"]
    copied = float(any("items" in json.loads(text) for text in entered))
    return {"in": sum(map(len, entered)) / N, "out": sum(map(len, returned)) / N,
            "events": len(result.events) / N, "copied": copied,
            "size": float(size)}


def largest(figures: dict[str, float]) -> int:
    """The largest N a run takes: the collection copied into each iteration grows with N."""
    per_item = figures["size"] + 3  # an item of the collection as JSON, with its comma
    fixed_in = figures["in"] - (per_item * N if figures["copied"] else 0)
    best = 0
    for n in range(1, 1_000_000):
        iteration_in = fixed_in + (per_item * n if figures["copied"] else 0)
        if (iteration_in > KIB_256 or figures["out"] * n > KIB_256
                or figures["events"] * n + 10 > HISTORY):
            break
        best = n
    return best


def baseline(rev: str, sizes: tuple[int, ...]) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                       check=True, capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": f"{tree / 'shared'}{os.pathsep}{tree}",
                   "STEPWEAVE_JSONATA_JS": str(ROOT / "node_modules" / "jsonata" / "jsonata.js")}
            code = ("import json, runpy; m = runpy.run_path(%r); "
                    "print(json.dumps([m['measure'](s) for s in %r]))"
                    % (str(Path(__file__).resolve()), sizes))
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, check=True,
                                 capture_output=True, text=True).stdout
            return list(json.loads(out.strip().splitlines()[-1]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="the baseline compiler's revision")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "shared"))
    sys.path.insert(0, str(ROOT))
    sizes = (64, 1024)
    olds, news = baseline(args.baseline, sizes), [measure(size) for size in sizes]
    print(f"parallel over {N} items, one function block per iteration (baseline: {args.baseline})")
    for size, old, new in zip(sizes, olds, news):
        print(f"\nitems of {size} characters {'baseline':>13} {'today':>10} {'ratio':>7}")
        for key, label in (("in", "bytes into an iteration"), ("out", "bytes out of an iteration"),
                           ("events", "history events per item")):
            print(f"{label:28} {old[key]:>10.0f} {new[key]:>10.0f} {new[key] / old[key]:>6.2f}x")
        print(f"{'largest collection (items)':28} {largest(old):>10,} {largest(new):>10,} "
              f"{largest(new) / max(1, largest(old)):>6.2f}x")

if __name__ == "__main__":
    main()
