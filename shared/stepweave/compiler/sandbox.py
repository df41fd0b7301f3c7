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
at validation: JavaScript syntax errors (checked by V8 at compile time), bare names
that are neither ``context`` nor an ECMAScript global (``undefinedVar``), and anything
that changes a value (:func:`side_effect`): an assignment, ``++``/``--`` or ``delete``.
A reference being a variable, ``<fetch.tier> = 'gold'`` is valid JavaScript that is
always true; in Sim it is a syntax error once the value is pasted in.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from stepweave.compiler.code import function_code
from stepweave.compiler.states import Ctx, Lowering, js
from stepweave.refs import find_refs

__all__ = ["needs_sandbox", "rows_need_sandbox", "row_problem", "syntax_error", "side_effect",
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


# -- side effects: a small JavaScript scanner (strings, templates, comments, regex literals)

_ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=",
               "^=", "&&=", "||=", "??=", "++", "--")
_SCAN_OPS = sorted(("... >>>= === !== **= <<= >>= >>> &&= ||= ??= => == != <= >= && || ?? ?. "
                    "** ++ -- << >> += -= *= /= %= &= |= ^=").split(), key=len, reverse=True)
_WORD = re.compile(r"[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*")
_NUM = re.compile(r"\.?\d[\w.]*")
#: after these words a ``/`` starts a regular expression, not a division
_BEFORE_OPERAND = frozenset({"return", "typeof", "instanceof", "in", "of", "new", "delete",
                             "void", "throw", "case", "do", "else", "yield", "await"})
_DECLARE = frozenset({"let", "const", "var"})


def _tokens(source: str) -> list[tuple[int, str, str]]:
    """(offset, kind, text) of the code tokens: ``word``, ``op``, ``value`` (a literal);
    strings, comments, regex literals and template text are skipped, a template's
    ``${...}`` is code again. Lenient: V8 judges the syntax, this only finds operators."""
    out: list[tuple[int, str, str]] = []
    i, n = 0, len(source)
    templates: list[int] = []  # per open ``${``: the depth of plain braces inside it

    def operand_ends() -> bool:
        if not out:
            return False
        _pos, kind, text = out[-1]
        return kind == "value" or (kind == "word" and text not in _BEFORE_OPERAND) \
            or text in (")", "]", "}")

    def template_text(j: int) -> int:
        """Skip template text from ``j``; past the closing backtick, or into a ``${``."""
        while j < n:
            if source[j] == "\\":
                j += 2
            elif source[j] == "`":
                return j + 1
            elif source.startswith("${", j):
                templates.append(0)
                return j + 2
            else:
                j += 1
        return j

    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            j = i + 1
            while j < n and source[j] not in (c, "\n"):
                j += 2 if source[j] == "\\" else 1
            out.append((i, "value", c))
            i = j + 1
        elif c == "`":
            out.append((i, "value", c))
            i = template_text(i + 1)
        elif c == "/" and not operand_ends():
            j, in_class = i + 1, False
            while j < n and source[j] != "\n" and (in_class or source[j] != "/"):
                if source[j] == "\\":
                    j += 1
                in_class = (in_class and source[j] != "]") or (not in_class and source[j] == "[")
                j += 1
            out.append((i, "value", "/"))
            i = j + 1
            while i < n and source[i].isalpha():
                i += 1
        elif c == "}" and templates and templates[-1] == 0:
            templates.pop()
            out.append((i, "value", "`"))
            i = template_text(i + 1)
        elif (m := _WORD.match(source, i)) or (m := _NUM.match(source, i)):
            out.append((i, "word" if m.re is _WORD else "value", m.group()))
            i = m.end()
        else:
            op = next((o for o in _SCAN_OPS if source.startswith(o, i)), c)
            if templates and op in "{}":
                templates[-1] += 1 if op == "{" else -1
            out.append((i, "op", op))
            i += len(op)
    return out


