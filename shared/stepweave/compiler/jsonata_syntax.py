"""JSONata syntax as AWS reads it: expressions parsed by the jsonata-js library itself.

Step Functions evaluates JSONata with the JavaScript ``jsonata`` library; the compiler
parses the expressions it emits with that same library (run in V8, ``stepweave.v8``) to
find what AWS refuses when a definition is created: an expression that does not parse, or
one that reads a field of the state's input at the top level
(``stepweave.compiler.aslcheck.top_level_fields``).

The library is the project's pinned npm dependency (``node_modules/jsonata``, installed by
``make``); ``STEPWEAVE_JSONATA_JS`` names another copy of ``jsonata.js``. Without it the
JSONata checks are skipped (``jsonata_fields`` returns None) and say so once on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from stepweave.compiler.aslcheck import FieldFinder, top_level_fields

__all__ = ["jsonata_fields", "jsonata_library", "parse_all"]

_ROOT = Path(__file__).resolve().parents[3]
_warned = False
_PARSE = """
(function (exprs) {
  return JSON.stringify(exprs.map(function (e) {
    try { return {ast: jsonata(e).ast()}; }
    catch (err) { return {error: String(err && err.message || err)}; }
  }));
})(%s)
"""


def jsonata_library() -> Path | None:
    """Where ``jsonata.js`` is (the env override, else the project's node_modules)."""
    override = os.environ.get("STEPWEAVE_JSONATA_JS")
    candidates = [Path(override)] if override else []
    candidates += [_ROOT / "node_modules" / "jsonata" / "jsonata.js",
                   Path.cwd() / "node_modules" / "jsonata" / "jsonata.js"]
    return next((p for p in candidates if p.is_file()), None)


@lru_cache(maxsize=2)
def _source(path: Path) -> str:
    # a CommonJS/UMD bundle: give it a module object so it defines `jsonata`
    text = path.read_text(encoding="utf-8")
    return ("var module = {exports: {}}; var exports = module.exports;\n" + text +
            "\nvar jsonata = module.exports;")


def parse_all(expressions: list[str]) -> list[dict[str, Any]] | None:
    """``{"ast": ...}`` or ``{"error": message}`` for each expression; None without the
    library."""
    path = jsonata_library()
    if path is None:
        return None
    from stepweave import v8

    with v8.context() as mr:
        mr.eval(_source(path), timeout=10_000)
        text = mr.eval(_PARSE % json.dumps(expressions), timeout=30_000)
    parsed: list[dict[str, Any]] = json.loads(str(text))
    return parsed


def _fields(expressions: list[str]) -> list[tuple[list[str], str | None]]:
    results = parse_all(expressions) or [{} for _ in expressions]
    return [([], str(r["error"])) if "error" in r else (top_level_fields(r.get("ast")), None)
            for r in results]


def jsonata_fields() -> FieldFinder | None:
    """The top-level field finder, or None (with a note on stderr) without the library."""
    global _warned
    if jsonata_library() is None:
        if not _warned:
            _warned = True
            print("stepweave: note: node_modules/jsonata is not installed (run `make` or "
                  "`npm ci`): JSONata expressions are not checked as AWS parses them",
                  file=sys.stderr)
        return None
    return _fields
