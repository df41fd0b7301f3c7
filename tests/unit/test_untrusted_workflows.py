"""Untrusted workflow files end in exit 0 or a report naming the file and field (exit 2),
quickly: alias bombs, deep nesting, mistyped Sim exports, oversized files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.compiler.keep import param_strings
from stepweave.workflow.limits import MAX_FILE_BYTES
from stepweave.workflow.loader import load_workflow
from tests.conftest import sim_cases_dir

S01 = sim_cases_dir() / "S01-linear-chain.export.json"
S03 = sim_cases_dir() / "S03a-condition-if-elif-else-n20.export.json"


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert "internal error" not in out.err
    return code, out.out + out.err


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _export(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _yaml_with_params(params: str) -> str:
    return ("version: 1\nname: deep\nblocks:\n  - {id: start, type: start}\n"
            f"  - {{id: call, type: api, params: {{url: 'https://x.test', body: {params}}}}}\n"
            "edges: [start -> call]\n")


# --- YAML -------------------------------------------------------------------------------

BOMB = "version: 1\nname: bomb\n" + "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)) + \
    "blocks:\n  - {id: start, type: start, params: {inputFormat: [{name: x, value: *a8}]}}\n"


def test_alias_bomb_is_refused_quickly_naming_the_alias(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    start = time.perf_counter()
    code, out = _validate(_write(tmp_path, "bomb.yaml", BOMB), capsys)
    assert code == 2
    assert time.perf_counter() - start < 2
    assert "bomb.yaml: line 7, column 10: YAML alias '*a3': aliases repeat more than 10,000" in out


def test_alias_inside_its_own_value_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "version: 1\nname: loop\nblocks: &b\n  - {id: start, type: start, params: {x: *b}}\n"
    code, out = _validate(_write(tmp_path, "self.yaml", text), capsys)
    assert (code, "line 4, column 42: YAML alias '*b' is inside the value it names" in out) == (2, True)


def test_merge_keys_still_share_params(tmp_path: Path) -> None:
    text = ("version: 1\nname: shared\nblocks:\n  - {id: start, type: start}\n"
            "  - id: a\n    type: api\n    params: &call {url: 'https://x.test', method: POST}\n"
            "  - id: b\n    type: api\n    params:\n      <<: *call\n      method: PUT\n"
            "edges: [start -> a, a -> b]\n")
    workflow = load_workflow(_write(tmp_path, "shared.yaml", text))
    assert workflow.block("b").params == {"url": "https://x.test", "method": "PUT"}


def test_deeply_nested_yaml_is_refused_with_its_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _validate(_write(tmp_path, "deep.yaml", _yaml_with_params("[" * 50_000 + "]" * 50_000)),
                          capsys)
    assert code == 2
    assert "deep.yaml: line 5, column" in out and "nested more than 80 levels deep" in out


def test_params_nested_past_64_levels_name_block_and_field(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _validate(_write(tmp_path, "deep.yaml", _yaml_with_params("[" * 70 + "]" * 70)), capsys)
    assert code == 2
    assert "deep.yaml: block 'call', field 'params.body': nested more than 64 levels deep" in out


@pytest.mark.parametrize(("value", "message"), [
    ("!!binary aGVsbG8=", "YAML tag '!!binary' is not allowed"),
    ("!!python/name:os.system ''", "YAML tag '!!python/name:os.system' is not allowed"),
    ("{1: a}", "mapping key '1' is not a string (quote it)"),
    (".nan", "'.nan' is not a JSON number"),
    ("9" * 5000, "a number longer than 400 digits"),
])
def test_yaml_outside_the_json_data_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     value: str, message: str) -> None:
    code, out = _validate(_write(tmp_path, "odd.yaml", _yaml_with_params(value)), capsys)
    assert code == 2
    assert "odd.yaml: line 5, column" in out and message in out


def test_yaml_dates_stay_strings(tmp_path: Path) -> None:
    workflow = load_workflow(_write(tmp_path, "date.yaml", _yaml_with_params("2024-01-02")))
    assert workflow.block("call").params["body"] == "2024-01-02"
    compile_workflow(workflow, "date.yaml").definition_json()


# --- JSON and files ---------------------------------------------------------------------

def test_deeply_nested_json_is_refused_with_its_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    text = '{"version": 1, "name": "deep",\n "blocks": ' + "[" * 200_000 + "]" * 200_000 + "}"
    code, out = _validate(_write(tmp_path, "deep.json", text), capsys)
    assert code == 2
    assert "deep.json: JSON at line 2, column 91: nested more than 80 levels deep" in out


@pytest.mark.parametrize(("number", "message"), [("9" * 5000, "a number longer than 400 digits"),
                                                 ("NaN", "NaN is not a JSON number")])
def test_json_numbers_python_cannot_hold_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     number: str, message: str) -> None:
    code, out = _validate(_write(tmp_path, "n.json", '{"version": 1, "name": ' + number + "}"), capsys)
    assert (code, message in out) == (2, True)


def test_oversized_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "big.yaml", "# " + "x" * MAX_FILE_BYTES + "\n")
    code, out = _validate(path, capsys)
    assert (code, "big.yaml: file is larger than 4 MiB, the limit for workflow files" in out) == (2, True)


def test_file_that_is_not_utf8_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    code, out = _validate(path, capsys)
    assert (code, "latin.yaml: not UTF-8 text (byte 9)" in out) == (2, True)


# --- Sim exports ------------------------------------------------------------------------

def test_sim_edge_whose_source_is_a_list_names_the_edge(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S01)
    edge = export["state"]["edges"][1]
    edge["source"] = [edge["source"]]
    code, out = _validate(_write(tmp_path, "s.export.json", json.dumps(export)), capsys)
    assert code == 2
    assert f"field 'state.edges.1.source': must be a string (edge '{edge['id']}')" in out


def test_sim_sub_block_that_is_a_string_names_block_and_field(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S01)
    block_id, block = next((k, b) for k, b in export["state"]["blocks"].items() if b["type"] == "function")
    block["subBlocks"]["code"] = "return 1"
    code, out = _validate(_write(tmp_path, "s.export.json", json.dumps(export)), capsys)
    assert code == 2
    assert f"block '{block_id}', field 'subBlocks.code': must be an object" in out


def test_sim_condition_that_is_not_json_names_block_and_field(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S03)
    export["state"]["blocks"]["check"]["subBlocks"]["conditions"]["value"] = '[{"id": "x", '
    code, out = _validate(_write(tmp_path, "s.export.json", json.dumps(export)), capsys)
    assert code == 2
    assert "block 'check', field 'subBlocks.conditions.value': not valid JSON" in out


def test_sim_condition_rows_of_the_wrong_type_name_the_row(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S03)
    export["state"]["blocks"]["check"]["subBlocks"]["conditions"]["value"] = [{"id": "a"}, 7]
    code, out = _validate(_write(tmp_path, "s.export.json", json.dumps(export)), capsys)
    assert code == 2
    assert "block 'check', field 'subBlocks.conditions.value.1': must be an object" in out


def test_sim_schedule_minutes_that_are_not_a_number_are_named(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S01)
    export["state"]["blocks"]["sched"] = {
        "id": "sched", "type": "schedule", "name": "Schedule", "position": {"x": 0, "y": 0},
        "subBlocks": {"scheduleType": {"value": "hourly"}, "hourlyMinute": {"value": "soon"}}}
    code, out = _validate(_write(tmp_path, "s.export.json", json.dumps(export)), capsys)
    assert code == 2
    assert "block 'sched', field 'subBlocks.hourlyMinute.value': must be a whole number" in out


def test_sim_agent_tool_with_params_not_an_object_is_unsupported(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    export = _export(S01)
    export["state"]["blocks"]["bot"] = {
        "id": "bot", "type": "agent", "name": "Bot", "position": {"x": 0, "y": 0},
        "subBlocks": {"tools": {"value": '[{"type": "slack", "params": [1, 2]}]'}}}
    code = main(["import", str(_write(tmp_path, "s.export.json", json.dumps(export)))])
    out = capsys.readouterr()
    assert code == 0
    assert "unsupported: the params of tool 'slack' are not an object" in out.out
    assert "not yet supported: bot (agent)" in out.err


# --- the compiler's walks ---------------------------------------------------------------

def test_param_strings_walks_any_depth_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(50_000):
        deep = [deep]
    assert param_strings(deep) == ["leaf"]
    assert param_strings({"a": ["x", {"b": "y"}], "c": "z"}) == ["x", "y", "z"]


def test_a_long_chain_of_blocks_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    count = 1_500  # past the recursion limit of a recursive cycle check
    doc = {"version": 1, "name": "chain",
           "blocks": [{"id": "start", "type": "start"}] + [{"id": f"b{i}", "type": "variables"}
                                                          for i in range(count)],
           "edges": ["start -> b0"] + [f"b{i} -> b{i + 1}" for i in range(count - 1)]}
    code, out = _validate(_write(tmp_path, "chain.json", json.dumps(doc)), capsys)
    assert (code, out.strip()) == (0, f"{tmp_path / 'chain.json'}: ok ({count + 1} blocks, express workflow)")


def test_too_many_blocks_and_containers_nested_too_deep_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = {"version": 1, "name": "many", "blocks": [{"id": f"b{i}", "type": "variables"}
                                                     for i in range(2_001)]}
    code, out = _validate(_write(tmp_path, "many.json", json.dumps(many)), capsys)
    assert (code, "many.json, field 'blocks': 2,001 blocks; a workflow has at most 2,000" in out) == (2, True)
    depth = 40
    nested = {"version": 1, "name": "nested", "blocks": [{"id": "start", "type": "start"}] + [
        {"id": f"l{i}", "type": "loop", **({"parent": f"l{i - 1}"} if i else {})} for i in range(depth)]}
    code, out = _validate(_write(tmp_path, "nested.json", json.dumps(nested)), capsys)
    assert code == 2
    assert "block 'l33', field 'parent': inside more than 32 nested loops/parallels" in out
