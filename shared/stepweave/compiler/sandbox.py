"""Conditions outside the native subset, evaluated by JavaScript in the V8 sandbox.

A condition row or loop condition that ``jsexpr`` cannot translate (``.some(x => x.vip)``,
``/re/.test(s)``, template substitutions, ``Math.max()``...) but that is valid JavaScript
runs on the ``function`` handler instead, so that every valid Sim condition runs with
its own meaning:

* a condition block becomes one Task that evaluates its rows in order (first truthy one
  wins, the else row is never evaluated) and returns the selected row id; the block's
  output (``selectedOption``...) is built from it exactly as for a native condition, and
  the routing Choice is the same. A row that throws fails the block with Sim's wording,
  ``Evaluation error in condition "<title>": <message>``, which its error edge can take;
* a ``while``/``doWhile`` loop evaluates its condition in a Task before each test; as in
  Sim, an evaluation error means false.

References are never pasted into the code: each is a binding (``__c0_1``...), a JSON
value the state machine resolves and the handler passes as a global. What stays an error
at validation: JavaScript syntax errors (checked by V8 at compile time) and bare names
that are neither ``context`` nor an ECMAScript global (``undefinedVar``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from stepweave.compiler.code import function_code
from stepweave.compiler.refs import find_refs
from stepweave.compiler.states import js

if TYPE_CHECKING:
    from stepweave.compiler.lower import Ctx, Lowerer

__all__ = ["needs_sandbox", "rows_need_sandbox", "row_problem", "syntax_error",
           "condition_program", "loop_program", "sandbox_params", "JS_GLOBALS", "TIMEOUT_MS"]

#: Sim evaluates conditions with a 5 s timeout.
TIMEOUT_MS = 5_000
#: ECMAScript globals a condition may use (``Math.max(...)``, ``JSON.stringify(...)``).
JS_GLOBALS = frozenset({
    "Math", "JSON", "Number", "String", "Boolean", "Array", "Object", "Date", "RegExp",
    "parseInt", "parseFloat", "isNaN", "isFinite", "encodeURIComponent", "decodeURIComponent",
    "encodeURI", "decodeURI", "Set", "Map", "BigInt", "Symbol", "Intl", "globalThis",
    "Error", "TypeError", "RangeError", "Reflect", "escape", "unescape",
})
_KEYWORDS = frozenset({
    "true", "false", "null", "undefined", "NaN", "Infinity", "typeof", "instanceof", "in", "of",
    "new", "this", "void", "delete", "return", "if", "else", "let", "const", "var", "function",
    "async", "await", "yield", "class", "extends", "super", "for", "while", "do", "switch",
    "case", "default", "break", "continue", "try", "catch", "finally", "throw"})
_STRIP = re.compile(r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`(?:\\.|[^`\\])*`""")
_REGEX = re.compile(r"""(^|[(,=:\[!&|?{};+\-*%<>~^])\s*/(?![/*])(?:\\.|\[(?:\\.|[^\]])*\]|[^/\\\n])+/[a-z]*""")
_IDENTIFIER = re.compile(r"(?<![\w$.])(?<!\?\.)\s*([A-Za-z_$][\w$]*)(?!\s*:(?!:))")
# names the expression declares itself: arrow and function parameters
_PARAMS = re.compile(r"([A-Za-z_$][\w$]*)\s*=>|\(([^()]*)\)\s*=>|\bfunction\b[^(]*\(([^)]*)\)")
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_MESSAGE = ("function (e) { return (e !== null && typeof e === 'object' && "
            "typeof e.message === 'string') ? e.message : String(e); }")
# "true"/"false" strings are booleans in loop conditions (SIM-COMPAT §2.6.4)
_LOOP_VALUE = ("function (v) { return (typeof v === 'string' && /^\\s*(true|false)\\s*$/i.test(v)) "
               "? v.trim().toLowerCase() === 'true' : v; }")


def _expression(source: str) -> str:
    """The source as an operand: one trailing ``;`` dropped, on lines of its own."""
    text = source.strip()
    if text.endswith(";"):
        text = text[:-1]
    return "(\n" + text + "\n)"


def _probe(source: str) -> str:
    out, last = [], 0
    for index, ref in enumerate(find_refs(source)):
        out += [source[last:ref.start], f"__p{index}"]
        last = ref.end
    return "const context = null; return Boolean(" + _expression("".join(out) + source[last:]) + ");"


@lru_cache(maxsize=512)
def syntax_error(source: str) -> str | None:
    """V8's SyntaxError for a condition, or None when it parses (nothing is run)."""
    from stepweave import v8

    return v8.syntax_error(_probe(source))


def _declared(source: str) -> frozenset[str]:
    names: set[str] = set()
    for match in _PARAMS.finditer(source):
        names.update(_NAME.findall(" ".join(g for g in match.groups() if g)))
    return frozenset(names)


