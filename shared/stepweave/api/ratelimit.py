"""A per-API-key request limit: a fixed window of one minute, counted in the records table.

Each request of a limited route adds one to the item of its key's current minute
(``pk = RATE#<key hash>#<window start, epoch seconds>``, ``sk = RATE``; one atomic
``UpdateItem ... ADD``, so every Lambda instance and process counts together); the item
expires with DynamoDB's TTL a minute after its window. Up to ``rate_limit_per_minute``
requests a window pass (``STEPWEAVE_RATE_LIMIT_PER_MINUTE``, default 600); the next are
refused until the window ends. ``Quota`` is what the answer says about it: Sim's headers
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (ISO 8601, when
the window ends) and, when refused, ``Retry-After`` (seconds).

The API Gateway stage throttles the whole API besides (``infra/constructs/api.py``); its
429s carry ``Retry-After`` but no counts, since API Gateway does not report them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepweave.runtime.settings import Settings

__all__ = ["WINDOW_S", "Quota", "peek", "take"]

#: The length of a window, in seconds.
WINDOW_S = 60
_SORT = "RATE"


@dataclass(frozen=True)
class Quota:
    limit: int
    #: requests counted in this window, this one included
    used: int
    #: epoch seconds when the window ends (and the count starts again)
    reset: int
    #: when the answer was made (epoch seconds)
    now: float

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_at(self) -> str:
        return datetime.fromtimestamp(self.reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.reset - self.now))

    def headers(self, epoch_reset: bool = False) -> dict[str, str]:
        """The headers; ``epoch_reset``: the reset as epoch seconds, as Sim's older routes
        sent it (its older SDKs read an integer), else ISO 8601."""
        values = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                  "X-RateLimit-Reset": str(self.reset) if epoch_reset else self.reset_at}
        return {**values, "Retry-After": str(self.retry_after_s)} if self.exceeded else values


def _window(now: float) -> int:
    return int(now // WINDOW_S) * WINDOW_S


def _key(key_hash: str, start: int) -> dict[str, Any]:
    return {"pk": {"S": f"RATE#{key_hash}#{start}"}, "sk": {"S": _SORT}}


def take(ddb: Any, settings: Settings, key_hash: str, now: float | None = None) -> Quota:
    """Count one request of the key (``key_hash``: its SHA-256, as stored) in its window."""
    now = time.time() if now is None else now
    start = _window(now)
    answer = ddb.update_item(
        TableName=settings.require_table(), Key=_key(key_hash, start),
        UpdateExpression="ADD requests :one SET expiresAt = :exp",
        ExpressionAttributeValues={":one": {"N": "1"}, ":exp": {"N": str(start + 2 * WINDOW_S)}},
        ReturnValues="UPDATED_NEW")
    used = int(answer["Attributes"]["requests"]["N"])
    return Quota(settings.rate_limit_per_minute, used, start + WINDOW_S, now)


def peek(ddb: Any, settings: Settings, key_hash: str, now: float | None = None) -> Quota:
    """The key's window as it stands, without counting a request."""
    now = time.time() if now is None else now
    start = _window(now)
    item = ddb.get_item(TableName=settings.require_table(), Key=_key(key_hash, start)).get("Item") or {}
    used = int((item.get("requests") or {}).get("N") or 0)
    return Quota(settings.rate_limit_per_minute, used, start + WINDOW_S, now)
