"""Pruning an output to the inline budget (the pure part of ``stepweave.runtime.payloads``).

Kept paths whose values are at most ``KEEP_LIMIT_BYTES`` are copied with the objects and
arrays along them; every other child of those is a *cut*, which may become a stub. Cuts are
stubbed largest first until the output fits (an array's elements after the last kept index
are one cut, its *tail*). If it still does not fit, the largest kept value is dropped from
the kept paths and the output pruned again; without kept paths and still too large, the
whole output is one stub.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stepweave.paths import MISSING, PathError, Segment, format_path, lookup, parse_path

__all__ = ["KEEP_LIMIT_BYTES", "Path", "StubMaker", "dumps", "json_size", "prune"]

#: A kept path's value stays inline up to this size.
KEEP_LIMIT_BYTES = 8192

Path = tuple[Segment, ...]
#: (path in the stored object, its size in bytes, first index of an array tail or None) -> stub
StubMaker = Callable[[Path, int, "int | None"], dict[str, Any]]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_size(value: Any) -> int:
    """Size of ``value`` as compact JSON, in UTF-8 bytes (what Step Functions counts)."""
    return len(dumps(value))


def prune(output: Any, *, keep: Sequence[str], budget: int, stub: StubMaker) -> Any:
    """A copy of ``output`` within ``budget`` bytes: kept paths inline as far as they fit,
    the largest other parts replaced by ``stub(...)``; the whole output as one stub when
    nothing else fits."""
    kept = _kept_paths(output, keep)
    while True:
        pruned, size = _prune_with(output, set(kept), budget, stub)
        if size <= budget:
            return pruned
        if not kept:
            return stub((), json_size(output), None)
        del kept[max(kept, key=lambda p: (kept[p], format_path(p)))]  # the largest goes first


def _kept_paths(output: Any, keep: Sequence[str]) -> dict[Path, int]:
    """Keep paths that exist and are small enough, without those inside another one."""
    found: dict[Path, int] = {}
    for text in keep:
        try:
            path = parse_path(text)
        except PathError:
            continue
        value = lookup(output, path)
        if path and value is not MISSING:
            size = json_size(value)
            if size <= KEEP_LIMIT_BYTES:
                found[path] = size
    return {p: s for p, s in found.items() if not any(p[:i] in found for i in range(1, len(p)))}


@dataclass
class _Cut:
    """A part of the pruned copy that may become a stub."""

    container: dict[str, Any] | list[Any]
    key: str | int  # in ``container``; for an array tail, its first index
    path: Path  # in the output; for an array tail, the array's
    size: int  # bytes it takes in the pruned copy's JSON
    tail: bool = False

    def replace(self, stub: StubMaker) -> int:
        """Put the stub in; return the bytes saved (nothing is done when it saves none)."""
        bytes_ = self.size + 2 if self.tail else self.size  # a tail's size has no brackets
        replacement = stub(self.path, bytes_, int(self.key) if self.tail else None)
        saved = self.size - json_size(replacement)
        if saved <= 0:
            return 0
        if self.tail:
            assert isinstance(self.container, list) and isinstance(self.key, int)
            del self.container[self.key:]
            self.container.append(replacement)
        else:
            self.container[self.key] = replacement  # type: ignore[index]
        return saved


def _prune_with(output: Any, kept: set[Path], budget: int, stub: StubMaker) -> tuple[Any, int]:
    routes = {p[:i] for p in kept for i in range(len(p))} | {()}
    cuts: list[_Cut] = []
    pruned = _open(output, (), kept, routes, cuts)
    size = json_size(pruned)
    for cut in sorted(cuts, key=lambda c: c.size, reverse=True):
        if size <= budget:
            break
        size -= cut.replace(stub)
    return pruned, size


def _open(value: Any, path: Path, kept: set[Path], routes: set[Path], cuts: list[_Cut]) -> Any:
    """A copy of the object or array at ``path`` (on the way to a kept path): kept values
    and the way to them are copied, every other child is a cut."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key] = _child(out, key, item, (*path, key), kept, routes, cuts)
        return out
    if isinstance(value, list):
        depth = len(path)
        indexes = [p[depth] for p in routes | kept if len(p) > depth and p[:depth] == path]
        last = max((i for i in indexes if isinstance(i, int)), default=-1)
        items: list[Any] = []
        for index, item in enumerate(value[:last + 1]):
            items.append(_child(items, index, item, (*path, index), kept, routes, cuts))
        rest = value[last + 1:]
        if rest:
            items.extend(rest)
            cuts.append(_Cut(items, last + 1, path, json_size(rest) - 2, tail=True))
        return items
    return value


def _child(container: dict[str, Any] | list[Any], key: str | int, item: Any, path: Path,
           kept: set[Path], routes: set[Path], cuts: list[_Cut]) -> Any:
    if path in kept:
        return item
    if path in routes:
        return _open(item, path, kept, routes, cuts)
    cuts.append(_Cut(container, key, path, json_size(item)))
    return item
