"""DynamoDB expressions over typed attribute values, for the local records store.

The grammar is DynamoDB's, the part of it a records table needs: condition and filter
expressions (comparisons ``= <> < <= > >=``, ``BETWEEN``, ``IN``, ``AND``/``OR``/``NOT``,
parentheses, ``attribute_exists``, ``attribute_not_exists``, ``attribute_type``,
``begins_with``, ``contains``, ``size``), key conditions, update expressions (``SET`` with
``if_not_exists``, ``list_append``, ``+``/``-``; ``REMOVE``; ``ADD`` of numbers) and
projections. Paths are names or ``#placeholders`` joined by ``.`` and ``[n]``. Values are
DynamoDB's typed attribute values (``{"S": "..."}``). Anything else is an ``ExpressionError``
(DynamoDB's ``ValidationException``), as are placeholders that are missing or unused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Compiled", "ExpressionError", "KeyCondition", "Path", "Placeholders", "Update",
           "compile_condition", "compile_key_condition", "compile_projection", "compile_update",
           "equal", "necessary_key_terms", "project", "resolve"]

Item = dict[str, Any]  # attribute name -> typed value
Path = tuple[str | int, ...]

_TOKEN = re.compile(r"\s*(?:(?P<op><>|<=|>=|[=<>(),.\[\]+-])|(?P<name>#[A-Za-z0-9_]+)"
                    r"|(?P<value>:[A-Za-z0-9_]+)|(?P<number>\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")
_COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")


class ExpressionError(ValueError):
    """An expression DynamoDB would reject (its ValidationException)."""


@dataclass
class Placeholders:
    """``ExpressionAttributeNames`` and ``...Values`` of a request, and which were used."""

    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    def name(self, token: str) -> str:
        if token not in self.names:
            raise ExpressionError(f"An expression attribute name used in the document path is not "
                                  f"defined; attribute name: {token}")
        self.used_names.add(token)
        return self.names[token]

    def value(self, token: str) -> Any:
        if token not in self.values:
            raise ExpressionError(f"An expression attribute value used in expression is not "
                                  f"defined; attribute value: {token}")
        self.used_values.add(token)
        return self.values[token]

    def check_all_used(self) -> None:
        unused_names = sorted(set(self.names) - self.used_names)
        unused_values = sorted(set(self.values) - self.used_values)
        if unused_names:
            raise ExpressionError(f"Value provided in ExpressionAttributeNames unused in expressions: "
                                  f"keys: {{{', '.join(unused_names)}}}")
        if unused_values:
            raise ExpressionError(f"Value provided in ExpressionAttributeValues unused in expressions: "
                                  f"keys: {{{', '.join(unused_values)}}}")


# -- values ---------------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    (kind,) = value
    return str(kind)


def equal(a: Any, b: Any) -> bool:
    """DynamoDB equality of two typed values (numbers by value, sets unordered)."""
    if a is None or b is None:
        return False
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    va, vb = a[ka], b[kb]
    if ka == "N":
        return Decimal(va) == Decimal(vb)
    if ka == "M":
        return va.keys() == vb.keys() and all(equal(va[k], vb[k]) for k in va)
    if ka == "L":
        return len(va) == len(vb) and all(equal(x, y) for x, y in zip(va, vb))
    if ka == "NS":
        return {Decimal(x) for x in va} == {Decimal(x) for x in vb}
    if ka in ("SS", "BS"):
        return set(va) == set(vb)
    return bool(va == vb)


def _order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 for two values of one ordered type (N, S, B), else None."""
    if a is None or b is None or _kind(a) != _kind(b) or _kind(a) not in ("N", "S", "B"):
        return None
    kind = _kind(a)
    x: Any = Decimal(a[kind]) if kind == "N" else a[kind]
    y: Any = Decimal(b[kind]) if kind == "N" else b[kind]
    return int(x > y) - int(x < y)


def resolve(item: Item, path: Path) -> Any:
    """The typed value at ``path`` in ``item``, or None."""
    current: Any = {"M": item}
    for step in path:
        if isinstance(step, int):
            if _kind(current) != "L" or step >= len(current["L"]):
                return None
            current = current["L"][step]
        else:
            if _kind(current) != "M" or step not in current["M"]:
                return None
            current = current["M"][step]
    return current


