"""Docs cover what the code offers: every block type, every CLI command."""

from __future__ import annotations

from pathlib import Path

from stepweave.blocks.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]


def test_every_block_type_is_documented() -> None:
    text = (ROOT / "docs" / "blocks.md").read_text()
    missing = [name for name in CATALOG if f"| `{name}` |" not in text]
    assert not missing


def test_readme_has_the_two_quick_start_commands_and_every_cli_command() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make example" in text and "make test" in text
    for command in ("validate", "compile", "run", "graph", "schema", "executions", "execution"):
        assert f"stepweave {command}" in text


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
