"""The ``tool`` block's handler: one registry tool (``stepweave.tools``) run as a block of
its own. Its params and outputs are ``stepweave.params.tool``.

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

from pydantic import ValidationError

from stepweave.errors import (
    BlockError,
    BlockInputError,
    HttpStatusError,
    HttpTransportError,
    StepweaveError,
    param_problems,
)
from stepweave.params.tool import ToolBlockParams

if TYPE_CHECKING:
    import httpx

    from stepweave.runtime.settings import Settings
    from stepweave.tools.base import Tool

__all__ = ["run_tool_block", "tool_error"]

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
