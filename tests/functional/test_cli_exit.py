"""The CLI exits once it has printed its result, also after using V8.

A V8 context left for the garbage collector at interpreter shutdown made about one
``stepweave validate`` in twelve hang forever after printing ``ok`` (its close joined a
daemon thread that shutdown had frozen). GIVEN a workflow with a JavaScript condition and a
function block WHEN the CLI validates, compiles and runs it again and again as a real
subprocess THEN every process ends on its own, with the right exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOW = """\
version: 1
name: regex-exit
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: id, type: string}]}}
  - id: check
    type: condition
    params:
      conditions:
        - {id: yes, title: if, value: "/^ord-\\\\d+$/.test(<start.id>)"}
        - {id: no, title: else}
  - {id: size, type: function, params: {code: "return {n: <start.id>.length}"}}
  - {id: other, type: variables, params: {variables: [{variableName: y, value: "2"}]}}
edges:
  - start -> check
  - check -[condition-yes]-> size
  - check -[condition-no]-> other
"""

#: Whether the bug bit depended on timing and on the order in which shutdown cleared
#: module globals (which follows the hash seed): about one run in twelve hung, more often
#: with these seeds. The deterministic check is the next test.
SEEDS = {"validate": [0, 13, 25, 35, 40] * 2, "compile": [0, 13, 25], "run": [0, 13]}

#: Runs the CLI in-process, then, from the last atexit handler (after every other one,
#: before shutdown starts freeing modules), counts the V8 contexts still alive.
_PROBE = """
import atexit, gc, sys
def _count():
    from py_mini_racer import MiniRacer
    gc.collect()
    alive = sum(isinstance(o, MiniRacer) for o in gc.get_objects())
    sys.stderr.write(f"v8-alive={alive}\\n")
atexit.register(_count)
from stepweave.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exit") / "regex.yaml"
    path.write_text(WORKFLOW)
    return path


def _cli(seed: int, *args: str, probe: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "PYTHONHASHSEED": str(seed)}
    entry = ["-c", _PROBE] if probe else ["-m", "stepweave.cli"]
    try:
        return subprocess.run([sys.executable, *entry, *args], env=env,
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the regression itself
        pytest.fail(f"stepweave {' '.join(args)} did not exit: stdout={exc.stdout!r}")


@pytest.mark.parametrize("command", list(SEEDS))
def test_cli_exits_after_using_v8(workflow: Path, command: str) -> None:
    extra = ["--input", '{"id": "ord-42"}', "--json"] if command == "run" else []
    for seed in SEEDS[command]:
        proc = _cli(seed, command, str(workflow), *extra)
        assert proc.returncode == 0, proc.stderr
        if command == "validate":
            assert "ok (4 blocks" in proc.stdout
        elif command == "compile":
            assert '"States"' in proc.stdout
        else:
            assert '"n": 6' in proc.stdout


@pytest.mark.parametrize("command", list(SEEDS))
def test_no_v8_context_is_left_for_shutdown(workflow: Path, command: str) -> None:
    extra = ["--input", '{"id": "ord-42"}', "--json"] if command == "run" else []
    proc = _cli(0, command, str(workflow), *extra, probe=True)
    assert proc.returncode == 0, proc.stderr
    assert "v8-alive=0" in proc.stderr, proc.stderr
