"""JSON from outside (request bodies, ``--input``), parsed within bounds.

Python's ``json`` accepts what no other party would: ``NaN`` and ``Infinity``, ``1e400``
(read as infinity), integers of thousands of digits (whose conversion raises past 4,300) and
any nesting depth (past ~1,000 levels the parser raises ``RecursionError``; shallower
values may still overflow a later recursive walk). ``loads`` refuses all of them with a
``BadJson`` whose message names the value's place (``submission.amount``), so each caller
answers a clear 400 (or exit 2) before anything else reads the value.

Every number of an accepted value is a finite IEEE double (integers are kept exact), the
value nests at most ``MAX_DEPTH`` objects and arrays deep, and ``json.dumps`` gives valid
JSON for it.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "BadJson", "loads", "problem"]

#: Objects and arrays nest at most this deep (providers' payloads nest under 10).
MAX_DEPTH = 64
#: An integer with more digits is over a double's range (about 1.8e308): out of range.
MAX_INT_DIGITS = 308


_LARGEST = 10**MAX_INT_DIGITS


class BadJson(ValueError):
    """Text that is not JSON within the bounds; the message is safe to show."""


def _place(path: str) -> str:
    return path or "the value"


def problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """What is wrong with an already parsed value (a number that is not finite, nesting over
    ``max_depth``), naming its place; None when nothing. Iterative: any depth is safe."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{_place(path)}: not a finite number (NaN, Infinity and out-of-range numbers are not JSON)"
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _LARGEST:
            return f"{_place(path)}: the number is out of range"
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        for key, child in children:
            where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
            stack.append((child, where, depth + 1))
    return None


def loads(data: bytes | str, *, what: str = "the body", max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``data``; raises ``BadJson`` ("<what> is not JSON ...", "<what>:
    input.amount: not a finite number")."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise BadJson(f"{what} is not UTF-8 text") from None
    odd: list[str] = []  # set by the hooks: a number that is not a finite double

    def number(text: str) -> float:
        found = float(text)
        if not math.isfinite(found):
            odd.append(text)
        return found

    def integer(text: str) -> int | float:
        if len(text.lstrip("-")) > MAX_INT_DIGITS:  # past any double: infinity, reported below
            odd.append(text)
            return math.inf
        return int(text)

    def constant(name: str) -> float:
        odd.append(name)
        return math.nan

    try:
        value = json.loads(text, parse_float=number, parse_int=integer, parse_constant=constant)
    except RecursionError:
        raise BadJson(f"{what}: nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise BadJson(f"{what} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    # the walk names the place; the counts tell when it is needed at all
    if odd or text.count("[") + text.count("{") > max_depth:
        found = problem(value, max_depth=max_depth)
        if found is not None:
            raise BadJson(f"{what}: {found}")
    return value
