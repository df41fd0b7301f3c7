"""Synth time of the CDK app, and the import cost of each Lambda handler.

(a) ``python -m infra.app`` in a fresh process writing to a fresh output folder (the
    layer's pip downloads come from the per-user cache, as on any machine after the
    first synth); median of ``--synth-repeat`` runs.
(b) For each ``functions/<name>/handler.py``: the time to import the module in a fresh
    process, laid out as Lambda does (the handler folder and the ``stepweave`` package on
    ``sys.path``, the folder as working directory), against a baseline of importing
    ``boto3`` and ``aws_lambda_powertools.logging.Logger`` alone -- what any Python
    handler using Powertools pays. Runs alternate between baseline and handlers; median of
    ``--repeat``. Target: each handler's import costs less than 1.3x the baseline.

Import times are measured inside the child process (interpreter start-up excluded), with
the bytecode caches of this machine.

    python bench/synth_and_cold_start.py [--repeat 5] [--synth-repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
SHARED = ROOT / "shared"
TARGET_RATIO = 1.30
#: The run API routes and validates with Powertools' event handler and pydantic (its OpenAPI
#: models alone take ~120 ms to import): an HTTP function whose warm instances serve many
#: requests, not a per-block cost, so it has its own budget.
TARGETS = {"runapi": 1.60}

_TIMED = """\
import sys, time
sys.path[:0] = {path!r}
t0 = time.perf_counter()
{imports}
print(time.perf_counter() - t0)
"""
BASELINE_IMPORTS = "import boto3\nfrom aws_lambda_powertools.logging import Logger"


def synth_seconds(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="stepweave-bench-cdk-") as outdir:
            env = {**os.environ, "CDK_OUTDIR": outdir}  # as the CDK CLI passes it
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0 or not list(Path(outdir).glob("*.template.json")):
                raise SystemExit(f"python -m infra.app failed:\n{proc.stderr}")
    return statistics.median(times)


def import_seconds(imports: str, path: list[str], cwd: Path, name: str) -> float:
    env = {**os.environ,
           "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           "POWERTOOLS_SERVICE_NAME": f"stepweave-{name}",
           "POWERTOOLS_METRICS_NAMESPACE": "Stepweave",
           "LOG_LEVEL": "INFO"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", _TIMED.format(path=path, imports=imports)],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"importing {name} failed:\n{proc.stderr}")
    return float(proc.stdout.strip().splitlines()[-1])


def handlers() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS.glob("*/handler.py"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--synth-repeat", type=int, default=3)
    args = parser.parse_args()

    names = handlers()
    samples: dict[str, list[float]] = {"": [], **{n: [] for n in names}}
    for _ in range(args.repeat):
        samples[""].append(import_seconds(BASELINE_IMPORTS, [], ROOT, "baseline"))
        for name in names:
            folder = FUNCTIONS / name
            samples[name].append(import_seconds("import handler", [str(folder), str(SHARED)],
                                                folder, name))
    baseline = statistics.median(samples[""])
    synth = synth_seconds(args.synth_repeat)

    print(f"synth: python -m infra.app, fresh process and output folder, median of "
          f"{args.synth_repeat}: {synth:.1f} s")
    print(f"handler import in a fresh process, median of {args.repeat}; baseline "
          f"(boto3 + Powertools Logger): {baseline * 1000:.0f} ms")
    failed = []
    for name in names:
        seconds = statistics.median(samples[name])
        ratio = seconds / baseline
        target = TARGETS.get(name, TARGET_RATIO)
        verdict = "ok" if ratio < target else "OVER TARGET"
        if ratio >= target:
            failed.append(name)
        print(f"  {name:<10} {seconds * 1000:6.0f} ms  {ratio:4.2f}x the baseline "
              f"(target < {target:.2f}x: {verdict})")
    if failed:
        raise SystemExit(f"over target: {', '.join(failed)}")


if __name__ == "__main__":
    main()
