"""Golden ASL for the example workflows, and byte-identical recompilation.

Regenerate after an intended compiler change with:

    STEPWEAVE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_golden_asl.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stepweave.compiler import compile_workflow
from stepweave.workflow.loader import load_workflow, workflow_files

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = workflow_files(ROOT / "workflows")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_golden_asl(path: Path) -> None:
    """The definition, and a split workflow's Express stretches (``<name>.express-<k>.asl.json``)."""
    compiled = compile_workflow(load_workflow(path), str(path))
    texts = {f"{path.stem}.asl.json": compiled.definition_json(),
             **{f"{path.stem}.express-{ref.lstrip('~')}.asl.json": part.definition_json()
                for ref, part in compiled.stretches.items()}}
    if os.environ.get("STEPWEAVE_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for name, text in texts.items():
            (GOLDEN / name).write_text(text)
    for name, text in texts.items():
        golden = GOLDEN / name
        assert golden.exists(), f"no golden file; run with STEPWEAVE_UPDATE_GOLDEN=1 to create {golden}"
        assert text == golden.read_text(), f"compiled ASL changed ({name}); review and regenerate the golden file"
    stale = {g.name for g in GOLDEN.glob(f"{path.stem}.express-*.asl.json")} - set(texts)
    assert not stale, f"golden files of stretches it no longer has: {sorted(stale)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_recompiling_is_byte_identical(path: Path) -> None:
    first = compile_workflow(load_workflow(path), str(path)).definition_json()
    second = compile_workflow(load_workflow(path), str(path)).definition_json()
    assert first == second


def test_state_names_are_unique_readable_and_short() -> None:
    for path in EXAMPLES:
        definition = compile_workflow(load_workflow(path), str(path)).definition
        names: list[str] = []

        def collect(states: dict) -> None:  # type: ignore[type-arg]
            for name, state in states.items():
                names.append(name)
                for branch in state.get("Branches", []):
                    collect(branch["States"])
                if "ItemProcessor" in state:
                    collect(state["ItemProcessor"]["States"])

        collect(definition["States"])
        assert len(names) == len(set(names)), path
        assert all(0 < len(n) <= 80 for n in names)
