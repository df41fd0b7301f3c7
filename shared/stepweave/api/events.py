"""Reading API Gateway (REST, proxy) events: what every Stepweave HTTP handler reads the same
way (the webhook ingest, the decision pages, the approvals API)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

__all__ = ["BadBody", "request_body"]


class BadBody(ValueError):
    """The event says its body is base64 and it is not."""


def request_body(event: Mapping[str, Any]) -> bytes:
    """The request's body as sent (``b""`` without one); raises ``BadBody``."""
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(raw), validate=True)
        except (ValueError, binascii.Error):
            raise BadBody("the request body is not valid base64") from None
    return str(raw).encode("utf-8")
