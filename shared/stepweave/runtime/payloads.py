"""Block outputs over the inline budget: stored in S3, replaced by references.

A Step Functions variable, like a state's input or output, holds at most 256 KiB. A block
handler keeps its output inline only when its JSON (compact, UTF-8) is within the inline
budget (``STEPWEAVE_INLINE_BUDGET_BYTES``, default 32 KiB, so that a state can carry several
outputs). Otherwise ``offload`` stores the whole output once, as one JSON object in the
payload bucket (``<state machine>/<execution>/<block id>/<uuid>.json``), and returns a
pruned copy in which large parts are *stubs*::

    {"$ref": {"bucket": "...", "key": "...", "path": "result.items", "bytes": 1048576}}

``path`` is where the part is in the stored object (notation: ``stepweave.paths``)
and ``bytes`` its size. Inside an array, a stub with ``"from": n`` stands for the elements
of the array at ``path`` from index ``n`` to the end (those before it stayed inline).

The paths the workflow reads (``keep``: ``result.count``, ``data.items[0].id``) stay
inline when each value is at most 8 KiB, with the objects and arrays along the path, so
that native blocks (which read variables directly and cannot follow a stub) still see
them. Every other part is stubbed, largest first, until the output fits; if the kept values
do not fit either, they are stubbed too, largest first.

``resolve`` goes the other way: a handler resolves its params before the block runs, so
stubs from earlier blocks become the real values again. The S3 client is created on first
use (``S3Store``), so a block whose params hold no stub and whose output fits never
creates one.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stepweave.errors import BlockInputError, BlockResourceError
from stepweave.paths import MISSING, PathError, format_path, lookup, parse_path
from stepweave.runtime.prune import KEEP_LIMIT_BYTES, Path, dumps, json_size, prune
from stepweave.runtime.settings import Settings

__all__ = [
    "KEEP_LIMIT_BYTES",
    "PayloadStore",
    "S3Store",
    "default_store",
    "execution_prefix",
    "has_stub",
    "json_size",
    "offload",
    "payload_key",
    "prune",
    "resolve",
    "stub_ref",
    "use_store",
]

_STUB_FIELDS = frozenset({"bucket", "key", "path", "bytes"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class PayloadStore(Protocol):
    def get(self, bucket: str, key: str) -> bytes: ...

    def put(self, bucket: str, key: str, body: bytes) -> None: ...


class S3Store:
    """The payload store on S3. ``client`` (a boto3 S3 client) is created on first use
    unless given."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # lazily: importing a handler must stay light

            self._client = boto3.client("s3")
        return self._client

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


_default_store: PayloadStore | None = None


def default_store() -> PayloadStore:
    """The process-wide store (reused across Lambda invocations)."""
    global _default_store
    if _default_store is None:
        _default_store = S3Store()
    return _default_store


def use_store(store: PayloadStore | None) -> None:
    """Replace the process-wide store (the embedded engine's S3); None: back to the default."""
    global _default_store
    _default_store = store


