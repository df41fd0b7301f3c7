"""Recording a run in the local records (``.stepweave/records.db``) as they grow.

(a) One run's records, written with the recorder's own writers (the started record, 10 block
    logs, the final record: what ``stepweave run`` writes for a 10-block run), into a store
    that already holds 0, 25, 250 and 2,500 such runs. Median of ``--repeat``; the ratio is
    against the empty store, measured in the same process.
(b) ``stepweave run`` of a one-block workflow in a fresh process, as a user runs it, with
    the same stores in ``STEPWEAVE_LOCAL_DIR``. Median of ``--runs``; ratio against the
    empty store.

    python bench/records.py [--repeat 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

from stepweave.local.records import LocalRecords, records_path  # noqa: E402
from stepweave.runtime.records import (  # noqa: E402
    BlockLog,
    ExecutionRecord,
    put_block_logs,
    put_final,
    put_started,
)
from stepweave.runtime.settings import Settings  # noqa: E402

SIZES = (0, 25, 250, 2500)
BLOCKS = 10
ONE_BLOCK = """
name: one
blocks:
  - {id: start, type: start}
  - {id: done, name: Done, type: response, params: {data: {ok: true}}}
edges: [start -> done]
"""


def _append(store: LocalRecords, n: int) -> None:
    """One run's records, as the recorder writes them."""
    arn = f"arn:aws:states:us-east-1:123456789012:execution:bench:run-{uuid.uuid4().hex[:12]}"
    started = f"2025-03-01T10:{n // 3600 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z"
    record = ExecutionRecord(workflow="bench", execution_arn=arn, name=arn.rsplit(":", 1)[-1],
                             status="running", trigger={"type": "local"}, input='{"n": 1}',
                             started_at=started, expires_at=int(time.time()) + 86_400)
    put_started(store.ddb, store.settings, record)
    logs = [BlockLog(execution_arn=arn, seq=i, block_id=f"b{i}", name=f"Block {i}", type="function",
                     started_at=started, ended_at=started, duration_ms=1, success=True,
                     output='{"result": 1}', expires_at=record.expires_at) for i in range(1, BLOCKS + 1)]
    put_block_logs(store.ddb, store.settings, logs)
    put_final(store.ddb, store.settings, record.model_copy(update={
        "status": "succeeded", "stopped_at": started, "duration_ms": 1, "output": "{}"}))


def _fill(folder: Path, runs: int) -> None:
    with LocalRecords.open(Settings(local_dir=folder), records_path(Settings(local_dir=folder))) as store:
        for n in range(runs):
            _append(store, n)


def append_times(base: Path, repeat: int) -> dict[int, float]:
    times = {}
    for size in SIZES:
        folder = base / f"append-{size}"
        _fill(folder, size)
        with LocalRecords.open(Settings(local_dir=folder), records_path(Settings(local_dir=folder))) as store:
            samples = []
            for n in range(repeat):
                t0 = time.perf_counter()
                _append(store, size + n)
                samples.append(time.perf_counter() - t0)
        times[size] = statistics.median(samples)
    return times


def run_times(base: Path, runs: int) -> dict[int, float]:
    workflow = base / "one.yaml"
    workflow.write_text(ONE_BLOCK)
    times = {}
    for size in SIZES:
        folder = base / f"run-{size}"
        _fill(folder, size)
        env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(folder)}
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "stepweave.cli", "run", str(workflow), "-q"],
                                  env=env, cwd=base, capture_output=True, text=True, check=False)
            samples.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"stepweave run failed:\n{proc.stderr}")
        times[size] = statistics.median(samples)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50, help="appends per store size")
    parser.add_argument("--runs", type=int, default=3, help="stepweave run processes per store size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stepweave-bench-records-") as tmp:
        appends = append_times(Path(tmp), args.repeat)
        for size, seconds in appends.items():
            print(f"record one {BLOCKS}-block run, {size:>5} runs stored: {seconds * 1000:6.2f} ms "
                  f"({seconds / appends[0]:.2f}x the empty store)")
        runs = run_times(Path(tmp), args.runs)
        for size, seconds in runs.items():
            print(f"stepweave run (1 block),  {size:>5} runs stored: {seconds:6.2f} s  "
                  f"({seconds / runs[0]:.2f}x the empty store)")


if __name__ == "__main__":
    main()