def unknown_names(source: str, has_context: bool = True) -> list[str]:
    """Bare names that are neither ECMAScript globals, ``context`` (where there is one),
    nor declared by the expression itself (arrow/function parameters): a sure
    ``ReferenceError``, which Stepweave reports at validation."""
    text = _STRIP.sub('""', "".join(
        part if i % 2 == 0 else " __ref " for i, part in enumerate(_split_refs(source))))
    text = _REGEX.sub(lambda m: m.group(1) + ' ""', text)
    allowed = JS_GLOBALS | _KEYWORDS | _declared(source) | {"__ref"} | (
        {"context"} if has_context else set())
    names = [m.group(1) for m in _IDENTIFIER.finditer(text)]
    return list(dict.fromkeys(n for n in names if n not in allowed))


def _split_refs(source: str) -> list[str]:
    """The source around its references (even items), the references (odd items)."""
    parts, last = [], 0
    for ref in find_refs(source):
        parts += [source[last:ref.start], source[ref.start:ref.end]]
        last = ref.end
    return [*parts, source[last:]]


def needs_sandbox(source: str, has_context: bool = True) -> bool:
    """Whether a condition the translator rejected is valid JavaScript that the sandbox
    can run (no unknown names, and V8 parses it)."""
    return not unknown_names(source, has_context) and syntax_error(source) is None


def _translation_error(source: str, has_context: bool) -> str | None:
    from stepweave.compiler.jsexpr import JsExprError, translate_condition

    try:
        translate_condition(source, lambda _inner: "null",
                            context_expr="$__ctx" if has_context else None)
    except JsExprError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=512)
def rows_need_sandbox(sources: tuple[str, ...], has_context: bool = True) -> bool:
    """Whether any of these conditions is valid JavaScript outside the native subset."""
    for source in sources:
        error = _translation_error(source, has_context)
        if error is not None and needs_sandbox(source, has_context):
            return True
    return False


def row_problem(source: str, has_context: bool = True) -> str | None:
    """Why a condition cannot run at all (None when it can, natively or in the sandbox)."""
    error = _translation_error(source, has_context)
    if error is None or needs_sandbox(source, has_context):
        return None
    syntax = syntax_error(source)
    if syntax:
        return syntax
    unknown = unknown_names(source, has_context)
    if unknown:
        return f"unknown identifier '{unknown[0]}'; refer to block outputs as <block.field>"
    return error


def _row_code(lw: Lowerer, node: str, ctx: Ctx, source: str, index: int,
              bindings: dict[str, str], site_ctx: Ctx | None = None) -> str:
    site = lw.site(node, site_ctx or ctx)
    code, refs, _env = function_code(_expression(source), lw.resolver, site, prefix=f"__c{index}_")
    lw.report(node, site, "params")
    bindings.update(refs)
    return code


def condition_program(lw: Lowerer, node: str, ctx: Ctx, rows: list[dict[str, Any]],
                      else_id: str | None, context_expr: str) -> tuple[str, dict[str, str]]:
    """JavaScript returning the selected row id (or null), and its bindings."""
    bindings: dict[str, str] = {"__ctx": context_expr}
    lines = ["const context = __ctx;", f"const __msg = {_MESSAGE};", "let __hit;"]
    for index, row in enumerate(rows):
        prefix = json.dumps(f'Evaluation error in condition "{row.get("title", "if")}": ')
        expr = _row_code(lw, node, ctx, str(row.get("value", "")), index, bindings)
        lines += ["try {", f"__hit = Boolean({expr});",
                  f"}} catch (e) {{ throw {prefix} + __msg(e); }}",
                  f"if (__hit) return {json.dumps(str(row['id']))};"]
    lines.append(f"return {json.dumps(else_id)};")
    return "\n".join(lines), bindings


def loop_program(lw: Lowerer, node: str, ctx: Ctx, inner: Ctx,
                 source: str) -> tuple[str, dict[str, str]]:
    """JavaScript returning the loop condition as a boolean (an error is false)."""
    bindings: dict[str, str] = {}
    expr = _row_code(lw, node, ctx, source, 0, bindings, site_ctx=inner)
    coerce = "".join(f"{name} = __b({name}); " for name in bindings)
    code = (f"const __b = {_LOOP_VALUE};\n{coerce}\n"
            f"try {{ return Boolean({expr}); }} catch (e) {{ return false; }}")
    return code, bindings


def sandbox_params(code: str, bindings: dict[str, str]) -> dict[str, Any]:
    """The ``function`` handler's params: the code and its bindings as JSONata."""
    params: dict[str, Any] = {"code": code, "timeoutMs": TIMEOUT_MS}
    if bindings:
        params["bindings"] = {name: js(expr) for name, expr in bindings.items()}
    return params
