"""Where the jsonata-js library AWS Step Functions uses is, and its source.

AWS evaluates JSONata with the JavaScript ``jsonata`` library, version ``JSONATA_VERSION``.
The project pins that version in ``package.json`` (``npm ci`` installs it into
``node_modules/jsonata``); ``$STEPWEAVE_JSONATA_JS`` names another copy of ``jsonata.js``.
The embedded engine evaluates with it (``stepweave.local.jsonata_eval``) and the compiler
parses the expressions it emits with it (``stepweave.compiler.jsonata_syntax``), both in V8.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from stepweave.errors import StepweaveError

__all__ = ["JSONATA_VERSION", "LIBRARY_ENV", "JSONataUnavailable", "library_path",
           "library_source"]

#: The jsonata-js release AWS Step Functions documents (and package.json pins).
JSONATA_VERSION = "2.0.6"
#: Environment variable naming another copy of ``jsonata.js``.
LIBRARY_ENV = "STEPWEAVE_JSONATA_JS"

_ROOT = Path(__file__).resolve().parents[2]


class JSONataUnavailable(StepweaveError):
    """The jsonata-js library is not installed (or is not the version AWS uses)."""


def library_path(search: Sequence[Path] | None = None) -> Path:
    """``jsonata.js``: ``$STEPWEAVE_JSONATA_JS`` when set, else ``node_modules/jsonata`` under
    the first of ``search`` that has it (default: this checkout, then the working
    directory). Raises ``JSONataUnavailable``, saying what to do, when there is none or
    when node_modules holds another version than AWS's."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise JSONataUnavailable(f"{LIBRARY_ENV}={override}: no such file")
        return path
    bases = list(search) if search is not None else [_ROOT, Path.cwd()]
    for base in bases:
        package = base / "node_modules" / "jsonata"
        if (package / "jsonata.js").is_file():
            version = _package_version(package / "package.json")
            if version != JSONATA_VERSION:
                raise JSONataUnavailable(
                    f"{package} is jsonata {version}, AWS Step Functions evaluates "
                    f"{JSONATA_VERSION}: run `npm ci` (or `make test`) in {base}")
            return package / "jsonata.js"
    raise JSONataUnavailable(
        "JSONata is evaluated with jsonata-js, as AWS does, and node_modules/jsonata is not "
        f"installed: run `npm ci` in {bases[0] if bases else _ROOT} (`make example` and "
        f"`make test` do it), or set {LIBRARY_ENV} to a copy of jsonata.js {JSONATA_VERSION}")


def _package_version(path: Path) -> str | None:
    try:
        version = json.loads(path.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return str(version) if version else None


@lru_cache(maxsize=2)
def library_source(path: Path) -> str:
    """The library's source; evaluated without ``module``/``define`` (a UMD bundle), it
    defines the global ``jsonata``."""
    return path.read_text(encoding="utf-8")
