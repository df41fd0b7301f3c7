"""API keys: one item per key in the records table, found by the key's SHA-256.

``pk = APIKEY#<sha256 hex of the key>``, ``sk = APIKEY``: ``tenant``, ``name``,
``createdAt``, ``disabled``. The key itself is never stored: it is shown once when
created. Keys are 32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 is
enough (no salt or slow hash: there is nothing to brute-force), and a lookup is one
``GetItem`` by that hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepweave.errors import StepweaveError, is_conditional_failure
from stepweave.runtime.records import TENANT_IN_NAME
from stepweave.runtime.settings import Settings

__all__ = [
    "KEY_PREFIX",
    "TENANT_PATTERN",
    "ApiKey",
    "KeyError_",
    "create_key",
    "disable_key",
    "key_hash",
    "key_pk",
    "lookup_key",
    "new_key",
    "store_key",
]

#: Keys start with this, so they are easy to recognise (and to find in leaked text).
KEY_PREFIX = "swk_"
#: Tenant names prefix execution names (``<tenant>.<name>``), so they hold no ``.``.
#: A tenant name (it prefixes its executions' names: ``stepweave.runtime.records.tenant_in_name``).
TENANT_PATTERN = re.compile(TENANT_IN_NAME.pattern.removesuffix(r"\.") + "$")
_SORT = "APIKEY"


class KeyError_(StepweaveError):
    """An API key cannot be created (bad tenant name, duplicate)."""


@dataclass(frozen=True)
class ApiKey:
    hash: str
    tenant: str
    name: str
    created_at: str
    disabled: bool = False


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_pk(digest: str) -> str:
    return f"APIKEY#{digest}"


def _check_tenant(tenant: str) -> None:
    if not TENANT_PATTERN.match(tenant):
        raise KeyError_(f"tenant {tenant!r}: use 1-32 letters, digits, '_' or '-' "
                        "(starting with a letter or digit)")


def store_key(ddb: Any, settings: Settings, key: str, *, tenant: str, name: str = "default") -> ApiKey:
    """Store ``key`` (its hash) for ``tenant``; an existing item of the same key is kept."""
    _check_tenant(tenant)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = ApiKey(key_hash(key), tenant, name[:128], created)
    try:
        ddb.put_item(TableName=settings.require_table(), Item={
            "pk": {"S": key_pk(record.hash)}, "sk": {"S": _SORT}, "tenant": {"S": tenant},
            "name": {"S": record.name}, "createdAt": {"S": created}, "disabled": {"BOOL": False}},
            ConditionExpression="attribute_not_exists(pk)")
    except Exception as exc:
        if is_conditional_failure(exc):
            existing = lookup_key(ddb, settings, key)
            if existing is not None and existing.tenant == tenant:
                return existing
            raise KeyError_("this key is already stored for another tenant") from None
        raise
    return record


def create_key(ddb: Any, settings: Settings, *, tenant: str, name: str = "default") -> tuple[str, ApiKey]:
    """A new random key for ``tenant``: (the key, shown once; its stored record)."""
    key = new_key()
    return key, store_key(ddb, settings, key, tenant=tenant, name=name)


def lookup_key(ddb: Any, settings: Settings, key: str) -> ApiKey | None:
    digest = key_hash(key)
    found = ddb.get_item(TableName=settings.require_table(),
                         Key={"pk": {"S": key_pk(digest)}, "sk": {"S": _SORT}})
    item = found.get("Item")
    if item is None:
        return None
    return ApiKey(digest, item["tenant"]["S"], item.get("name", {}).get("S", ""),
                  item.get("createdAt", {}).get("S", ""), bool(item.get("disabled", {}).get("BOOL")))


def disable_key(ddb: Any, settings: Settings, key: str) -> None:
    ddb.update_item(TableName=settings.require_table(),
                    Key={"pk": {"S": key_pk(key_hash(key))}, "sk": {"S": _SORT}},
                    UpdateExpression="SET disabled = :t", ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":t": {"BOOL": True}})
