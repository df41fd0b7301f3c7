"""JSONata syntax as AWS reads it: expressions parsed by the jsonata-js library itself.

Step Functions evaluates JSONata with the JavaScript ``jsonata`` library; the compiler
parses the expressions it emits with that same library (run in V8, ``stepweave.v8``) to
find what AWS refuses when a definition is created: an expression that does not parse, or
one that reads a field of the state's input at the top level
(``stepweave.compiler.aslcheck.top_level_fields``).

The library is found by ``stepweave.jsonata_library`` (the project's pinned npm dependency);
without it the JSONata checks are skipped (``jsonata_fields`` returns None) and say so once
on stderr.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any

from stepweave.compiler.aslcheck import FieldFinder, top_level_fields
from stepweave.jsonata_library import JSONataUnavailable, library_path, library_source

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

_lock = threading.Lock()

__all__ = ["jsonata_fields", "parse_all"]

_warned = False
_PARSE = """
(function (exprs) {
  return JSON.stringify(exprs.map(function (e) {
    try { return {ast: jsonata(e).ast()}; }
    catch (err) { return {error: String(err && err.message || err)}; }
  }));
})(%s)
"""


def _setup(mr: MiniRacer) -> None:
    mr.eval(library_source(library_path()), timeout=10_000)


def parse_all(expressions: list[str]) -> list[dict[str, Any]]:
    """``{"ast": ...}`` or ``{"error": message}`` for each expression (the library's
    parser, in a long-lived V8 context of ``stepweave.v8``). Raises
    ``JSONataUnavailable`` without the library."""
    from stepweave import v8

    with _lock, v8.using("jsonata-syntax", _setup) as mr:  # not closed while it parses
        text = mr.eval(_PARSE % json.dumps(expressions), timeout=30_000)
    parsed: list[dict[str, Any]] = json.loads(str(text))
    return parsed


def _fields(expressions: list[str]) -> list[tuple[list[str], str | None]]:
    """Each expression's top-level fields and syntax error; an expression that recurs (the
    same guard or export in many states) is parsed once."""
    unique = list(dict.fromkeys(expressions))
    found = {expr: ([], str(r["error"])) if "error" in r else (top_level_fields(r.get("ast")), None)
             for expr, r in zip(unique, parse_all(unique), strict=True)}
    return [found[expr] for expr in expressions]


def jsonata_fields() -> FieldFinder | None:
    """The top-level field finder, or None (with a note on stderr) without the library."""
    global _warned
    try:
        library_path()
    except JSONataUnavailable as exc:
        if not _warned:
            _warned = True
            print(f"stepweave: note: JSONata expressions are not checked as AWS parses them: "
                  f"{exc}", file=sys.stderr)
        return None
    return _fields
