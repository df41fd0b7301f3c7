"""Wall time of ``stepweave run`` on the main example (target: under 3 s here).

Each figure is the median of several fresh processes, exactly as a user runs them.
The baseline, in the same process, is ``stepweave validate`` on the same file: the
interpreter start and compile alone, so the difference is what the embedded engine
(moto, the ASL interpreter, the in-process handlers) costs.

    python bench/run_wall.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from internal_api import InternalApi  # noqa: E402


def wall(args: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "stepweave.cli", *args], env=env,
                              capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"stepweave {' '.join(args)} failed:\n{proc.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    api = InternalApi().start()
    env = {**os.environ, "INTERNAL_API_URL": api.url}
    workflow = str(ROOT / "workflows" / "support-timeline.yaml")
    try:
        validate = wall(["validate", workflow], env, args.repeat)
        run = wall(["run", workflow, "--input", str(ROOT / "examples" / "shopify-order.json"), "-q",
                    "--approve", "Approve refund"],
                   env, args.repeat)
    finally:
        api.shutdown()
        api.server_close()
    print(f"stepweave validate support-timeline: {validate:.2f} s (baseline)")
    print(f"stepweave run support-timeline:      {run:.2f} s ({run / validate:.1f}x the baseline; "
          f"target < 3 s)")


if __name__ == "__main__":
    main()
