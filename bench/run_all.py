"""Run every benchmark in turn (each prints its own figures).

    python bench/run_all.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["run_wall.py", "local_run_speed.py", "cost.py", "handler_memory.py", "concurrency.py",
           "compile_size.py", "compile_scale.py", "synth_and_cold_start.py", "import_fidelity.py",
           "ai_overhead.py", "webhook_load.py", "api_load.py", "records.py", "fuzz_workflows.py",
           "jsonata.py", "secret_cache.py", "scale.py", "redrive_journal.py", "map_logs.py",
           "recorder_items.py"]


def main() -> int:
    status = 0
    for script in SCRIPTS:
        print(f"\n== {script}", flush=True)
        status |= subprocess.call([sys.executable, str(BENCH / script)])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
