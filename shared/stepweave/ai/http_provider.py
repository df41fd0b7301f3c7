"""What the HTTP providers share: one retrying POST and the error classification.

Status -> exception (class names are routable in the ASL): 401/403
``ProviderAuthError``, 429 ``ProviderRateLimited``, other 4xx ``ProviderBadRequest``, 5xx and
no answer ``ProviderUnavailable``. Messages carry the provider's own error text (never the
key, which is masked should a server echo it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepweave.tools.transport import RetryPolicy, Unreachable, send
from stepweave.errors import (ProviderAuthError, ProviderBadRequest, ProviderError,
                              ProviderRateLimited, ProviderUnavailable)

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpSettings", "post_json", "classify", "shared_client"]

MAX_ERROR_TEXT = 300
_CLIENT: httpx.Client | None = None


@dataclass(frozen=True)
class HttpSettings:
    base_url: str
    api_key: str | None
    policy: RetryPolicy
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] | None = None


def post_json(provider: str, settings: HttpSettings, path: str, headers: Mapping[str, str],
              body: Mapping[str, Any]) -> dict[str, Any]:
    """POST ``body`` as JSON with retries; the parsed answer, or a ``ProviderError``."""
    import httpx

    url = settings.base_url.rstrip("/") + path
    try:
        if settings.transport is not None:
            with httpx.Client(transport=settings.transport) as client:
                response = send(client, "POST", url, policy=settings.policy, headers=headers,
                                json=dict(body), sleep=settings.sleep)
        else:
            response = send(shared_client(), "POST", url, policy=settings.policy,
                            headers=headers, json=dict(body), sleep=settings.sleep)
    except Unreachable as exc:
        raise ProviderUnavailable(f"{provider}: no answer from {settings.base_url} "
                                  f"({exc.kind})") from None
    if response.status_code >= 300:
        raise classify(provider, response.status_code, _error_text(response),
                       secret=settings.api_key)
    try:
        answer = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{provider}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise ProviderUnavailable(f"{provider}: the answer is not a JSON object")
    return answer


def shared_client() -> httpx.Client:
    """One client per process: a warm Lambda reuses its TLS context and connections
    (building a client costs ~25 ms, most of a loopback round trip)."""
    global _CLIENT
    if _CLIENT is None:
        import httpx

        _CLIENT = httpx.Client()
    return _CLIENT


def classify(provider: str, status: int, detail: str, *, secret: str | None = None) -> ProviderError:
    if secret and len(secret) >= 4:
        detail = detail.replace(secret, "***")
    message = f"{provider} answered {status}: {detail}"
    if status in (401, 403):
        return ProviderAuthError(message)
    if status == 429:
        return ProviderRateLimited(message)
    if 400 <= status < 500:
        return ProviderBadRequest(message)
    return ProviderUnavailable(message)


def _error_text(response: Any) -> str:
    """The provider's own error message (OpenAI and Anthropic both use ``error.message``)."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text[:MAX_ERROR_TEXT]) or str(response.reason_phrase)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:MAX_ERROR_TEXT]
    if isinstance(error, str):
        return error[:MAX_ERROR_TEXT]
    return json.dumps(body)[:MAX_ERROR_TEXT]


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments: OpenAI sends JSON text, the others an object."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            value = json.loads(raw)
        except ValueError:
            return {"_unparsed": raw}
        return value if isinstance(value, dict) else {"value": value}
    return {}
