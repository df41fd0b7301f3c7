"""Function code is parsed by V8 at validation, as the handler will read it, and a
syntax error is reported in the lines the author wrote (references and ``{{NAME}}`` as
written, never the compiler's bindings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main


def _function_file(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "fn.yaml"
    indented = "\n".join("        " + line for line in code.split("\n"))
    path.write_text(f"""
version: 1
name: fn
blocks:
  - {{id: start, type: start, params: {{inputFormat: [{{name: n, type: number}}]}}}}
  - id: score
    name: Score
    type: function
    params:
      code: |
{indented}
edges: [start -> score]
""")
    return path


@pytest.mark.parametrize(("code", "expected"), [
    ("return {score: 1", "Line 1: `return {score: 1` - SyntaxError: Unexpected end of input"),
    ("const n = <start.n>;\n\nreturn n +;\nconst later = 1;",
     "Line 3: `return n +;` - SyntaxError: Unexpected token ';'"),
    ("const n = 1;\nreturn <start.n> <start.n>;",
     "Line 2: `return <start.n> <start.n>;` - SyntaxError: Unexpected identifier '<start.n>'"),
    ("const key = {{API_KEY}} {{API_KEY}};",
     "Line 1: `const key = {{API_KEY}} {{API_KEY}};` - SyntaxError: Unexpected identifier "
     "'{{API_KEY}}'"),
    ("let x = 1;\nlet x = 2;", "Line 2: `let x = 2;` - SyntaxError: Identifier 'x' has already "
                               "been declared"),
])
def test_a_syntax_error_names_block_field_and_the_line_as_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, expected: str) -> None:
    # GIVEN function code that does not parse
    path = _function_file(tmp_path, code)
    # WHEN the file is validated
    status = main(["validate", str(path)])
    # THEN the report names the block, its code field and the user's own line
    err = capsys.readouterr().err
    assert status == 2
    assert f"block 'score', field 'params.code': {expected}" in err
    assert "__ref_" not in err and "__env_" not in err


def test_code_that_parses_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = ("const label = \"n=<start.n>\";\nconst t = `${<start.n>}`;\n"
            "await Promise.resolve(1);\nreturn {label, t, key: {{API_KEY}}};")
    assert main(["validate", str(_function_file(tmp_path, code))]) == 0
    assert "fn.yaml: ok" in capsys.readouterr().out


def test_run_refuses_code_that_does_not_parse(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(_function_file(tmp_path, "return {score: 1")), "-q"]) == 2
    assert "Line 1: `return {score: 1` - SyntaxError" in capsys.readouterr().err
