"""The size and a digest of a value's JSON text, for large arrays without writing them out
each time.

A loop's states see its results so far in a variable that grows by one entry per iteration
(``$append($r, [...])``), and the engine measures every assigned variable against AWS's size
limits (:mod:`stepweave.local.limits`) and hashes the variables a state sees for redrive
(:mod:`stepweave.local.moto_redrive`): written out in full each time, a 1,000-iteration
chunk writes half a million entries. An array's text is ``[`` + its elements' texts joined
by ``,`` + ``]`` (``separators=(",", ":")``), so for an array that extends one seen
recently (the same element objects first, as ``$append`` gives) only the new elements are
written: the size adds up and the digest continues from the saved hash state. Values are
replaced, never changed in place, which is what makes an array's identity stand for its
text while it is remembered.
"""

from __future__ import annotations

import hashlib
import json
import operator
import threading
from collections import OrderedDict
from typing import Any

__all__ = ["text", "size_and_digest", "LARGE"]

#: Arrays at least this long are remembered (shorter ones are written out).
LARGE = 32
_RECENT = 64
_lock = threading.Lock()
#: id -> (the array, the hash of its text without the closing bracket, that text's size)
_known: OrderedDict[int, tuple[list[Any], Any, int]] = OrderedDict()


def text(value: Any) -> bytes:
    """The value's JSON text as the engine writes it for sizes and keys (UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _prefix(value: list[Any]) -> tuple[list[Any], Any, int] | None:
    with _lock:
        candidates = list(reversed(_known.values()))
    for known in candidates:
        head = known[0]
        n = len(head)
        if 0 < n < len(value) and value[n - 1] is head[n - 1] and value[0] is head[0] \
                and all(map(operator.is_, head, value[:n])):
            return known
    return None


def size_and_digest(value: Any) -> tuple[int, bytes]:
    """The byte size of ``text(value)`` and a 16-byte digest of it."""
    if not isinstance(value, list) or len(value) < LARGE:
        written = text(value)
        return len(written), hashlib.blake2b(written, digest_size=16).digest()
    with _lock:
        known = _known.get(id(value))
        if known is not None and known[0] is value:
            _known.move_to_end(id(value))
    if known is None or known[0] is not value:
        base = _prefix(value)
        if base is None:
            hasher, size, start = hashlib.blake2b(b"[", digest_size=16), 1, 0
        else:
            hasher, size, start = base[1].copy(), base[2], len(base[0])
        for index in range(start, len(value)):
            piece = (b"," if index else b"") + text(value[index])
            hasher.update(piece)
            size += len(piece)
        known = (value, hasher, size)
        with _lock:
            _known[id(value)] = known
            while len(_known) > _RECENT:
                _known.popitem(last=False)
    final = known[1].copy()
    final.update(b"]")
    return known[2] + 1, final.digest()
