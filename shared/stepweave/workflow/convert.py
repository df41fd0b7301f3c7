"""``stepweave import``: a Sim export rewritten in Stepweave's own format, for editing.

The conversion is the same mapping ``run`` and ``validate`` apply to exports
(``stepweave.workflow.sim``), written out as YAML: compiling the written file gives the
same state machine as compiling the export. Block types with no Stepweave equivalent
yet are kept as ``sim:<type>`` with their values, so validation names them (and running or
deploying refuses them); the fidelity report counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stepweave.blocks.catalog import block_type
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.limits import loads_json
from stepweave.workflow.loader import is_sim_export, read_text
from stepweave.workflow.sim import import_sim_export
from stepweave.workflow.sim_blocks import SIM_PREFIX

__all__ = ["Fidelity", "convert_export"]


@dataclass(frozen=True)
class Fidelity:
    """How much of an export maps onto Stepweave's block types."""

    supported: int
    total: int
    unsupported: tuple[tuple[str, str], ...]  # (block id, Sim type)

    def line(self) -> str:
        text = f"{self.supported} of {self.total} blocks map onto Stepweave block types"
        if self.unsupported:
            text += "; not yet supported: " + ", ".join(f"{b} ({t})" for b, t in self.unsupported)
        return text


def _edge(edge: dict[str, Any]) -> Any:
    handle = edge.get("sourceHandle")
    if handle is None:
        return {"source": edge["source"], "target": edge["target"], "sourceHandle": None}
    if handle == "source":
        return f"{edge['source']} -> {edge['target']}"
    return f"{edge['source']} -[{handle}]-> {edge['target']}"


def _block(block: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": block["id"], "name": block["name"], "type": block["type"]}
    if block.get("parent"):
        out["parent"] = block["parent"]
    if block.get("enabled") is False:
        out["enabled"] = False
    if block.get("retry"):
        out["retry"] = block["retry"]
    if block.get("params"):
        out["params"] = block["params"]
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (code) as literal blocks; keys in the order given."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def convert_export(path: str | Path) -> tuple[str, Fidelity]:
    """Read a Sim export and return (YAML text in our format, fidelity)."""
    file = str(path)
    try:
        data = loads_json(read_text(Path(path)))
    except ValueError as exc:
        raise WorkflowError([Problem(file, f"cannot read a Sim export: {exc}")]) from None
    if not is_sim_export(data):
        raise WorkflowError([Problem(file, "not a Sim export (no state.blocks map)")])
    converted = import_sim_export(data, file)
    blocks = converted["blocks"]
    unsupported = tuple((b["id"], b["type"].removeprefix(SIM_PREFIX)) for b in blocks
                        if block_type(b["type"]) is None)
    doc: dict[str, Any] = {"version": 1, "name": converted["name"]}
    if converted.get("description"):
        doc["description"] = converted["description"]
    if converted.get("variables"):
        doc["variables"] = converted["variables"]
    doc["blocks"] = [_block(b) for b in blocks]
    doc["edges"] = [_edge(e) for e in converted["edges"]]
    header = (f"# Converted from the Sim export {Path(path).name} by `stepweave import`.\n"
              "# yaml-language-server: $schema=https://stepweave.dev/schema/workflow.schema.json\n")
    text = header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text, Fidelity(len(blocks) - len(unsupported), len(blocks), unsupported)
