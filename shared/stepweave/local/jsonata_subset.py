"""A small subset of JSONata, answered in Python exactly as jsonata-js answers it.

The forms Stepweave's containers compile to, evaluated once per item or iteration of a
parallel or loop (:mod:`stepweave.compiler.containers`): a block's output template
(``{"v": ($__x := ($states.input.item); $type($__x) = "string" ? $__x : ...)}``), a loop's
condition (``($i_L + 1) < $n_L and ...``), its results appended (``$append($r_L, [[...]])``)
and the latest output of a body (``$sort([{"o": ..., "t": ..., "k": 0}][t != null],
function($a, $b){ ... })``). In V8 each costs a hand-over between threads (about 0.4 ms);
here, microseconds.

:func:`compile_expression` parses an expression into a tree of this subset, or gives None
when the expression uses anything else. :func:`run` evaluates a tree, or raises
:class:`Slow` whenever the value might differ from jsonata-js's (the caller then evaluates
the expression in V8). What is answered, and only with these types:

* literals: double-quoted strings, whole numbers, ``true``, ``false``, ``null``;
* ``$name`` (a block's ``$x := ...`` binding, else the caller's variable), ``.field``
  steps (through an object; over an array of objects, the field of each, as a sequence;
  a step whose value is an array is left to V8);
* ``{"key": value, ...}`` (an undefined value leaves its key out) and ``[a, b]`` (an
  array constructor inside one is kept as an element, any other array value is spliced);
* ``( a; b )`` blocks, ``c ? a : b`` on a boolean, ``and``/``or`` on booleans;
* ``=``/``!=`` on null, booleans, strings and numbers (an undefined side is false);
  ``<``, ``<=``, ``>``, ``>=``, ``+``, ``-`` on numbers; ``&`` on strings, booleans, null and
  whole numbers below 10^15 (as ``$string`` writes them);
* ``$type``, ``$exists``, ``$string`` (as ``&``), ``$count`` (of an array), ``$append``
  (of arrays), and the sort above (its entries' ``t`` numbers or null, ``o`` objects);
* ``function($a, ...){ ... }`` bound to a name in a block and called by it (a block's
  text interpolation: ``$__s := function($v){ ... }; $__s($x) & $__s($y)``); a function
  value in a result is left to V8.

Values are never changed in place: a result may share parts with the variables it came from.
``tests/engine/test_jsonata_fast.py`` compares every form with jsonata-js.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Slow", "Node", "compile_expression", "run", "UNDEFINED"]


class Slow(Exception):
    """The answer might differ from jsonata-js's: evaluate in V8."""


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()
_MAX_INT = 2 ** 53
_STRING_DIGITS = 10 ** 15


class _Seq(list):  # type: ignore[type-arg]
    """A JSONata sequence (the values of a step over an array), not an array value."""


