"""Compile-time translation of Sim Condition-block JavaScript into JSONata.

Sim's Condition blocks hold a small JavaScript boolean expression such as
``<start.n> > 10 && <agent 1.content>.includes("yes")``. Step Functions can decide
such a branch natively if the expression is written in JSONata, so the compiler
translates it with :func:`translate_condition`. Only a well-defined subset of
JavaScript is accepted; everything else is rejected with a :class:`JsExprError`
that names the construct and its column. ``docs/conditions.md`` describes the
subset and the few places where the result differs from JavaScript.

This module holds the tokenizer and the recursive-descent parser; the syntax tree
and the JSONata emitter live in :mod:`stepweave.compiler.jsexpr_emit`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stepweave.compiler.jsexpr_emit import (
    METHOD_ARITY,
    ArrayLit,
    Binary,
    Call,
    Cond,
    Context,
    Index,
    Literal,
    Logical,
    Member,
    Method,
    Node,
    Ref,
    Special,
    Unary,
    emit_condition,
)
from stepweave.errors import StepweaveError

__all__ = ["SUPPORTED", "SIDE_EFFECT", "JsExprError", "side_effect_message", "translate_condition"]

#: Appended to every "unsupported ..." message.
SUPPORTED = (
    "supported: literals, <block.path> references, .x ?.x [i] access, "
    "! - + typeof, * / % + -, < <= > >=, === !== == !=, && || ??, a ? b : c, "
    "methods .includes() .startsWith() .endsWith() .indexOf() .toLowerCase() "
    ".toUpperCase() .trim() and .length, functions Number() String() Boolean() "
    "Array.isArray()"
)


#: Why a condition may not assign, increment or delete (the detail after the position).
SIDE_EFFECT = "a condition compares values and must not change them"


def side_effect_message(op: str) -> tuple[str, str]:
    """(message, detail) for an operator that changes a value in a condition: ``=`` is
    nearly always a mistyped comparison (and, references being variables, is valid
    JavaScript that is always true), so its detail says what to write instead."""
    if op == "=":
        return "assignment '='", f"{SIDE_EFFECT}: compare with '===' (or '!==')"
    if op in ("++", "--"):
        kind = "increment" if op == "++" else "decrement"
        return f"{kind} '{op}'", SIDE_EFFECT
    if op == "delete":
        return "'delete'", SIDE_EFFECT
    return f"assignment '{op}'", SIDE_EFFECT


class JsExprError(StepweaveError, ValueError):
    """A condition expression cannot be translated. The message is user-facing."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def translate_condition(
    source: str, resolve_ref: Callable[[str], str], *, context_expr: str | None = None
) -> str:
    """Translate a JS boolean expression into a JSONata expression returning true/false
    with JS truthiness (``Boolean(expr)``).

    ``resolve_ref`` maps the text of a ``<name.path>`` reference (``"start.n"``) to a
    JSONata expression for its value; ``context_expr`` is the JSONata expression the
    bare identifier ``context`` stands for (``context`` is unknown when it is None).
    The result is one JSONata expression without the ``{% %}`` delimiters.
    """
    tokens = _Lexer(source).tokens()
    tree = _Parser(source, tokens, has_context=context_expr is not None).parse()
    return emit_condition(tree, resolve_ref, context_expr)


# -- tokens ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "ident", "ref", "op", "eof"
    text: str  # the source text (the name for "ident", the inner text for "ref")
    pos: int
    value: float | str | None = None


_OPERATOR_TEXT = (
    "... >>>= === !== **= <<= >>= >>> &&= ||= ??= => == != <= >= && || ?? ?. ** ++ -- "
    "<< >> += -= *= /= %= &= |= ^= < > + - * / % ! ~ & | ^ ? : = ( ) [ ] { } , . ; #"
)
# Longest first, so that ">>=" is not read as ">>" and "=".
_OPERATORS = sorted(_OPERATOR_TEXT.split(), key=len, reverse=True)
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[oO][0-7](?:_?[0-7])*|0[bB][01](?:_?[01])*"
    r"|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?"
)
_IDENT = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
# <name> or <name.path>: the name may hold spaces, the path may not.
_REF = re.compile(r"\w[\w \-]*(?:\.[^\s<>.+*/=!&|()\[\]{}'\",?:;]+)*")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_LINE_BREAKS = "\n\r\u2028\u2029"


