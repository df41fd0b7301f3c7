"""Speed of a local run on the embedded engine, next to the implementation before the
engine was sped up, measured in the same run.

* ``stepweave run`` of a 1-block workflow: wall time of a fresh process, as a user runs it
  (target: under 1.0 s here);
* engine setup: in a fresh process with the workflow compiled, importing the engine,
  starting it (moto, the ASL parser, the clients, the records) and creating the first
  state machine;
* per-block overhead: the slope of ``LocalEngine.run`` (create, execute with progress,
  record) over chains of native blocks (``variables``), each a definition the engine has
  not seen (target: under 15 ms per block).

The baseline is the parent of the commit that added ``stepweave/local/moto_imports.py``
(``--baseline`` names another revision), checked out in a temporary ``git worktree`` and
run from there via ``PYTHONPATH``; the current tree is run the same way. Runs of the two
alternate, and each figure is a median. Bytecode is written for both before timing.

    python bench/local_run_speed.py [--runs 7] [--sizes 10,100] [--repeat 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run_wall import wall  # noqa: E402

ONE_BLOCK = """
name: one
blocks:
  - {id: start, type: start}
  - {id: done, name: Done, type: response, params: {data: {ok: true}}}
edges: [start -> done]
"""
MARKER = "shared/stepweave/local/moto_imports.py"


def chain(blocks: int) -> str:
    """A chain of ``blocks`` variables blocks, under a name no other chain has."""
    lines = [f"name: chain-{blocks}-{uuid.uuid4().hex[:8]}", "blocks:", "  - {id: start, type: start}"]
    lines += [f"  - {{id: v{i}, name: V{i}, type: variables, "
              f"params: {{variables: [{{variableName: x{i}, value: \"{i}\"}}]}}}}"
              for i in range(1, blocks + 1)]
    edges = ["start -> v1"] + [f"v{i} -> v{i + 1}" for i in range(1, blocks)]
    return "\n".join(lines + ["edges: [" + ", ".join(edges) + "]", ""])


# -- in a worker process, with the variant's PYTHONPATH ---------------------------------------

def _compile(text: str, folder: Path) -> Any:
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow

    path = folder / f"{uuid.uuid4().hex}.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_workflow(load_workflow(path), str(path))


def worker_setup(folder: Path) -> dict[str, Any]:
    compiled = _compile(ONE_BLOCK, folder)  # the CLI compiles before it starts the engine
    t0 = time.perf_counter()
    from stepweave.local.engine import LocalEngine

    engine = LocalEngine()
    engine.__enter__()
    engine.create(compiled)
    setup = time.perf_counter() - t0
    engine.__exit__(None, None, None)
    return {"setup_s": setup}


def worker_chains(folder: Path, sizes: list[int], repeat: int) -> dict[str, Any]:
    from stepweave.local.engine import LocalEngine

    times: dict[str, list[float]] = {str(n): [] for n in sizes}
    with LocalEngine() as engine:
        engine.run(_compile(chain(2), folder), {}, on_progress=lambda _: None)  # warm
        for _ in range(repeat):
            for n in sizes:
                compiled = _compile(chain(n), folder)
                t0 = time.perf_counter()
                result = engine.run(compiled, {}, on_progress=lambda _: None)
                times[str(n)].append(time.perf_counter() - t0)
                if result.status != "SUCCEEDED":
                    raise SystemExit(f"chain of {n}: {result.status} {result.cause}")
    return times


# -- the driver --------------------------------------------------------------------------------

def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def baseline_revision() -> str:
    """The parent of the commit that added the engine's deferred moto imports; HEAD while
    that change is not committed."""
    added = _git("log", "--diff-filter=A", "--format=%H", "--", MARKER).splitlines()
    return f"{added[-1]}^" if added else "HEAD"


class Variant:
    def __init__(self, name: str, shared: Path, work: Path) -> None:
        self.name = name
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**env, "PYTHONPATH": str(shared), "STEPWEAVE_LOCAL_DIR": str(work / "local"),
                    "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}

    def worker(self, *args: str) -> Any:
        proc = subprocess.run([sys.executable, __file__, "--worker", *args, "--folder", str(self.work)],
                              env=self.env, cwd=self.work, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{self.name}: worker {args[0]} failed:\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _slope(times: dict[str, list[float]], sizes: list[int]) -> float:
    low, high = min(sizes), max(sizes)
    return (statistics.median(times[str(high)]) - statistics.median(times[str(low)])) / (high - low)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per variant and figure")
    parser.add_argument("--sizes", default="10,100", help="chain lengths (blocks) for the slope")
    parser.add_argument("--repeat", type=int, default=3, help="runs per chain length")
    parser.add_argument("--baseline", help="the revision to compare with (default: see above)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.worker == "setup":
        print(json.dumps(worker_setup(Path(args.folder))))
        return
    if args.worker == "chains":
        print(json.dumps(worker_chains(Path(args.folder), sizes, args.repeat)))
        return

    revision = args.baseline or baseline_revision()
    commit = _git("rev-parse", "--short", revision)
    with tempfile.TemporaryDirectory(prefix="stepweave-bench-speed-") as tmp:
        base = Path(tmp)
        checkout = base / "baseline"
        _git("worktree", "add", "--detach", str(checkout), revision)
        try:
            if (ROOT / "node_modules").is_dir():  # the JSONata library both variants evaluate with
                (checkout / "node_modules").symlink_to(ROOT / "node_modules")
            variants = [Variant(f"before ({commit})", checkout / "shared", base / "before"),
                        Variant("now", ROOT / "shared", base / "now")]
            workflow = base / "one.yaml"
            workflow.write_text(ONE_BLOCK, encoding="utf-8")
            run = ["run", str(workflow), "-q"]
            for variant in variants:  # bytecode written, records databases made
                wall(run, variant.env, 1)
            cli: dict[str, list[float]] = {v.name: [] for v in variants}
            setup: dict[str, list[float]] = {v.name: [] for v in variants}
            for _ in range(args.runs):
                for variant in variants:
                    cli[variant.name].append(wall(run, variant.env, 1))
                    setup[variant.name].append(variant.worker("setup")["setup_s"])
            chains = {v.name: v.worker("chains", "--sizes", args.sizes, "--repeat", str(args.repeat))
                      for v in variants}
        finally:
            _git("worktree", "remove", "--force", str(checkout))

    before, now = (v.name for v in variants)
    one = {name: statistics.median(samples) for name, samples in cli.items()}
    ready = {name: statistics.median(samples) for name, samples in setup.items()}
    slope = {name: _slope(chains[name], sizes) for name in chains}
    print(f"baseline: {before}; medians of {args.runs} fresh processes each, runs alternating")
    print(f"stepweave run, 1-block workflow:   {one[now]:.2f} s   (before {one[before]:.2f} s; "
          f"{one[now] / one[before]:.2f}x; target < 1.0 s)")
    print(f"engine setup (to the first state machine): {ready[now]:.2f} s   "
          f"(before {ready[before]:.2f} s; {ready[now] / ready[before]:.2f}x)")
    print(f"per-block overhead, chains of {sizes[0]} to {sizes[-1]} variables blocks: "
          f"{slope[now] * 1000:.1f} ms   (before {slope[before] * 1000:.1f} ms; "
          f"{slope[now] / slope[before]:.2f}x; target < 15 ms)")
    for n in sizes:
        print(f"  LocalEngine.run of {n:>4} blocks: {statistics.median(chains[now][str(n)]):.3f} s   "
              f"(before {statistics.median(chains[before][str(n)]):.3f} s)")


if __name__ == "__main__":
    main()
