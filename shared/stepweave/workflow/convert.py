"""``stepweave import``: a Sim export rewritten in Stepweave's own format, for editing.

The conversion is the same mapping ``run`` and ``validate`` apply to exports
(``stepweave.workflow.sim``), written out as YAML: running the written file gives the same
result as running the export. Sim's block ids (UUIDs) become slugs of the block names
(``Enrich customer`` -> ``enrich_customer``), so edges read like hand-written ones; the Sim
id is kept as the block's ``simId``. References use block names, so they are unchanged.
Block types with no Stepweave equivalent yet are kept as ``sim:<type>`` with their values,
so validation names them (and running or deploying refuses them); the fidelity report
counts them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stepweave.blocks.catalog import block_type
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.limits import loads_json
from stepweave.workflow.loader import is_sim_export, read_text
from stepweave.workflow.sim import IMPORT_NOTES, import_sim_export
from stepweave.workflow.sim_blocks import SIM_PREFIX

__all__ = ["Fidelity", "convert_export", "slug", "SCHEMA_FILE"]

#: The workflow schema as installed with the package (``stepweave schema`` prints it too).
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "workflow.schema.json"


@dataclass(frozen=True)
class Fidelity:
    """How much of an export maps onto Stepweave's block types."""

    supported: int
    total: int
    unsupported: tuple[tuple[str, str], ...]  # (block id, Sim type)
    #: what the import filled in as Sim does, and what to fill in before running
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        text = f"{self.supported} of {self.total} blocks map onto Stepweave block types"
        if self.unsupported:
            text += "; not yet supported: " + ", ".join(f"{b} ({t})" for b, t in self.unsupported)
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])


def _edge(edge: dict[str, Any]) -> Any:
    handle = edge.get("sourceHandle")
    if handle is None:
        return {"source": edge["source"], "target": edge["target"], "sourceHandle": None}
    if handle == "source":
        return f"{edge['source']} -> {edge['target']}"
    return f"{edge['source']} -[{handle}]-> {edge['target']}"


def slug(name: str, fallback: str = "block") -> str:
    """A readable block id from a block name: ASCII, lowercase, ``_`` between words."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:60].strip("_")
    return text or fallback


def _readable_ids(blocks: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """Replace Sim's block ids by unique slugs of the names, in place: blocks (keeping
    ``simId``), ``parent``, edges, and the row/route ids Sim derives from a block id
    (``<block id>-if``, ``<block id>-route1``; a legacy router's route ids are its targets)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for block in blocks:
        base = slug(block["name"], slug(block["type"].removeprefix(SIM_PREFIX)))
        new, n = base, 1
        while new in taken:
            n += 1
            new = f"{base}_{n}"
        taken.add(new)
        ids[block["id"]] = new
    renamed_rows: dict[str, str] = {}
    for block in blocks:
        old = block["id"]
        block["simId"], block["id"] = old, ids[old]
        if block.get("parent") in ids:
            block["parent"] = ids[block["parent"]]
        for key in ("conditions", "routes"):
            for row in (block.get("params") or {}).get(key) or []:
                rid = row.get("id") if isinstance(row, dict) else None
                if not isinstance(rid, str):
                    continue
                if rid in ids and block["type"] == "router":
                    new_rid = ids[rid]
                elif rid.startswith(old + "-"):
                    new_rid = ids[old] + rid[len(old):]
                else:
                    continue
                row["id"] = renamed_rows[f"{old}\0{rid}"] = new_rid
    for edge in edges:
        source = edge["source"]
        handle = edge.get("sourceHandle")
        if isinstance(handle, str):
            for prefix in ("condition-", "router-"):
                if handle.startswith(prefix):
                    key = f"{source}\0{handle[len(prefix):]}"
                    if key in renamed_rows:
                        edge["sourceHandle"] = prefix + renamed_rows[key]
        edge["source"] = ids.get(source, source)
        edge["target"] = ids.get(edge["target"], edge["target"])


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
    if block.get("simId") and block["simId"] != block["id"]:
        out["simId"] = block["simId"]
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (code) as literal blocks; keys in the order given."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def schema_reference(output: str | Path | None) -> str:
    """Where the written file's ``$schema`` comment points: the package's schema file,
    relative to the file's folder when there is one (an absolute path otherwise)."""
    if output is None:
        return SCHEMA_FILE.as_posix()
    folder = Path(output).resolve().parent
    try:
        return Path(os.path.relpath(SCHEMA_FILE, folder)).as_posix()
    except ValueError:  # another drive (Windows)
        return SCHEMA_FILE.as_posix()


def convert_export(path: str | Path, output: str | Path | None = None,
                   schema: str | None = None) -> tuple[str, Fidelity]:
    """Read a Sim export and return (YAML text in our format, fidelity).

    ``output`` is where the text will be written (the ``$schema`` comment is relative to
    it); ``schema`` overrides that reference."""
    file = str(path)
    try:
        data = loads_json(read_text(Path(path)))
    except ValueError as exc:
        raise WorkflowError([Problem(file, f"cannot read a Sim export: {exc}")]) from None
    if not is_sim_export(data):
        raise WorkflowError([Problem(file, "not a Sim export (no state.blocks map)")])
    converted = import_sim_export(data, file)
    blocks = converted["blocks"]
    _readable_ids(blocks, converted["edges"])
    unsupported = tuple((b["id"], b["type"].removeprefix(SIM_PREFIX)) for b in blocks
                        if block_type(b["type"]) is None)
    doc: dict[str, Any] = {"version": 1, "name": converted["name"]}
    if converted.get("description"):
        doc["description"] = converted["description"]
    if converted.get("variables"):
        doc["variables"] = converted["variables"]
    if converted.get("triggers"):  # Sim's trigger-mode blocks: the written file keeps them
        doc["triggers"] = converted["triggers"]
    doc["blocks"] = [_block(b) for b in blocks]
    doc["edges"] = [_edge(e) for e in converted["edges"]]
    header = (f"# Converted from the Sim export {Path(path).name} by `stepweave import`.\n"
              f"# yaml-language-server: $schema={schema or schema_reference(output)}\n")
    text = header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text, Fidelity(len(blocks) - len(unsupported), len(blocks), unsupported,
                          tuple(converted.get(IMPORT_NOTES) or ()))
