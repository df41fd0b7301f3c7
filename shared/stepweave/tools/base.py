"""What a tool is: typed params, an output schema, the secrets and permissions it needs.

A tool is something an agent's model may call (and that other blocks may reuse): one
module per tool under ``stepweave.tools``, each declaring a ``Tool``. Running one takes
the validated params and a ``ToolContext`` (named secrets, settings, injectable clients),
and returns a JSON object or raises ``ToolError`` (the agent shows the message to the
model rather than failing the block).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stepweave.errors import BlockError, param_problems
from stepweave.values import map_strings

if TYPE_CHECKING:
    import httpx

    from stepweave.runtime.settings import Settings

__all__ = ["Tool", "ToolContext", "ToolError", "ToolParams", "model_schema", "validate_params",
           "substitute", "unresolved", "mask", "as_text"]


class ToolError(BlockError):
    """A tool call failed; inside an agent the message goes back to the model."""


class ToolParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass
class ToolContext:
    """What a running tool may use. Clients are built on first use unless given."""

    secrets: Mapping[str, str]
    settings: Settings
    transport: httpx.BaseTransport | None = None
    clients: dict[str, Any] = field(default_factory=dict)
    sleep: Callable[[float], None] | None = None

    def client(self, service: str) -> Any:
        """A boto3 client (cached per context), or the one passed in ``clients``."""
        if service not in self.clients:
            import boto3

            self.clients[service] = boto3.client(service)
        return self.clients[service]


Runner = Callable[[Any, ToolContext], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: type[ToolParams]
    output_schema: Mapping[str, Any]
    run: Runner
    #: Default secret names the tool reads when its params name none.
    secrets: tuple[str, ...] = ()
    #: IAM actions the deployed block handler needs for this tool.
    permissions: tuple[str, ...] = ()
    #: Sim block / tool types this tool stands for (for the importer).
    sim_types: tuple[str, ...] = ()
    #: The param that receives the model's free-form arguments when a workflow declares
    #: its own ``parameters`` schema for the tool (e.g. an HTTP tool's query or body).
    arguments_field: str | None = None
    #: The params a model may supply (None: all). The others (URLs, tokens, senders) come
    #: from the workflow only, so a prompt cannot redirect a call.
    model_params: tuple[str, ...] | None = None
    #: Sim block types and ``operation`` values this tool does (``("notion_v2",
    #: "notion_create_page")``): the importer makes such a block a tool block.
    sim_operations: tuple[tuple[str, str], ...] = ()
    #: Sim sub-block ids / tool param names -> this tool's params (``manualCalendarId`` ->
    #: ``calendarId``), for the importer.
    sim_params: tuple[tuple[str, str], ...] = ()
    #: Params that only ever hold a ``{{SECRET}}`` (an integration's API key or tokens):
    #: a literal value is a validation error, as it would be written into the definition.
    credentials: tuple[str, ...] = ()

    def model_fields(self, fixed: Mapping[str, Any]) -> set[str]:
        """The params the model may supply: allowed ones the workflow did not fix."""
        allowed = set(self.model_params) if self.model_params is not None else set(
            self.params.model_fields)
        return allowed - set(fixed)

    def schema(self, fixed: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON schema of what the model supplies."""
        fields = self.params.model_fields
        excluded = set(fields) - self.model_fields(fixed)
        aliases = {str(fields[n].alias) for n in excluded if fields[n].alias}
        return model_schema(self.params, exclude=excluded | aliases)


def model_schema(model: type[BaseModel], exclude: set[str] | None = None) -> dict[str, Any]:
    """A provider-friendly JSON schema of a flat params model (no titles, no ``$defs``)."""
    raw = model.model_json_schema()
    props: dict[str, Any] = {}
    for name, prop in (raw.get("properties") or {}).items():
        if exclude and name in exclude:
            continue
        props[name] = _clean(prop, raw.get("$defs") or {})
    required = [n for n in raw.get("required") or [] if n in props]
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def _clean(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _clean(defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {}), defs)
        any_of = node.get("anyOf")
        if isinstance(any_of, list):  # Optional[X]: X
            options = [o for o in any_of if o.get("type") != "null"]
            if len(options) == 1:
                merged = {**options[0], **{k: v for k, v in node.items()
                                           if k not in ("anyOf", "default", "title")}}
                return _clean(merged, defs)
        return {k: _clean(v, defs) for k, v in node.items() if k not in ("title", "default")}
    if isinstance(node, list):
        return [_clean(v, defs) for v in node]
    return node


def validate_params(tool: Tool, values: Mapping[str, Any]) -> ToolParams:
    """The tool's params model from fixed + model-supplied values; ``ToolError`` if invalid."""
    try:
        return tool.params.model_validate(dict(values))
    except ValidationError as exc:
        raise ToolError(f"tool '{tool.name}': invalid arguments: {param_problems(exc)}") from None


def as_text(value: object) -> str:
    """A tool result as text for a model (JSON for anything not a string)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def substitute(value: Any, secrets: Mapping[str, str], used: set[str] | None = None) -> Any:
    """``{{NAME}}`` placeholders in every string of ``value`` replaced by the named secret;
    unset names stay as written. The values put in are added to ``used`` (for masking)."""
    from stepweave.refs import SECRET_PLACEHOLDER

    def put(match: Any) -> str:
        found = secrets.get(match.group(1))
        if not found:
            return str(match.group(0))
        if used is not None:
            used.add(found)
        return found

    return map_strings(value, lambda text: SECRET_PLACEHOLDER.sub(put, text))


def unresolved(value: str | None) -> bool:
    """True when a value is empty or still a ``{{NAME}}`` placeholder (the secret is unset)."""
    from stepweave.refs import SECRET_PLACEHOLDER

    return not value or not value.strip() or bool(SECRET_PLACEHOLDER.search(value))


def mask(text: str, values: set[str]) -> str:
    """``text`` with every secret value in ``values`` replaced by ``***``."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
