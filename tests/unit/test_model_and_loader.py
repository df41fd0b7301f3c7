"""Workflow files: YAML/JSON, the terse edge form, Sim exports, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepweave.errors import WorkflowError
from stepweave.workflow.loader import load_workflow
from stepweave.workflow.model import Edge, normalize_name

MINIMAL = """
version: 1
name: tiny
blocks:
  - {id: start, type: start}
  - {id: f, type: function, params: {code: "return 1"}}
edges:
  - start -> f
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_with_terse_edges(tmp_path: Path) -> None:
    wf = load_workflow(_write(tmp_path, "tiny.yaml", MINIMAL))
    assert [e.model_dump() for e in wf.edges] == [{"source": "start", "target": "f", "sourceHandle": "source"}]
    assert wf.block("f").name == "f"  # name defaults to the id


def test_edge_shorthand_with_handle() -> None:
    assert Edge.parse_shorthand("check -[condition-vip]-> big") == Edge(
        source="check", target="big", sourceHandle="condition-vip")
    with pytest.raises(ValueError, match="is not of the form"):
        Edge.parse_shorthand("a => b")


def test_json_form_is_equivalent(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(MINIMAL)
    wf_json = load_workflow(_write(tmp_path, "tiny.json", json.dumps(data)))
    wf_yaml = load_workflow(_write(tmp_path, "tiny.yaml", MINIMAL))
    assert wf_json == wf_yaml


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", "name: x\nblocks: [\n  - id: a\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    report = caught.value.report()
    assert str(path) in report and "malformed YAML at line" in report


def test_malformed_json_names_line(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match=r"malformed JSON at line 1, column 2"):
        load_workflow(_write(tmp_path, "bad.json", "{oops}"))


def test_schema_errors_name_block_and_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("{id: f, type: function, params: {code: \"return 1\"}}",
                           "{id: f, type: function, colour: red, enabled: maybe}")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(_write(tmp_path, "x.yaml", text))
    messages = {(p.block, p.field, p.message) for p in caught.value.problems}
    assert ("f", "colour", "unknown field") in messages
    assert any(b == "f" and f == "enabled" for b, f, _ in messages)


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match=r"end in \.yaml, \.yml or \.json"):
        load_workflow(_write(tmp_path, "wf.txt", MINIMAL))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="cannot read file"):
        load_workflow(tmp_path / "nope.yaml")


def test_sim_export_is_detected_and_mapped(tmp_path: Path) -> None:
    export = {"version": "1.0", "exportedAt": "2026-01-01T00:00:00Z", "state": {
        "blocks": {
            "s": {"id": "s", "type": "start_trigger", "name": "Start", "position": {"x": 0, "y": 0},
                  "subBlocks": {"inputFormat": {"id": "inputFormat", "type": "input-format",
                                                "value": [{"id": "f1", "name": "n", "type": "number",
                                                           "value": "", "collapsed": False}]}}},
            "c": {"id": "c", "type": "condition", "name": "Check", "position": {"x": 1, "y": 0},
                  "subBlocks": {"conditions": {"id": "conditions", "type": "condition-input",
                                               "value": "[{\"id\":\"c-if\",\"title\":\"if\",\"value\":\"<start.n> > 1\"}]"}}},
            "n": {"id": "n", "type": "note", "name": "Note", "position": {"x": 2, "y": 0}, "subBlocks": {}},
        },
        "edges": [{"id": "e", "source": "s", "target": "c", "sourceHandle": "source-right",
                   "targetHandle": "target"}],
        "loops": {}, "parallels": {}, "metadata": {"name": "My flow!"}, "variables": {}}}
    wf = load_workflow(_write(tmp_path, "flow.json", json.dumps(export)))
    assert wf.name == "My-flow"
    assert [b.type for b in wf.blocks] == ["start", "condition"]  # notes are dropped
    assert wf.block("c").params["conditions"][0]["id"] == "c-if"
    assert wf.edges[0].sourceHandle == "source"  # legacy side handles are normalised


def test_reference_names_normalise_like_sim() -> None:
    assert normalize_name("My Agent") == "myagent"
    assert normalize_name("Trigger.dev 1") == "triggerdev1"
