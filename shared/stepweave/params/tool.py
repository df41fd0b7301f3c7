"""The ``tool`` block's contract: its params (``ToolBlockParams``) and outputs.

Params: ``tool`` (a registry name of ``stepweave.tools``: ``slack``, ``email``, ``http``,
``api``) and ``params`` (the tool's params, references allowed). Validation checks the
tool exists and checks the literal values against the tool's params model; values that
hold a reference (``<block.path>``) or a ``{{NAME}}`` secret are known at run time only
and are checked by the handler. The block's outputs are the tool's output fields
(``tool_outputs``), so ``<notify.ts>`` is checked like any other reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails

from stepweave.refs import SECRET_PLACEHOLDER, find_refs

if TYPE_CHECKING:
    from stepweave.tools.base import Tool

__all__ = ["ToolBlockParams", "literal_problems", "tool_outputs"]


class ToolBlockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, description="a registry tool: slack, email, http, api")
    params: dict[str, Any] | str = Field(
        default_factory=dict, description="the tool's params (or a reference to an object)")

    @field_validator("tool")
    @classmethod
    def _known(cls, value: str) -> str:
        from stepweave.tools import TOOLS, available

        if value not in TOOLS:
            raise ValueError(f"unknown tool '{value}' ({available(value)})")
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("is not valid JSON") from None
        if isinstance(value, str) and not _dynamic(value):
            raise ValueError("must be an object of the tool's params (or a reference to one)")
        return value

    @field_validator("params")
    @classmethod
    def _literal_params(cls, value: dict[str, Any] | str,
                        info: ValidationInfo) -> dict[str, Any] | str:
        from stepweave.tools import TOOLS

        tool = TOOLS.get(str(info.data.get("tool") or ""))
        if tool is None or not isinstance(value, dict):
            return value  # an unknown tool is reported already; a reference is checked at run time
        problems = literal_problems(tool, value)
        if problems:  # reported per param: params.params.<name>
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return value


def _dynamic(value: Any) -> bool:
    """True when a value holds a reference or a secret placeholder (known at run time)."""
    if isinstance(value, str):
        return bool(find_refs(value)) or bool(SECRET_PLACEHOLDER.search(value))
    if isinstance(value, list):
        return any(_dynamic(v) for v in value)
    if isinstance(value, dict):
        return any(_dynamic(v) for v in value.values())
    return False


def literal_problems(tool: Tool, params: Mapping[str, Any]) -> list[InitErrorDetails]:
    """The tool's params model's errors for the literal values of ``params``; values known
    at run time only (references, secrets) are not judged, missing params are."""
    try:
        tool.params.model_validate(dict(params))
    except ValidationError as exc:
        return [InitErrorDetails(type=err["type"], loc=err["loc"], input=err.get("input"),
                                 ctx=err.get("ctx", {}))
                for err in exc.errors(include_url=False)
                if not (err["loc"] and err["type"] != "missing"
                        and _dynamic(params.get(str(err["loc"][0]))))]
    return []


def tool_outputs(params: Mapping[str, Any]) -> frozenset[str]:
    """The block's output fields: the properties of its tool's output schema."""
    from stepweave.tools import TOOLS

    tool = TOOLS.get(str(params.get("tool") or ""))
    if tool is None:
        return frozenset()
    props = tool.output_schema.get("properties")
    return frozenset(str(k) for k in props) if isinstance(props, dict) else frozenset()