# -- parsing --------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, placeholders: Placeholders) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.placeholders = placeholders
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            matched = _TOKEN.match(text, position)
            if matched is None or matched.end() == position:
                raise ExpressionError(f"Invalid expression: syntax error near {text[position:position + 20]!r}")
            kind = matched.lastgroup or ""
            self.tokens.append((kind, matched.group(kind)))
            position = matched.end()
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text.upper() in words

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        kind, text = self.take()
        if (kind, text) != ("op", op):
            raise ExpressionError(f"Invalid expression: expected {op!r}, found {text or 'the end'!r}")

    def done(self) -> None:
        if self.peek()[0] != "end":
            raise ExpressionError(f"Invalid expression: unexpected {self.peek()[1]!r}")

    # paths and operands

    def path(self) -> Path:
        steps: list[str | int] = [self._name()]
        while True:
            if self.peek() == ("op", "."):
                self.take()
                steps.append(self._name())
            elif self.peek() == ("op", "["):
                self.take()
                kind, text = self.take()
                if kind != "number":
                    raise ExpressionError("Invalid expression: a list index must be a number")
                steps.append(int(text))
                self.expect("]")
            else:
                return tuple(steps)

    def _name(self) -> str:
        kind, text = self.take()
        if kind == "name":
            return self.placeholders.name(text)
        if kind == "word":
            return text
        raise ExpressionError(f"Invalid expression: expected an attribute name, found {text or 'the end'!r}")

    def operand(self) -> Callable[[Item], Any]:
        kind, text = self.peek()
        if kind == "value":
            self.take()
            value = self.placeholders.value(text)
            return lambda _item: value
        if kind == "word" and text.lower() == "size" and self.peek(1) == ("op", "("):
            self.take()
            self.expect("(")
            path = self.path()
            self.expect(")")
            return lambda item: _size(resolve(item, path))
        path = self.path()
        return lambda item: resolve(item, path)

    # conditions

    def condition(self) -> Callable[[Item], bool]:
        left = self._conjunction()
        while self.keyword("OR"):
            self.take()
            left = _either(left, self._conjunction())
        return left

    def _conjunction(self) -> Callable[[Item], bool]:
        left = self._negation()
        while self.keyword("AND"):
            self.take()
            left = _both(left, self._negation())
        return left

    def _negation(self) -> Callable[[Item], bool]:
        if self.keyword("NOT"):
            self.take()
            inner = self._negation()
            return lambda item: not inner(item)
        return self._predicate()

    def _predicate(self) -> Callable[[Item], bool]:
        if self.peek() == ("op", "("):
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        kind, text = self.peek()
        if kind == "word" and self.peek(1) == ("op", "(") and text.lower() != "size":
            return self._function(text.lower())
        left = self.operand()
        if self.keyword("BETWEEN"):
            self.take()
            low = self.operand()
            if not self.keyword("AND"):
                raise ExpressionError("Invalid expression: BETWEEN needs AND")
            self.take()
            high = self.operand()
            return lambda item: _between(left(item), low(item), high(item))
        if self.keyword("IN"):
            self.take()
            self.expect("(")
            options = [self.operand()]
            while self.peek() == ("op", ","):
                self.take()
                options.append(self.operand())
            self.expect(")")
            return lambda item: any(equal(left(item), o(item)) for o in options)
        kind, op = self.take()
        if kind != "op" or op not in _COMPARATORS:
            raise ExpressionError(f"Invalid expression: expected a comparator, found {op or 'the end'!r}")
        right = self.operand()
        return lambda item: _compare(op, left(item), right(item))

    def _function(self, name: str) -> Callable[[Item], bool]:
        self.take()
        self.expect("(")
        path = self.path()
        argument = None
        if name in ("attribute_type", "begins_with", "contains"):
            self.expect(",")
            argument = self.operand()
        self.expect(")")
        if name == "attribute_exists":
            return lambda item: resolve(item, path) is not None
        if name == "attribute_not_exists":
            return lambda item: resolve(item, path) is None
        assert argument is not None or name not in ("attribute_type", "begins_with", "contains")
        if name == "attribute_type":
            return lambda item: _attribute_type(resolve(item, path), argument(item))  # type: ignore[misc]
        if name == "begins_with":
            return lambda item: _begins_with(resolve(item, path), argument(item))  # type: ignore[misc]
        if name == "contains":
            return lambda item: _contains(resolve(item, path), argument(item))  # type: ignore[misc]
        raise ExpressionError(f"Invalid function name; function: {name}")


