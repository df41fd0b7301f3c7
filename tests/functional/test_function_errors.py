"""A function block's error shows the failing line as its author wrote it, with each
reference replaced by its value (as Sim shows it), never the compiler's ``__ref_N``
bindings; a secret shows as ``{{NAME}}``, never its value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.function.handler import lambda_handler
from stepweave.cli import main
from stepweave.errors import BlockError


def _event(code: str, **params: Any) -> dict[str, Any]:
    return {
        "block": {"id": "check", "name": "Check", "type": "function"},
        "params": {"code": code, **params},
        "context": {"workflow": "wf", "loop": None, "parallel": None,
                    "execution": "arn:aws:states:eu-west-1:123456789012:execution:sm:run-1"},
    }


def test_a_run_shows_the_line_with_the_values_of_its_references(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a function that throws on a line with references
    path = tmp_path / "neg.yaml"
    path.write_text("""
version: 1
name: neg
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}, {name: who, type: string}]}}
  - id: check
    name: Check
    type: function
    params:
      code: |
        const limit = 0;
        if (<start.n> === 1) throw new Error("no " + "<start.who>" + `/${<start.who>}`);
        return 1;
edges: [start -> check]
""")
    # WHEN it runs
    code = main(["run", str(path), "--input", '{"n": 1, "who": "Ada"}', "--json", "-q"])
    # THEN the error names the line as written, with the values in place of the references
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["cause"] == ('Check: Line 2: `if (1 === 1) throw new Error("no " + ""Ada"" + '
                            '`/${"Ada"}`);` - no "Ada"/Ada')


def test_the_handler_renders_bound_values_as_json() -> None:
    code = ("const o = __ref_1;\n"
            "if (__ref_0 < 0) throw new Error('negative: ' + JSON.stringify(__ref_1.items));")
    event = _event(code, bindings={"__ref_0": -2, "__ref_1": {"items": [1, "two"], "note": "é"}})
    with pytest.raises(BlockError) as raised:
        lambda_handler(event, None)
    assert str(raised.value) == ("Line 2: `if (-2 < 0) throw new Error('negative: ' + "
                                 "JSON.stringify({\"items\":[1,\"two\"],\"note\":\"é\"}.items));` - "
                                 "negative: [1,\"two\"]")


def test_a_secret_shows_as_its_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOWN_TOKEN", "s3cr3t-value")
    event = _event("if (__env_SHOWN_TOKEN.length > __ref_0) throw new Error('too long');",
                   bindings={"__ref_0": 3}, envNames=["SHOWN_TOKEN"])
    event["secrets"] = {"names": ["SHOWN_TOKEN"]}
    with pytest.raises(BlockError) as raised:
        lambda_handler(event, None)
    assert str(raised.value).startswith(
        "Line 1: `if ({{SHOWN_TOKEN}}.length > 3) throw new Error('too long');` - too long")
    assert "s3cr3t" not in str(raised.value)


def test_long_values_are_cut() -> None:
    event = _event("throw new Error(String(__ref_0.length))", bindings={"__ref_0": "x" * 500})
    with pytest.raises(BlockError) as raised:
        lambda_handler(event, None)
    line = str(raised.value)
    assert line.startswith('Line 1: `throw new Error(String("xxx') and '..." ' not in line
    assert '...' in line and line.endswith("` - 500") and len(line) < 300