Node = tuple[Any, ...]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
  | (?P<number>[0-9]+(?![0-9.eE]))
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|!=|<=|>=|[=<>+\-&?:;,.()\[\]{}])
""", re.VERBOSE)

_SORT_COMPARATOR = re.compile(
    r"\s*\[\s*t\s*!=\s*null\s*\]\s*,\s*function\s*\(\s*\$a\s*,\s*\$b\s*\)\s*\{\s*\$a\.t\s*>\s*\$b\.t"
    r"\s+or\s+\(\s*\$a\.t\s*=\s*\$b\.t\s+and\s+\$a\.k\s*>\s*\$b\.k\s*\)\s*\}\s*\)")

_BINARY = {"or": 25, "and": 30, "=": 40, "!=": 40, "<": 40, "<=": 40, ">": 40, ">=": 40,
           "+": 50, "-": 50, "&": 50}
_FUNCTIONS = {"$type": 1, "$exists": 1, "$string": 1, "$count": 1, "$append": 2}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[tuple[str, str, int, int]] = []
        at = 0
        while at < len(source):
            match = _TOKEN.match(source, at)
            if match is None:
                raise Slow()
            kind = match.lastgroup or ""
            if kind != "ws":
                self.tokens.append((kind, match.group(), match.start(), match.end()))
            at = match.end()
        self.at = 0

    def peek(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            return "end", ""
        kind, text, _, _ = self.tokens[self.at]
        return kind, text

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (text is not None and token[1] != text):
            raise Slow()
        self.at += 1
        return token

    def expression(self, bind: int = 0) -> Node:
        left = self.prefix()
        while True:
            kind, text = self.peek()
            power = _BINARY.get(text) if kind in ("op", "name") else None
            if text == "?" and kind == "op" and bind < 20:
                self.take()
                then = self.expression(0)
                self.take(":")
                otherwise = self.expression(0)
                left = ("cond", left, then, otherwise)
                continue
            if power is None or power <= bind:
                return left
            self.take()
            left = ("op", text, left, self.expression(power))

    def prefix(self) -> Node:
        kind, text = self.take()
        node: Node
        if kind == "string":
            node = ("lit", json.loads(text))
        elif kind == "number":
            value = int(text)
            if value > _MAX_INT:
                raise Slow()
            node = ("lit", value)
        elif kind == "name" and text == "function":
            self.take("(")
            params: list[str] = []
            while self.peek() != ("op", ")"):
                if params:
                    self.take(",")
                param_kind, param = self.take()
                if param_kind != "var":
                    raise Slow()
                params.append(param[1:])
            self.take(")")
            self.take("{")
            body = self.expression()
            self.take("}")
            return ("lambda", tuple(params), body)
        elif kind == "name" and text in ("true", "false", "null"):
            node = ("lit", {"true": True, "false": False, "null": None}[text])
        elif kind == "var":
            if self.peek() == ("op", ":="):
                self.take()
                return ("bind", text[1:], self.expression(9))
            if self.peek() == ("op", "("):
                node = self.call(text)
            else:
                node = ("var", text[1:])
            if text == "$states":
                steps: list[str] = []
                while self.peek() == ("op", "."):
                    self.take()
                    step_kind, step = self.take()
                    if step_kind != "name" or step in ("and", "or", "true", "false", "null", "function"):
                        raise Slow()
                    steps.append(step)
                if not steps:
                    raise Slow()
                node = ("states", tuple(steps))
        elif text == "(" and kind == "op":
            parts = [self.expression()]
            while self.peek() == ("op", ";"):
                self.take()
                parts.append(self.expression())
            self.take(")")
            node = ("block", tuple(parts))
        elif text == "{" and kind == "op":
            pairs: list[tuple[str, Node]] = []
            while self.peek() != ("op", "}"):
                if pairs:
                    self.take(",")
                key_kind, key = self.take()
                if key_kind != "string":
                    raise Slow()
                self.take(":")
                pairs.append((json.loads(key), self.expression()))
            self.take("}")
            if len({key for key, _ in pairs}) != len(pairs):
                raise Slow()
            node = ("object", tuple(pairs))
        elif text == "[" and kind == "op":
            items: list[Node] = []
            while self.peek() != ("op", "]"):
                if items:
                    self.take(",")
                items.append(self.expression())
            self.take("]")
            node = ("array", tuple(items))
        else:
            raise Slow()
        while self.peek() == ("op", "."):
            self.take()
            step_kind, step = self.take()
            if step_kind != "name" or step in ("and", "or", "true", "false", "null", "function"):
                raise Slow()
            node = ("step", node, step)
        return node

    def call(self, name: str) -> Node:
        self.take("(")
        if name == "$sort":
            return self.sort()
        arity = _FUNCTIONS.get(name)
        args = [self.expression()]
        while self.peek() == ("op", ","):
            self.take()
            args.append(self.expression())
        self.take(")")
        if arity is None:  # a function bound in the expression (``$f := function($v){...}``)
            return ("apply", name[1:], tuple(args))
        if len(args) != arity:
            raise Slow()
        return ("call", name, tuple(args))

    def sort(self) -> Node:
        """``$sort([{"o": O, "t": T, "k": K}, ...][t != null], function($a, $b){ $a.t >
        $b.t or ($a.t = $b.t and $a.k > $b.k) })``: the latest entries, oldest first."""
        entries = self.prefix()
        if entries[0] != "array" or not all(e[0] == "object" and [k for k, _ in e[1]] == ["o", "t", "k"]
                                            for e in entries[1]):
            raise Slow()
        start = self.tokens[self.at][2] if self.at < len(self.tokens) else len(self.source)
        match = _SORT_COMPARATOR.match(self.source, start)
        if match is None:
            raise Slow()
        while self.at < len(self.tokens) and self.tokens[self.at][3] <= match.end():
            self.at += 1
        return ("sort", tuple(tuple(v for _, v in e[1]) for e in entries[1]))


def compile_expression(source: str) -> Node | None:
    """The expression's tree, or None when it is not in the subset."""
    try:
        parser = _Parser(source)
        tree = parser.expression()
        if parser.peek()[0] != "end":
            return None
        return tree
    except (Slow, ValueError, RecursionError):
        return None


