"""Build Sim exports in Sim's exact shape (``{version, exportedAt, state: {...}}``) for tests.

Only the shape matters to the importer: a block map keyed by id (``id``, ``type``,
``name``, ``position``, ``subBlocks`` of ``{id, type, value}``, ``outputs``, ``enabled``,
``data``), edges with ``sourceHandle``/``targetHandle``, and the derived ``loops`` /
``parallels`` records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Sim's sub-block widget types for the ids used in tests (anything else: short-input).
_WIDGETS = {"code": "code", "language": "dropdown", "conditions": "condition-input",
            "routes": "router-input", "inputFormat": "input-format", "messages": "messages-input",
            "model": "combobox", "temperature": "slider", "responseFormat": "code",
            "tools": "tool-input", "metrics": "eval-input", "workflowId": "workflow-selector",
            "input": "code", "inputMapping": "input-mapping", "credential": "oauth-input",
            "operation": "dropdown", "channel": "channel-selector", "text": "long-input"}


def sub_blocks(**values: Any) -> dict[str, Any]:
    return {key: {"id": key, "type": _WIDGETS.get(key, "short-input"), "value": value}
            for key, value in values.items()}


def block(block_id: str, block_type: str, name: str | None = None, *, parent: str | None = None,
          data: dict[str, Any] | None = None, enabled: bool = True, **values: Any) -> dict[str, Any]:
    raw_data = dict(data or {})
    if parent is not None:
        raw_data.update(parentId=parent, extent="parent")
    return {"id": block_id, "type": block_type, "name": name or block_id,
            "position": {"x": 100, "y": 100}, "data": raw_data, "subBlocks": sub_blocks(**values),
            "outputs": {}, "enabled": enabled, "horizontalHandles": True, "advancedMode": False,
            "triggerMode": False, "height": 0, "locked": False}


def start(**fields: str) -> dict[str, Any]:
    """A ``start_trigger`` whose input format has the given ``name=type`` fields."""
    rows = [{"id": f"field-{n}", "name": n, "type": t, "value": "", "collapsed": False}
            for n, t in fields.items()]
    return block("start", "start_trigger", "Start", inputFormat=rows, runMetadata=False)


def function(block_id: str, code: str, name: str | None = None, **kw: Any) -> dict[str, Any]:
    return block(block_id, "function", name, code=code, language="javascript", **kw)


def edge(source: str, target: str, handle: str | None = "source") -> dict[str, Any]:
    raw: dict[str, Any] = {"id": f"{source}-{target}-{handle}", "source": source, "target": target,
                           "targetHandle": "target", "type": "workflowEdge"}
    if handle is not None:
        raw["sourceHandle"] = handle
    return raw


def export(blocks: list[dict[str, Any]], edges: list[dict[str, Any]], name: str = "sim-test",
           variables: dict[str, Any] | None = None) -> dict[str, Any]:
    loops: dict[str, Any] = {}
    parallels: dict[str, Any] = {}
    for b in blocks:
        nodes = [c["id"] for c in blocks if c["data"].get("parentId") == b["id"]]
        if b["type"] == "loop":
            loops[b["id"]] = {"id": b["id"], "nodes": nodes, "iterations": b["data"].get("count", 5),
                              "loopType": b["data"].get("loopType", "for"),
                              "whileCondition": b["data"].get("whileCondition", ""),
                              "doWhileCondition": b["data"].get("doWhileCondition", ""),
                              "enabled": True}
        if b["type"] == "parallel":
            parallels[b["id"]] = {"id": b["id"], "nodes": nodes, "count": b["data"].get("count", 5),
                                  "parallelType": b["data"].get("parallelType", "count"),
                                  "enabled": True}
    return {"version": "1.0", "exportedAt": "2026-11-26T21:38:39.830Z",
            "state": {"blocks": {b["id"]: b for b in blocks}, "edges": edges, "loops": loops,
                      "parallels": parallels, "variables": variables or {},
                      "metadata": {"name": name, "description": ""}}}


def write(folder: Path, doc: dict[str, Any], file: str | None = None) -> Path:
    path = folder / (file or f"{doc['state']['metadata']['name']}.json")
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path
