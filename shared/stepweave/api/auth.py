"""API-key authentication of an API Gateway proxy event.

``authenticate(event, ddb, settings)`` reads ``Authorization: Bearer <key>`` or
``x-api-key: <key>`` (header names in any case), looks the key's hash up in the records
table and returns the key's ``Tenant``. No key, or one that is not stored: ``Unauthorized``
(401); a disabled key: ``Forbidden`` (403). Keys are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepweave.api.errors import Forbidden, Unauthorized
from stepweave.api.keys import lookup_key
from stepweave.runtime.settings import Settings

__all__ = ["Tenant", "authenticate", "presented_key"]

_MAX_KEY = 256


@dataclass(frozen=True)
class Tenant:
    name: str
    key_name: str
    key_hash: str


def presented_key(headers: Mapping[str, Any] | None) -> str | None:
    """The key in ``Authorization: Bearer`` or ``x-api-key``, else None."""
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items() if v is not None}
    auth = lowered.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = lowered.get("x-api-key", "").strip()
    return key or None


def authenticate(event: Mapping[str, Any], ddb: Any, settings: Settings) -> Tenant:
    key = presented_key(event.get("headers"))
    if key is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    if len(key) > _MAX_KEY:
        raise Unauthorized("invalid API key")
    found = lookup_key(ddb, settings, key)
    if found is None:
        raise Unauthorized("invalid API key")
    if found.disabled:
        raise Forbidden("this API key is disabled")
    return Tenant(found.tenant, found.name, found.hash)
