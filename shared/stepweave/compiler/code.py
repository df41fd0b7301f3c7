"""Function-block code: references become runtime bindings, not pasted text.

As in Sim (SIM-COMPAT §2.6.3), ``const d = <api.data>;`` gives the real object: each
reference becomes a global ``__ref_N`` bound by the handler. A reference inside a
string literal splices the value's JSON text into the string (Sim's behaviour);
``{{NAME}}`` becomes the global ``__env_NAME``, a string the handler reads from its
environment, so secrets never enter the state machine definition.

The rewriting never adds or removes a line, so line ``n`` of the compiled code is line
``n`` of the code as written: :func:`syntax_problem` (validation, V8's parser) and the
handler's error messages name the user's lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stepweave.compiler.resolve import RefError, Resolver, Site
from stepweave.refs import ENV_PATTERN, Ref, find_refs

__all__ = ["function_code", "syntax_problem", "syntax_problems"]


def _string_context(code: str) -> list[str | None]:
    """For each offset: the quote char of the string literal it is in, else None.
    Inside a template literal's ``${...}`` it is code again."""
    ctx: list[str | None] = [None] * len(code)
    i, quote, comment = 0, None, None
    braces: list[int] = []  # per open ``${``: the depth of plain braces inside it
    while i < len(code):
        c = code[i]
        if comment == "line":
            comment = None if c == "\n" else comment
        elif comment == "block":
            if code.startswith("*/", i):
                comment, i = None, i + 1
        elif quote:
            ctx[i] = quote
            if c == "\\":
                i += 1
                if i < len(code):
                    ctx[i] = quote
            elif quote == "`" and code.startswith("${", i):
                quote, i = None, i + 1
                braces.append(0)
            elif c == quote:
                quote = None
                ctx[i] = None
        elif code.startswith("//", i):
            comment = "line"
        elif code.startswith("/*", i):
            comment = "block"
        elif c in "'\"`":
            quote = c
        elif braces and c == "{":
            braces[-1] += 1
        elif braces and c == "}":
            if braces[-1] == 0:
                braces.pop()
                quote = "`"
            else:
                braces[-1] -= 1
        i += 1
    return ctx


def _rewrite(code: str, bind: Callable[[Ref], str | None]) -> tuple[str, list[str]]:
    """``code`` with each reference ``bind`` names a binding for replaced by that binding
    (others are left as written) and each ``{{NAME}}`` by ``__env_NAME``; the env names."""
    contexts = _string_context(code)
    out: list[str] = []
    last = 0
    for ref in find_refs(code):
        binding = bind(ref)
        if binding is None:
            continue
        out.append(code[last:ref.start])
        quote = contexts[ref.start] if ref.start < len(contexts) else None
        if quote == "`":
            out.append("${JSON.stringify(" + binding + ")}")
        elif quote:
            out.append(f"{quote} + JSON.stringify({binding}) + {quote}")
        else:
            out.append(binding)
        last = ref.end
    out.append(code[last:])
    text = "".join(out)
    env_names = sorted({m.group(1) for m in ENV_PATTERN.finditer(text)})
    for name in env_names:
        text = text.replace("{{" + name + "}}", _env_global(name))
    return text, env_names


def _env_global(name: str) -> str:
    return "__env_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def function_code(code: str, resolver: Resolver, site: Site,
                  prefix: str = "__ref_") -> tuple[str, dict[str, str], list[str]]:
    """-> (code with references replaced, {binding: JSONata expr}, env var names).

    Bindings are named ``<prefix><n>``."""
    bindings: dict[str, str] = {}

    def bind(ref: Ref) -> str | None:
        try:
            expr = resolver.resolve(ref, site)
        except RefError as exc:
            site.problems.append(str(exc))
            return None
        if expr is None:
            return None
        binding = f"{prefix}{len(bindings)}"
        bindings[binding] = expr
        return binding

    text, env_names = _rewrite(code, bind)
    return text, bindings, env_names


# -- syntax, as V8 reads the compiled code, told in the user's lines ---------------------------

#: Appended to a prefix of the code to find the line V8 stops at: an error naming it means
#: the parser read the whole prefix without fault.
_SENTINEL = "\n__stepweave_end__ __stepweave_end__"
_PLACEHOLDER = re.compile(r"__ref_(\d+)|__env_([A-Za-z0-9_]+)")


def syntax_problem(code: str) -> str | None:
    """Why function code does not parse as an async function body (V8's parser, nothing
    runs), in Sim's form ``Line 2: `return {a: 1` - SyntaxError: ...`` with the line as
    written; None when it parses."""
    return syntax_problems([code])[0]


def syntax_problems(codes: list[str]) -> list[str | None]:
    """:func:`syntax_problem` of each code, parsed by V8 in one call (the line of a fault
    is then found for the codes that have one)."""
    from stepweave import v8

    rewritten = [_placeholders(code) for code in codes]
    errors = v8.syntax_errors([compiled for compiled, _refs, _envs in rewritten], kind="async")
    return [None if error is None else _told_as_written(code, compiled, refs, env_names, error)
            for code, (compiled, refs, env_names), error
            in zip(codes, rewritten, errors, strict=True)]


def _placeholders(code: str) -> tuple[str, list[str], list[str]]:
    """The code with each reference a ``__ref_<n>`` global (and ``{{NAME}}`` an ``__env_``
    one), the references as written, the env names."""
    refs: list[str] = []

    def bind(ref: Ref) -> str:
        refs.append(code[ref.start:ref.end])
        return f"__ref_{len(refs) - 1}"

    compiled, env_names = _rewrite(code, bind)
    return compiled, refs, env_names


def _told_as_written(code: str, compiled: str, refs: list[str], env_names: list[str],
                     error: str) -> str:
    """V8's ``error`` for the rewritten code, with the line and the references as written."""
    envs = {_env_global(name)[len("__env_"):]: name for name in env_names}

    def as_written(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            index = int(match.group(1))
            return refs[index] if index < len(refs) else match.group()
        name = envs.get(match.group(2))
        return "{{" + name + "}}" if name else match.group()

    lines = compiled.split("\n")
    at = _error_line(lines, error)
    if at is None:  # the parser ran past the last line: something is left open
        error = "SyntaxError: Unexpected end of input"
        at = max((n for n, text in enumerate(lines, 1) if text.strip()), default=1)
    message = _PLACEHOLDER.sub(as_written, error)
    written = code.split("\n")
    if len(written) == len(lines) and written[at - 1].strip():
        return f"Line {at}: `{written[at - 1].strip()}` - {message}"
    return f"Line {at}: {message}"


def _error_line(lines: list[str], error: str) -> int | None:
    """The first line whose prefix already gives V8's ``error`` (binary search: a prefix
    ending before the fault reads on into the sentinel instead); None when even the whole
    code does not (the fault is its end)."""
    from stepweave import v8

    def fails_within(count: int) -> bool:
        return v8.syntax_error("\n".join(lines[:count]) + _SENTINEL, kind="async") == error

    if not fails_within(len(lines)):
        return None
    low, high = 1, len(lines)
    while low < high:
        mid = (low + high) // 2
        if fails_within(mid):
            high = mid
        else:
            low = mid + 1
    return low
