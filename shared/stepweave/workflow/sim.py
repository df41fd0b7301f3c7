"""Mapping Sim exports onto the workflow model.

Covers Sim's envelopes and block types: start triggers, function, api, condition,
variables, wait, response, loop, parallel, human_in_the_loop (as ``approval``), router_v2
and legacy router (as ``router``), and through ``sim_blocks`` agent, evaluator and workflow
(sub-workflow). Any other type is kept as ``sim:<type>`` (``sim_blocks.unsupported_block``)
so that validation reports it per block and running or deploying it is refused.
"""

from __future__ import annotations

import re
from typing import Any

from stepweave.blocks.catalog import block_type as catalog_type
from stepweave.params.router import SIM_ROUTER_PARAMS
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.limits import MAX_PARAMS_DEPTH, loads_json
from stepweave.workflow.sim_blocks import (NOTES, SIM_DEFAULT_MODEL, SIM_PREFIX,
                                          notification_tools, sim_block_params,
                                          unsupported_block)
from stepweave.workflow.sim_shape import checked_export

__all__ = ["import_sim_export", "IMPORT_NOTES"]

#: The key of the converted workflow holding the import's notes (values Sim fills in that
#: the export leaves empty, settings to fill in before running); ``stepweave import``
#: reports them and the loader drops them.
IMPORT_NOTES = "importNotes"

_LEGACY_SOURCE = {"source-left", "source-right", "source-top", "source-bottom"}

# Sim sub-block ids kept per block type (everything else is editor state).
_PARAMS = {
    "start": ("inputFormat",),
    "function": ("code", "language"),
    "api": ("url", "method", "params", "headers", "body", "timeout", "retries",
            "retryDelayMs", "retryMaxDelayMs", "retryNonIdempotent"),
    "condition": ("conditions",),
    "variables": ("variables",),
    "wait": ("timeValue", "timeUnit", "async", "timeUnitLong"),
    "response": ("dataMode", "builderData", "data", "status", "headers"),
    "router": SIM_ROUTER_PARAMS,
}
_TYPE_MAP = {"start_trigger": "start", "starter": "start", "human_in_the_loop": "approval",
             "router_v2": "router"}
# Sim's human-in-the-loop sub-blocks -> approval params (``notification`` tools -> ``notify``).
_APPROVAL = {"builderData": "display", "inputFormat": "form", "approvers": "approvers",
             "subject": "subject", "message": "message", "timeoutSeconds": "timeoutSeconds"}


class _BadValue(ValueError):
    """A sub-block value the converter cannot read (reported with its block and field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _name(envelope: dict[str, Any], state: dict[str, Any], file: str) -> str:
    meta = state.get("metadata") or {}
    raw = (envelope.get("workflow") or {}).get("name") or meta.get("name")
    if not raw:
        raw = re.sub(r"\.(export\.)?json$", "", file.rsplit("/", 1)[-1])
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", str(raw)).strip("-_") or "workflow"
    return cleaned[:80]


def _table(rows: Any) -> Any:
    """Sim table rows ``[{cells: {Key, Value}}]`` -> ``{key: value}``."""
    if not isinstance(rows, list):
        return rows
    out = {}
    for row in rows:
        cells = (row or {}).get("cells") if isinstance(row, dict) else None
        if isinstance(cells, dict) and cells.get("Key"):
            out[str(cells["Key"])] = cells.get("Value", "")
    return out


def _value(block_type: str, key: str, value: Any) -> Any:
    if key in ("conditions", "routes") and isinstance(value, str):
        try:
            return loads_json(value, MAX_PARAMS_DEPTH) if value.strip() else []
        except ValueError as exc:
            raise _BadValue(f"subBlocks.{key}.value", f"not valid JSON: {exc}") from None
    if block_type in ("api", "response") and key in ("params", "headers"):
        return _table(value)
    if key in ("timeout", "retries", "retryDelayMs", "retryMaxDelayMs") and value in ("", None):
        return None
    return value


#: Sim's input-format field types that are ours under another name (Sim's editor offers
#: "Files" as ``file[]``).
_FIELD_TYPES = {"file[]": "files", "file": "files"}


def _rows(rows: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Sim builder/input-format rows: known keys only, rows without a name dropped, Sim's
    type names mapped onto ours."""
    kept = [{k: v for k, v in row.items() if k in keys and v is not None}
            for row in (rows if isinstance(rows, list) else [])
            if isinstance(row, dict) and str(row.get("name") or "").strip()]
    for row in kept:
        if isinstance(row.get("type"), str) and row["type"] in _FIELD_TYPES:
            row["type"] = _FIELD_TYPES[row["type"]]
    return kept


