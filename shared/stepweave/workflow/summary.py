"""What a workflow is made of, in terms of blocks, and what changed between two of them.

``summarize`` reduces a workflow to its blocks (type, name, a digest of each param and of
the block's other settings), its edges, its triggers (a digest each), its variables and
its Step Functions type. ``compare`` lists what differs between two summaries: blocks and
edges added or removed, blocks whose type, name, params or settings changed, triggers
added, removed or changed, the workflow type. ``stepweave diff`` prints it.

A summary holds digests, not values: the deploy embeds it in the deployed definition
(``encode``/``decode``: the top-level ``Comment``, zlib and base64), so ``stepweave diff
--aws`` can tell what the ``live`` version was made of without copying the workflow file
into AWS. Values are never secrets (a workflow names its secrets, ``{{NAME}}``), but a
digest keeps the definition small.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from stepweave.workflow.model import Workflow

__all__ = ["Change", "MARKER", "WorkflowChanges", "compare", "decode", "digest", "encode",
           "summarize"]

#: Summaries' format version.
FORMAT = 1
#: What precedes an encoded summary in a deployed definition's ``Comment``.
MARKER = "stepweave-summary:"
_DIGEST_CHARS = 12
#: The block fields other than ``params`` whose change is reported (as ``settings``).
_SETTINGS = ("enabled", "retry", "parent", "timeoutSeconds")


def digest(value: Any) -> str:
    """A short, stable digest of a JSON value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]


def _edge(source: str, handle: str | None, target: str) -> str:
    return f"{source} -> {target}" if handle in (None, "source") else f"{source} -[{handle}]-> {target}"


def summarize(workflow: Workflow, workflow_type: str | None = None) -> dict[str, Any]:
    """The workflow's summary (JSON-serialisable); ``workflow_type``: the compiled type
    (``STANDARD``/``EXPRESS``), else the declared one."""
    blocks: dict[str, Any] = {}
    for block in workflow.blocks:
        settings = block.model_dump(mode="json", include=set(_SETTINGS))
        blocks[block.id] = {"type": block.type, "name": block.name,
                            "params": {key: digest(value) for key, value in sorted(block.params.items())},
                            "settings": digest(settings)}
    return {
        "format": FORMAT,
        "workflow": workflow.name,
        "type": (workflow_type or workflow.type).upper(),
        "blocks": blocks,
        "edges": sorted(_edge(e.source, e.sourceHandle, e.target) for e in workflow.edges),
        "triggers": {t.label: {"type": t.type, "digest": digest(t.model_dump(mode="json"))}
                     for t in workflow.triggers},
        "variables": {v.name: digest(v.model_dump(mode="json")) for v in workflow.variables},
    }


def encode(summary: dict[str, Any]) -> str:
    """``MARKER`` + the summary as base64 of zlib-compressed JSON (no ``$``, no quotes)."""
    raw = json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()
    return MARKER + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def decode(text: str) -> dict[str, Any] | None:
    """The summary encoded somewhere in ``text`` (a definition's ``Comment``), or None when
    there is none or it cannot be read."""
    at = text.find(MARKER)
    if at < 0:
        return None
    rest = text[at + len(MARKER):].split()
    payload = rest[0] if rest else ""
    try:
        value = json.loads(zlib.decompress(base64.b64decode(payload, validate=True)))
    except (ValueError, zlib.error):
        return None
    return value if isinstance(value, dict) and value.get("format") == FORMAT else None


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``added``, ``removed`` or ``changed``; ``what`` is
    ``block``, ``edge``, ``trigger``, ``variable`` or ``type``."""

    kind: str
    what: str
    subject: str
    detail: str = ""

    def line(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.kind]
        return f"{mark} {self.what} {self.subject}" + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "what": self.what, "subject": self.subject}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class WorkflowChanges:
    workflow: str
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _label(blocks: dict[str, Any], block_id: str) -> str:
    name = str(blocks.get(block_id, {}).get("name") or "")
    return f"{block_id} ({name})" if name and name != block_id else block_id


def _block_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for block_id in sorted(new.keys() - old.keys()):
        changes.append(Change("added", "block", _label(new, block_id), str(new[block_id]["type"])))
    for block_id in sorted(old.keys() - new.keys()):
        changes.append(Change("removed", "block", _label(old, block_id), str(old[block_id]["type"])))
    for block_id in sorted(old.keys() & new.keys()):
        before, after = old[block_id], new[block_id]
        details: list[str] = []
        if before.get("type") != after.get("type"):
            details.append(f"type {before.get('type')} -> {after.get('type')}")
        if before.get("name") != after.get("name"):
            details.append(f"name {before.get('name')!r} -> {after.get('name')!r}")
        old_params, new_params = before.get("params", {}), after.get("params", {})
        for key in sorted(new_params.keys() - old_params.keys()):
            details.append(f"param {key} added")
        for key in sorted(old_params.keys() - new_params.keys()):
            details.append(f"param {key} removed")
        for key in sorted(old_params.keys() & new_params.keys()):
            if old_params[key] != new_params[key]:
                details.append(f"param {key} changed")
        if before.get("settings") != after.get("settings"):
            details.append("settings changed (enabled, retry, parent or timeout)")
        if details:
            changes.append(Change("changed", "block", _label(new, block_id), "; ".join(details)))
    return changes


def _kind(entry: Any) -> str:
    """A trigger's type (a variable's entry is a bare digest)."""
    return str(entry.get("type", "")) if isinstance(entry, dict) else ""


def compare(old: dict[str, Any], new: dict[str, Any]) -> WorkflowChanges:
    """What a deploy of ``new`` changes over ``old`` (two ``summarize`` results)."""
    changes: list[Change] = []
    if old.get("type") != new.get("type"):
        changes.append(Change("changed", "type", f"{old.get('type')} -> {new.get('type')}"))
    changes += _block_changes(old.get("blocks", {}), new.get("blocks", {}))
    old_edges, new_edges = set(old.get("edges", [])), set(new.get("edges", []))
    changes += [Change("added", "edge", e) for e in sorted(new_edges - old_edges)]
    changes += [Change("removed", "edge", e) for e in sorted(old_edges - new_edges)]
    for what in ("trigger", "variable"):
        before, after = old.get(what + "s", {}), new.get(what + "s", {})
        changes += [Change("added", what, k, _kind(after[k])) for k in sorted(after.keys() - before.keys())]
        changes += [Change("removed", what, k, _kind(before[k])) for k in sorted(before.keys() - after.keys())]
        changes += [Change("changed", what, k, _kind(after[k])) for k in sorted(before.keys() & after.keys())
                    if before[k] != after[k]]
    return WorkflowChanges(str(new.get("workflow") or old.get("workflow") or ""), changes)
