"""Syntax tree of a condition expression, and its translation to JSONata.

The parser in :mod:`stepweave.compiler.jsexpr` builds the tree defined here and has
already rejected everything unsupported, so the emitter never fails.

JSONata has no NaN, no Infinity and a different idea of truthiness and of ``+``,
so the emitted expression models JavaScript values explicitly:

* ``undefined`` is JSONata's "no value" (a missing path);
* ``NaN``, ``Infinity`` and ``-Infinity`` are the helper lambdas ``$__nan``,
  ``$__inf`` and ``$__ninf`` (a function never occurs in JSON data, so a value
  whose ``$type`` is ``"function"`` is one of them; calling it gives its name);
* every other value is the JSON value itself.

Operations that differ from JSONata go through small helper functions (``$__t``
is ``Boolean(x)``, ``$__cmp`` compares like ``<`` ...). Only the helpers an
expression needs are defined, in a block in front of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "METHOD_ARITY",
    "ArrayLit",
    "Binary",
    "Call",
    "Cond",
    "Context",
    "Index",
    "Literal",
    "Logical",
    "Member",
    "Method",
    "Node",
    "Ref",
    "Special",
    "Unary",
    "emit_condition",
]


@dataclass(frozen=True)
class Literal:
    """A JSON-representable constant; ``None`` is ``null``."""

    value: str | float | bool | None


@dataclass(frozen=True)
class Special:
    """``undefined``, ``NaN`` or ``Infinity``."""

    name: str


@dataclass(frozen=True)
class ArrayLit:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Ref:
    """A ``<block.path>`` reference; ``inner`` is the text between the brackets."""

    inner: str


@dataclass(frozen=True)
class Context:
    """The bare identifier ``context``."""


@dataclass(frozen=True)
class Member:
    obj: Node
    name: str


@dataclass(frozen=True)
class Index:
    obj: Node
    key: Node


@dataclass(frozen=True)
class Method:
    obj: Node
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Call:
    """``Number(x)``, ``String(x)``, ``Boolean(x)`` or ``Array.isArray(x)``."""

    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str  # "!", "-", "+", "typeof"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # arithmetic, relational or equality operator
    left: Node
    right: Node


@dataclass(frozen=True)
class Logical:
    op: str  # "&&", "||", "??"
    left: Node
    right: Node


@dataclass(frozen=True)
class Cond:
    test: Node
    then: Node
    other: Node


Node: TypeAlias = (
    Literal
    | Special
    | ArrayLit
    | Ref
    | Context
    | Member
    | Index
    | Method
    | Call
    | Unary
    | Binary
    | Logical
    | Cond
)

#: Supported methods and how many arguments each takes.
METHOD_ARITY: dict[str, int] = {
    "includes": 1,
    "startsWith": 1,
    "endsWith": 1,
    "indexOf": 1,
    "toLowerCase": 0,
    "toUpperCase": 0,
    "trim": 0,
}

_METHOD_HELPER = {
    "includes": "inc",
    "startsWith": "sw",
    "endsWith": "ew",
    "indexOf": "io",
    "toLowerCase": "lc",
    "toUpperCase": "uc",
    "trim": "trim",
}

_RELATIONAL = {"<": "= -1", ">": "= 1", "<=": "in [-1, 0]", ">=": "in [0, 1]"}
_EQUALITY = ("===", "!==", "==", "!=")
_BOOLEAN_METHODS = ("includes", "startsWith", "endsWith")

# Whole-string anchors use a lookahead instead of "$" so that no "$" stands alone.
_END = r"(?![\s\S])"
_TRIM_RE = r"/^\s+|\s+" + _END + "/"

#: name -> (helpers it calls, JSONata definition). Emitted in this order.
_HELPERS: dict[str, tuple[tuple[str, ...], str]] = {
    "nan": ((), 'function(){ "NaN" }'),
    "inf": ((), 'function(){ "Infinity" }'),
    "ninf": ((), 'function(){ "-Infinity" }'),
    # Boolean(v)
    "t": (
        (),
        (
            'function($v){ ($y := $type($v); $y = "boolean" ? $v : $y = "number" ? $v != 0'
            ' : $y = "string" ? $v != "" : $y = "function" ? $v() != "NaN"'
            ' : $y in ["array", "object"]) }'
        ),
    ),
    # String(v)
    "s": (
        (),
        (
            'function($v){ ($y := $type($v); $not($exists($v)) ? "undefined" : $y = "string" ? $v'
            ' : $y = "function" ? $v() : $y = "array" ? ($count($v) = 0 ? ""'
            ' : $join($map($v, function($e){ $type($e) = "null" ? "" : $__s($e) }), ","))'
            ' : $y = "object" ? "[object Object]" : $string($v)) }'
        ),
    ),
    # Number(s) for a string s
    "sn": (
        ("nan", "inf", "ninf"),
        (
            "function($s){ ($x := $replace($s, " + _TRIM_RE + ', ""); $x = "" ? 0'
            " : $contains($x, /^[+-]?Infinity" + _END + "/)"
            ' ? ($substring($x, 0, 1) = "-" ? $__ninf : $__inf)'
            r" : $contains($x, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?" + _END + "/)"
            r" ? ($g := $match($x, /^([+-]?)(\d*)(\.?)(\d*)([eE][+-]?\d+|)/).groups;"
            ' $number(($g[0] = "-" ? "-" : "")'
            r' & ($g[1] = "" ? "0" : $replace($g[1], /^0+(?=\d)/, ""))'
            ' & ($g[3] = "" ? "" : "." & $g[3]) & $g[4]))'
            " : $contains($x, /^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)" + _END + "/)"
            " ? ($b := $lowercase($substring($x, 1, 1));"
            ' $reduce($split($lowercase($substring($x, 2)), ""), function($a, $c){'
            ' $a * ($b = "x" ? 16 : $b = "o" ? 8 : 2)'
            ' + $length($substringBefore("0123456789abcdef", $c)) }, 0))'
            " : $__nan) }"
        ),
    ),
    # Number(v)
    "n": (
        ("sn", "s", "nan"),
        (
            'function($v){ ($y := $type($v); $y = "number" or $y = "function" ? $v'
            ' : $y = "boolean" ? ($v ? 1 : 0) : $y = "null" ? 0 : $y = "string" ? $__sn($v)'
            ' : $y = "array" ? $__sn($__s($v)) : $__nan) }'
        ),
    ),
    # internal type name: undefined null boolean number string array object
    "ty": (
        (),
        (
            'function($v){ $exists($v) ? ($type($v) = "function" ? "number" : $type($v))'
            ' : "undefined" }'
        ),
    ),
    "typeof": (
        ("ty",),
        ('function($v){ ($y := $__ty($v); $y = "null" or $y = "array" ? "object" : $y) }'),
    ),
    # a === b (arrays and objects compare by value)
    "eq": (
        (),
        (
            "function($a, $b){ $exists($a) and $exists($b)"
            ' ? ($type($a) = "function" or $type($b) = "function"'
            ' ? ($type($a) = $type($b) and $a() = $b() and $a() != "NaN") : $a = $b)'
            " : $exists($a) = $exists($b) }"
        ),
    ),
    # a == b
    "leq": (
        ("ty", "eq", "n", "s"),
        (
            'function($a, $b){ ($x := $__ty($a); $y := $__ty($b); $o := ["array", "object"];'
            ' $u := ["undefined", "null"];'
            " $x = $y or ($x in $o and $y in $o) ? $__eq($a, $b)"
            " : $x in $u or $y in $u ? ($x in $u and $y in $u)"
            ' : $x = "boolean" ? $__leq($__n($a), $b) : $y = "boolean" ? $__leq($a, $__n($b))'
            " : $x in $o ? $__leq($__s($a), $b) : $y in $o ? $__leq($a, $__s($b))"
            " : $__eq($__n($a), $__n($b))) }"
        ),
    ),
    # -1, 0, 1 like a <=> b, or 2 when unordered (NaN involved)
    "cmp": (
        ("s", "n"),
        (
            'function($a, $b){ ($o := ["array", "object"];'
            " $p := $type($a) in $o ? $__s($a) : $a; $q := $type($b) in $o ? $__s($b) : $b;"
            ' $type($p) = "string" and $type($q) = "string" ? ($p < $q ? -1 : $p = $q ? 0 : 1)'
            " : ($x := $__n($p); $y := $__n($q);"
            ' $r := function($v){ $type($v) = "function"'
            ' ? ($v() = "Infinity" ? 1 : $v() = "-Infinity" ? -1 : 2) : 0 };'
            " $i := $r($x); $j := $r($y);"
            " $i = 2 or $j = 2 ? 2 : $i != $j ? ($i < $j ? -1 : 1) : $i != 0 ? 0"
            " : $x < $y ? -1 : $x = $y ? 0 : 1)) }"
        ),
    ),
    # -v for a number v
    "neg": (
        ("inf", "ninf"),
        (
            'function($v){ $type($v) = "function" ? ($v() = "Infinity" ? $__ninf'
            ' : $v() = "-Infinity" ? $__inf : $v) : -$v }'
        ),
    ),
    # x op y for numbers x, y (op one of + - * / %)
    "num": (
        ("nan", "inf", "ninf", "nsp"),
        (
            'function($o, $x, $y){ $type($x) = "function" or $type($y) = "function"'
            ' ? $__nsp($o, $x, $y) : $o = "+" ? $x + $y : $o = "-" ? $x - $y'
            ' : $o = "*" ? $x * $y'
            ' : $o = "/" ? ($y != 0 ? $x / $y : $x = 0 ? $__nan : $x > 0 ? $__inf : $__ninf)'
            " : $y = 0 ? $__nan : $x = $floor($x) and $y = $floor($y) ? $x % $y"
            " : $x - $y * ($x / $y < 0 ? $ceil($x / $y) : $floor($x / $y)) }"
        ),
    ),
    # the same when NaN or an infinity is involved
    "nsp": (
        ("nan", "inf", "ninf", "neg"),
        (
            'function($o, $x, $y){ ($f := function($v){ $type($v) = "function" };'
            ' $s := function($v){ $f($v) ? ($v() = "Infinity" ? 1 : $v() = "-Infinity" ? -1 : 0)'
            " : $v > 0 ? 1 : $v < 0 ? -1 : 0 };"
            " $mk := function($g){ $g > 0 ? $__inf : $__ninf };"
            " $i := $s($x); $j := $s($y);"
            " ($f($x) and $i = 0) or ($f($y) and $j = 0) ? $__nan"
            ' : $o = "-" ? $__nsp("+", $x, $__neg($y))'
            ' : $o = "+" ? ($f($x) and $f($y) ? ($i = $j ? $x : $__nan) : $f($x) ? $x : $y)'
            ' : $o = "*" ? ($i * $j = 0 ? $__nan : $mk($i * $j))'
            ' : $o = "/" ? ($f($x) and $f($y) ? $__nan : $f($y) ? 0'
            " : $mk($i * ($j < 0 ? -1 : 1)))"
            " : $f($x) ? $__nan : $x) }"
        ),
    ),
    # a + b
    "add": (
        ("s", "n", "num"),
        (
            'function($a, $b){ ($o := ["array", "object"];'
            " $p := $type($a) in $o ? $__s($a) : $a; $q := $type($b) in $o ? $__s($b) : $b;"
            ' $type($p) = "string" or $type($q) = "string" ? $__s($p) & $__s($q)'
            ' : $__num("+", $__n($p), $__n($q))) }'
        ),
    ),
    # v.length
    "len": (
        (),
        (
            'function($v){ $type($v) = "string" ? $length($v) : $type($v) = "array" ? $count($v)'
            ' : $type($v) = "object" ? $lookup($v, "length") }'
        ),
    ),
    # v.name
    "get": ((), 'function($v, $k){ $type($v) = "object" ? $lookup($v, $k) }'),
    # v[k]
    "idx": (
        ("s", "len"),
        (
            "function($v, $k){ ($y := $type($v); $p := $__s($k);"
            ' $y = "object" ? $lookup($v, $p) : $p = "length" ? $__len($v)'
            r' : ($y = "array" or $y = "string") and $contains($p, /^(0|[1-9]\d*)' + _END + "/)"
            ' ? ($i := $number($p); $y = "array" ? ($i < $count($v) ? $v[$i])'
            " : ($i < $length($v) ? $substring($v, $i, 1)))) }"
        ),
    ),
    # [v] as a one-element array even when v is itself an array (undefined -> null)
    "wrap": ((), 'function($v){ $exists($v) ? ($type($v) = "array" ? [[$v]] : [$v]) : [null] }'),
    "inc": (
        ("s", "eq"),
        (
            'function($v, $x){ $type($v) = "string" ? $contains($v, $__s($x))'
            ' : $type($v) = "array" ? $reduce($v, function($a, $e){ $a or $__eq($e, $x)'
            ' or ($type($e) = "function" and $type($x) = "function"'
            ' and $e() = "NaN" and $x() = "NaN") }, false)'
            ' : $exists($v) and $type($v) != "null" ? false }'
        ),
    ),
    "sw": (
        ("s",),
        (
            'function($v, $p){ $type($v) = "string"'
            " ? ($q := $__s($p); $substring($v, 0, $length($q)) = $q)"
            ' : $exists($v) and $type($v) != "null" ? false }'
        ),
    ),
    "ew": (
        ("s",),
        (
            'function($v, $p){ $type($v) = "string" ? ($q := $__s($p); $n := $length($q);'
            " $n = 0 or ($n <= $length($v) and $substring($v, $length($v) - $n) = $q))"
            ' : $exists($v) and $type($v) != "null" ? false }'
        ),
    ),
    "io": (
        ("s", "eq"),
        (
            'function($v, $x){ $type($v) = "string" ? ($q := $__s($x);'
            " $contains($v, $q) ? $length($substringBefore($v, $q)) : -1)"
            ' : $type($v) = "array" ? $reduce($v, function($a, $e, $i){ $a >= 0 ? $a'
            " : $__eq($e, $x) ? $i : -1 }, -1) }"
        ),
    ),
    "lc": ((), 'function($v){ $type($v) = "string" ? $lowercase($v) }'),
    "uc": ((), 'function($v){ $type($v) = "string" ? $uppercase($v) }'),
    "trim": ((), 'function($v){ $type($v) = "string" ? $replace($v, ' + _TRIM_RE + ', "") }'),
}


def emit_condition(node: Node, resolve_ref: Callable[[str], str], context_expr: str | None) -> str:
    """JSONata for ``Boolean(node)``, with the helpers it uses defined in front."""
    emitter = _Emitter(resolve_ref, context_expr)
    body = emitter.boolean(node)
    names = _with_dependencies(emitter.used)
    if not names:
        return body
    defs = "; ".join(f"$__{name} := {_HELPERS[name][1]}" for name in names)
    return f"({defs}; {body})"


def _with_dependencies(used: set[str]) -> list[str]:
    needed: set[str] = set()
    todo = list(used)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(_HELPERS[name][0])
    return [name for name in _HELPERS if name in needed]


def _is_boolean(node: Node) -> bool:
    """Whether the emitted value of ``node`` is always ``true`` or ``false``."""
    match node:
        case Literal(value=bool()):
            return True
        case Unary(op="!") | Call(func="Boolean" | "Array.isArray"):
            return True
        case Binary(op=op):
            return op in _RELATIONAL or op in _EQUALITY
        case Logical(op="&&" | "||", left=left, right=right):
            return _is_boolean(left) and _is_boolean(right)
        case Cond(then=then, other=other):
            return _is_boolean(then) and _is_boolean(other)
    return False


def _is_plain(node: Node) -> bool:
    """Whether ``node`` can be written as a JSONata array element as it is."""
    if isinstance(node, Literal):
        return True
    return isinstance(node, ArrayLit) and all(_is_plain(item) for item in node.items)


class _Emitter:
    def __init__(self, resolve_ref: Callable[[str], str], context_expr: str | None) -> None:
        self._resolve_ref = resolve_ref
        self._context_expr = context_expr
        self._temps = 0
        self.used: set[str] = set()

    # -- helpers -----------------------------------------------------------------

    def _call(self, helper: str, *args: str) -> str:
        self.used.add(helper)
        return f"$__{helper}({', '.join(args)})"

    def _ref(self, helper: str) -> str:
        self.used.add(helper)
        return f"$__{helper}"

    def _temp(self) -> str:
        self._temps += 1
        return f"$__v{self._temps}"

    # -- boolean context ------------------------------------------------------------

    def boolean(self, node: Node) -> str:
        """JSONata evaluating to ``Boolean(node)``."""
        match node:
            case Logical(op="&&" | "||" as op, left=left, right=right):
                word = "and" if op == "&&" else "or"
                return f"({self.boolean(left)} {word} {self.boolean(right)})"
            case Cond(test=test, then=then, other=other):
                return f"({self.boolean(test)} ? {self.boolean(then)} : {self.boolean(other)})"
            case Literal(value=value):
                return "true" if value else "false"
            case Method(name=name) if name in _BOOLEAN_METHODS:
                # true/false, or undefined when called on null or undefined (as with ?.)
                return f"({self.value(node)} = true)"
        if _is_boolean(node):
            return self.value(node)
        return self._call("t", self.value(node))

    def number(self, node: Node) -> str:
        """JSONata evaluating to ``Number(node)``."""
        if isinstance(node, Literal) and isinstance(node.value, float):
            return self.value(node)
        return self._call("n", self.value(node))

    # -- value context --------------------------------------------------------------

    def value(self, node: Node) -> str:
        """JSONata evaluating to the JavaScript value of ``node``."""
        match node:
            case Literal(value=value):
                return self._literal(value)
            case Special(name=name):
                return self._special(name)
            case ArrayLit(items=items):
                return self._array(items)
            case Ref(inner=inner):
                return f"({self._resolve_ref(inner)})"
            case Context():
                return f"({self._context_expr})"
            case Member() | Index():
                return self._access(node)
            case Method(obj=obj, name=name, args=args):
                values = [self.value(obj)] + [self.value(arg) for arg in args]
                return self._call(_METHOD_HELPER[name], *values)
            case Call(func=func, args=args):
                return self._function(func, args)
            case Unary(op=op, operand=operand):
                return self._unary(op, operand)
            case Binary(op=op, left=left, right=right):
                return self._binary(op, left, right)
            case Logical(op=op, left=left, right=right):
                return self._logical(op, left, right)
            case Cond(test=test, then=then, other=other):
                return f"({self.boolean(test)} ? {self.value(then)} : {self.value(other)})"
        raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover

    def _literal(self, value: str | float | bool | None) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return _string_literal(value)
        if math.isinf(value):
            return self._ref("inf" if value > 0 else "ninf")
        if value == int(value) and abs(value) < 1e21:
            text = str(int(value))
        else:
            text = repr(value)
        return f"({text})" if text.startswith("-") else text

    def _special(self, name: str) -> str:
        if name == "undefined":
            return "()"
        return self._ref("nan" if name == "NaN" else "inf")

    def _array(self, items: tuple[Node, ...]) -> str:
        if all(_is_plain(item) for item in items):
            return "[" + ", ".join(self.value(item) for item in items) + "]"
        parts = [
            f"[{self.value(item)}]" if _is_plain(item) else self._call("wrap", self.value(item))
            for item in items
        ]
        result = parts[0]
        for part in parts[1:]:
            result = f"$append({result}, {part})"
        return result

    def _access(self, node: Member | Index) -> str:
        obj = self.value(node.obj)
        if isinstance(node, Member):
            name = node.name
        elif isinstance(node.key, Literal) and isinstance(node.key.value, str):
            name = node.key.value
            if name == "length" or name.isdigit():
                return self._call("idx", obj, self.value(node.key))
        else:
            return self._call("idx", obj, self.value(node.key))
        if name == "length":
            return self._call("len", obj)
        return self._call("get", obj, _string_literal(name))

    def _function(self, func: str, args: tuple[Node, ...]) -> str:
        if not args:
            return {"Number": "0", "String": '""'}.get(func, "false")
        arg = args[0]
        if func == "Number":
            return self.number(arg)
        if func == "String":
            return self._call("s", self.value(arg))
        if func == "Boolean":
            return self.boolean(arg)
        return f'($type({self.value(arg)}) = "array")'

    def _unary(self, op: str, operand: Node) -> str:
        if op == "!":
            return f"$not({self.boolean(operand)})"
        if op == "typeof":
            return self._call("typeof", self.value(operand))
        if op == "+":
            return self.number(operand)
        if isinstance(operand, Literal) and isinstance(operand.value, float):
            return self._literal(-operand.value)
        return self._call("neg", self.number(operand))

    def _binary(self, op: str, left: Node, right: Node) -> str:
        if op in _EQUALITY:
            return self._equality(op, left, right)
        if op in _RELATIONAL and ((_number_literal(left) and _data(right))
                                  or (_number_literal(right) and _data(left))):
            return self._compare_to_number(op, left, right)
        if op in _RELATIONAL:
            return f"({self._call('cmp', self.value(left), self.value(right))} {_RELATIONAL[op]})"
        if op == "+":
            return self._call("add", self.value(left), self.value(right))
        return self._call("num", f'"{op}"', self.number(left), self.number(right))

    def _compare_to_number(self, op: str, left: Node, right: Node) -> str:
        """``<x.n> > 10``, the common case, without the general comparison helpers: exact
        for numbers, numeric text, booleans, null and undefined; an array, object or
        hex/octal/binary text compared with a number stops the evaluation with a clear
        error rather than risking a different answer than JavaScript's."""
        literal_left = _number_literal(left)
        number = self.value(left if literal_left else right)
        v = self._temp()
        x = f"{v}n"
        lhs, rhs = (number, x) if literal_left else (x, number)
        # +/-Infinity as text: compare the sign against any finite number instead
        inf_lhs, inf_rhs = ("0", f"{v}i") if literal_left else (f"{v}i", "0")
        numeric = r"/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*(?![\s\S])/"
        inf = r"/^\s*[+-]?Infinity\s*(?![\s\S])/"
        unsupported = _string_literal(
            "[[sw:a condition compares a value that is not a number, numeric text, boolean "
            "or null with a number; convert it first (e.g. Number(x) or x.length):sw]]")
        text = f'$type({v}) = "string"'
        return (f"({v} := {self.value(right if literal_left else left)}; "
                f'{v}i := {text} and $contains({v}, {inf}) ? ($contains({v}, "-") ? -1 : 1) : 0; '
                f'{x} := $type({v}) = "number" ? {v} '
                f': $type({v}) = "boolean" ? ({v} ? 1 : 0) '
                f': $type({v}) = "null" or ({text} and $trim({v}) = "") ? 0 '
                f": {text} and $contains({v}, {numeric}) ? $number($trim({v})) "
                f": {v}i != 0 or $not($exists({v})) or {text} ? () "
                f": $error({unsupported}); "
                f"$exists({x}) ? ({lhs} {op} {rhs}) : {v}i != 0 ? ({inf_lhs} {op} {inf_rhs}) : false)")

    def _equality(self, op: str, left: Node, right: Node) -> str:
        a, b = self.value(left), self.value(right)
        if op in ("===", "!==") and (isinstance(left, Literal) or isinstance(right, Literal)):
            # JSONata "=" is false when a side is undefined, as === is here.
            test = f"({a} = {b})"
        else:
            test = self._call("eq" if op in ("===", "!==") else "leq", a, b)
        return f"$not({test})" if op in ("!==", "!=") else test

    def _logical(self, op: str, left: Node, right: Node) -> str:
        if op == "&&" and _is_boolean(left):
            return f"({self.value(left)} ? {self.value(right)} : false)"
        if op == "||" and _is_boolean(left):
            return f"({self.value(left)} ? true : {self.value(right)})"
        if op == "??" and isinstance(left, Literal) and left.value is not None:
            return self.value(left)
        temp = self._temp()
        first = self.value(left)
        second = self.value(right)
        if op == "&&":
            test = self._call("t", temp)
            return f"({temp} := {first}; {test} ? {second} : {temp})"
        if op == "||":
            test = self._call("t", temp)
            return f"({temp} := {first}; {test} ? {temp} : {second})"
        test = f'$exists({temp}) and $type({temp}) != "null"'
        return f"({temp} := {first}; {test} ? {temp} : {second})"


def _data(node: Node) -> bool:
    """A value read from data (a reference or a path into one), not computed."""
    return isinstance(node, (Ref, Context, Member, Index))


def _number_literal(node: Node) -> bool:
    return isinstance(node, Literal) and isinstance(node.value, float)


def _string_literal(text: str) -> str:
    """A JSONata string literal; lone surrogates are written as escapes."""
    out = json.dumps(text, ensure_ascii=False)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in out):
        out = "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in out)
    return out
