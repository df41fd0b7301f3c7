"""`stepweave import`: Sim exports rewritten in our format compile to the same machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.workflow.convert import convert_export
from stepweave.workflow.loader import load_workflow
from tests.conftest import sim_cases_dir

EXPORTS = sorted(sim_cases_dir().glob("*.export.json"))


def _compiled(path: Path) -> dict[str, object] | None:
    try:
        return compile_workflow(load_workflow(path), "same-name").definition
    except WorkflowError:
        return None


def _states(definition: dict[str, object] | None) -> list[str] | None:
    return None if definition is None else sorted(definition["States"])  # type: ignore[call-overload]


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name.split(".")[0])
def test_round_trip_gives_the_same_states(export: Path, tmp_path: Path) -> None:
    """Block ids become slugs (and the state machine's variables with them), state names
    come from block names: the same states. Running both is compared in
    tests/engine/test_sim_semantics_import.py."""
    text, fidelity = convert_export(export)
    converted = tmp_path / "converted.yaml"
    converted.write_text(text)
    direct = _compiled(export)
    if fidelity.unsupported:
        assert direct is None  # approval blocks are not yet a Stepweave block type
        with pytest.raises(WorkflowError, match="unknown block type 'human_in_the_loop'"):
            compile_workflow(load_workflow(converted), str(converted))
        return
    if direct is None:  # rejected at validation (S7): rejected the same way once converted
        assert _compiled(converted) is None
        return
    assert _states(_compiled(converted)) == _states(direct)


def test_fidelity_counts_unsupported_blocks(tmp_path: Path) -> None:
    hitl = next(p for p in EXPORTS if p.name.startswith("S22"))
    text, fidelity = convert_export(hitl)
    assert (fidelity.supported, fidelity.total) == (5, 5)  # human_in_the_loop -> approval
    assert "type: approval" in text
    other = tmp_path / "knowledge.export.json"
    other.write_text(hitl.read_text(encoding="utf-8").replace('"human_in_the_loop"', '"knowledge"'))
    _, fidelity = convert_export(other)
    assert (fidelity.supported, fidelity.total) == (4, 5)
    assert [t for _, t in fidelity.unsupported] == ["knowledge"]
    assert fidelity.line().startswith("4 of 5 blocks map onto Stepweave block types; not yet supported:")


def test_import_command_writes_yaml_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flow.yaml"
    assert main(["import", str(EXPORTS[0]), "-o", str(out)]) == 0
    assert "3 of 3 blocks map onto Stepweave block types" in capsys.readouterr().err
    assert main(["validate", str(out)]) == 0


def test_import_refuses_what_is_not_a_sim_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text('{"version": 1, "name": "x", "blocks": [{"id": "start", "type": "start"}]}')
    assert main(["import", str(ours)]) == 2
    assert "not a Sim export" in capsys.readouterr().err


def _constructed() -> dict[str, dict[str, object]]:
    from tests.engine.sim_export import block, edge, export, function, start
    from tests.engine.test_sim_router import _triage
    from tests.functional.test_integrations import SLACK_TOOL, _agent

    js_condition = export(
        [start(items="array"),
         block("check", "condition", "Check", conditions=json.dumps(
             [{"id": "check-if", "title": "if", "value": "<start.items>.some(x => x.vip)"},
              {"id": "check-else", "title": "else", "value": ""}])),
         function("a", "return 1", "A"), function("b", "return 2", "B"),
         block("notify", "gmail", "Notify", enabled=False, to="x@example.com")],
        [edge("start", "check"), edge("check", "a", None), edge("check", "b", "source"),
         edge("a", "notify")], "js-condition")
    sub = export([start(), block("sub", "workflow", "Sub", workflowId="child", input="{}")],
                 [edge("start", "sub")], "caller")
    return {"router": _triage([None, "source", None]), "agent": _agent([SLACK_TOOL]),
            "condition": js_condition, "workflow": sub}


@pytest.mark.parametrize("kind", ["router", "agent", "condition", "workflow"])
def test_round_trip_of_constructed_exports(kind: str, tmp_path: Path) -> None:
    from tests.engine.sim_export import write

    (tmp_path / "child.yaml").write_text(
        "version: 1\nname: child\nblocks: [{id: start, type: start}]\n", encoding="utf-8")
    export = write(tmp_path, _constructed()[kind], f"{kind}.json")
    text, fidelity = convert_export(export)
    converted = tmp_path / f"{kind}.yaml"
    converted.write_text(text, encoding="utf-8")
    expected_unsupported = (("notify", "gmail"),) if kind == "condition" else ()
    assert fidelity.unsupported == expected_unsupported
    direct = compile_workflow(load_workflow(export), "same-name", folder=tmp_path)
    again = compile_workflow(load_workflow(converted), "same-name", folder=tmp_path)
    assert again.definition_json() == direct.definition_json()


@pytest.mark.parametrize("template", ["pr-review", "email-triage"])
def test_the_written_file_keeps_the_triggers_of_sim_trigger_blocks(template: str, tmp_path: Path) -> None:
    """A Sim trigger-mode block (a GitHub webhook, a Gmail poll) is a trigger of the workflow
    loaded from the export: the YAML `stepweave import` writes declares the same triggers."""
    export = Path(__file__).resolve().parents[1] / "fixtures" / "sim-templates" / f"{template}.json"
    text, _ = convert_export(export)
    converted = tmp_path / f"{template}.yaml"
    converted.write_text(text)
    direct, written = load_workflow(export), load_workflow(converted)
    assert written.triggers and [t.model_dump() for t in written.triggers] == [
        t.model_dump() for t in direct.triggers]
