"""A picture of a workflow: Mermaid flowchart text (renders on GitHub and in most editors)."""

from __future__ import annotations

import re

from stepweave.blocks.catalog import block_type
from stepweave.workflow.model import Workflow

__all__ = ["mermaid"]

_SHAPES = {"condition": ("{", "}"), "start": ("([", "])"), "response": ("[[", "]]"),
           "wait": ("[/", "/]")}


def _id(block_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", block_id)


def _label(text: str) -> str:
    return text.replace('"', "'")


def _edge_label(handle: str | None) -> str:
    if handle in (None, "source") or (handle or "").endswith(("start-source", "end-source")):
        return ""
    if handle == "error":
        return "error"
    return handle.removeprefix("condition-") if handle else ""


def mermaid(workflow: Workflow) -> str:
    lines = ["flowchart LR"]
    children: dict[str | None, list[str]] = {}
    for block in workflow.blocks:
        children.setdefault(block.parent, []).append(block.id)

    def emit(parent: str | None, indent: str) -> None:
        for block_id in children.get(parent, []):
            block = workflow.block(block_id)
            btype = block_type(block.type)
            kind = btype.name if btype else block.type
            text = _label(f"{block.name}<br/><small>{kind}</small>")
            if btype is not None and btype.is_container:
                lines.append(f'{indent}subgraph {_id(block_id)}["{_label(block.name)} ({kind})"]')
                emit(block_id, indent + "  ")
                lines.append(f"{indent}end")
                continue
            left, right = _SHAPES.get(kind, ("[", "]"))
            style = "" if block.enabled else ":::disabled"
            lines.append(f'{indent}{_id(block_id)}{left}"{text}"{right}{style}')

    emit(None, "  ")
    for edge in workflow.edges:
        src, dst = workflow.block(edge.source), workflow.block(edge.target)
        if dst.parent == src.id:
            continue  # a container's entry: drawn by nesting
        label = _edge_label(edge.sourceHandle)
        arrow = "-.->" if edge.sourceHandle == "error" else "-->"
        lines.append(f"  {_id(edge.source)} {arrow}{'|' + _label(label) + '|' if label else ''} "
                     f"{_id(edge.target)}")
    lines.append("  classDef disabled stroke-dasharray: 4 4,opacity:0.5")
    return "\n".join(lines) + "\n"
