"""``stepweave schema`` describes every block type's params, so editors complete and check them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.blocks.catalog import CATALOG
from stepweave.cli import main
from stepweave.workflow.loader import parse_yaml, workflow_files
from stepweave.workflow.schema import workflow_schema

ROOT = Path(__file__).resolve().parents[2]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/$defs/"), ref
    return schema["$defs"][ref.removeprefix("#/$defs/")]


def _params_schema(schema: dict[str, Any], block_type: str) -> dict[str, Any]:
    """What an editor applies to a block's params: the ``then`` whose ``if`` matches."""
    matches = [rule["then"]["properties"]["params"] for rule in schema["$defs"]["Block"]["allOf"]
               if block_type in rule["if"]["properties"]["type"]["enum"]]
    assert len(matches) == 1, block_type
    return _resolve(schema, matches[0])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_block_type_and_alias_has_its_params() -> None:
    schema = workflow_schema()
    for btype in CATALOG.values():
        for name in (btype.name, *btype.aliases):
            params = _params_schema(schema, name)
            assert set(params["properties"]) == {
                f.alias or n for n, f in btype.params.model_fields.items()}, name
            assert params.get("additionalProperties") is False, name  # unknown params are errors
    assert "function" in schema["$defs"]["Block"]["properties"]["type"]["anyOf"][0]["enum"]


def test_every_reference_resolves_inside_the_file() -> None:
    schema = workflow_schema()
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"], ref


@pytest.mark.parametrize("path", workflow_files(ROOT / "workflows"), ids=lambda p: p.name)
def test_shipped_workflows_only_use_params_the_schema_names(path: Path) -> None:
    schema = workflow_schema()
    for block in parse_yaml(path.read_text())["blocks"]:
        allowed = set(_params_schema(schema, block["type"])["properties"])
        assert set(block.get("params") or {}) <= allowed, (block["id"], set(block["params"]) - allowed)


def test_required_and_enumerated_params_are_described() -> None:
    schema = workflow_schema()
    function = _params_schema(schema, "function")
    assert "code" in function["required"]
    loop = _params_schema(schema, "loop")
    assert loop["properties"]["loopType"]["enum"] == ["for", "forEach", "while", "doWhile"]
    wait = _params_schema(schema, "wait")
    assert "async" in wait["properties"]


def test_schema_command_writes_the_checked_in_file(tmp_path: Path) -> None:
    out = tmp_path / "workflow.schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    committed = ROOT / "shared/stepweave/schema/workflow.schema.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text())
