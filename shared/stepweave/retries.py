"""What HTTP retries share: which answers are worth another try, and the server's
``Retry-After`` hint. The api block (``stepweave.tools.request``) and the model providers and
tools (``stepweave.tools.transport``) each keep their own backoff; both read answers this way."""

from __future__ import annotations

import time
from contextlib import suppress
from email.utils import parsedate_to_datetime

__all__ = ["retry_after_seconds", "retryable_status"]


def retryable_status(status: int) -> bool:
    """429 (throttled) and every 5xx: the same request may succeed later."""
    return status == 429 or 500 <= status <= 599


def retry_after_seconds(value: str) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date; None if unreadable."""
    text = value.strip()
    with suppress(ValueError):
        return max(0.0, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
