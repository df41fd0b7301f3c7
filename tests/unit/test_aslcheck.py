"""The compiler refuses definitions Step Functions would refuse at creation.

moto runs definitions AWS rejects; ``stepweave.compiler.aslcheck`` applies AWS's static
rules to every definition the compiler emits. GIVEN hand-made definitions breaking one rule
each THEN the rule is reported with the state; GIVEN every workflow, example and Sim fixture
THEN their compiled definitions break none (the response-ends-run fixtures used to leave
an unreachable ``Done``; conditions used ``undefined``, a top-level field for JSONata).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.compiler.aslcheck import check_definition, top_level_fields
from stepweave.compiler.jsonata_syntax import jsonata_fields, parse_all
from stepweave.jsonata_library import library_path
from stepweave.workflow.loader import load_workflow
from tests.conftest import ROOT, sim_cases_dir


def _problems(definition: dict[str, Any], fields: bool = False) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    check_definition(definition, lambda state, message: found.append((state, message)),
                     jsonata_fields() if fields else None)
    return found


def _machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": next(iter(states)), "States": states}


def test_an_unreachable_state_is_refused() -> None:
    found = _problems(_machine(Respond={"Type": "Succeed"},
                               Done={"Type": "Pass", "End": True}))
    assert found == [("Done", "state 'Done' is not reachable from 'Respond'; Step Functions "
                              "refuses a state nothing transitions to")]


def test_a_missing_target_and_misplaced_fields_are_refused() -> None:
    found = _problems(_machine(
        A={"Type": "Task", "Resource": "arn", "Parameters": {}, "Next": "Nowhere"},
        B={"Type": "Pass", "Next": "A", "End": True},
        C={"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "A", "Variable": "$"}]}))
    messages = [m for _, m in found]
    assert any("goes to 'Nowhere'" in m and "MISSING_TRANSITION_TARGET" in m for m in messages)
    assert any("cannot have Parameters" in m for m in messages)
    assert any("needs exactly one of Next and End" in m for m in messages)
    assert any("a Choice rule of 'C' cannot have Variable" in m for m in messages)


def test_names_are_short_unique_and_printable() -> None:
    long = "x" * 81
    found = _problems(_machine(**{long: {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Twin", "States": {"Twin": {"Type": "Pass", "End": True}}},
        {"StartAt": "Twin", "States": {"Twin": {"Type": "Pass", "End": True}}}]}}))
    messages = [m for _, m in found]
    assert any("is 81 characters" in m for m in messages)
    assert any("'Twin' is used 2 times" in m for m in messages)


def test_the_jsonata_library_aws_uses_is_installed() -> None:
    assert library_path().is_file()  # else JSONataUnavailable says to run `npm ci`


@pytest.mark.parametrize("expression, fields", [
    ("undefined", ["undefined"]),
    ('$v ? undefined : $error("x")', ["undefined"]),
    ("a.b", ["a"]),
    ('{"k": x}', ["x"]),
    ("$map($b, function($v){ x })", ["x"]),
    ("$b.x", []), ("$b[x > 1].y", []), ("$b.(x + y)", []), ('$b.{"k": x}', []),
    ("$states.input.a", []), ('$v ? () : $error("x")', []),
    ('$count($b[type = "x"])', []), ("$b^(x)", []),
])
def test_top_level_field_references_are_found(expression: str, fields: list[str]) -> None:
    [parsed] = parse_all([expression])
    assert top_level_fields(parsed["ast"]) == fields


def test_an_expression_that_does_not_parse_is_refused() -> None:
    found = _problems(_machine(P={"Type": "Pass", "Output": "{% ($a := ; 1) %}", "End": True}),
                      fields=True)
    assert found and "does not parse" in found[0][1] and found[0][0] == "P"


def _every_workflow() -> list[Path]:
    paths = [Path(p) for p in sorted(glob.glob(str(ROOT / "workflows" / "*.yaml")))]
    paths += sorted(Path(p) for p in glob.glob(str(ROOT / "examples" / "**" / "*.yaml"),
                                              recursive=True))
    return paths + sorted(sim_cases_dir().glob("*.export.json"))


def test_every_compiled_definition_is_valid_for_step_functions() -> None:
    checked = 0
    for path in _every_workflow():
        try:
            compiled = compile_workflow(load_workflow(path), str(path))
        except Exception:  # noqa: BLE001 - fixtures of invalid workflows are checked elsewhere
            continue
        for definition in [compiled.definition, *(c.definition for c in compiled.children.values())]:
            assert _problems(definition, fields=True) == [], path.name
            checked += 1
    assert checked >= 30


def test_a_response_that_ends_every_path_leaves_no_final_state() -> None:
    path = sim_cases_dir() / "S27-response-structured.export.json"
    compiled = compile_workflow(load_workflow(path), str(path))
    assert "Done" not in compiled.definition["States"]
