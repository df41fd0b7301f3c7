"""moto imports the embedded engine defers: moto's Batch backend.

moto's Step Functions parser imports ``moto.batch.utils`` (the Batch task's job statuses).
Importing any module of ``moto.batch`` first runs the package's ``__init__``, which imports
moto's whole Batch backend and, through it, EC2's (instance types, AMIs, every region's
availability zones read from botocore's endpoint data): ~0.7 s of a local run, for a backend
no local run uses unless a workflow calls Batch.

:func:`defer_batch` registers ``moto.batch`` as the package it is (same path, same
submodules) whose ``__init__`` re-exports load on first use (PEP 562), so the parser gets
``moto.batch.utils`` without the backend, and anything asking moto for its Batch backend
still gets it. It must run before moto's parser is imported; the modules that import the
parser (:mod:`stepweave.local.moto_adapter`, :mod:`stepweave.local.limits`) call it first.

moto is pinned exactly (``pyproject.toml``). If an upgrade makes ``moto/batch/__init__.py``
more than re-exports from its submodules, :func:`defer_batch` raises rather than guess;
``tests/engine/test_moto_adapter.py`` checks that importing the parser leaves the Batch and
EC2 backends unloaded.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["BATCH_PACKAGE", "DeferredImportError", "defer_batch", "batch_exports"]

BATCH_PACKAGE = "moto.batch"

_lock = threading.Lock()


class DeferredImportError(ImportError):
    """moto's layout is not the one :func:`defer_batch` was written for."""


def batch_exports(source: str, origin: str = "moto/batch/__init__.py") -> dict[str, tuple[str, str]]:
    """The names a package ``__init__`` re-exports -> (the submodule, its name there); raises
    :class:`DeferredImportError` if the ``__init__`` does anything else."""
    exports: dict[str, tuple[str, str]] = {}
    for statement in ast.parse(source, origin).body:
        if (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)):
            continue  # a docstring
        if (isinstance(statement, ast.ImportFrom) and statement.level == 1 and statement.module
                and "." not in statement.module
                and all(alias.name != "*" for alias in statement.names)):
            for alias in statement.names:
                exports[alias.asname or alias.name] = (statement.module, alias.name)
            continue
        raise DeferredImportError(
            f"{origin} line {statement.lineno} is not a re-export from one of its submodules; "
            "stepweave.local.moto_imports defers the package's imports and was written for the "
            "moto version pinned in pyproject.toml: update the pin and this module together")
    if not exports:
        raise DeferredImportError(f"{origin} re-exports nothing: moto's layout changed "
                                  "(stepweave.local.moto_imports, pinned in pyproject.toml)")
    return exports


def defer_batch() -> None:
    """Register ``moto.batch`` with its re-exports deferred (idempotent; nothing to do if
    the package is loaded already)."""
    with _lock:
        if BATCH_PACKAGE in sys.modules:
            return
        spec = importlib.util.find_spec(BATCH_PACKAGE)
        if spec is None or spec.origin is None or spec.submodule_search_locations is None:
            raise DeferredImportError(
                f"{BATCH_PACKAGE} is not a package in this moto: its layout changed "
                "(stepweave.local.moto_imports was written for the version pinned in pyproject.toml)")
        exports = batch_exports(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
        package = importlib.util.module_from_spec(spec)  # __path__, __spec__: not executed
        package.__getattr__ = _deferred(package, exports)  # type: ignore[method-assign]
        sys.modules[BATCH_PACKAGE] = package
        setattr(importlib.import_module("moto"), "batch", package)  # noqa: B010 - as import does


def _deferred(package: ModuleType, exports: dict[str, tuple[str, str]]) -> Any:
    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook of PEP 562
        if name not in exports:
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")
        submodule, original = exports[name]
        value = getattr(importlib.import_module(f"{package.__name__}.{submodule}"), original)
        setattr(package, name, value)
        return value
    return __getattr__
