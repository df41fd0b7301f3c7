"""One readable line for a failure, from the error and cause Step Functions reports.

A Lambda failure's cause is the handler's error payload (``errorType``, ``errorMessage``,
``stackTrace`` with machine paths); a compiled expression's deliberate error carries its
message between ``[[sw:`` and ``:sw]]`` inside JSONata's own report. A person needs the
error class and the message, nothing else.
"""

from __future__ import annotations

import json
import re

from stepweave.compiler.resolve import ERR_CLOSE, ERR_OPEN

__all__ = ["describe", "failed_state"]

_MAX = 500
_STATE = re.compile(r"executing the state '([^']+)'")


def describe(error: str | None, cause: str | None) -> str:
    """``<error>: <message>`` in one line (stack traces and markers left out)."""
    text = cause or ""
    message = text
    name = error or "Error"
    if ERR_OPEN in text and ERR_CLOSE in text:
        message = text.split(ERR_OPEN)[-1].split(ERR_CLOSE)[0]
    else:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
            name = str(payload.get("errorType") or name)
            message = str(payload.get("errorMessage") or "")
    message = " ".join(message.split())
    if len(message) > _MAX:
        message = message[:_MAX] + "…"
    return f"{name}: {message}" if message else name


def failed_state(cause: str | None) -> str | None:
    """The state named in a Step Functions evaluation error (``... executing the state 'X'``)."""
    match = _STATE.search(cause or "")
    return match.group(1) if match else None