def stub_ref(value: Any) -> dict[str, Any] | None:
    """The ``$ref`` of a stub, else None (an object that merely has a ``$ref`` key is not one)."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ref = value.get("$ref")
    if not isinstance(ref, dict) or not _STUB_FIELDS <= ref.keys() <= _STUB_FIELDS | {"from"}:
        return None
    if not all(isinstance(ref[k], str) for k in ("bucket", "key", "path")):
        return None
    return ref


def has_stub(value: Any) -> bool:
    if isinstance(value, dict):
        return stub_ref(value) is not None or any(has_stub(v) for v in value.values())
    if isinstance(value, list):
        return any(has_stub(v) for v in value)
    return False


def execution_prefix(execution: str) -> str:
    """``<state machine>/<execution name>/`` (from an execution ARN): where the outputs of one
    execution are stored."""
    parts = execution.split(":")
    if len(parts) >= 8 and parts[0] == "arn" and parts[5] in ("execution", "express"):
        names = [parts[6], parts[7]]
    else:
        names = [execution or "unknown"]
    return "".join(_safe(n) + "/" for n in names)


def payload_key(execution: str, block_id: str) -> str:
    """``<state machine>/<execution name>/<block id>/<uuid>.json``."""
    return f"{execution_prefix(execution)}{_safe(block_id)}/{uuid.uuid4().hex}.json"


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("_") or "_"


# -- offloading ---------------------------------------------------------------------------------

def offload(output: Any, *, keep: Sequence[str], where: tuple[str, str],
            store: PayloadStore | None = None, settings: Settings | None = None) -> Any:
    """``output`` itself when within the budget; else stored once and returned pruned.

    ``where`` is (execution ARN, block id). Raises ``BlockResourceError`` when the output is
    over the budget and no bucket is configured, or when it cannot be stored."""
    settings = settings if settings is not None else Settings.from_env()
    budget = settings.inline_budget_bytes
    body = dumps(output)
    if len(body) <= budget:
        return output
    bucket = settings.payload_bucket
    if not bucket:
        raise BlockResourceError(
            f"The block's output is {len(body):,} bytes, over the inline budget of {budget:,} "
            "bytes (STEPWEAVE_INLINE_BUDGET_BYTES), and no payload bucket is configured to "
            "store it: set STEPWEAVE_PAYLOAD_BUCKET")
    key = payload_key(*where)

    def stub(path: Path, size: int, start: int | None) -> dict[str, Any]:
        ref: dict[str, Any] = {"bucket": bucket, "key": key, "path": format_path(path),
                               "bytes": size}
        if start is not None:
            ref["from"] = start
        return {"$ref": ref}

    pruned = prune(output, keep=keep, budget=budget, stub=stub)
    try:
        (store or default_store()).put(bucket, key, body)
    except Exception as exc:  # any storage failure fails the block, with its cause
        raise BlockResourceError(f"The block's output ({len(body):,} bytes) could not be stored "
                                 f"in s3://{bucket}/{key}: {exc}") from exc
    return pruned


# -- resolving ----------------------------------------------------------------------------------

def resolve(value: Any, store: PayloadStore | None = None, *, bucket: str | None = None,
            prefix: str = "") -> Any:
    """``value`` with every stub replaced by the part it references (each stored object is
    read once per call). Only stubs into ``bucket`` (any, when None) with a key starting with
    ``prefix`` are followed; handlers pass their execution's (``execution_prefix``), so that a
    run's input cannot name another execution's stored output. Anything else is left as it is.
    Raises ``BlockInputError`` when a reference cannot be followed."""
    if not has_stub(value):
        return value
    documents: dict[tuple[str, str], Any] = {}

    def ref_of(item: Any) -> dict[str, Any] | None:
        ref = stub_ref(item)
        if ref is None or bucket is not None and ref["bucket"] != bucket:
            return None
        return ref if ref["key"].startswith(prefix) else None

    def follow(ref: dict[str, Any]) -> Any:
        where = f"s3://{ref['bucket']}/{ref['key']}"
        source = (ref["bucket"], ref["key"])
        if source not in documents:
            try:
                documents[source] = json.loads((store or default_store()).get(*source))
            except Exception as exc:  # missing (expired), unreadable or not JSON
                raise BlockInputError(f"A stored block output could not be read from {where} "
                                      f"(path '{ref['path']}'): {exc}") from exc
        try:
            part = lookup(documents[source], parse_path(ref["path"]))
        except PathError:
            part = MISSING
        start = ref.get("from")
        if start is not None:
            part = part[start:] if isinstance(part, list) and isinstance(start, int) else MISSING
        if part is MISSING:
            raise BlockInputError(f"The stored block output {where} has no '{ref['path']}'"
                                  + (f" from index {start}" if start is not None else ""))
        return part

    return _resolve(value, ref_of, follow)


def _resolve(value: Any, ref_of: Callable[[Any], dict[str, Any] | None],
             follow: Callable[[dict[str, Any]], Any]) -> Any:
    if isinstance(value, dict):
        ref = ref_of(value)
        if ref is not None:
            return follow(ref)
        return {k: _resolve(v, ref_of, follow) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            ref = ref_of(item)
            if ref is not None and ref.get("from") is not None:
                out.extend(follow(ref))  # an array's tail
            else:
                out.append(_resolve(item, ref_of, follow))
        return out
    return value
