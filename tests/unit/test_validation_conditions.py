"""Conditions that change a value (``=``, ``+=``, ``++``, ``delete``) are refused at
validation, naming the block and the field: a reference is a variable, so
``<fetch.data.tier> = 'gold'`` would be valid JavaScript that is always true."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.compiler.sandbox import side_effect


def _condition_file(tmp_path: Path, *values: str) -> Path:
    rows = "\n".join(f"        - {{id: r{i}, title: {'if' if i == 0 else 'else if'}, value: {v!r}}}"
                     for i, v in enumerate(values))
    path = tmp_path / "tiers.yaml"
    path.write_text(f"""
version: 1
name: tiers
blocks:
  - {{id: start, type: start, params: {{inputFormat: [{{name: tier, type: string}}]}}}}
  - {{id: fetch, type: function, params: {{code: "return {{tier: <start.tier>}}"}}}}
  - id: is_vip
    name: Is VIP
    type: condition
    params:
      conditions:
{rows}
        - {{id: other, title: else}}
  - {{id: vip, type: function, params: {{code: "return 'vip'"}}}}
  - {{id: std, type: function, params: {{code: "return 'std'"}}}}
edges:
  - start -> fetch
  - fetch -> is_vip
  - is_vip -[condition-r0]-> vip
  - is_vip -[condition-other]-> std
""")
    return path


def test_an_assignment_in_a_condition_row_is_refused_with_block_field_and_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a condition written with '=' where '===' was meant
    path = _condition_file(tmp_path, "<fetch.result.tier> = 'gold'")
    # WHEN it is validated
    code = main(["validate", str(path)])
    # THEN it is invalid, and the report names the block, the row's field and the fix
    err = capsys.readouterr().err
    assert code == 2
    assert ("block 'is_vip', field 'params.conditions.0.value': condition \"if\": "
            "assignment '=' at column 21") in err
    assert "compare with '==='" in err


def test_the_field_names_the_row_even_when_another_row_needs_the_sandbox(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _condition_file(tmp_path, "[1, 2].some(n => n === 3)", "<fetch.result.tier> += 'x'")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "block 'is_vip', field 'params.conditions.1.value': condition \"else if\": " \
           "assignment '+=' at column 21" in err


def test_run_refuses_the_workflow_instead_of_taking_the_branch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _condition_file(tmp_path, "<fetch.result.tier> = 'gold'")
    assert main(["run", str(path), "--input", '{"tier": "none"}', "-q"]) == 2
    assert "params.conditions.0.value" in capsys.readouterr().err


@pytest.mark.parametrize(("loop_type", "field"), [("while", "whileCondition"),
                                                  ("doWhile", "doWhileCondition")])
def test_loop_conditions_that_assign_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 loop_type: str, field: str) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(f"""
version: 1
name: loop
blocks:
  - {{id: start, type: start}}
  - {{id: L, type: loop, params: {{loopType: {loop_type}, {field}: "<loop.index> = 3"}}}}
  - {{id: body, type: function, parent: L, params: {{code: "return 1"}}}}
edges: [start -> L]
""")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"block 'L', field 'params.{field}': loop condition: assignment '=' at column 14" in err
    assert "compare with '==='" in err


@pytest.mark.parametrize(("source", "fragment"), [
    ("<a.n>++ > 1", "increment '++' at column 6"),
    ("--<a.n> > 1", "decrement '--' at column 1"),
    ("(<a.n> *= 2) > 1", "assignment '*=' at column 8"),
    ("(<a.o>.x ??= 1)", "assignment '??=' at column 10"),
    ("delete context.flag", "'delete' at column 1"),
    ("<a.items>.some(x => x.vip = true)", "assignment '=' at column 27"),
    ("`${<a.n> = 1}` === '1'", "assignment '=' at column 10"),
    ("<a.n> > 1 &&\n(context.n = 2)", "assignment '=' at line 2, column 12"),
])
def test_side_effects_are_found_with_their_position(source: str, fragment: str) -> None:
    problem = side_effect(source)
    assert problem is not None and fragment in problem, problem


@pytest.mark.parametrize("source", [
    "<a.n> == 1 && <a.s> !== '=' && <a.n> >= 0 && <a.n> <= 9",
    "/a=b/.test(<a.s>) || /x/g.test('x=1')",
    "<a.n> / 2 === 1 /* n = 2 */ // n += 1",
    "<a.items>.some(x => x.vip)",
    "<a.items>.some(x => { let n = 0; for (let i = 0; i < 3; i++) { n += i; } return n > 1; })",
    "`a=${<a.n>}` === 'a=1'",
    "<a.map>.delete === undefined",
])
def test_comparisons_strings_regexes_and_local_counters_are_not_side_effects(source: str) -> None:
    assert side_effect(source) is None
