"""Reading a distributed Map's results back, and appending a loop chunk's results.

A distributed Map (``stepweave.compiler.distributed``) writes its children's results to the
payload bucket (``ResultWriter``): a ``manifest.json`` naming result files
(``SUCCEEDED_<n>.json``, ``FAILED_<n>.json``...), each a JSON array of the child executions,
whose ``Input`` and ``Output`` are JSON *text*, in no particular order. ``parallel_results``
orders them by the iteration index the Map put in each child's input and returns what the
state machine reads after the parallel: ``heads`` (iteration 0's exports, which
``<block.x>`` reads after the parallel as in Sim, and the last iteration's, whose workflow
variables win), ``results`` (each iteration's results, ``null`` for a failed one that the
parallel's tolerated-failure settings let pass) and ``count``. The handler's output goes
through ``stepweave.runtime.payloads.offload``, so a long ``results`` list becomes a stub.

``append_results``: a chunked loop's results so far (resolved from their stub by the
handler) and one chunk's.

``failed_item``: when a distributed Map fails past its tolerated failures, the first
failed item's error, which its child execution recorded in the payload bucket
(``stepweave.compiler.distributed.record_failures``), as the run's Fail state reads an
inline container's failure: ``{"block", "Error", "Cause"}``.
"""

from __future__ import annotations

import json
from typing import Any

from stepweave.errors import BLOCK_FAILED_ERROR, BlockInputError
from stepweave.runtime.payloads import PayloadStore, default_store

__all__ = ["parallel_results", "append_results", "failed_item", "collect"]


def _json(store: PayloadStore, bucket: str, key: str) -> Any:
    try:
        return json.loads(store.get(bucket, key))
    except Exception as exc:  # noqa: BLE001 - any read failure names the object
        raise BlockInputError(f"The parallel's results could not be read from "
                              f"s3://{bucket}/{key}: {exc}") from exc


def parallel_results(bucket: str, key: str, store: PayloadStore | None = None) -> dict[str, Any]:
    """``{"heads": [...], "results": [...], "count": n}`` from a Map Run's manifest."""
    store = store or default_store()
    manifest = _json(store, bucket, key)
    files = manifest.get("ResultFiles") or {}
    outputs: dict[int, Any] = {}
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for entry in files.get(status) or []:
            for row in _json(store, manifest.get("DestinationBucket") or bucket, entry["Key"]):
                index = json.loads(row.get("Input") or "{}").get("index")
                if not isinstance(index, int):
                    continue
                text = row.get("Output")
                outputs[index] = json.loads(text) if row.get("Status") == "SUCCEEDED" and text else None
    ordered = [outputs.get(i) for i in range(max(outputs) + 1)] if outputs else []
    heads = [{k: v for k, v in o.items() if k != "entries"} if isinstance(o, dict) else {}
             for o in (ordered[:1] + ordered[-1:])] if ordered else []
    results = [o.get("entries") if isinstance(o, dict) else None for o in ordered]
    return {"heads": heads, "results": results, "count": len(ordered)}


def append_results(acc: Any, add: Any) -> dict[str, Any]:
    """``{"results": acc + add}`` (either may be null: no results yet)."""
    before = acc if isinstance(acc, list) else []
    more = add if isinstance(add, list) else []
    return {"results": before + more}


def failed_item(bucket: str, key: str, container: str, error: Any,
                store: PayloadStore | None = None) -> dict[str, Any]:
    """The failure the run reports: the recorded item's (a block failure: that block's
    error; another: named after the container), else (no record: an item timed out or
    could not start) the Map's own ``error``, named after the container."""
    store = store or default_store()
    fallback = error if isinstance(error, dict) else {}
    try:
        record = json.loads(store.get(bucket, key))
    except Exception:  # noqa: BLE001 - no record (or unreadable): the Map's own error
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("Error"), str):
        return {"block": container, "Error": fallback.get("Error"), "Cause": fallback.get("Cause")}
    if record["Error"] == BLOCK_FAILED_ERROR:
        try:
            inner = json.loads(record.get("Cause") or "")
        except ValueError:
            inner = None
        if isinstance(inner, dict) and isinstance(inner.get("block"), str):
            return {"block": inner["block"], "Error": inner.get("Error"), "Cause": inner.get("Cause")}
    return {"block": container, "Error": record["Error"], "Cause": record.get("Cause")}


def collect(params: dict[str, Any], store: PayloadStore | None = None) -> dict[str, Any]:
    """The ``collect`` handler's work: ``op`` is ``parallel`` or ``append``."""
    op = params.get("op")
    if op == "parallel":
        bucket, key = params.get("bucket"), params.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise BlockInputError("collect: 'bucket' and 'key' of the results manifest are needed")
        return parallel_results(bucket, key, store)
    if op == "append":
        return append_results(params.get("acc"), params.get("add"))
    if op == "failed":
        bucket, key = params.get("bucket"), params.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise BlockInputError("collect: 'bucket' and 'key' of the failure record are needed")
        return failed_item(bucket, key, str(params.get("container") or ""), params.get("error"), store)
    raise BlockInputError(f"collect: unknown op {op!r} (parallel, append or failed)")
