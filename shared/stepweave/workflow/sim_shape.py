"""The shape of a Sim export, checked before it is converted (``stepweave.workflow.sim``).

A Sim export is untrusted JSON: these models say what the converter reads (the envelope,
``state.blocks`` with their ``data``, ``subBlocks`` and ``retry``, ``state.edges``,
``state.variables``, the metadata) and the value shapes of the sub-blocks it walks
(condition rows, tables, input formats, tool entries, schedule numbers). Anything else in
the export is kept as it is. ``checked_export`` returns the export as plain data of those
types, or raises a ``WorkflowError`` naming the block and field of every mismatch, so the
converter never meets a list where it reads a string.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from stepweave.errors import Problem, WorkflowError

__all__ = ["checked_export"]

#: problems listed before the rest are only counted
_MAX_PROBLEMS = 50


class _Open(BaseModel):
    """Sim's objects carry editor state besides what the converter reads: kept as is."""

    model_config = ConfigDict(extra="allow")


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class SubBlock(_Open):
    value: Any = None


class BlockData(_Open):
    parentId: str | None = None
    loopType: str | None = None
    parallelType: str | None = None
    count: int | None = None
    batchSize: int | None = None
    collection: Any = None
    whileCondition: str | None = None
    doWhileCondition: str | None = None

    _blank = field_validator("parentId", "count", "batchSize", mode="before")(_blank_to_none)


class Retry(_Open):
    enabled: bool | None = None
    maxTries: int | None = None
    waitBetweenTriesMs: int | None = None


class Block(_Open):
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    name: str | None = None
    enabled: bool | None = None
    data: BlockData | None = None
    subBlocks: dict[str, SubBlock | None] | None = None
    retry: Retry | None = None


class Edge(_Open):
    id: str | int | None = None
    source: str | None = None
    target: str | None = None
    sourceHandle: str | None = None


class Variable(_Open):
    name: str | None = None
    type: str | None = None
    value: Any = None


class Metadata(_Open):
    name: str | None = None
    description: str | None = None


class State(_Open):
    blocks: dict[str, Block]
    edges: list[Edge] | None = None
    variables: list[Variable] | None = None
    metadata: Metadata | None = None

    @field_validator("variables", mode="before")
    @classmethod
    def _variables_map(cls, value: Any) -> Any:
        return list(value.values()) if isinstance(value, dict) else value


class WorkflowInfo(_Open):
    name: str | None = None


# --- sub-block values the converter walks ---------------------------------------------


class _Row(_Open):
    """A builder / input-format / variables row."""

    id: str | int | None = None
    name: str | None = None
    type: str | None = None
    variableName: str | None = None


class _TableRow(_Open):
    cells: dict[str, Any] | None = None


class _ToolEntry(_Open):
    type: str | None = None
    toolId: str | None = None
    title: str | None = None
    params: dict[str, Any] | None = None
    usageControl: str | None = None


class _ConditionRow(_Open):
    id: str | int | None = None
    title: str | None = None


_ROWS = TypeAdapter(list[_Row | None] | None)
_TABLE = TypeAdapter(list[_TableRow | None] | dict[str, Any] | str | None)
_TOOLS = TypeAdapter(list[_ToolEntry | None] | str | None)
_CONDITIONS = TypeAdapter(list[_ConditionRow | None] | str | None)
_WHOLE = TypeAdapter(StrictInt | StrictStr | None)
_TEXT = TypeAdapter(str | int | float | None)

#: sub-block id -> its value's shape, whatever the block type
_VALUES: dict[str, TypeAdapter[Any]] = {
    "inputFormat": _ROWS, "builderData": _ROWS, "variables": _ROWS,
    "conditions": _CONDITIONS, "routes": _CONDITIONS,
    "tools": _TOOLS, "notification": _TOOLS,
}
#: (block type, sub-block id) -> its value's shape
_TYPED_VALUES: dict[tuple[str, str], TypeAdapter[Any]] = {
    **{("api", key): _TABLE for key in ("params", "headers")},
    ("response", "headers"): _TABLE,
    **{(kind, key): _WHOLE for kind in ("schedule", "starter")
       for key in ("minutesInterval", "hourlyMinute", "monthlyDay")},
    **{(kind, key): _TEXT for kind in ("schedule", "starter")
       for key in ("scheduleType", "timezone", "weeklyDay", "cronExpression", "startWorkflow",
                   "dailyTime", "weeklyDayTime", "monthlyTime")},
    **{(kind, "webhookProvider"): _TEXT for kind in ("generic_webhook", "webhook", "starter")},
}
_WHOLE_NUMBER_KEYS = frozenset({"minutesInterval", "hourlyMinute", "monthlyDay"})
_DIGITS = re.compile(r"\s*[0-9]+\s*")