def _error(source: str, pos: int, message: str, detail: str | None = None) -> JsExprError:
    """An error at offset ``pos``; ``detail`` follows the position (default: for
    "unsupported ..." messages, what is supported)."""
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    where = f"column {column}" if "\n" not in source else f"line {line}, column {column}"
    if detail is None and message.startswith("unsupported"):
        detail = SUPPORTED
    text = f"{message} at {where}" + (f"; {detail}" if detail else "")
    return JsExprError(text, line=line, column=column)


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def error(self, pos: int, message: str) -> JsExprError:
        return _error(self.src, pos, message)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        while self._skip_blank():
            out.append(self._token())
        out.append(_Token("eof", "end of expression", len(self.src)))
        return out

    def _skip_blank(self) -> bool:
        """Skip whitespace and comments; False at the end of the source."""
        src = self.src
        while self.pos < len(src):
            if src[self.pos].isspace() or src[self.pos] == "\ufeff":
                self.pos += 1
            elif src.startswith("//", self.pos):
                ends = [src.find(ch, self.pos) for ch in _LINE_BREAKS]
                self.pos = min([e for e in ends if e >= 0], default=len(src))
            elif src.startswith("/*", self.pos):
                end = src.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error(self.pos, "unterminated comment '/*'")
                self.pos = end + 2
            else:
                return True
        return False

    def _token(self) -> _Token:
        src, start = self.src, self.pos
        ch = src[start]
        if ch == "<" and (inner := self._reference()) is not None:
            self.pos += len(inner) + 2
            return _Token("ref", inner, start)
        if ch.isdigit() or (ch == "." and src[start + 1 : start + 2].isdigit()):
            return self._number()
        if ch in "'\"`":
            return self._string()
        if match := _IDENT.match(src, start):
            self.pos = match.end()
            return _Token("ident", match.group(), start)
        for op in _OPERATORS:
            if src.startswith(op, start):
                if op == "?." and src[start + 2 : start + 3].isdigit():
                    continue  # "a ?.5 : b" is a conditional
                self.pos += len(op)
                return _Token("op", op, start)
        raise self.error(start, f"unexpected character {ch!r}")

    def _reference(self) -> str | None:
        end = self.src.find(">", self.pos + 1)
        if end < 0:
            return None
        inner = self.src[self.pos + 1 : end]
        if "<" in inner or not _REF.fullmatch(inner):
            return None
        if inner.replace(".", "").isdigit():
            return None  # "a <1.5> b" is two comparisons
        return inner

    def _number(self) -> _Token:
        start = self.pos
        match = _NUMBER.match(self.src, start)
        assert match is not None  # the caller saw a digit
        text = match.group()
        self.pos = match.end()
        follow = self.src[self.pos : self.pos + 1]
        if follow == "n":
            raise self.error(start, f"unsupported BigInt literal '{text}n'")
        if follow and (follow.isalnum() or follow in "_$"):
            raise self.error(start, f"invalid number '{text}{follow}'")
        if re.match(r"0\d", text):
            raise self.error(start, f"unsupported legacy octal literal '{text}'")
        digits = text.replace("_", "")
        bases = {"x": 16, "o": 8, "b": 2}
        if digits[:2].lower() in ("0x", "0o", "0b"):
            value = float(int(digits[2:], bases[digits[1].lower()]))
        else:
            value = float(digits)
        return _Token("num", text, start, value)

    def _string(self) -> _Token:
        src, start = self.src, self.pos
        quote = src[start]
        kind = "template literal" if quote == "`" else "string"
        out: list[str] = []
        pos = start + 1
        while True:
            if pos >= len(src) or (quote != "`" and src[pos] in "\n\r"):
                raise self.error(start, f"unterminated {kind}")
            ch = src[pos]
            if ch == quote:
                break
            if quote == "`" and src.startswith("${", pos):
                raise self.error(pos, "unsupported template literal substitution '${...}'")
            if ch == "\\":
                pos = self._escape(pos, out, kind, start)
            else:
                out.append("\n" if quote == "`" and src.startswith("\r\n", pos) else ch)
                pos += 2 if quote == "`" and src.startswith("\r\n", pos) else 1
        self.pos = pos + 1
        text = "".join(out).encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
        return _Token("str", src[start : pos + 1], start, text)

    def _escape(self, pos: int, out: list[str], kind: str, start: int) -> int:
        """Decode the escape sequence at ``pos``; return the position after it."""
        src = self.src
        if pos + 1 >= len(src):
            raise self.error(start, f"unterminated {kind}")
        ch = src[pos + 1]
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch == "0" and not src[pos + 2 : pos + 3].isdigit():
            out.append("\0")
        elif ch.isdigit():
            raise self.error(pos, f"unsupported octal escape '\\{ch}'")
        elif ch in "xu":
            return self._code_escape(pos, out)
        elif src.startswith("\r\n", pos + 1):
            return pos + 3  # line continuation
        elif ch not in _LINE_BREAKS:
            out.append(ch)
        return pos + 2

    def _code_escape(self, pos: int, out: list[str]) -> int:
        src = self.src
        patterns = (r"\\x([0-9a-fA-F]{2})", r"\\u([0-9a-fA-F]{4})", r"\\u\{([0-9a-fA-F]+)\}")
        for pattern in patterns:
            match = re.compile(pattern).match(src, pos)
            if match and int(match.group(1), 16) <= 0x10FFFF:
                out.append(chr(int(match.group(1), 16)))
                return match.end()
        raise self.error(pos, f"invalid escape sequence '{src[pos : pos + 2]}'")


