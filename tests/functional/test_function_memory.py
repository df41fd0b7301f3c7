"""A function block cannot take the process's memory with array buffers.

V8's heap limit does not cover array buffers, and one builtin call can fill a gigabyte
before anything can interrupt it. GIVEN the function handler with memoryMb 128 and code that
allocates 1 GiB in one typed array WHEN it runs (in its own process, to read that process's
peak memory) THEN it fails with BlockResourceError before the memory is taken; code within
the budget, including many small buffers and typed-array subclasses, is unaffected.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

_CHILD = r"""
import json, sys
# the peak resident size survives fork and exec (it would be the parent's): reset it first
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
sys.path[:0] = [%r, %r]
from functions.function.handler import lambda_handler
event = {"block": {"id": "f", "name": "F", "type": "function"},
         "params": {"code": sys.argv[1], "memoryMb": 128, "timeoutMs": 10000},
         "context": {"workflow": "w", "execution": "arn:aws:states:us-east-1:1:execution:w:e"}}
try:
    out = {"result": lambda_handler(event, None)["result"]}
except Exception as exc:
    out = {"error": type(exc).__name__, "message": str(exc)}
with open("/proc/self/status") as f:
    out["peak_mb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) // 1024
print(json.dumps(out))
""" % (str(ROOT / "shared"), str(ROOT))


def _run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CHILD, code], capture_output=True, text=True,
                          timeout=120, env={"POWERTOOLS_LOG_LEVEL": "ERROR",
                                            "POWERTOOLS_METRICS_DISABLED": "true",
                                            "PATH": "/usr/bin:/bin"})
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_one_gigabyte_typed_array_is_refused_before_it_is_taken() -> None:
    out = _run("const a = new Uint8Array(1024 * 1024 * 1024); a.fill(1); return a.length")
    assert out["error"] == "BlockResourceError"
    assert out["message"] == "Function exceeded its memory limit of 128 MB (array buffers)"
    assert int(str(out["peak_mb"])) < 300  # it reached 1,095 MB before


def test_buffers_within_the_budget_work_as_before() -> None:
    out = _run("let t = 0; for (let i = 0; i < 400; i++) { const b = new Uint8Array(1 << 20); "
               "b.fill(1); t += b[5]; } class U extends Uint8Array {}; "
               "return [t, Uint8Array.from([1, 2, 3]).length, new U(4) instanceof Uint8Array, "
               "new ArrayBuffer(8).slice(2).byteLength, typeof WebAssembly]")
    assert out["result"] == [400, 3, True, 6, "undefined"]