def _either(a: Callable[[Item], bool], b: Callable[[Item], bool]) -> Callable[[Item], bool]:
    return lambda item: a(item) or b(item)


def _both(a: Callable[[Item], bool], b: Callable[[Item], bool]) -> Callable[[Item], bool]:
    return lambda item: a(item) and b(item)


def _size(value: Any) -> Any:
    if value is None:
        return None
    kind = _kind(value)
    if kind in ("S",):
        return {"N": str(len(value["S"].encode("utf-8")))}
    if kind in ("B", "L", "M", "SS", "NS", "BS"):
        return {"N": str(len(value[kind]))}
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return equal(left, right)
    if op == "<>":
        return not equal(left, right)
    order = _order(left, right)
    if order is None:
        return False
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]


def _between(value: Any, low: Any, high: Any) -> bool:
    above, below = _order(value, low), _order(value, high)
    return above is not None and below is not None and above >= 0 and below <= 0


def _attribute_type(value: Any, kind: Any) -> bool:
    return value is not None and kind is not None and _kind(kind) == "S" and _kind(value) == kind["S"]


def _begins_with(value: Any, prefix: Any) -> bool:
    if value is None or prefix is None or _kind(value) != _kind(prefix) or _kind(value) not in ("S", "B"):
        return False
    kind = _kind(value)
    return bool(value[kind].startswith(prefix[kind]))


def _contains(value: Any, operand: Any) -> bool:
    if value is None or operand is None:
        return False
    kind = _kind(value)
    if kind == "S":
        return _kind(operand) == "S" and operand["S"] in value["S"]
    if kind == "L":
        return any(equal(v, operand) for v in value["L"])
    if kind in ("SS", "NS", "BS"):
        return any(equal({kind[0]: v}, operand) for v in value[kind])
    return False


# -- public compilers -----------------------------------------------------------------------------

Compiled = Callable[[Item], bool]


def compile_condition(text: str, placeholders: Placeholders) -> Compiled:
    """A condition or filter expression as a predicate over items."""
    parser = _Parser(text, placeholders)
    predicate = parser.condition()
    parser.done()
    return predicate


def necessary_key_terms(text: str, placeholders: Placeholders,
                        names: tuple[str, ...]) -> list[tuple[str, str, Any]]:
    """Terms every item a condition accepts satisfies: its top-level ``AND`` operands of the
    form ``<name> = :v`` or ``begins_with(<name>, :v)`` for ``names`` (``(name, "=" or
    "begins_with", value)``); none when the condition has a top-level ``OR``. A store may
    select with them before evaluating the whole condition."""
    tokens = _Parser(text, Placeholders(placeholders.names, placeholders.values)).tokens
    conjuncts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, token in tokens:
        depth += (token == "(") - (token == ")") if kind == "op" else 0
        if depth == 0 and kind == "word" and token.upper() == "OR":
            return []
        if depth == 0 and kind == "word" and token.upper() == "AND":
            conjuncts.append([])
        else:
            conjuncts[-1].append((kind, token))
    terms = []
    for conjunct in conjuncts:
        shape = [kind if kind != "op" else token for kind, token in conjunct]
        if shape in (["word", "=", "value"], ["name", "=", "value"]):
            name, value, op = conjunct[0], conjunct[2][1], "="
        elif shape in (["word", "(", "word", ",", "value", ")"], ["word", "(", "name", ",", "value", ")"]) \
                and conjunct[0][1].lower() == "begins_with":
            name, value, op = conjunct[2], conjunct[4][1], "begins_with"
        else:
            continue
        attribute = placeholders.names.get(name[1]) if name[0] == "name" else name[1]
        if attribute in names and value in placeholders.values:
            terms.append((attribute, op, placeholders.values[value]))
    return terms


