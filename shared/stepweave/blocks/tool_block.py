"""The ``tool`` block: one registry tool (``stepweave.tools``) run as a block of its own.

Params (``ToolBlockParams``): ``tool`` (a registry name: ``slack``, ``email``, ``http``,
``api``) and ``params`` (the tool's params, references allowed). Validation checks the
tool exists and checks the literal values against the tool's params model; values that
hold a reference (``<block.path>``) or a ``{{NAME}}`` secret are known at run time only
and are checked by the handler. The block's outputs are the tool's output fields
(``tool_outputs``), so ``<notify.ts>`` is checked like any other reference.

Secrets: the ``{{NAME}}`` placeholders the workflow author wrote in the params arrive
already put in by the handler's entry (``stepweave.compiler.secrets``: never in values
that came from references, so run-time data naming a secret is sent as written); here
only the tool's own defaults (``slack``'s ``{{SLACK_WEBHOOK_URL}}``) are filled, for the
params the block does not give. Secret values are masked (``***``) in the output and in
error messages.

Errors: a tool failure becomes a ``BlockError`` subclass the state machine can match:
``BlockInputError`` (invalid params, a credential or sender that is not set),
``HttpTransportError`` (no answer), ``HttpStatusError`` (the service refused or failed
the call), else ``BlockError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails

from stepweave.errors import (BlockError, BlockInputError, HttpStatusError, HttpTransportError,
                              StepweaveError, param_problems)

if TYPE_CHECKING:
    import httpx

    from stepweave.runtime.settings import Settings
    from stepweave.tools.base import Tool

__all__ = ["ToolBlockParams", "run_tool_block", "tool_outputs", "tool_error"]

_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")
#: A tool's failure message (after its ``"<tool> tool: "`` prefix) -> the error class a
#: state machine matches; anything else is a ``BlockError``.
_ERROR_CLASSES: tuple[tuple[re.Pattern[str], type[BlockError]], ...] = (
    (re.compile(r"^(no answer from |SES could not be reached)"), HttpTransportError),
    (re.compile(r"^([A-Z]+ \S+ answered \d|the webhook answered |chat\.postMessage failed|"
                r"SES refused)"), HttpStatusError),
    (re.compile(r"^(invalid arguments|no webhook URL|no sender|'[A-Za-z]+' (is required|must be)|"
                r"the \w+ credentials are not set)"), BlockInputError),
)
_PREFIX = re.compile(r"^\w+ tool: ")


class ToolBlockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, description="a registry tool: slack, email, http, api")
    params: dict[str, Any] | str = Field(
        default_factory=dict, description="the tool's params (or a reference to an object)")

    @field_validator("tool")
    @classmethod
    def _known(cls, value: str) -> str:
        from stepweave.tools import TOOLS, tool_names

        if value not in TOOLS:
            raise ValueError(f"unknown tool '{value}' (available: {', '.join(tool_names())})")
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
        from stepweave.workflow.refs import find_refs

        return bool(find_refs(value)) or bool(_PLACEHOLDER.search(value))
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


def tool_error(exc: Exception, message: str) -> BlockError:
    """The ``BlockError`` subclass for a tool's failure (``message``: its masked text).

    A tool that wraps a block's own error (the ``api`` tool) keeps that error's class."""
    from stepweave.errors import BLOCK_ERROR_NAMES

    inner = exc.__context__
    if isinstance(inner, BlockError) and type(inner).__name__ in BLOCK_ERROR_NAMES:
        return type(inner)(message)
    rest = _PREFIX.sub("", message, count=1)
    for pattern, cls in _ERROR_CLASSES:
        if pattern.search(rest):
            return cls(message)
    return BlockError(message)


def run_tool_block(raw: Mapping[str, Any], secrets: Mapping[str, str], *,
                   settings: Settings | None = None, transport: httpx.BaseTransport | None = None,
                   clients: dict[str, Any] | None = None,
                   sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run the block's tool with its resolved params; raise a ``BlockError`` subclass on failure.

    ``settings`` defaults to the environment's; ``transport``, ``clients`` and ``sleep`` are
    for tests (an httpx transport, boto3 clients by service, a no-op sleep)."""
    from stepweave.tools import TOOLS
    from stepweave.tools.base import ToolContext, ToolError, mask

    try:
        block = ToolBlockParams.model_validate(dict(raw))
    except ValidationError as exc:
        raise BlockInputError(f"tool block: {param_problems(exc, plain=True)}") from None
    tool = TOOLS[block.tool]
    if not isinstance(block.params, dict):
        raise BlockInputError(f"tool block: 'params' must be an object, got "
                              f"{type(block.params).__name__}")
    used: set[str] = set()
    try:
        ctx = ToolContext(secrets=secrets, settings=settings or _settings(), transport=transport,
                          clients=clients if clients is not None else {}, sleep=sleep)
        output = tool.run(_resolved(tool, block.params, secrets, used), ctx)
    except ToolError as exc:
        used |= set(getattr(secrets, "revealed", ()))
        raise tool_error(exc, mask(str(exc), used)) from None
    except BlockError:
        raise
    except StepweaveError as exc:  # a secret that could not be read (its name, no value)
        raise BlockError(f"tool block: {mask(str(exc), used)}") from None
    used |= set(getattr(secrets, "revealed", ()))
    masked: dict[str, Any] = json.loads(mask(json.dumps(output, default=str), used))
    return masked


def _resolved(tool: Tool, params: Mapping[str, Any], secrets: Mapping[str, str],
              used: set[str]) -> Any:
    """The tool's params model, its defaults' secrets put in (the params the block gives
    are used as they are: the author's secrets are already in them)."""
    from stepweave.tools.base import substitute, validate_params

    content = set(tool.model_params if tool.model_params is not None else tool.params.model_fields)
    given = dict(params)
    try:
        defaults = validate_params(tool, given).model_dump(by_alias=True)
        rest = {k: v for k, v in defaults.items() if k not in params and k not in content}
        return validate_params(tool, {**given, **substitute(rest, secrets, used)})
    except BlockError as exc:
        from stepweave.tools.base import mask

        raise BlockInputError(mask(str(exc), used)) from None


def _settings() -> Settings:
    from stepweave.runtime.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise BlockError(f"Invalid handler configuration: {exc}") from None