_MESSAGES = {
    "missing": "required field is missing",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be an array",
}


def _message(error: Any) -> str:
    return _MESSAGES.get(error["type"], str(error["msg"]))


def _dotted(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, message: str, block: str | None = None, field: str | None = None) -> None:
        self.problems.append(Problem(self.file, message, block, field or None))

    def errors(self, exc: ValidationError, prefix: str, block: str | None = None,
               describe: Any = None) -> None:
        """``exc``'s errors; a union's alternatives are reported once per place (the first)."""
        seen = set()
        for error in exc.errors(include_url=False, include_input=False):
            loc = [p for p in error["loc"] if not _is_union_tag(p)]
            key = tuple(loc)
            if key in seen:
                continue
            seen.add(key)
            suffix = describe(loc) if describe is not None else ""
            self.add(_message(error) + suffix, block, _dotted([prefix, *loc]) if prefix else _dotted(loc))


def _is_union_tag(part: Any) -> bool:
    """Pydantic names a union's alternative in the error location (``list[_Row]``, ``str``)."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "none")
                                      or "[" in part or part.startswith("_") or part == "function-after")


def _envelope(data: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    """(the export without its ``data`` wrapper, its state, the state's path prefix)."""
    prefix = ""
    if isinstance(data.get("data"), dict):
        data, prefix = data["data"], "data."
    if "state" in data:
        return data, data["state"], prefix + "state"
    return data, data, prefix.rstrip(".")


def _block_errors(exc: ValidationError, key: str, raw: Any, out: _Collector) -> None:
    name = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else key
    out.errors(exc, "", block=name or key)


def _check_values(block: Block, out: _Collector) -> None:
    for key, sub in (block.subBlocks or {}).items():
        if sub is None:
            continue
        adapter = _TYPED_VALUES.get((block.type, key)) or _VALUES.get(key)
        if adapter is None:
            continue
        try:
            adapter.validate_python(sub.value)
        except ValidationError as exc:
            out.errors(exc, f"subBlocks.{key}.value", block=block.id)
            continue
        if key in _WHOLE_NUMBER_KEYS and isinstance(sub.value, str) and sub.value != "" \
                and not _DIGITS.fullmatch(sub.value):
            out.add("must be a whole number", block.id, f"subBlocks.{key}.value")


def checked_export(data: dict[str, Any], file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The export's envelope (``{"workflow": {...}}`` when it has one) and its state, as
    plain data of the checked types; or a ``WorkflowError`` naming each block and field that
    does not fit."""
    out = _Collector(file)
    outer, raw_state, prefix = _envelope(data)
    at = f"{prefix}." if prefix else ""
    if not isinstance(raw_state, dict):
        raise WorkflowError([Problem(file, "must be an object", None, prefix or "state")])
    raw_blocks = raw_state.get("blocks")
    if not isinstance(raw_blocks, dict):
        raise WorkflowError([Problem(file, "must be an object (block id -> block)", None,
                                     f"{at}blocks")])
    blocks: dict[str, Any] = {}
    for key, raw in raw_blocks.items():
        try:
            block = Block.model_validate(raw)
        except ValidationError as exc:
            _block_errors(exc, key, raw, out)
            continue
        _check_values(block, out)
        blocks[key] = block.model_dump(exclude_unset=True)
    rest = {k: v for k, v in raw_state.items() if k != "blocks"}
    try:
        state = State.model_validate({**rest, "blocks": {}}).model_dump(exclude_unset=True)
    except ValidationError as exc:
        edges = rest.get("edges")

        def edge_name(loc: list[Any]) -> str:
            if len(loc) >= 2 and loc[0] == "edges" and isinstance(loc[1], int) \
                    and isinstance(edges, list) and isinstance(edges[loc[1]], dict) \
                    and isinstance(edges[loc[1]].get("id"), str):
                return f" (edge '{edges[loc[1]]['id']}')"
            return ""

        out.errors(exc, prefix, describe=edge_name)
        state = {}
    envelope: dict[str, Any] = {}
    if outer is not raw_state and outer.get("workflow") is not None:
        try:
            envelope["workflow"] = WorkflowInfo.model_validate(outer["workflow"]).model_dump(
                exclude_unset=True)
        except ValidationError as exc:
            out.errors(exc, prefix.replace("state", "workflow"))
    if out.problems:
        problems = out.problems[:_MAX_PROBLEMS]
        if len(out.problems) > _MAX_PROBLEMS:
            problems.append(Problem(file, f"and {len(out.problems) - _MAX_PROBLEMS} more problems"))
        raise WorkflowError(problems)
    state["blocks"] = blocks
    return envelope, state
