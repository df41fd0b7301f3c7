"""``stepweave watch`` of a split run (``split: auto``): the blocks of its Express stretches
show as the run's own, in place of the stretch, as ``stepweave run`` shows them, not as a
nested run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_cli_watch import watch_while_held

CHILD = """
name: child
type: standard
blocks:
  - {id: start, type: start}
  - {id: inner, name: Inner, type: function, params: {code: "return 'inner'"}}
edges: [start -> inner]
"""


def _parent(url: str) -> str:
    return f"""
name: parent
type: standard
split: auto
blocks:
  - {{id: start, type: start}}
  - {{id: prep, name: Prep, type: function, params: {{code: "return 1"}}}}
  - {{id: call, name: Call, type: api, params: {{url: "{url}/slow", method: POST, retries: 0, timeout: 20000}}}}
  - {{id: more, name: More, type: function, params: {{code: "return 2"}}}}
  - {{id: child, name: Child, type: workflow, params: {{workflow: child, input: '{{}}'}}}}
edges: [start -> prep, prep -> call, call -> more, more -> child]
"""


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)
    monkeypatch.delenv("STEPWEAVE_TABLE", raising=False)
    (tmp_path / "workflows").mkdir()
    return tmp_path


def test_watch_shows_a_split_runs_stretch_blocks_as_its_own(workdir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _arn, codes, seen, workflows = watch_while_held(
        workdir, capsys, lambda url: {"parent": _parent(url), "child": CHILD}, "▶ Call (api)")
    assert workflows["parent"].stretches, "the parent must split for this test"
    assert codes == [0]
    lines = [line for line in seen.splitlines() if not line.startswith("{")]
    assert "  ▶ Call (api)" in lines, lines
    for block in ("Prep (function)", "Call (api)", "More (function)", "Child (workflow)"):
        assert any(line.startswith(f"  ✔ {block}") for line in lines), (block, lines)
    assert "    ↳ child:   ▶ Inner (function)" in lines  # a sub-workflow's run stays nested
    assert not any("express" in line for line in lines), lines
    assert any(line.startswith("✔ SUCCEEDED in ") for line in lines)
