"""Sim blocks beyond the core: AI blocks, sub-workflows, and what has no equivalent yet.

* ``agent`` / ``evaluator``: Sim's sub-blocks become the params of our ``agent`` and
  ``evaluator`` block types (``stepweave.params.agent`` / ``evaluator``):
  messages and metrics keep only the keys those take, Sim's tool entries
  (``{type, params, usageControl, ...}``) become registry tools
  (``stepweave.tools.tool_for_sim_block``) with their fixed params, and an ``apiKey`` is
  kept only as a ``{{SECRET}}`` placeholder (Sim's export nulls real keys).
* ``human_in_the_loop``'s ``notification`` tools become the approval's ``notify`` tools
  the same way (``notification_tools``); one without a registry tool keeps the block
  unsupported.
* ``workflow`` (Sim's sub-workflow block): ``workflowId`` / ``input`` -> ``workflow`` /
  ``input``.
* Integration blocks whose type (or type and ``operation``: ``notion_v2`` /
  ``notion_create_page``, see ``stepweave.integrations``) has a registry tool
  (``tool_for_sim_block``: slack, mail, the integrations' operations...) become ``tool`` blocks (``stepweave.blocks.tool_block``): their sub-block values whose ids
  are the tool's params (Sim's ids translated: ``botToken`` -> ``token``, an integration's
  declared Sim ids: ``manualSpreadsheetId`` -> ``spreadsheetId``...) are the tool's
  params, credentials kept only as ``{{SECRET}}`` placeholders, and Slack's channel with
  Sim's OAuth credential posts with ``{{SLACK_BOT_TOKEN}}``. An operation the tool does not
  do (Slack's ``read``, ``canvas``...) keeps the block unsupported.
* Anything else (integrations: gmail, github, notion...; an agent tool with no registry
  equivalent) is kept as type ``sim:<type>`` with its values under ``simParams`` and the
  reason under ``unsupported``: the file validates, and validation reports each such block;
  ``run``, ``compile`` and deployment refuse it (``stepweave.compiler.unsupported``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SIM_PREFIX", "SIM_DEFAULT_MODEL", "NOTES", "notification_tools", "sim_block_params",
           "tool_block", "unsupported_block", "unsupported_reason", "fill_in_name"]

SIM_PREFIX = "sim:"
_SECRET = re.compile(r"^\{\{[^{}]+\}\}$")
#: Sim tool param names -> ours
_TOOL_ALIASES = {"botToken": "token", "thread_ts": "threadTs", "manualChannel": "channel"}
#: Sim operations a tool block does, per Sim block type (a type not listed: any operation)
_TOOL_OPERATIONS = {"slack": ("send", "slack_message")}
#: Tool params kept only as {{SECRET}} placeholders (a literal credential never enters a file)
_CREDENTIALS = frozenset({"token", "webhookUrl", "apiKey", "password", "auth"})
#: The model Sim's executor uses for an agent, evaluator or router whose model is left
#: empty (``AGENT.DEFAULT_MODEL`` in Sim's ``executor/constants.ts``; its editor pre-selects it)
SIM_DEFAULT_MODEL = "claude-sonnet-5"
#: Where a converted block's import notes go (``stepweave.workflow.sim`` collects them)
NOTES = "_importNotes"


def fill_in_name(tool: str, param: str) -> str:
    """The ``{{NAME}}`` setting an integration param a template leaves empty imports as:
    ``<PROVIDER>_<PARAM>`` (``supabase`` / ``projectId`` -> ``SUPABASE_PROJECT_ID``, the
    name Sim's own template asks for)."""
    from stepweave.integrations.registry import operation_index

    provider = operation_index().get(tool, (tool, ""))[0]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", param)
    return f"{provider}_{words}".upper()


def _fill_in(name: str, tool: Any, fixed: dict[str, Any], required: set[str]) -> list[str]:
    """Put a ``{{NAME}}`` setting in for each required param the template leaves empty
    (the user fills it in before running: an unset one fails the block at run time, naming
    the param); the notes saying so."""
    notes = []
    for param in sorted(required - set(fixed)):
        if param in tool.credentials:
            continue
        setting = fill_in_name(name, param)
        fixed[param] = "{{" + setting + "}}"
        notes.append(f"fill in before running: tool '{name}' param '{param}' is empty in the "
                     f"export; it reads the secret {setting} (set it, or edit the block)")
    return notes


def _values(sub_blocks: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        value = (sub_blocks.get(key) or {}).get("value")
        if value not in (None, "", []):
            out[key] = value
    return out


def _only(rows: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(rows, str):
        from stepweave.workflow.limits import MAX_PARAMS_DEPTH, loads_json

        try:
            rows = loads_json(rows, MAX_PARAMS_DEPTH) if rows.strip() else []
        except ValueError:
            return rows  # the block type's validation reports it
    if not isinstance(rows, list):
        return rows
    return [{k: v for k, v in row.items() if k in keys} if isinstance(row, dict) else row
            for row in rows]


def _tool(entry: Any, block: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """A Sim agent tool entry (or, ``block``, an integration block's values) -> our ToolSpec
    (its import notes under ``NOTES``), or the reason it has none."""
    from stepweave.integrations.registry import operation_index
    from stepweave.tools import TOOLS, available, tool_for_sim_block

    if not isinstance(entry, dict):
        return None, "a tool entry is not an object"
    sim_type = str(entry.get("type") or "")
    name = tool_for_sim_block(sim_type, str(entry.get("operation") or "")) \
        or tool_for_sim_block(str(entry.get("toolId") or ""))
    if name is None:
        return None, f"agent tool '{sim_type or entry.get('title')}' has no Stepweave tool " \
                     f"({available()})"
    tool = TOOLS[name]
    fields = set(tool.params.model_fields)
    given = entry.get("params") or {}
    if not isinstance(given, dict):
        return None, f"the params of tool '{sim_type}' are not an object"
    raw = {_TOOL_ALIASES.get(k, k): v for k, v in given.items()}
    declared: dict[str, list[str]] = {}
    for sim, ours in tool.sim_params:  # the Sim ids a param declares feed it, first set wins
        declared.setdefault(ours, []).append(sim)
    for ours, sims in declared.items():
        found = next((given[s] for s in sims if given.get(s) not in (None, "")), None)
        if found is None:
            raw.pop(ours, None)
        else:
            raw[ours] = found
    credentials = _CREDENTIALS | {k for k, f in tool.params.model_fields.items()
                                  if isinstance(f.default, str) and _SECRET.match(f.default)}
    fixed = {k: v for k, v in raw.items() if k in fields and v not in (None, "")
             and (k not in credentials or _SECRET.match(str(v).strip()))}
    notes: list[str] = []
    if name in operation_index():
        fields_required = {k for k, f in tool.params.model_fields.items() if f.is_required()}
        # an agent's model supplies what it may; the rest the template's user fills in
        if not block:
            fields_required -= set(tool.model_params or ())
        notes = _fill_in(name, tool, fixed, fields_required)
    if name == "slack" and fixed.get("channel") and "token" not in fixed:
        # Sim posts to the channel with the workspace's bot (its OAuth credential is not
        # exported): the bot token secret does the same (the webhook stays the fallback)
        fixed["token"] = "{{SLACK_BOT_TOKEN}}"
    spec: dict[str, Any] = {"tool": name, "params": fixed}
    if notes:
        spec[NOTES] = notes
    if entry.get("usageControl") in ("auto", "force", "none"):
        spec["usageControl"] = entry["usageControl"]
    return spec, None


def _ai_params(block_type: str, sub_blocks: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    from stepweave.params.agent import SIM_AGENT_PARAMS
    from stepweave.params.evaluator import SIM_EVALUATOR_PARAMS

    keys = SIM_AGENT_PARAMS if block_type == "agent" else SIM_EVALUATOR_PARAMS
    params = _values(sub_blocks, keys)
    if not str(params.get("model") or "").strip():
        params["model"] = SIM_DEFAULT_MODEL  # what Sim's executor runs an empty model with
        params[NOTES] = [f"its model is empty in the export: Sim's default model "
                         f"{SIM_DEFAULT_MODEL} is used, as Sim does (set 'model' to change it)"]
    if not _SECRET.match(str(params.get("apiKey", "")).strip()):
        params.pop("apiKey", None)
    if "messages" in params:
        params["messages"] = _only(params["messages"], ("role", "content"))
    if "metrics" in params:
        params["metrics"] = _only(params["metrics"], ("name", "description", "range", "id"))
    if block_type == "agent" and "tools" in params:
        tools, reasons = [], []
        entries = _only(params["tools"], ("type", "toolId", "operation", "title", "params",
                                          "usageControl"))
        if not isinstance(entries, list):
            return params, "its tools are not a list of tool entries"
        notes: list[str] = []
        for entry in entries:
            spec, reason = _tool(entry)
            if spec is None:
                reasons.append(str(reason))
            else:
                notes.extend(spec.pop(NOTES, ()))
                tools.append(spec)
        if reasons:
            return params, "; ".join(reasons)
        params["tools"] = tools
        if notes:
            params[NOTES] = params.get(NOTES, []) + notes
    return params, None


def notification_tools(entries: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A human-in-the-loop block's ``notification`` tool entries -> ``notify`` tools, and
    why they cannot all be sent (None when they can)."""
    tools, reasons = [], []
    rows = _only(entries or [], ("type", "toolId", "operation", "title", "params"))
    if not isinstance(rows, list):
        return [], "its notification tools are not a list of tool entries"
    for entry in rows:
        spec, reason = _tool(entry)
        if spec is None:
            reasons.append(str(reason).replace("agent tool", "notification tool", 1))
        else:
            tools.append({"tool": spec["tool"], "params": spec["params"]})
    return tools, "; ".join(reasons) or None


def sim_block_params(block_type: str, sub_blocks: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Params of an ``agent``, ``evaluator`` or ``workflow`` block, and the reason it cannot
    be mapped (None when it can)."""
    if block_type in ("agent", "evaluator"):
        return _ai_params(block_type, sub_blocks)
    values = _values(sub_blocks, ("workflowId", "input", "inputMapping"))
    params: dict[str, Any] = {}
    if "workflowId" in values:
        params["workflow"] = values["workflowId"]
    if "input" in values or "inputMapping" in values:
        params["input"] = values.get("input", values.get("inputMapping"))
    return params, None


def unsupported_reason(sim_type: str) -> str:
    from stepweave.tools import tool_for_sim_block

    tool = tool_for_sim_block(sim_type)
    if tool is not None:
        return f"the '{tool}' tool cannot run it"
    return "no Stepweave equivalent yet"


def _operation(sub_blocks: dict[str, Any]) -> str:
    return str((sub_blocks.get("operation") or {}).get("value") or "")


def tool_block(sim_type: str, sub_blocks: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The ``tool`` block params of a Sim integration block, or None and the reason."""
    from stepweave.tools import sim_operations, tool_for_sim_block

    operation = _operation(sub_blocks)
    done = _TOOL_OPERATIONS.get(sim_type) or tuple(sim_operations(sim_type)) or None
    if done is not None and operation not in done and (operation
                                                       or tool_for_sim_block(sim_type) is None):
        return None, (f"operation '{operation or '(none)'}' has no Stepweave equivalent (a tool "
                      f"block does {', '.join(repr(o) for o in done)})")
    values = {key: (sub or {}).get("value") for key, sub in sub_blocks.items()
              if isinstance(sub, dict) and key != "operation"}
    if values.get("channel") not in (None, ""):
        values.pop("manualChannel", None)  # basic mode's channel wins, as in Sim
    spec, reason = _tool({"type": sim_type, "operation": operation, "params": values}, block=True)
    if spec is None:
        return None, str(reason)
    out = {"tool": spec["tool"], "params": spec["params"]}
    if spec.get(NOTES):
        out[NOTES] = spec[NOTES]
    return out, ""


def unsupported_block(sim_type: str, sub_blocks: dict[str, Any],
                      reason: str | None = None) -> tuple[str, dict[str, Any]]:
    """(type, params) of a Sim block with no block type of its own: a ``tool`` block when a
    registry tool does what it does, else a block kept for the report (its Sim values stay,
    for editing)."""
    if reason is None:
        from stepweave.tools import sim_operations, tool_for_sim_block

        if tool_for_sim_block(sim_type, _operation(sub_blocks)) is not None \
                or sim_operations(sim_type):
            params, why = tool_block(sim_type, sub_blocks)
            if params is not None:
                return "tool", params
            reason = why
    values = {key: (sub or {}).get("value") for key, sub in sub_blocks.items()
              if isinstance(sub, dict) and (sub or {}).get("value") not in (None, "")}
    return SIM_PREFIX + sim_type, {"unsupported": reason or unsupported_reason(sim_type),
                                   "simParams": values}
