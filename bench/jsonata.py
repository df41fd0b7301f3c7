"""JSONata on the embedded engine: jsonata-js in V8 (what AWS runs) against the Python port.

Two figures, each with its baseline measured in the same process:

* per expression: every ``{% %}`` expression of the example workflows, evaluated with
  edge-free bindings by ``stepweave.local.jsonata_eval`` (jsonata-js 2.0.6 in V8) and by
  the Python port ``jsonata-python`` (what the engine used before; a test dependency now),
  compiled once each, median of several passes;
* a whole run: wall time of ``stepweave run workflows/containers-showcase.yaml`` in fresh
  processes (median), with the engine as shipped and with the engine's evaluator swapped
  for the Python port (child processes only; nothing is changed on disk).

    python bench/jsonata.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# this file is called jsonata.py: keep its folder from shadowing the jsonata package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
WORKFLOWS = ["containers-showcase.yaml", "support-timeline.yaml"]
RUN = ["run", str(ROOT / "workflows" / "containers-showcase.yaml"), "-q"]

#: Run in a child process: the engine's evaluator replaced by the Python port, as it was
#: (with the Step Functions functions registered the way it registered them).
_PORT_CHILD = r"""
import sys, types
from functools import lru_cache
from jsonata import Jsonata
from jsonata.jexception import JException
from jsonata.utils import Utils
import stepweave.local.jsonata_eval as real

port = types.ModuleType("stepweave.local.jsonata_eval")
port.__dict__.update({k: getattr(real, k) for k in ("UNDEFINED", "JSONataEvaluationError",
                                                    "aws_timestamp", "check_available")})

def to(v):
    if v is None: return Utils.NULL_VALUE
    if isinstance(v, dict): return {k: to(x) for k, x in v.items()}
    if isinstance(v, list): return [to(x) for x in v]
    return v

def back(v):
    if v is Utils.NULL_VALUE: return None
    if isinstance(v, dict): return {k: back(x) for k, x in v.items() if x is not None}
    if isinstance(v, list): return [back(x) for x in v if x is not None]
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53: return int(v)
    return v

def _parse(text):
    import json
    return to(json.loads(text))

def _range(a, z, d):
    return list(range(int(a), int(z) + (1 if d > 0 else -1), int(d)))

EXTRAS = {"parse": _parse, "range": _range,
          "partition": lambda a, n: [a[i:i + int(n)] for i in range(0, len(a), int(n))],
          "hash": lambda v, alg="SHA-256": __import__("hashlib").new(alg.replace("-", "").lower(),
                                                                     str(v).encode()).hexdigest(),
          "random": lambda seed=None: __import__("random").Random(seed).random(),
          "uuid": lambda: str(__import__("uuid").uuid4())}

@lru_cache(maxsize=4096)
def compiled(expression):
    c = Jsonata(expression)
    c.set_output_convert_nulls(False)
    for name, function in EXTRAS.items():
        c.register_lambda(name, function)
    return c

def evaluate(expression, bindings):
    try:
        result = compiled(expression).evaluate(None, {k: to(v) for k, v in bindings.items()})
    except JException as exc:
        raise real.JSONataEvaluationError(str(exc)) from exc
    return real.UNDEFINED if result is None else back(result)

port.evaluate = evaluate
sys.modules["stepweave.local.jsonata_eval"] = port
from stepweave.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _expressions() -> tuple[list[str], set[str]]:
    """The examples' expressions, and the variables their states assign."""
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow

    found: list[str] = []
    variables: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
            found.append(value[2:-2].strip())
        elif isinstance(value, dict):
            if isinstance(value.get("Assign"), dict):
                variables.update(value["Assign"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for name in WORKFLOWS:
        path = ROOT / "workflows" / name
        walk(compile_workflow(load_workflow(path), str(path)).definition)
    return list(dict.fromkeys(found)), variables


def _bindings() -> dict[str, Any]:
    fields = {"amount": "120", "email": "ada@example.com", "items": [1, 2, 3], "vip": True}
    block = {"result": fields, "data": fields, "status": 200, "error": None}
    return {"states": {"input": {**fields, "input": fields}, "result": block,
                       "errorOutput": {"Error": "States.TaskFailed", "Cause": "boom"},
                       "context": {"Execution": {"Id": "arn:run-1",
                                                 "StartTime": "2024-11-27T00:23:19.123Z"},
                                   "Map": {"Item": {"Index": 0, "Value": fields}}}},
            "block": block}


def _per_expression(expressions: list[str], variables: set[str],
                    passes: int) -> tuple[float, float]:
    from jsonata import Jsonata
    from jsonata.utils import Utils

    from stepweave import v8
    from stepweave.local.jsonata_eval import JSONataEvaluationError, evaluate

    def port_value(v: Any) -> Any:
        if v is None:
            return Utils.NULL_VALUE
        if isinstance(v, dict):
            return {k: port_value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [port_value(x) for x in v]
        return v

    bindings = _bindings()
    names = {e: {n: (bindings["states"] if n == "states" else bindings["block"])
                 for n in _roots(e) & (variables | {"states"})} for e in expressions}
    port_compiled = {e: Jsonata(e) for e in expressions}

    def v8_pass() -> None:
        for e in expressions:
            try:
                evaluate(e, names[e])
            except JSONataEvaluationError:
                pass

    def port_pass() -> None:
        for e in expressions:
            try:
                port_compiled[e].evaluate(None, {k: port_value(v) for k, v in names[e].items()})
            except Exception:  # noqa: BLE001 - errors cost what they cost on either side
                pass

    v8_pass()  # compile once, as the engine does
    port_pass()
    results = []
    for run in (v8_pass, port_pass):
        times = []
        for _ in range(passes):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) / len(expressions))
        results.append(statistics.median(times) * 1e6)
    v8.close()
    return results[0], results[1]


def _roots(expression: str) -> set[str]:
    import re

    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", expression))


def _walls(variants: list[list[str]], repeat: int) -> list[float]:
    """Median wall time of each command line, run in turns (so load drifts hit all alike)."""
    times: list[list[float]] = [[] for _ in variants]
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(ROOT / ".stepweave" / "bench-jsonata")}
    for _ in range(repeat):
        for args, out in zip(variants, times, strict=True):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True,
                                  text=True, check=False)
            out.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    expressions, variables = _expressions()
    v8_us, port_us = _per_expression(expressions, variables, passes=max(3, args.repeat))
    print(f"per expression ({len(expressions)} from the example workflows): "
          f"jsonata-js in V8 {v8_us:.0f} us, Python port {port_us:.0f} us "
          f"({v8_us / port_us:.2f}x)")
    shipped, port = _walls([["-m", "stepweave.cli", *RUN], ["-c", _PORT_CHILD, *RUN]], args.repeat)
    print(f"stepweave run containers-showcase: {shipped:.2f} s with jsonata-js in V8, "
          f"{port:.2f} s with the Python port ({shipped / port:.2f}x; median of {args.repeat} "
          f"runs each, in turns)")


if __name__ == "__main__":
    main()
