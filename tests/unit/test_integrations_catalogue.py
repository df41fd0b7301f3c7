"""The integration declarations and their catalogue: every declaration loads and names only
params it declares, docs/integrations.md holds the current table, and a declaration with a
mistake is reported with its module and field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stepweave.integrations import catalogue, registry
from stepweave.integrations.registry import BadDeclaration, integration_tool, operation_index
from tests.conftest import ROOT


def test_every_declaration_loads_as_a_tool() -> None:
    names = list(operation_index())
    assert len(names) >= 30
    for name in names:
        tool = integration_tool(name)
        assert tool is not None and tool.description and tool.output_schema["properties"]


def test_the_committed_catalogue_is_current() -> None:
    doc = (ROOT / "docs" / "integrations.md").read_text(encoding="utf-8")
    assert catalogue.updated(doc) == doc, "run: python -m stepweave.integrations.catalogue"
    assert "| Notion | `notion_create_page` |" in doc
    assert "`GOOGLE_REFRESH_TOKEN`" in doc and "`notion_v2`: `notion_create_page`" in doc


def test_the_check_flag_fails_on_a_stale_doc(tmp_path: Path) -> None:
    doc = tmp_path / "integrations.md"
    doc.write_text(f"# x\n{catalogue.START}\n| old |\n{catalogue.END}\n", encoding="utf-8")
    assert catalogue.main(["--doc", str(doc), "--check"]) == 1
    assert catalogue.main(["--doc", str(doc)]) == 0
    assert catalogue.main(["--doc", str(doc), "--check"]) == 0


@pytest.fixture()
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "scratch_integrations"
    (package / "acme").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "acme" / "__init__.py").write_text(
        'PROVIDER = {"title": "Acme", "base_url": "https://acme.example",\n'
        '            "auth": {"type": "bearer", "secret": "ACME_KEY"}}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ROOT", package)
    monkeypatch.setattr(registry, "_PACKAGE", "scratch_integrations")
    for cached in (registry.operation_index, registry.load_operation, registry._provider):
        cached.cache_clear()
    yield package
    for cached in (registry.operation_index, registry.load_operation, registry._provider):
        cached.cache_clear()
    for module in [m for m in sys.modules if m.startswith("scratch_integrations")]:
        del sys.modules[module]


def test_a_request_naming_an_undeclared_param_is_reported(scratch: Path) -> None:
    (scratch / "acme" / "get.py").write_text(
        'OPERATION = {"description": "Get.", "params": {"id": {"required": True}},\n'
        '             "request": {"path": "/things/{thingId}"}}\n')
    with pytest.raises(BadDeclaration, match=r"scratch_integrations\.acme\.get\.OPERATION: the "
                                              r"request names unknown params: thingId"):
        registry.load_operation("acme_get")


def test_a_malformed_declaration_names_its_field(scratch: Path) -> None:
    (scratch / "acme" / "put.py").write_text(
        'OPERATION = {"description": "Put.", "request": {"method": "FETCH", "path": "/x"}}\n')
    with pytest.raises(BadDeclaration, match=r"acme\.put\.OPERATION: request\.method: "):
        registry.load_operation("acme_put")