#: ``variable(name, True)``: the variable's value as plain JSON (raising ``Slow`` when it is
#: unbound or not plain); ``variable(name, False)``: its value unchecked;
#: ``variable("", value)``: ``value`` checked as plain JSON.
Variable = Callable[[str, Any], Any]


def run(tree: Node, variable: Variable) -> Any:
    """The tree's value (``UNDEFINED`` for JSONata's undefined); raises ``Slow``."""
    value = _final(_eval(tree, [], variable))
    if isinstance(value, _Lambda):
        raise Slow()
    return value


def _final(value: Any) -> Any:
    if isinstance(value, _Seq):
        if not value:
            return UNDEFINED
        return value[0] if len(value) == 1 else list(value)
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lookup(name: str, scopes: list[dict[str, Any]], variable: Variable) -> Any:
    for scope in reversed(scopes):
        if name in scope:
            return scope[name]
    return variable(name, True)


def _eval(node: Node, scopes: list[dict[str, Any]], variable: Variable) -> Any:  # noqa: C901
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return _lookup(node[1], scopes, variable)
    if kind == "step":
        return _final(_step(_eval(node[1], scopes, variable), node[2]))
    if kind == "states":  # $states.a.b: only the value reached is checked
        value = variable("states", False)
        for field in node[1]:
            value = _final(_step(value, field))
        return variable("", value)
    if kind == "block":
        scopes.append({})
        try:
            value = UNDEFINED
            for part in node[1]:
                value = _eval(part, scopes, variable)
            return value
        finally:
            scopes.pop()
    if kind == "bind":
        value = _eval(node[2], scopes, variable)
        if not scopes:
            raise Slow()  # a binding outside a block binds in the expression's frame
        scopes[-1][node[1]] = value
        return value
    if kind == "cond":
        test = _eval(node[1], scopes, variable)
        if not isinstance(test, bool):
            raise Slow()
        return _eval(node[2] if test else node[3], scopes, variable)
    if kind == "op":
        return _operator(node[1], _eval(node[2], scopes, variable), _eval(node[3], scopes, variable))
    if kind == "object":
        out: dict[str, Any] = {}
        for key, part in node[1]:
            value = _final(_eval(part, scopes, variable))
            if isinstance(value, _Lambda):
                raise Slow()
            if value is not UNDEFINED:
                out[key] = value
        return out
    if kind == "array":
        items: list[Any] = []
        for part in node[1]:
            value = _eval(part, scopes, variable)
            if value is UNDEFINED:
                continue
            if isinstance(value, _Lambda):
                raise Slow()
            if part[0] == "array" or not isinstance(value, list):
                items.append(value)
            else:
                items.extend(value)
        return items
    if kind == "call":
        if any(node[1][1:] in scope for scope in scopes):
            raise Slow()  # a built-in's name bound in the expression
        return _call(node[1], [_final(_eval(a, scopes, variable)) for a in node[2]])
    if kind == "sort":
        return _sort(node[1], scopes, variable)
    if kind == "lambda":
        return _Lambda(node[1], node[2], list(scopes))
    if kind == "apply":
        function = UNDEFINED
        for scope in reversed(scopes):
            if node[1] in scope:
                function = scope[node[1]]
                break
        if not isinstance(function, _Lambda) or len(node[2]) > len(function.params):
            raise Slow()  # a variable's value, a built-in function not in the subset...
        args = [_final(_eval(a, scopes, variable)) for a in node[2]]
        frame = dict(zip(function.params, args + [UNDEFINED] * (len(function.params) - len(args))))
        return _eval(function.body, [*function.scopes, frame], variable)
    raise Slow()