def _approval_params(sub_blocks: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The approval's params, and why the block cannot run when a notification tool has no
    registry tool (it would not be sent: never silently)."""
    params = {ours: (sub_blocks[sim] or {}).get("value") for sim, ours in _APPROVAL.items()
              if sim in sub_blocks and (sub_blocks[sim] or {}).get("value") not in (None, "")}
    params["display"] = _rows(params.get("display"), ("id", "name", "type", "value"))
    params["form"] = _rows(params.get("form"), ("id", "name", "type", "value", "description",
                                                "label", "required"))
    params["acceptExtraFields"] = True  # Sim copies every submitted key into the output
    tools, reason = notification_tools((sub_blocks.get("notification") or {}).get("value"))
    if tools:
        params["notify"] = tools
    return params, reason


def _params(block_type: str, sub_blocks: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in _PARAMS.get(block_type, ()):
        if key in sub_blocks:
            value = _value(block_type, key, (sub_blocks[key] or {}).get("value"))
            if value is not None:
                params[key] = value
    if block_type == "api":
        for key in ("timeout", "retries", "retryDelayMs", "retryMaxDelayMs"):
            if isinstance(params.get(key), str):
                params[key] = int(params[key]) if params[key].strip().isdigit() else None
                if params[key] is None:
                    del params[key]
    if block_type == "variables":
        params["variables"] = [
            {k: v for k, v in row.items() if k in ("variableName", "value", "type", "id", "variableId")}
            for row in params.get("variables") or [] if isinstance(row, dict) and row.get("variableName")
        ]
    if block_type == "router" and not str(params.get("model") or "").strip():
        params["model"] = SIM_DEFAULT_MODEL  # Sim's ROUTER.DEFAULT_MODEL
        params[NOTES] = [f"its model is empty in the export: Sim's default model "
                         f"{SIM_DEFAULT_MODEL} is used, as Sim does"]
    if block_type == "response":
        params.setdefault("dataMode", "structured")
        params["builderData"] = _rows(params.get("builderData"), ("id", "name", "type", "value"))
    if block_type == "start":
        params["inputFormat"] = _rows(params.get("inputFormat"), ("id", "name", "type", "value",
                                                                  "description"))
    return params


def _container_params(block_type: str, data: dict[str, Any]) -> dict[str, Any]:
    if block_type == "loop":
        params = {"loopType": data.get("loopType") or "for", "count": data.get("count") or 5,
                  "collection": data.get("collection") or None,
                  "whileCondition": data.get("whileCondition") or "",
                  "doWhileCondition": data.get("doWhileCondition") or ""}
    else:
        ptype = data.get("parallelType") or "count"
        params = {"parallelType": ptype if ptype in ("count", "collection") else "collection",
                  "count": data.get("count") or 5, "collection": data.get("collection") or None,
                  "batchSize": max(1, min(20, int(data.get("batchSize") or 20)))}
    return {k: v for k, v in params.items() if v is not None}


def _block(raw: dict[str, Any]) -> dict[str, Any] | None:
    sim_type = raw.get("type", "")
    if sim_type == "note":
        return None
    block_type = _TYPE_MAP.get(sim_type, sim_type)
    data = raw.get("data") or {}
    sub_blocks = raw.get("subBlocks") or {}
    if block_type in ("loop", "parallel"):
        params = _container_params(block_type, data)
    elif block_type in ("agent", "evaluator", "workflow", "workflow_input") \
            and catalog_type(block_type) is not None:
        params, reason = sim_block_params(block_type, sub_blocks)
        if reason is not None:
            block_type, params = unsupported_block(sim_type, sub_blocks, reason)
    elif catalog_type(block_type) is None:
        block_type, params = unsupported_block(sim_type, sub_blocks)
    elif block_type == "approval":
        params, reason = _approval_params(sub_blocks)
        if reason is not None:
            block_type, params = unsupported_block(sim_type, sub_blocks, reason)
    else:
        params = _params(block_type, sub_blocks)
    notes = params.pop(NOTES, None) if isinstance(params, dict) else None
    block: dict[str, Any] = {"id": raw["id"], "type": block_type, "name": raw.get("name") or raw["id"],
                             "params": params, "enabled": raw.get("enabled", True) is not False}
    if notes:
        block[NOTES] = notes
    if data.get("parentId"):
        block["parent"] = data["parentId"]
    retry = raw.get("retry")
    if isinstance(retry, dict) and retry.get("enabled"):
        tries, wait = retry.get("maxTries"), retry.get("waitBetweenTriesMs")
        block["retry"] = {"enabled": True, "maxTries": 3 if tries is None else tries,
                          "waitBetweenTriesMs": 1000 if wait is None else wait}
    return block


def _edge(raw: dict[str, Any]) -> dict[str, Any]:
    handle = raw.get("sourceHandle")
    if handle in _LEGACY_SOURCE:
        handle = "source"
    return {"source": raw["source"], "target": raw["target"], "sourceHandle": handle}


def _route_handles(blocks: list[dict[str, Any]], edges: list[dict[str, Any]],
                   legacy_routers: set[str]) -> None:
    """Sim's handle rules for routing blocks (SIM-COMPAT §1.3), applied in place.

    A condition or ``router_v2`` edge without its ``condition-``/``router-`` handle takes
    the row/route at its position among the block's outgoing edges. A legacy ``router``
    selects a target block: each non-error edge becomes ``router-<target id>`` and the
    routes are the targets (route id = target id)."""
    by_id = {b["id"]: b for b in blocks}
    for block in blocks:
        kind, bid = block["type"], block["id"]
        if kind not in ("condition", "router"):
            continue
        out = [e for e in edges if e["source"] == bid and e["sourceHandle"] != "error"]
        if bid in legacy_routers:
            for edge in out:
                edge["sourceHandle"] = f"router-{edge['target']}"
            targets = list(dict.fromkeys(e["target"] for e in out))
            block["params"]["routes"] = [
                {"id": t, "title": by_id[t]["name"], "value": by_id[t]["name"]} for t in targets]
            continue
        prefix, key = ("condition-", "conditions") if kind == "condition" else ("router-", "routes")
        rows = [r for r in block["params"].get(key) or [] if isinstance(r, dict)]
        for index, edge in enumerate(out):
            if edge["sourceHandle"] in (None, "source") and index < len(rows):
                edge["sourceHandle"] = f"{prefix}{rows[index].get('id')}"


def _variables(raw: Any) -> list[dict[str, Any]]:
    items = raw.values() if isinstance(raw, dict) else (raw or [])
    return [{"name": v["name"], "type": v.get("type") or "plain", "value": v.get("value")}
            for v in items if isinstance(v, dict) and v.get("name")]


def _sim_triggers(blocks: list[dict[str, Any]], blocks_raw: dict[str, Any],
                  workflow: str) -> list[dict[str, Any]]:
    """Sim's schedule and webhook trigger blocks -> ``triggers:`` entries
    (``stepweave.triggers.sim_blocks``). Each such block becomes a start block, placed after
    any Start block (which stays the one a manual run starts from); one webhook at most."""
    from stepweave.triggers.sim_blocks import is_sim_trigger, trigger_from_sim

    triggers: list[dict[str, Any]] = []
    moved: list[str] = []
    for raw in blocks_raw.values():
        if not is_sim_trigger(raw) or raw.get("enabled") is False:
            continue
        sub_blocks = raw.get("subBlocks") or {}
        trigger = trigger_from_sim(raw["type"], sub_blocks, workflow)
        block = next(b for b in blocks if b["id"] == raw["id"])
        if trigger is None and block["type"].startswith(SIM_PREFIX):
            # a trigger we cannot deploy yet: say so where a run would start
            block["params"]["simTrigger"] = True
            block["params"]["unsupported"] = (f"Sim's '{raw['type']}' trigger has no Stepweave "
                                              "trigger yet")
        if trigger is None or (trigger["type"] == "webhook"
                               and any(t["type"] == "webhook" for t in triggers)):
            continue
        trigger["name"] = f"{trigger['type']}-{len(triggers) + 1}"
        triggers.append(trigger)
        if block["type"] != "start":
            fields = (sub_blocks.get("inputFormat") or {}).get("value")
            block["type"] = "start"
            block["params"] = {"inputFormat": _rows(fields, ("id", "name", "type", "value", "description"))}
            moved.append(block["id"])
    blocks[:] = [b for b in blocks if b["id"] not in moved] + [b for b in blocks if b["id"] in moved]
    return triggers


def import_sim_export(data: dict[str, Any], file: str) -> dict[str, Any]:
    """A Sim export (any envelope) -> our workflow format (a plain dict). Its shape is
    checked first (``stepweave.workflow.sim_shape``)."""
    envelope, state = checked_export(data, file)
    blocks_raw: dict[str, Any] = state["blocks"]
    converted, problems = [], []
    for raw in blocks_raw.values():
        try:
            converted.append(_block(raw))
        except _BadValue as exc:
            problems.append(Problem(file, str(exc), raw["id"], exc.field))
    if problems:
        raise WorkflowError(problems)
    blocks = [b for b in converted if b]
    notes = [f"block '{b['name']}': {note}" for b in blocks for note in b.pop(NOTES, ())
             if b.get("enabled", True)]
    kept = {b["id"] for b in blocks}
    edges = [_edge(e) for e in state.get("edges") or []
             if e.get("source") in kept and e.get("target") in kept]
    _route_handles(blocks, edges, {raw["id"] for raw in blocks_raw.values()
                                   if raw.get("type") == "router"})
    meta = state.get("metadata") or {}
    name = _name(envelope, state, file)
    triggers = _sim_triggers(blocks, blocks_raw, name)
    return {"version": 1, "name": name,
            "description": str(meta.get("description") or ""),
            "variables": _variables(state.get("variables")), "blocks": blocks, "edges": edges,
            **({"triggers": triggers} if triggers else {}),
            **({IMPORT_NOTES: notes} if notes else {})}
