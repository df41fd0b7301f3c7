"""OAuth2 access tokens for integrations: obtained at a provider's token endpoint from a
refresh token (or the client's own credentials), cached per process until shortly before
they expire, dropped when the provider refuses one. Tokens are never logged: errors name
the endpoint and the provider's error code only.

The cache is keyed by a digest of the endpoint and the credentials, so two workflows with
different refresh tokens never share an access token, and no credential is kept as a key.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from stepweave.tools.base import ToolError
from stepweave.tools.transport import RetryPolicy, Unreachable, send

if TYPE_CHECKING:
    import httpx

__all__ = ["TokenRequest", "access_token", "forget", "clear_cache", "EXPIRY_MARGIN_S"]

#: A token is renewed this long before the provider says it expires.
EXPIRY_MARGIN_S = 60.0
#: When the provider does not say how long a token lasts.
DEFAULT_LIFETIME_S = 3000.0

_CACHE: dict[str, tuple[str, float]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TokenRequest:
    what: str  # the tool's name, for messages
    token_url: str
    client_id: str
    client_secret: str | None
    refresh_token: str | None  # None: the client credentials grant
    client_auth: str = "body"
    scope: str | None = None

    @property
    def key(self) -> str:
        parts = [self.token_url, self.client_id, self.client_secret or "", self.refresh_token or "",
                 self.scope or ""]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def forget(request: TokenRequest) -> None:
    """Drop a cached token the provider refused (the next call obtains a new one)."""
    with _LOCK:
        _CACHE.pop(request.key, None)


def access_token(request: TokenRequest, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time) -> str:
    """A valid access token: the cached one, or a new one from the token endpoint."""
    with _LOCK:
        cached = _CACHE.get(request.key)
    if cached is not None and cached[1] > clock():
        return cached[0]
    token, lifetime = _obtain(request, transport, sleep)
    with _LOCK:
        _CACHE[request.key] = (token, clock() + max(0.0, lifetime - EXPIRY_MARGIN_S))
    return token


def _obtain(request: TokenRequest, transport: httpx.BaseTransport | None,
            sleep: Callable[[float], None] | None) -> tuple[str, float]:
    import httpx

    form: dict[str, str] = ({"grant_type": "refresh_token", "refresh_token": request.refresh_token}
                            if request.refresh_token else {"grant_type": "client_credentials"})
    if request.scope:
        form["scope"] = request.scope
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if request.client_auth == "basic":
        pair = f"{request.client_id}:{request.client_secret or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form["client_id"] = request.client_id
        if request.client_secret:
            form["client_secret"] = request.client_secret
    where = urlsplit(request.token_url).netloc or request.token_url
    try:
        with httpx.Client(transport=transport) as client:
            response = send(client, "POST", request.token_url, headers=headers,
                            content=urlencode(form).encode(),
                            policy=RetryPolicy(retries=2, timeout_s=20), sleep=sleep)
    except Unreachable as exc:
        raise ToolError(f"{request.what} tool: no answer from {where} ({exc.kind})") from None
    try:
        answer: Any = response.json()
    except ValueError:
        answer = {}
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if response.status_code != 200 or not isinstance(token, str) or not token:
        code = answer.get("error") if isinstance(answer, dict) else None
        detail = f": {code}" if isinstance(code, str) and len(code) < 80 else ""
        raise ToolError(f"{request.what} tool: POST {urlsplit(request.token_url).path or '/'} "
                        f"answered {response.status_code}: the token endpoint refused the "
                        f"credentials{detail}")
    lifetime = answer.get("expires_in")
    try:
        seconds = float(lifetime) if lifetime is not None else DEFAULT_LIFETIME_S
    except (TypeError, ValueError):
        seconds = DEFAULT_LIFETIME_S
    return token, seconds
