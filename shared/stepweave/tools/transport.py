"""HTTP with retries for providers and tools: jittered exponential backoff on 429 and
5xx (and on connection errors), ``Retry-After`` honoured (capped), one timeout per try.

``httpx`` is imported by the caller's module on first use; nothing here runs at import.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepweave.retries import retry_after_seconds, retryable_status

if TYPE_CHECKING:
    import httpx

__all__ = ["RetryPolicy", "send", "retry_after_seconds", "Unreachable"]

#: A server may ask for a pause; longer hints are capped (the block has a deadline).
MAX_RETRY_AFTER_S = 60.0


class Unreachable(Exception):
    """No answer after every try (connection refused, DNS, read timeout...)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    timeout_s: float = 120.0

    def delay(self, attempt: int, retry_after: str | None, rng: random.Random) -> float:
        """Full jitter: uniform in [0, base * 2^attempt], or the server's hint (capped)."""
        hinted = retry_after_seconds(retry_after) if retry_after else None
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER_S)
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2.0**attempt))


def send(client: httpx.Client, method: str, url: str, *, policy: RetryPolicy,
         headers: Mapping[str, str] | None = None, json: Any = None,
         content: bytes | None = None, params: Any = None,
         sleep: Callable[[float], None] | None = None,
         rng: random.Random | None = None) -> httpx.Response:
    """Send with retries; the last answer is returned whatever its status.

    Raises ``Unreachable`` when no answer came on the last try."""
    import httpx

    wait = sleep or time.sleep
    jitter = rng or random.Random()
    attempt = 0
    while True:
        try:
            response = client.request(method, url, headers=dict(headers or {}), json=json,
                                      content=content, params=params, timeout=policy.timeout_s)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if attempt >= policy.retries:
                raise Unreachable(type(exc).__name__, str(exc)) from None
            wait(policy.delay(attempt, None, jitter))
        except httpx.HTTPError as exc:
            raise Unreachable(type(exc).__name__, str(exc)) from None
        else:
            if not retryable_status(response.status_code) or attempt >= policy.retries:
                return response
            wait(policy.delay(attempt, response.headers.get("retry-after"), jitter))
        attempt += 1
