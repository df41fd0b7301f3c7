"""Import fidelity over the Sim scenario exports: blocks that map onto Stepweave / total.

    python bench/import_fidelity.py [DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

from stepweave.workflow.convert import convert_export  # noqa: E402


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "sim-cases"
    supported = total = files = clean = 0
    for export in sorted(folder.glob("*.export.json")):
        _, fidelity = convert_export(export)
        files += 1
        clean += not fidelity.unsupported
        supported += fidelity.supported
        total += fidelity.total
        if fidelity.unsupported:
            print(f"{export.name}: {fidelity.line()}")
    print(f"{supported} of {total} blocks ({supported / total:.1%}) in {files} exports map onto "
          f"Stepweave block types; {clean} of {files} exports import completely")


if __name__ == "__main__":
    main()
