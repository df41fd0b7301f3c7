"""Import fidelity of Sim exports: blocks that map onto Stepweave / total, and exports that compile.

    python bench/import_fidelity.py [DIR ...]

Default folders: the Sim scenario exports (tests/fixtures/sim-cases) and any Sim export
under examples/ and workflows/. Per export: blocks mapped onto Stepweave block types
(``stepweave import``'s report) and whether it compiles as is (no unsupported block a run
would reach, every check passing); per Sim type: how many blocks of it were seen; and how
many integration blocks (Sim types, and operations, with a registry tool: ``stepweave.tools``,
the integrations) import as ``tool`` blocks; and the import's notes: values Sim fills in
that the export leaves empty (an agent's model: Sim's default) and values to fill in before
running (``{{SETTING}}``s).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

from stepweave.compiler import compile_workflow  # noqa: E402
from stepweave.errors import WorkflowError  # noqa: E402
from stepweave.tools import tool_for_sim_block  # noqa: E402
from stepweave.workflow.convert import convert_export  # noqa: E402
from stepweave.workflow.loader import is_sim_export, load_workflow  # noqa: E402

DEFAULT = (ROOT / "tests" / "fixtures" / "sim-cases", ROOT / "examples", ROOT / "workflows")


def _exports(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            if is_sim_export(json.loads(path.read_text(encoding="utf-8"))):
                found.append(path)
        except (OSError, ValueError):
            continue
    return found


def _sim_types(path: Path) -> Counter[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data = data.get("data", data)
    blocks = data.get("state", data).get("blocks") or {}
    return Counter(str(b.get("type")) for b in blocks.values() if b.get("type") != "note")


def _integrations(path: Path) -> int:
    """Blocks whose Sim type (and operation) has a registry tool: Slack, the integrations'
    operations, the file parser (a trigger-mode block has no operation and is not counted)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data = data.get("data", data)
    blocks = data.get("state", data).get("blocks") or {}
    return sum(1 for b in blocks.values() if b.get("type") not in ("api", "note")
               and tool_for_sim_block(str(b.get("type")), str(
                   ((b.get("subBlocks") or {}).get("operation") or {}).get("value") or "")))


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:]] or [f for f in DEFAULT if f.is_dir()]
    supported = total = files = clean = compiles = tool_blocks = integrations = 0
    defaults = fill_ins = noted = 0
    types: Counter[str] = Counter()
    for export in (p for folder in folders for p in _exports(folder)):
        _, fidelity = convert_export(export)
        files += 1
        clean += not fidelity.unsupported
        noted += bool(fidelity.notes)
        fill_ins += sum("fill in before running" in n for n in fidelity.notes)
        defaults += sum("Sim's default model" in n for n in fidelity.notes)
        supported += fidelity.supported
        total += fidelity.total
        types += _sim_types(export)
        integrations += _integrations(export)
        workflow = load_workflow(export)
        tool_blocks += sum(b.type == "tool" for b in workflow.blocks)
        try:
            compile_workflow(workflow, str(export))
            compiles += 1
        except WorkflowError:
            pass  # rejected at validation on purpose (S7, S8) or unsupported blocks
        if fidelity.unsupported:
            print(f"{export.name}: {fidelity.line()}")
    if not files:
        print("no Sim exports found")
        return
    print("Sim block types seen: " + ", ".join(f"{t} {n}" for t, n in sorted(types.items())))
    print(f"{supported} of {total} blocks ({supported / total:.1%}) in {files} exports map onto "
          f"Stepweave block types; {clean} of {files} exports import completely; "
          f"{compiles} of {files} compile as exported")
    print(f"integration blocks with a registry tool: {integrations} seen, {tool_blocks} import "
          "as tool blocks")
    print(f"import notes: {noted} of {files} exports; {defaults} empty models get Sim's default "
          f"model, {fill_ins} values to fill in before running")


if __name__ == "__main__":
    main()
