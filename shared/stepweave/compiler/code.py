"""Function-block code: references become runtime bindings, not pasted text.

As in Sim (SIM-COMPAT §2.6.3), ``const d = <api.data>;`` gives the real object: each
reference becomes a global ``__ref_N`` bound by the handler. A reference inside a
string literal splices the value's JSON text into the string (Sim's behaviour);
``{{NAME}}`` becomes the global ``__env_NAME``, a string the handler reads from its
environment, so secrets never enter the state machine definition.
"""

from __future__ import annotations

import re

from stepweave.compiler.refs import ENV_PATTERN, find_refs
from stepweave.compiler.resolve import RefError, Resolver, Site

__all__ = ["function_code"]


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


def function_code(code: str, resolver: Resolver, site: Site,
                  prefix: str = "__ref_") -> tuple[str, dict[str, str], list[str]]:
    """-> (code with references replaced, {binding: JSONata expr}, env var names).

    Bindings are named ``<prefix><n>``."""
    contexts = _string_context(code)
    bindings: dict[str, str] = {}
    out: list[str] = []
    last = 0
    for ref in find_refs(code):
        try:
            expr = resolver.resolve(ref, site)
        except RefError as exc:
            site.problems.append(str(exc))
            continue
        if expr is None:
            continue
        binding = f"{prefix}{len(bindings)}"
        bindings[binding] = expr
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
        safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
        text = text.replace("{{" + name + "}}", f"__env_{safe}")
    return text, bindings, env_names