@dataclass(frozen=True)
class KeyCondition:
    """``hash = value`` and at most one condition on the range key."""

    hash_name: str
    hash_value: Any
    range_name: str | None = None
    range_op: str | None = None  # a comparator, BETWEEN or begins_with
    range_values: tuple[Any, ...] = ()


def compile_key_condition(text: str, placeholders: Placeholders, hash_key: str,
                          range_key: str) -> KeyCondition:
    parser = _Parser(text, placeholders)
    parts = [_key_part(parser)]
    while parser.keyword("AND"):
        parser.take()
        parts.append(_key_part(parser))
    parser.done()
    hashes = [p for p in parts if p[0] == hash_key and p[1] == "="]
    ranges = [p for p in parts if p[0] == range_key]
    if len(hashes) != 1 or len(ranges) + 1 != len(parts) or len(ranges) > 1:
        raise ExpressionError(f"Query condition missed key schema element: {hash_key}")
    condition = KeyCondition(hash_key, hashes[0][2][0])
    if ranges:
        name, op, values = ranges[0]
        condition = KeyCondition(hash_key, hashes[0][2][0], name, op, values)
    return condition


def _key_part(parser: _Parser) -> tuple[str, str, tuple[Any, ...]]:
    kind, text = parser.peek()
    if kind == "word" and text.lower() == "begins_with":
        parser.take()
        parser.expect("(")
        path = parser.path()
        parser.expect(",")
        value = _literal(parser)
        parser.expect(")")
        return _key_name(path), "begins_with", (value,)
    path = parser.path()
    if parser.keyword("BETWEEN"):
        parser.take()
        low = _literal(parser)
        if not parser.keyword("AND"):
            raise ExpressionError("Invalid KeyConditionExpression: BETWEEN needs AND")
        parser.take()
        return _key_name(path), "BETWEEN", (low, _literal(parser))
    kind, op = parser.take()
    if kind != "op" or op not in _COMPARATORS or op == "<>":
        raise ExpressionError(f"Invalid KeyConditionExpression: unsupported operator {op!r}")
    return _key_name(path), op, (_literal(parser),)


def _key_name(path: Path) -> str:
    if len(path) != 1 or not isinstance(path[0], str):
        raise ExpressionError("Invalid KeyConditionExpression: key attributes are top-level names")
    return path[0]


def _literal(parser: _Parser) -> Any:
    kind, text = parser.take()
    if kind != "value":
        raise ExpressionError("Invalid KeyConditionExpression: compare key attributes to values")
    return parser.placeholders.value(text)


