"""Deterministic, readable, unique names for states and variables."""

from __future__ import annotations

import hashlib
import re

__all__ = ["StateNames", "var_stem"]

_MAX_STATE = 80
_UNSAFE_STATE = re.compile(r"[^A-Za-z0-9 _.,:()#+\-]")


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


class StateNames:
    """Allocates state names unique across the whole state machine (AWS requires it)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, label: str) -> str:
        base = _UNSAFE_STATE.sub("_", label).strip() or "State"
        if len(base) > _MAX_STATE:
            base = base[: _MAX_STATE - 7].rstrip() + "~" + _short_hash(label)
        name, n = base, 2
        while name in self._used:
            suffix = f" #{n}"
            name = base[: _MAX_STATE - len(suffix)] + suffix
            n += 1
        self._used.add(name)
        return name


def var_stem(block_id: str, taken: set[str]) -> str:
    """A JSONata-safe variable stem for a block id, unique within ``taken``."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", block_id)[:40] or "b"
    if not stem[0].isalpha():
        stem = "x" + stem[:39]
    if stem in taken:
        stem = f"{stem[:33]}_{_short_hash(block_id)}"
    taken.add(stem)
    return stem
