"""A shortcut for the most common JSONata expressions: a variable, or a path of field names
into one (``$b_start.items``, ``$states.input.index``, ``$states.context.Map.Item.Value``).

Each evaluation in V8 (``stepweave.local.jsonata_eval``) costs about half a millisecond of
hand-over between threads, and a distributed Map's child execution evaluates about ten of
these per item: at 10,000 items, most of a run. ``evaluate`` answers such an expression in
Python when the answer is certainly the one jsonata-js gives, and otherwise says ``SLOW``
(the caller evaluates it in V8):

* only ``$name`` followed by ``.field`` steps (no predicates, functions, operators);
* every step but the last goes through an object that has the field (a missing field is
  undefined, which the caller reports as V8 would: it is left to V8);
* a path of one or more steps whose value is an array is left to V8 (JSONata flattens and
  unwraps sequences along paths); a bare ``$name`` is returned as it is;
* the value is plain JSON: numbers as V8 gives them back (a double: integral numbers are
  integers, integers beyond 2^53 are left to V8), no other types.

Two more forms the loops compile to: ``$items[$i + 1]`` (an array's element at a whole
index within its bounds, when that element is not itself an array; jsonata-js evaluates
the index once per element, which at 10,000 items costs milliseconds) and ``$millis()``
(the time in milliseconds, as ``Date.now()``).

Anything else in the subset of :mod:`stepweave.local.jsonata_subset` (the templates a
container's body and a loop's bookkeeping compile to: object and array constructors,
blocks, conditions, comparisons and arithmetic on numbers, ``$type``/``$string``/
``$append``...) is answered there, under the same rule: exactly jsonata-js's value, or V8.
A value checked as plain JSON once (a variable's, or a result given here) is remembered by
identity for a while, so that a loop's growing results list is not checked again each
iteration.

``tests/engine/test_jsonata_fast.py`` compares it with jsonata-js.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from stepweave.local import jsonata_subset

__all__ = ["evaluate", "SLOW"]

SLOW: Any = object()
_INDEX = re.compile(r"\s*\$([A-Za-z_][A-Za-z0-9_]*)\[\$([A-Za-z_][A-Za-z0-9_]*) \+ 1\]\s*")
_MILLIS = re.compile(r"\s*\$millis\(\)\s*")
_PATH = re.compile(r"\s*\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*")
_MAX_INT = 2 ** 53


def evaluate(expression: str, variable: Callable[[str], Any]) -> Any:
    """The value of ``expression``, or ``SLOW``. ``variable(name)`` gives a variable's value
    (``$states`` too), or ``SLOW`` when it is not bound."""
    match = _PATH.fullmatch(expression)
    if match is None:
        return _other(expression, variable)
    value = variable(match.group(1))
    if value is SLOW:
        return SLOW
    steps = match.group(2).split(".")[1:]
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return SLOW
        value = value[step]
    if steps and isinstance(value, list):
        return SLOW
    return _plain(value)


def _other(expression: str, variable: Callable[[str], Any]) -> Any:
    if _MILLIS.fullmatch(expression):
        return int(time.time() * 1000)
    match = _INDEX.fullmatch(expression)
    if match is None:
        return _subset(expression, variable)
    items, index = variable(match.group(1)), variable(match.group(2))
    if not isinstance(items, list) or isinstance(index, bool) or not isinstance(index, (int, float)) \
            or not float(index).is_integer():
        return SLOW
    at = int(index) + 1
    if not 0 <= at < len(items) or isinstance(items[at], list):
        return SLOW
    return _plain(items[at])


def _plain(value: Any) -> Any:
    """``value`` as V8 hands JSON back, or ``SLOW`` when that might differ."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_INT else SLOW
    if isinstance(value, float):
        if not math.isfinite(value):
            return SLOW
        if value.is_integer():
            return int(value) if abs(value) <= _MAX_INT else SLOW
        return value
    if isinstance(value, (dict, list)):
        if not _all_plain(value):
            return SLOW
        return _integral(value)  # a copy: the caller may change it
    return SLOW


def _all_plain(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if abs(item) > _MAX_INT:
                return False
        elif isinstance(item, float):
            if not math.isfinite(item) or (item.is_integer() and abs(item) > _MAX_INT):
                return False
        else:
            return False
    return True


def _integral(value: Any) -> Any:
    """Integral floats as integers (as they come back from V8's JSON)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


_TREES_LIMIT = 4096
_trees: OrderedDict[str, Any] = OrderedDict()  # expression -> its tree, or None
_CHECKED_LIMIT = 4096
_checked: dict[int, tuple[Any, Any]] = {}  # id -> (a value, its plain JSON form)
_cache_lock = threading.Lock()


def _tree(expression: str) -> Any:
    with _cache_lock:
        if expression in _trees:
            _trees.move_to_end(expression)
            return _trees[expression]
    tree = jsonata_subset.compile_expression(expression)
    with _cache_lock:
        _trees[expression] = tree
        if len(_trees) > _TREES_LIMIT:
            _trees.popitem(last=False)
    return tree


def _remember(value: Any, plain: Any) -> None:
    if isinstance(value, (dict, list)):
        with _cache_lock:
            if len(_checked) >= _CHECKED_LIMIT:
                _checked.clear()
            _checked[id(value)] = (value, plain)


def _checked_plain(value: Any) -> Any:
    """``value`` as plain JSON (see ``_plain``), raising ``Slow`` where ``_plain`` says SLOW."""
    if isinstance(value, (dict, list)):
        known = _checked.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
    plain = _plain(value)
    if plain is SLOW:
        raise jsonata_subset.Slow()
    _remember(value, plain)
    _remember(plain, plain)
    return plain


def _subset(expression: str, variable: Callable[[str], Any]) -> Any:
    tree = _tree(expression)
    if tree is None:
        return SLOW

    def value_of(name: str, check: Any) -> Any:
        if not name:
            return _checked_plain(check)
        value = variable(name)
        if value is SLOW:
            raise jsonata_subset.Slow()
        return _checked_plain(value) if check else value

    try:
        result = jsonata_subset.run(tree, value_of)
    except (jsonata_subset.Slow, RecursionError):
        return SLOW
    if result is jsonata_subset.UNDEFINED:
        return SLOW  # reported by V8, as it reports it
    _remember(result, result)
    return result