def side_effect(source: str) -> str | None:
    """Why the condition would change a value (an assignment, ``++``/``--``, ``delete``),
    with its position; None when it does not. Names the expression declares itself
    (``let n = 0`` in a function body) are its own to change."""
    from stepweave.compiler.jsexpr import side_effect_message

    masked = "".join(part if i % 2 == 0 else "_" * len(part)
                     for i, part in enumerate(_split_refs(source)))
    tokens = _tokens(masked)
    local = {tokens[k + 1][2] for k in range(len(tokens) - 1) if tokens[k][2] in _DECLARE}

    def is_local(k: int) -> bool:  # a name the expression declares, not a property
        return 0 <= k < len(tokens) and tokens[k][1] == "word" and tokens[k][2] in local \
            and (k == 0 or tokens[k - 1][2] not in (".", "?."))

    for k, (pos, kind, text) in enumerate(tokens):
        after_dot = k > 0 and tokens[k - 1][2] in (".", "?.")
        if kind == "op" and text in _ASSIGN_OPS:
            if is_local(k - 1) or (text in ("++", "--") and is_local(k + 1)):
                continue  # a declaration's initialiser, or a local counter
        elif not (kind == "word" and text == "delete" and not after_dot):
            continue
        message, detail = side_effect_message(text)
        line = source.count("\n", 0, pos) + 1
        column = pos - (source.rfind("\n", 0, pos) + 1) + 1
        where = f"column {column}" if "\n" not in source else f"line {line}, column {column}"
        return f"{message} at {where}; {detail}"
    return None


def needs_sandbox(source: str, has_context: bool = True) -> bool:
    """Whether a condition the translator rejected is valid JavaScript that the sandbox
    can run (no side effects, no unknown names, and V8 parses it)."""
    return (side_effect(source) is None and not unknown_names(source, has_context)
            and syntax_error(source) is None)


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
    changes = side_effect(source)
    if changes:
        return changes
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


def _row_code(lw: Lowering, node: str, ctx: Ctx, source: str, index: int,
              bindings: dict[str, str], field: str, site_ctx: Ctx | None = None) -> str:
    site = lw.site(node, site_ctx or ctx)
    code, refs, _env = function_code(_expression(source), lw.resolver, site, prefix=f"__c{index}_")
    lw.report(node, site, field)
    bindings.update(refs)
    return code


def condition_program(lw: Lowering, node: str, ctx: Ctx, rows: list[dict[str, Any]],
                      else_id: str | None, context_expr: str) -> tuple[str, dict[str, str]]:
    """JavaScript returning the selected row id (or null), and its bindings."""
    bindings: dict[str, str] = {"__ctx": context_expr}
    lines = ["const context = __ctx;", f"const __msg = {_MESSAGE};", "let __hit;"]
    for index, row in enumerate(rows):
        prefix = json.dumps(f'Evaluation error in condition "{row.get("title", "if")}": ')
        expr = _row_code(lw, node, ctx, str(row.get("value", "")), index, bindings,
                         f"params.conditions.{index}.value")
        lines += ["try {", f"__hit = Boolean({expr});",
                  f"}} catch (e) {{ throw {prefix} + __msg(e); }}",
                  f"if (__hit) return {json.dumps(str(row['id']))};"]
    lines.append(f"return {json.dumps(else_id)};")
    return "\n".join(lines), bindings


def loop_program(lw: Lowering, node: str, ctx: Ctx, inner: Ctx,
                 source: str) -> tuple[str, dict[str, str]]:
    """JavaScript returning the loop condition as a boolean (an error is false)."""
    bindings: dict[str, str] = {}
    field = ("params.doWhileCondition" if lw.graph.blocks[node].params.get("loopType") == "doWhile"
             else "params.whileCondition")
    expr = _row_code(lw, node, ctx, source, 0, bindings, field, site_ctx=inner)
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
