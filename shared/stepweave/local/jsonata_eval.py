"""JSONata evaluation for the embedded engine, with the library AWS Step Functions uses.

AWS evaluates JSONata with the JavaScript ``jsonata`` library (version 2.0.6) plus the
functions Step Functions adds. So does this module: the library's ``jsonata.js`` (the
project's pinned npm dependency, ``node_modules/jsonata``; ``STEPWEAVE_JSONATA_JS`` names
another copy) runs in one long-lived V8 context (:func:`stepweave.v8.using`, closed by
``stepweave.v8.close``, never during an evaluation) with the Step Functions functions of
:mod:`stepweave.local.jsonata_aws` registered on every expression. Numbers, strings and
regular expressions therefore behave as on AWS: ``$number("5.")`` is error D3030, ``\\d``
matches ASCII digits only, ``$string`` writes numbers to 15 significant digits and
integers above 2**53 are rounded.

Each expression is compiled once, under a number; an evaluation sends V8 that number and
the bindings, in one hop to the V8 loop. Variables are *bound*, never
spliced into the source (moto splices them as text, which breaks on quotes): they cross
into V8 as JSON text that JavaScript parses, and the result crosses back as JSON text, so
every number on both sides has JavaScript's semantics. ``$eval`` is refused as on AWS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from stepweave.jsonata_library import (
    JSONATA_VERSION,
    LIBRARY_ENV,
    JSONataUnavailable,
    library_path,
    library_source,
)
from stepweave.local.jsonata_aws import RUNNER

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

__all__ = ["JSONATA_VERSION", "JSONataEvaluationError", "JSONataUnavailable", "UNDEFINED",
           "aws_timestamp", "check_available", "evaluate", "library_path"]

#: How long one evaluation may run before it is stopped (a runaway expression).
TIMEOUT_SECONDS = 10.0

_lock = threading.Lock()


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


#: Returned when an expression evaluates to nothing (JSONata's undefined).
UNDEFINED: Any = _Undefined()


class JSONataEvaluationError(Exception):
    """An expression failed to parse or threw while evaluating; ``code`` is the library's
    error code (``D3030``, ``T2001``, ``S0201``...) when it gave one."""

    def __init__(self, message: str, code: str | None = None,
                 position: int | None = None, token: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code and not message.startswith(code) else message)
        self.code = code
        self.position = position
        self.token = token


def check_available() -> None:
    """Raise ``JSONataUnavailable`` now, with what to do, rather than in the first state."""
    library_path()


def _setup(mr: MiniRacer) -> None:
    # the bundle is UMD: without `module`/`define` it defines the global `jsonata`
    mr.eval(library_source(library_path()), timeout_sec=TIMEOUT_SECONDS)
    mr.eval(RUNNER, timeout_sec=TIMEOUT_SECONDS)


def aws_timestamp(value: dt.datetime | str) -> str:
    """A time as the Step Functions context object gives it: ISO 8601 in UTC with
    milliseconds, ``2024-11-27T00:23:19.123Z``."""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return aws_timestamp(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _bindings_json(bindings: dict[str, Any]) -> str:
    try:
        return json.dumps(bindings, ensure_ascii=False, allow_nan=False, default=_json_default,
                          separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise JSONataEvaluationError(f"a variable is not a JSON value: {exc}") from exc


class _Compiled:
    """The expressions compiled in one context, by number (least recently used dropped)."""

    LIMIT = 4096

    def __init__(self, context: MiniRacer) -> None:
        # weakly: a context closed by stepweave.v8.close() must not be kept alive here
        self.context = weakref.ref(context)
        self.ids: OrderedDict[str, int] = OrderedDict()
        self.next_id = 0

    def id_of(self, expression: str) -> tuple[int, str]:
        """The expression's number, and the JavaScript to run first (defining it if new)."""
        known = self.ids.get(expression)
        if known is not None:
            self.ids.move_to_end(expression)
            return known, ""
        prelude = ""
        if len(self.ids) >= self.LIMIT:
            _, dropped = self.ids.popitem(last=False)
            prelude = f"__stepweave_jsonata.forget({dropped}); "
        self.next_id += 1
        self.ids[expression] = self.next_id
        return self.next_id, prelude + f"__stepweave_jsonata.define({self.next_id}, {json.dumps(expression)}); "


_compiled: _Compiled | None = None


def evaluate(expression: str, bindings: dict[str, Any]) -> Any:
    """Evaluate ``expression`` with ``bindings`` (names without ``$``, JSON values).

    Returns a plain JSON value, or ``UNDEFINED``. Raises ``JSONataEvaluationError`` (and
    ``JSONataUnavailable`` when the library is not installed).
    """
    global _compiled
    from py_mini_racer import JSEvalException

    from stepweave import v8

    bound = json.dumps(_bindings_json(bindings))
    # ``v8.using``: a command that ends meanwhile (``stepweave.v8.close`` from another
    # thread, an engine of the same process still running) closes the context after this
    # evaluation, never under it
    with _lock, v8.using("jsonata", _setup) as mr:
        if _compiled is None or _compiled.context() is not mr:  # new, or reopened after close
            _compiled = _Compiled(mr)
        number, prelude = _compiled.id_of(expression)
        call = f"{prelude}__stepweave_jsonata.run({number}, {bound})"
        try:
            outcome = asyncio.run_coroutine_threadsafe(_run(mr, call), v8.event_loop()).result()
        except TimeoutError as exc:
            raise JSONataEvaluationError(
                f"the expression ran for more than {TIMEOUT_SECONDS:g} s and was stopped") from exc
        except JSEvalException as exc:
            raise JSONataEvaluationError(f"{type(exc).__name__}: {exc}") from exc
    return _outcome(outcome)


async def _run(mr: MiniRacer, call: str) -> Any:
    """On the V8 loop (one hop from the caller's thread): run, then read the outcome,
    which V8 settled with its microtasks when the first script returned."""
    await asyncio.wait_for(mr.eval_cancelable(call), timeout=TIMEOUT_SECONDS)
    return mr.eval("__stepweave_jsonata.last()")


def _outcome(outcome: Any) -> Any:
    if not isinstance(outcome, str) or not outcome:
        raise JSONataEvaluationError("the evaluation did not finish (an asynchronous function?)")
    kind, text = outcome[0], outcome[1:]
    if kind == "U":
        return UNDEFINED
    if kind == "R":
        return json.loads(text)
    error = json.loads(text)
    raise JSONataEvaluationError(str(error.get("message") or "evaluation failed"),
                                 code=error.get("code"), position=error.get("position"),
                                 token=error.get("token"))
