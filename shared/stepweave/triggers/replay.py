"""Replays: a captured, validly signed request sent again starts nothing new.

Deliveries are de-duplicated by their delivery id (``stepweave.triggers.deliveries``), but
some schemes' delivery ids are headers the signature does not cover (GitHub's
``X-GitHub-Delivery``, Shopify's ``X-Shopify-Webhook-Id``, ``hmac``'s ``dedupHeader``): a
replay under a fresh id would pass as a new delivery. For those, the *signed content* is
de-duplicated too. Each such request claims an item of the records table::

    pk = CONTENT#<workflow>#sha256:<hex of the signed content>, sk = CONTENT
    deliveryId, claimedAt, expiresAt

with a conditional put (``attribute_not_exists(pk) OR deliveryId = :id OR expiresAt < :now``):
the first delivery of the content owns it, its own retries pass, and the same content under
another delivery id is a replay of that delivery (``first_delivery`` names it).

What is signed decides the window (``guard``):

- ``hmac`` with ``timestampHeader``: ``<timestamp>.<body>``; kept until the timestamp
  leaves the tolerance (after that the signature itself is refused);
- ``github``, ``shopify``, ``hmac`` without a timestamp: the body; kept as long as delivery
  ids (``webhook_dedup_days``);
- ``stripe``, ``slack``: no claim: the delivery id is the event id inside the signed body
  (Slack's ``event_id``, or an interaction's ``trigger_id``; else the body's digest), so a
  replay is the same delivery; the signed timestamp bounds it in time;
- ``none``: no claim: nothing is authenticated, so there is nothing to replay;
- a delivery whose id already is the body's digest (no id header) needs no claim either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepweave.errors import is_conditional_failure
from stepweave.runtime.records import from_dynamo, to_dynamo
from stepweave.runtime.settings import Settings
from stepweave.triggers.declare import DEFAULT_TOLERANCE_SECONDS, WebhookTrigger
from stepweave.triggers.signatures import signed_timestamp

__all__ = ["ContentGuard", "first_delivery", "guard"]

_SK = "CONTENT"


@dataclass(frozen=True)
class ContentGuard:
    """The signed content's digest and until when (epoch seconds) a replay of it is refused."""

    digest: str
    expires_at: int


def guard(trigger: WebhookTrigger, headers: Mapping[str, str], body: bytes, delivery: str,
          settings: Settings, now: float) -> ContentGuard | None:
    """The claim a verified request makes on its signed content (see the module doc), or None."""
    signature = trigger.signature
    if signature.scheme in ("stripe", "slack", "none"):
        return None
    content = body
    expires = int(now) + settings.webhook_dedup_days * 86_400
    timestamp = signed_timestamp(signature, headers)
    if timestamp is not None:
        content = str(timestamp).encode() + b"." + body
        expires = timestamp + (signature.tolerance or DEFAULT_TOLERANCE_SECONDS) + 1
    if delivery == "sha256:" + hashlib.sha256(body).hexdigest() and timestamp is None:
        return None  # the delivery id is the body: the delivery's own claim covers it
    return ContentGuard("sha256:" + hashlib.sha256(content).hexdigest(), expires)


def _key(workflow: str, digest: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONTENT#{workflow}#{digest}"}, "sk": {"S": _SK}}


def first_delivery(ddb: Any, settings: Settings, workflow: str, content: ContentGuard,
                   delivery: str, *, now: float) -> str | None:
    """None when ``delivery`` may go on (the content is new, or ``delivery`` brought it
    first); else the id of the delivery that brought this content first (a replay)."""
    table = settings.require_table()
    key = _key(workflow, content.digest)
    try:
        ddb.put_item(TableName=table, Item={
            **key, "deliveryId": {"S": delivery}, "claimedAt": to_dynamo(int(now)),
            "expiresAt": to_dynamo(content.expires_at)},
            ConditionExpression="attribute_not_exists(pk) OR deliveryId = :id OR expiresAt < :now",
            ExpressionAttributeValues={":id": {"S": delivery}, ":now": to_dynamo(int(now))})
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
    else:
        return None
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
    first = from_dynamo(item["deliveryId"]) if "deliveryId" in item else None
    return str(first) if first and first != delivery else None
