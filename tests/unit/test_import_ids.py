"""``stepweave import`` gives blocks readable ids and points editors at a schema that exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from stepweave.cli import main
from stepweave.workflow.convert import SCHEMA_FILE, convert_export, slug
from stepweave.workflow.loader import load_workflow
from tests.conftest import sim_cases_dir

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


@pytest.mark.parametrize(("name", "expected"), [
    ("Enrich customer", "enrich_customer"), ("  Check #2 (VIP) ", "check_2_vip"),
    ("Überprüfung", "uberprufung"), ("Trigger.dev 1", "trigger_dev_1"), ("🚀", "block"),
])
def test_slugs(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_sim_ids_become_unique_slugs_kept_as_sim_id(tmp_path: Path) -> None:
    export = tmp_path / "dupes.export.json"
    data = json.loads((sim_cases_dir() / "S09-diamond-skipped-branch.export.json").read_text())
    blocks = data["state"]["blocks"]
    for block in blocks.values():
        if block["name"] in ("B", "D"):
            block["name"] = "Step" if block["name"] == "B" else "step"
    export.write_text(json.dumps(data))
    text, _ = convert_export(export)
    doc = yaml.safe_load(text)
    ids = [b["id"] for b in doc["blocks"]]
    assert ids == ["start", "c", "step", "step_2", "m"]
    assert {b["simId"] for b in doc["blocks"]} == set(blocks)
    assert doc["edges"] == ["start -> c", "c -[condition-c-if]-> step", "c -[condition-c-else]-> step_2",
                            "step -> m", "step_2 -> m"]
    conditions = next(b for b in doc["blocks"] if b["id"] == "c")["params"]["conditions"]
    assert [row["id"] for row in conditions] == ["c-if", "c-else"]
    assert not UUID.search(text.split("simId")[0])  # nothing before the metadata reads like a UUID


def test_every_imported_fixture_has_readable_ids() -> None:
    for export in sorted(sim_cases_dir().glob("*.export.json")):
        text, _ = convert_export(export)
        doc = yaml.safe_load(text)
        for block in doc["blocks"]:
            assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", block["id"]), (export.name, block["id"])
        for edge in doc["edges"]:
            assert not UUID.search(json.dumps(edge)), (export.name, edge)


def test_imported_file_points_at_a_schema_that_exists(tmp_path: Path) -> None:
    out = tmp_path / "flows" / "imported.yaml"
    out.parent.mkdir()
    export = sim_cases_dir() / "S01-linear-chain.export.json"
    assert main(["import", str(export), "-o", str(out)]) == 0
    header = re.search(r"# yaml-language-server: \$schema=(\S+)", out.read_text())
    assert header is not None
    target = (out.parent / header.group(1)).resolve()
    assert target == SCHEMA_FILE and target.is_file()
    assert not header.group(1).startswith(("http:", "https:", "/"))
    loaded = load_workflow(out)  # simId is metadata the model accepts
    assert loaded.blocks[1].simId == "df1e0e6d-9f53-416c-80ef-0ccf505ec9f4"
    assert loaded.blocks[1].id == "f1"