# -- parser ------------------------------------------------------------------------

_ASSIGNMENTS = {"=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^="}
_ASSIGNMENTS |= {"&&=", "||=", "??="}
_FORBIDDEN_OPS = {
    "=>": "unsupported arrow function '=>'",
    "...": "unsupported spread syntax '...'",
    "#": "unsupported private name '#'",
}
_KEYWORD_TEXT = (
    "function new class this super delete void await yield async in instanceof var let "
    "const return if else for while do switch case break continue throw try catch "
    "finally import export with debugger default extends"
)
_KEYWORDS = set(_KEYWORD_TEXT.split())
_UNSUPPORTED_BINARY = {"**", "&", "|", "^", "<<", ">>", ">>>", "~"}
_CONSTANTS: dict[str, Node] = {
    "true": Literal(True),
    "false": Literal(False),
    "null": Literal(None),
    "undefined": Special("undefined"),
    "NaN": Special("NaN"),
    "Infinity": Special("Infinity"),
}
_FUNCTIONS = ("Number", "String", "Boolean")
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("===", "!==", "==", "!="),
    ("<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/", "%"),
)


class _Parser:
    def __init__(self, source: str, tokens: list[_Token], *, has_context: bool) -> None:
        self.src = source
        self.toks = tokens
        self.i = 0
        self.has_context = has_context

    # -- token access ---------------------------------------------------------------

    @property
    def tok(self) -> _Token:
        return self.toks[self.i]

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def eat(self, op: str) -> bool:
        if self.at(op):
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.eat(op):
            raise self.unexpected(f"expected '{op}'")

    def error(self, tok: _Token, message: str, detail: str | None = None) -> JsExprError:
        return _error(self.src, tok.pos, message, detail)

    def peek(self, ahead: int) -> _Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def unexpected(self, hint: str = "") -> JsExprError:
        tok = self.tok
        if tok.kind == "op" and tok.text in _UNSUPPORTED_BINARY:
            return self.error(tok, f"unsupported operator '{tok.text}'")
        what = "end of expression" if tok.kind == "eof" else f"'{self._shown(tok)}'"
        return self.error(tok, f"unexpected {what}" + (f", {hint}" if hint else ""))

    @staticmethod
    def _shown(tok: _Token) -> str:
        return f"<{tok.text}>" if tok.kind == "ref" else tok.text

    # -- grammar --------------------------------------------------------------------

    def parse(self) -> Node:
        self._forbid()
        if self.tok.kind == "eof":
            raise self.error(self.tok, "empty condition")
        node = self._expression()
        self.eat(";")
        if self.tok.kind != "eof":
            raise self.unexpected()
        return node

    def _forbid(self) -> None:
        """Reject constructs that are unsupported wherever they appear."""
        for n, tok in enumerate(self.toks):
            after_dot = n > 0 and self.toks[n - 1].text in (".", "?.")
            if (tok.kind == "op" and tok.text in _ASSIGNMENTS | {"++", "--"}) or (
                    tok.kind == "ident" and tok.text == "delete" and not after_dot):
                raise self.error(tok, *side_effect_message(tok.text))
        for n, tok in enumerate(self.toks):
            after_dot = n > 0 and self.toks[n - 1].text in (".", "?.")
            if tok.kind == "op" and tok.text in _FORBIDDEN_OPS:
                raise self.error(tok, _FORBIDDEN_OPS[tok.text])
            if tok.kind == "ident" and tok.text in _KEYWORDS and not after_dot:
                raise self.error(tok, f"unsupported syntax '{tok.text}'")

    def _expression(self) -> Node:
        node = self._ternary()
        if self.at(","):
            raise self.error(self.tok, "unsupported comma operator ','")
        return node

    def _ternary(self) -> Node:
        test = self._short_circuit()
        if not self.eat("?"):
            return test
        then = self._ternary()
        self.expect(":")
        return Cond(test, then, self._ternary())

    def _short_circuit(self) -> Node:
        left = self._binary(0)
        if self.at("??"):
            while self.eat("??"):
                left = Logical("??", left, self._binary(0))
            if self.at("&&", "||"):
                raise self.error(self.tok, "cannot mix '??' with '&&' or '||' without parentheses")
            return left
        left = self._and_chain(left)
        while self.eat("||"):
            left = Logical("||", left, self._and_chain(self._binary(0)))
        if self.at("??"):
            raise self.error(self.tok, "cannot mix '??' with '&&' or '||' without parentheses")
        return left

    def _and_chain(self, left: Node) -> Node:
        while self.eat("&&"):
            left = Logical("&&", left, self._binary(0))
        return left

    def _binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        while self.at(*_LEVELS[level]):
            op = self.tok.text
            self.i += 1
            left = Binary(op, left, self._binary(level + 1))
        return left

    def _unary(self) -> Node:
        tok = self.tok
        if self.at("!", "-", "+"):
            self.i += 1
            return Unary(tok.text, self._unary())
        if tok.kind == "ident" and tok.text == "typeof":
            self.i += 1
            return Unary("typeof", self._unary())
        if self.at("~"):
            raise self.error(tok, "unsupported operator '~'")
        return self._postfix(self._primary())

    def _postfix(self, node: Node) -> Node:
        while True:
            if self.eat("."):
                node = self._member(node)
            elif self.at("?."):
                if self.peek(1).text == "(":
                    raise self.error(self.tok, "unsupported optional call '?.()'")
                self.i += 1
                node = self._index(node) if self.eat("[") else self._member(node)
            elif self.eat("["):
                node = self._index(node)
            elif self.at("("):
                raise self.error(self.tok, "unsupported call of a value that is not a method")
            elif self.tok.text.startswith("`"):
                raise self.error(self.tok, "unsupported tagged template")
            else:
                return node

    def _index(self, node: Node) -> Node:
        key = self._expression()
        self.expect("]")
        return Index(node, key)

    def _member(self, node: Node) -> Node:
        tok = self.tok
        if tok.kind != "ident":
            raise self.unexpected("expected a property name")
        self.i += 1
        if not self.at("("):
            return Member(node, tok.text)
        if tok.text not in METHOD_ARITY:
            names = " ".join(f".{name}()" for name in METHOD_ARITY)
            detail = f"supported methods: {names} and the .length property"
            raise self.error(tok, f"unsupported method '.{tok.text}()'", detail)
        args = self._arguments()
        if len(args) != METHOD_ARITY[tok.text]:
            raise self.error(tok, self._arity(f".{tok.text}()", METHOD_ARITY[tok.text], args))
        return Method(node, tok.text, args)

    @staticmethod
    def _arity(name: str, expected: int, args: tuple[Node, ...]) -> str:
        plural = "" if expected == 1 else "s"
        return f"'{name}' takes {expected} argument{plural} here, got {len(args)}"

    def _arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        while not self.eat(")"):
            args.append(self._ternary())
            if not self.eat(","):
                self.expect(")")
                break
        return tuple(args)

    def _primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("num", "str", "ref"):
            self.i += 1
            if tok.kind == "ref":
                return Ref(tok.text)
            return Literal(tok.value)
        if tok.kind == "ident":
            return self._identifier()
        if self.eat("("):
            node = self._expression()
            self.expect(")")
            return node
        if self.eat("["):
            return self._array()
        if self.at("{"):
            raise self.error(tok, "unsupported object literal '{...}'")
        if self.at("/", "/="):
            raise self.error(tok, "unsupported regular expression literal '/.../'")
        raise self.unexpected()

    def _array(self) -> Node:
        items: list[Node] = []
        while not self.eat("]"):
            if self.at(","):
                raise self.error(self.tok, "unsupported array hole ','")
            items.append(self._ternary())
            if not self.eat(","):
                self.expect("]")
                break
        return ArrayLit(tuple(items))

    def _identifier(self) -> Node:
        tok = self.tok
        self.i += 1
        name = tok.text
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name == "context" and self.has_context:
            return Context()
        if name in _FUNCTIONS and self.at("("):
            return self._call(tok, name)
        if name == "Array" and self.at(".") and self.peek(1).text == "isArray":
            self.i += 2
            return self._call(tok, "Array.isArray")
        if self.at("(") or (self.at(".") and self.peek(2).text == "("):
            callee = name if self.at("(") else f"{name}.{self.peek(1).text}"
            raise self.error(tok, f"unsupported function '{callee}()'")
        if name == "context":
            raise self.error(tok, "unknown identifier 'context'", "no context is available here")
        detail = "refer to block outputs as <block.field>"
        raise self.error(tok, f"unknown identifier '{name}'", detail)

    def _call(self, tok: _Token, name: str) -> Node:
        if not self.at("("):
            raise self.unexpected(f"'{name}' must be called")
        args = self._arguments()
        if len(args) > 1:
            raise self.error(tok, self._arity(f"{name}()", 1, args))
        return Call(name, args)
