"""What a webhook delivery becomes: its delivery id and the run input.

Run input (what the start block reads; SIM-COMPAT §3.1):

- without ``inputMapping``: the JSON body's top-level keys (a body that is not an object,
  or a ``text`` body, arrives as ``body``);
- with ``inputMapping`` (``{field: path}``): one key per field, read from ``body.<path>``,
  ``headers.<name>`` (case-insensitive) or ``query.<name>``; a missing path gives ``null``
  (the start block then uses the field's default and coerces by its type);
- ``slack`` signature, without ``inputMapping``: the body's keys with ``event`` as Sim's
  Slack trigger outputs it (``stepweave.triggers.slack.sim_event``: ``event_type``,
  ``channel``, ``user``, ``text``, ``timestamp``, ``team_id``, ``event_id``... over the
  raw event's own fields), so ``<slack.event.text>`` reads what it reads in Sim;
- always ``trigger``: ``{"type": "webhook", "workflow", "name", "provider", "deliveryId"}``
  (replacing a body key of that name).

Delivery ids (what makes provider retries one execution): Shopify ``X-Shopify-Webhook-Id``,
Stripe the event's ``id`` in the body, Slack the body's ``event_id`` (or an interaction's
``trigger_id``), GitHub ``X-GitHub-Delivery``, ``hmac``/``none`` the
trigger's ``dedupHeader``; when absent, ``sha256:<hex of the body>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from stepweave.triggers.declare import WebhookTrigger
from stepweave.triggers.slack import sim_event

__all__ = ["MAX_DELIVERY_ID", "PROVIDERS", "delivery_id", "lookup_path", "run_input", "unmatched"]

#: The signature scheme -> the provider name recorded with the execution.
PROVIDERS = {"hmac": "generic", "none": "generic", "shopify": "shopify", "stripe": "stripe",
             "github": "github", "slack": "slack"}
_ID_HEADERS = {"shopify": "x-shopify-webhook-id", "github": "x-github-delivery"}
#: A delivery id longer than this, or with other characters, is hashed instead.
MAX_DELIVERY_ID = 200
_SAFE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")


def _body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def delivery_id(trigger: WebhookTrigger, headers: Mapping[str, str], payload: Any, body: bytes) -> str:
    """The id every retry of this delivery carries (``headers`` with lower-case names)."""
    scheme = trigger.signature.scheme
    found: Any = None
    if scheme in _ID_HEADERS:
        found = headers.get(_ID_HEADERS[scheme])
    elif scheme == "stripe":
        found = payload.get("id") if isinstance(payload, dict) else None
    elif scheme == "slack" and isinstance(payload, dict):
        found = payload.get("event_id") or payload.get("trigger_id")
    elif trigger.dedupHeader:
        found = headers.get(trigger.dedupHeader.lower())
    if isinstance(found, str) and found.strip():
        text = found.strip()
        return text if _SAFE_ID.match(text) else _body_hash(text.encode("utf-8"))
    return _body_hash(body)


def lookup_path(root: Any, path: list[str]) -> Any:
    """``root`` followed along ``path`` (dict keys; digits index lists); None when absent."""
    value = root
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _read(raw: str, sources: Mapping[str, Any]) -> Any:
    """``body.<path>``, ``headers.<name>`` (case-insensitive) or ``query.<name>`` of a request."""
    root, *rest = raw.removeprefix("$.").split(".")
    if root in ("headers", "query"):  # flat names (which may contain dots)
        name = ".".join(rest)
        rest = [name.lower() if root == "headers" else name]
    return lookup_path(sources[root], rest)


def run_input(trigger: WebhookTrigger, payload: Any, headers: Mapping[str, str],
              query: Mapping[str, str], info: Mapping[str, Any]) -> dict[str, Any]:
    """The execution input of one delivery (``info``: the ``trigger`` key's value)."""
    if trigger.inputMapping is None:
        result: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {"body": payload}
        if trigger.signature.scheme == "slack" and isinstance(payload, dict):
            result["event"] = sim_event(payload)
    else:
        sources: dict[str, Any] = {"body": payload, "headers": dict(headers), "query": dict(query)}
        result = {field: _read(raw, sources) for field, raw in trigger.inputMapping.items()}
    result["trigger"] = dict(info)
    return result


def unmatched(trigger: WebhookTrigger, payload: Any, headers: Mapping[str, str],
              query: Mapping[str, str]) -> str | None:
    """The first ``when`` entry the delivery does not match (``"path is value"``), or None
    when it starts a run."""
    sources: dict[str, Any] = {"body": payload, "headers": dict(headers), "query": dict(query)}
    for path, allowed in (trigger.when or {}).items():
        value = _read(path, sources)
        if not any(value == a and type(value) is type(a) for a in allowed):
            shown = value if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
            return f"{path} is {shown!r}"[:200]
    return None
