"""Compile time and definition size for generated workflows of 100 and 1,000 blocks.

    python bench/compile_size.py

Targets: 1,000 blocks compile in under 1 s; the definition stays under 1 MB
(Step Functions' limit). The baseline in the same process is parsing and
validating the same workflow without lowering it, so the ratio isolates the
compiler's own cost.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generated_workflow  # noqa: E402

from stepweave.compiler import compile_workflow  # noqa: E402
from stepweave.compiler.graph import build_graph  # noqa: E402
from stepweave.compiler.validate import validate_graph  # noqa: E402
from stepweave.workflow.loader import parse_workflow  # noqa: E402


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    print(f"{'blocks':>7} {'states':>7} {'compile s':>10} {'validate s':>11} {'ratio':>6} "
          f"{'definition':>11} {'of 1 MB':>8}")
    for size in (100, 1000):
        data = generated_workflow(size)
        workflow = parse_workflow(data, f"generated-{size}")
        repeat = 5 if size <= 100 else 3
        base = timed(lambda: validate_graph(build_graph(workflow, "g")), repeat)
        compile_s = timed(lambda: compile_workflow(workflow, "g"), repeat)
        compiled = compile_workflow(workflow, "g")
        text = json.dumps(compiled.definition, separators=(",", ":"))
        states = text.count('"Type":')
        print(f"{len(workflow.blocks):7d} {states:7d} {compile_s:10.3f} {base:11.3f} "
              f"{compile_s / base:6.1f} {len(text.encode()):11,d} {len(text.encode()) / 1_048_576:8.1%}")


if __name__ == "__main__":
    main()
