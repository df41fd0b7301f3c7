"""JSONata evaluation for the embedded engine, as AWS Step Functions does it.

moto ships the ASL parser but no JSONata evaluator, and splices variables into the
expression as source text (which breaks on strings containing quotes and re-parses
every variable on every evaluation). Here expressions are compiled once with
``jsonata-python`` and evaluated with variables *bound*, not spliced; the Step
Functions extra functions (``$partition``, ``$range``, ``$hash``, ``$random``,
``$uuid``, ``$parse``) are provided, and ``$eval`` is refused as on AWS.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from functools import lru_cache
from typing import Any

from jsonata import Jsonata
from jsonata.jexception import JException
from jsonata.utils import Utils

__all__ = ["JSONataEvaluationError", "UNDEFINED", "evaluate"]


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


#: Returned when an expression evaluates to nothing (JSONata's undefined).
UNDEFINED: Any = _Undefined()


class JSONataEvaluationError(Exception):
    """An expression failed to parse or threw while evaluating."""


_HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256",
                    "SHA-384": "sha384", "SHA-512": "sha512"}


def _sfn_hash(value: Any, algorithm: Any = "SHA-256") -> str:
    name = _HASH_ALGORITHMS.get(str(algorithm))
    if name is None:
        raise JSONataEvaluationError(f"$hash: unsupported algorithm {algorithm!r}")
    return hashlib.new(name, str(value).encode("utf-8")).hexdigest()


def _sfn_random(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


def _sfn_partition(array: Any, size: Any) -> list[Any]:
    items = list(array or [])
    step = int(size)
    if step <= 0:
        raise JSONataEvaluationError("$partition: chunk size must be positive")
    return [items[i:i + step] for i in range(0, len(items), step)]


def _sfn_range(first: Any, last: Any, step: Any) -> list[Any]:
    out: list[Any] = []
    value, stop, inc = first, last, step
    if inc == 0:
        raise JSONataEvaluationError("$range: step must not be 0")
    while (inc > 0 and value <= stop) or (inc < 0 and value >= stop):
        out.append(value)
        value += inc
    return out


def _sfn_parse(text: Any) -> Any:
    try:
        return _to_jsonata(json.loads(text))
    except (TypeError, ValueError) as exc:
        raise JSONataEvaluationError(f"$parse: invalid JSON: {exc}") from exc


def _refuse_eval(*_: Any) -> Any:
    raise JSONataEvaluationError("$eval is not supported by AWS Step Functions")


_EXTRAS = {
    "hash": _sfn_hash,
    "random": _sfn_random,
    "partition": _sfn_partition,
    "range": _sfn_range,
    "parse": _sfn_parse,
    "uuid": lambda: str(uuid.uuid4()),
    "eval": _refuse_eval,
}


@lru_cache(maxsize=4096)
def _compile(expression: str) -> Any:
    try:
        compiled = Jsonata(expression)
    except JException as exc:
        raise JSONataEvaluationError(f"invalid JSONata: {exc}") from exc
    compiled.set_output_convert_nulls(False)
    for name, function in _EXTRAS.items():
        compiled.register_lambda(name, function)
    return compiled


def _to_jsonata(value: Any) -> Any:
    """Python JSON value -> jsonata-python value (``None`` becomes JSON null)."""
    if value is None:
        return Utils.NULL_VALUE
    if isinstance(value, dict):
        return {k: _to_jsonata(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_jsonata(v) for v in value]
    return value


def _from_jsonata(value: Any) -> Any:
    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {k: _from_jsonata(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_from_jsonata(v) for v in value if v is not None]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def evaluate(expression: str, bindings: dict[str, Any]) -> Any:
    """Evaluate ``expression`` with ``bindings`` (names without ``$``).

    Returns a plain JSON value, or ``UNDEFINED``. Raises ``JSONataEvaluationError``.
    """
    compiled = _compile(expression)
    bound = {name: _to_jsonata(value) for name, value in bindings.items()}
    try:
        result = compiled.evaluate(None, bound)
    except JSONataEvaluationError:
        raise
    except JException as exc:
        raise JSONataEvaluationError(str(exc)) from exc
    except (RecursionError, ValueError, TypeError, ArithmeticError) as exc:
        raise JSONataEvaluationError(f"{type(exc).__name__}: {exc}") from exc
    if result is None:
        return UNDEFINED
    return _from_jsonata(result)