class _Lambda:
    """A function defined in the expression, with the scopes it was defined in."""

    def __init__(self, params: tuple[str, ...], body: Node, scopes: list[dict[str, Any]]) -> None:
        self.params, self.body, self.scopes = params, body, scopes


def _step(value: Any, field: str) -> Any:
    if value is UNDEFINED:
        return UNDEFINED
    if isinstance(value, dict):
        if field not in value:
            return UNDEFINED
        found = value[field]
        if isinstance(found, list):
            raise Slow()
        return found
    if isinstance(value, list):
        seq = _Seq()
        for item in value:
            if not isinstance(item, dict):
                raise Slow()
            if field in item:
                if isinstance(item[field], list):
                    raise Slow()
                seq.append(item[field])
        return seq
    raise Slow()


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, str)) or _number(value)


def _operator(op: str, left: Any, right: Any) -> Any:
    if op in ("=", "!="):
        if left is UNDEFINED or right is UNDEFINED:
            return False
        if not (_scalar(left) and _scalar(right)):
            raise Slow()
        same = (type(left) is type(right) or (_number(left) and _number(right))) and left == right
        return same if op == "=" else not same
    if op == "&":
        return _text(left) + _text(right)
    if op in ("and", "or"):
        if not (isinstance(left, bool) and isinstance(right, bool)):
            raise Slow()
        return (left and right) if op == "and" else (left or right)
    if not (_number(left) and _number(right)):
        raise Slow()
    if op == "+":
        return _checked_number(left + right)
    if op == "-":
        return _checked_number(left - right)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _checked_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise Slow()
    if abs(value) > _MAX_INT:
        raise Slow()
    return value


def _text(value: Any) -> str:
    """``$string`` of a value (undefined: empty), for the values answered here."""
    if value is UNDEFINED:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if _number(value) and float(value).is_integer() and abs(value) < _STRING_DIGITS:
        return str(int(value))
    raise Slow()


def _call(name: str, args: list[Any]) -> Any:
    value = args[0]
    if name == "$exists":
        return value is not UNDEFINED
    if value is UNDEFINED and name in ("$type", "$string"):
        return UNDEFINED
    if name == "$type":
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "boolean"
        if _number(value):
            return "number"
        if isinstance(value, str):
            return "string"
        if isinstance(value, list):
            return "array"
        if isinstance(value, dict):
            return "object"
        raise Slow()
    if name == "$string":
        return _text(value)
    if name == "$count":
        if isinstance(value, list):
            return len(value)
        raise Slow()
    if name == "$append":
        other = args[1]
        if value is UNDEFINED or other is UNDEFINED or not isinstance(value, list) \
                or not isinstance(other, list):
            raise Slow()
        return value + other
    raise Slow()


def _sort(entries: tuple[tuple[Node, ...], ...], scopes: list[dict[str, Any]],
          variable: Variable) -> Any:
    kept: list[tuple[Any, Any, dict[str, Any]]] = []
    for o_node, t_node, k_node in entries:
        o = _final(_eval(o_node, scopes, variable))
        t = _final(_eval(t_node, scopes, variable))
        k = _final(_eval(k_node, scopes, variable))
        if t is UNDEFINED or t is None:
            continue  # [t != null] drops it
        if not (_number(t) and _number(k)) or not isinstance(o, dict):
            raise Slow()
        kept.append((t, k, {"o": o, "t": t, "k": k}))
    if not kept:
        return UNDEFINED
    kept.sort(key=lambda entry: (entry[0], entry[1]))  # stable, as jsonata's merge sort
    return [entry[2] for entry in kept]