@dataclass
class Update:
    """The actions of an update expression, applied to a copy of an item."""

    actions: list[Callable[[Item, Item], None]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def apply(self, item: Item) -> Item:
        """The item after the update (``item`` itself is left as it was)."""
        import copy

        before = item
        after = copy.deepcopy(item)
        for action in self.actions:
            action(before, after)
        return after


def compile_update(text: str, placeholders: Placeholders) -> Update:
    parser = _Parser(text, placeholders)
    update = Update()
    seen: set[str] = set()
    while parser.peek()[0] != "end":
        kind, clause = parser.take()
        clause = clause.upper()
        if kind != "word" or clause not in ("SET", "REMOVE", "ADD", "DELETE") or clause in seen:
            raise ExpressionError(f"Invalid UpdateExpression: unexpected {clause!r}")
        seen.add(clause)
        while True:
            if clause == "SET":
                path = parser.path()
                parser.expect("=")
                value = _set_value(parser)
                update.actions.append(_action(_assign, path, value))
            elif clause == "REMOVE":
                path = parser.path()
                update.actions.append(_action(lambda item, p, _value: _remove(item, p), path, None))
            elif clause == "ADD":
                path = parser.path()
                value = parser.operand()
                update.actions.append(_action(_add, path, value))
            else:
                raise ExpressionError("Invalid UpdateExpression: DELETE is not supported by the local store")
            update.paths.append(path)
            if parser.peek() != ("op", ","):
                break
            parser.take()
    if not update.actions:
        raise ExpressionError("Invalid UpdateExpression: The expression can not be empty;")
    return update


def _action(apply: Callable[[Item, Path, Any], None], path: Path,
            value: Callable[[Item], Any] | None) -> Callable[[Item, Item], None]:
    """An update action: ``apply`` to the new item, with the value computed from the old one."""
    def act(old: Item, new: Item) -> None:
        apply(new, path, None if value is None else value(old))
    return act


def _set_value(parser: _Parser) -> Callable[[Item], Any]:
    left = _set_operand(parser)
    if parser.peek() in (("op", "+"), ("op", "-")):
        op = parser.take()[1]
        right = _set_operand(parser)
        return lambda item: _arithmetic(op, left(item), right(item))
    return left


def _set_operand(parser: _Parser) -> Callable[[Item], Any]:
    kind, text = parser.peek()
    if kind == "word" and parser.peek(1) == ("op", "(") and text.lower() in ("if_not_exists", "list_append"):
        parser.take()
        parser.expect("(")
        if text.lower() == "if_not_exists":
            path = parser.path()
            parser.expect(",")
            fallback = _set_value(parser)
            parser.expect(")")
            return lambda item: resolve(item, path) or fallback(item)
        first = _set_operand(parser)
        parser.expect(",")
        second = _set_operand(parser)
        parser.expect(")")
        return lambda item: _list_append(first(item), second(item))
    return parser.operand()


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None or _kind(a) != "N" or _kind(b) != "N":
        raise ExpressionError("An operand in the update expression has an incorrect data type")
    x, y = Decimal(a["N"]), Decimal(b["N"])
    return {"N": str(x + y if op == "+" else x - y)}


def _list_append(a: Any, b: Any) -> Any:
    if a is None or b is None or _kind(a) != "L" or _kind(b) != "L":
        raise ExpressionError("An operand in the update expression has an incorrect data type")
    return {"L": [*a["L"], *b["L"]]}


def _container(item: Item, path: Path) -> Any:
    parent = resolve(item, path[:-1]) if len(path) > 1 else {"M": item}
    if parent is None or (isinstance(path[-1], int) and _kind(parent) != "L") \
            or (isinstance(path[-1], str) and _kind(parent) != "M"):
        raise ExpressionError("The document path provided in the update expression is invalid for update")
    return parent


def _assign(item: Item, path: Path, value: Any) -> None:
    if value is None:
        raise ExpressionError("The provided expression refers to an attribute that does not exist in the item")
    parent, last = _container(item, path), path[-1]
    if isinstance(last, int):
        values = parent["L"]
        if last < len(values):
            values[last] = value
        else:
            values.append(value)
    else:
        parent["M"][last] = value


def _remove(item: Item, path: Path) -> None:
    parent: Any = resolve(item, path[:-1]) if len(path) > 1 else {"M": item}
    last = path[-1]
    if parent is None:
        return
    if isinstance(last, int) and _kind(parent) == "L" and last < len(parent["L"]):
        del parent["L"][last]
    elif isinstance(last, str) and _kind(parent) == "M":
        parent["M"].pop(last, None)


def _add(item: Item, path: Path, value: Any) -> None:
    current = resolve(item, path)
    if value is None or _kind(value) != "N" or (current is not None and _kind(current) != "N"):
        raise ExpressionError("Invalid UpdateExpression: the local store ADDs numbers only")
    _assign(item, path, value if current is None else _arithmetic("+", current, value))


def compile_projection(text: str, placeholders: Placeholders) -> list[Path]:
    parser = _Parser(text, placeholders)
    paths = [parser.path()]
    while parser.peek() == ("op", ","):
        parser.take()
        paths.append(parser.path())
    parser.done()
    return paths


def project(item: Item, paths: list[Path]) -> Item:
    """The top-level attributes ``paths`` start with (nested paths keep their whole attribute)."""
    names = {p[0] for p in paths if isinstance(p[0], str)}
    return {k: v for k, v in item.items() if k in names}
