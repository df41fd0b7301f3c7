"""What journaling costs a local run: every state of a Standard run on the embedded engine is
journaled (a hash of its input and variables; a Task's result) so that a failed run can be
redriven (``stepweave.local.moto_redrive``). ``LocalEngine.run`` of chains of native blocks
(``variables``), with the journal off and on, alternating, each figure a median.

    python bench/redrive_journal.py [--runs 9] [--sizes 10,100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


def chain(n: int) -> str:
    blocks = ["  - {id: start, type: start}"]
    edges, previous = [], "start"
    for i in range(n):
        blocks.append(f"  - {{id: v{i}, type: variables, params: {{variables: [{{variableName: x{i}, value: {i}}}]}}}}")
        edges.append(f"{previous} -> v{i}")
        previous = f"v{i}"
    return "name: chain\ntype: standard\nblocks:\n" + "\n".join(blocks) + "\nedges: [" + ", ".join(edges) + "]\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default="10,100")
    args = parser.parse_args()
    from stepweave.local import moto_redrive
    from stepweave.local.engine import LocalEngine
    from tests.engine.helpers import compile_text

    journal = moto_redrive._journal  # noqa: SLF001

    def off(env: Any) -> None:
        return None

    with LocalEngine() as engine:
        for n in (int(s) for s in args.sizes.split(",")):
            compiled = compile_text(chain(n))
            engine.run(compiled, {})  # the definition parsed once, as in every later run
            times: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(args.runs):
                for label, hook in (("off", off), ("on", journal)):
                    moto_redrive._journal = hook  # type: ignore[assignment]  # noqa: SLF001
                    started = time.perf_counter()
                    result = engine.run(compiled, {})
                    assert result.status == "SUCCEEDED", (result.error, result.cause)
                    times[label].append(time.perf_counter() - started)
            moto_redrive._journal = journal  # noqa: SLF001
            on, no = statistics.median(times["on"]), statistics.median(times["off"])
            print(f"{n} blocks: {no * 1000:.1f} ms without the journal, {on * 1000:.1f} ms with it "
                  f"({(on - no) * 1000 / n:+.2f} ms per block)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
