"""The one owner of the process's V8 (``py_mini_racer``) contexts.

Every context Stepweave creates is opened here and closed explicitly, never left to the
garbage collector. That matters at exit: a ``MiniRacer`` created without an event loop
starts a daemon thread for one, and its ``__del__`` joins that thread. During interpreter
shutdown daemon threads are frozen, so a context still alive then makes the process hang
forever after it has printed its result. Hence:

* every context runs on one shared asyncio loop (a daemon thread nothing ever joins), so
  closing a context never waits for a thread;
* short-lived contexts (a function block's call) are context managers: :func:`context`;
* the long-lived contexts (the syntax checker, reused across checks because a new
  context costs 50-120 ms; the embedded engine's JSONata evaluator, :func:`engine`, which
  keeps a library loaded and its compiled expressions; used through :func:`using`, which
  :func:`close` waits for) are closed by :func:`close`, which
  the CLI calls before it returns and which is registered with :mod:`atexit` (atexit
  handlers run before daemon threads are frozen) for every other entry point.

``py_mini_racer`` is imported lazily: importing it costs a cold start ~120 ms.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

__all__ = ["event_loop", "context", "syntax_error", "syntax_errors", "engine", "using", "close"]

_lock = threading.RLock()
_loop: asyncio.AbstractEventLoop | None = None
_checker: MiniRacer | None = None
_checker_stack: ExitStack | None = None
#: name -> (context, what closes it): the long-lived contexts opened by :func:`engine`.
_engines: dict[str, tuple[MiniRacer, ExitStack]] = {}
#: name -> held while a caller uses that long-lived context (:func:`using`): :func:`close`
#: waits for it, so no context is closed under a running evaluation
_in_use: dict[str, threading.Lock] = {}

#: ``new Function(body)`` parses the body without running it; a SyntaxError names the fault.
_CHECK = ("(function (kind, s) { try { if (kind === 'async') "
          "{ new (Object.getPrototypeOf(async function () {}).constructor)(s); } "
          "else { new Function(s); } return null; } catch (e) { return String(e); } })")


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop (in a daemon thread) that drives every V8 context."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="stepweave-v8-loop",
                             daemon=True).start()
            _loop = loop
        return _loop


@contextmanager
def context() -> Iterator[MiniRacer]:
    """A fresh V8 context on the shared loop, freed when the block exits."""
    from py_mini_racer import mini_racer

    with mini_racer(event_loop=event_loop()) as mr:
        yield mr


def syntax_error(body: str, kind: str = "sync") -> str | None:
    """V8's error for a function body that does not parse (``kind`` ``"async"`` for an
    async function body), or None when it parses. Nothing is run."""
    with _lock:
        checker = _open_checker()
        result: Any = checker.eval(f"{_CHECK}({json.dumps(kind)}, {json.dumps(body)})",
                                   timeout=2000)
    return None if result is None else str(result)


def syntax_errors(bodies: list[str], kind: str = "sync") -> list[str | None]:
    """:func:`syntax_error` of each body, in one call into V8 (a call costs a thread hop:
    thousands of blocks are checked at once)."""
    if not bodies:
        return []
    with _lock:
        checker = _open_checker()
        result: Any = checker.eval(
            f"JSON.stringify({json.dumps(bodies)}.map(function (s) {{ return {_CHECK}"
            f"({json.dumps(kind)}, s); }}))", timeout=2000 + len(bodies))
    return [None if error is None else str(error) for error in json.loads(str(result))]


def _open_checker() -> MiniRacer:
    global _checker, _checker_stack
    if _checker is None:
        from py_mini_racer import mini_racer

        stack = ExitStack()
        _checker = stack.enter_context(mini_racer(event_loop=event_loop()))
        _checker_stack = stack
    return _checker


def engine(name: str, setup: Callable[[MiniRacer], None]) -> MiniRacer:
    """The long-lived context called ``name``, opened on first use and prepared by
    ``setup`` (loading a library, say); the same context until :func:`close`, after which
    the next call opens (and sets up) a new one. Callers serialise their own use of it."""
    with _lock:
        opened = _engines.get(name)
        if opened is not None:
            return opened[0]
        from py_mini_racer import mini_racer

        stack = ExitStack()
        mr = stack.enter_context(mini_racer(event_loop=event_loop()))
        try:
            setup(mr)
        except BaseException:
            stack.close()
            raise
        _engines[name] = (mr, stack)
        return mr


@contextmanager
def using(name: str, setup: Callable[[MiniRacer], None]) -> Iterator[MiniRacer]:
    """:func:`engine`'s context ``name``, kept open while the block runs: a :func:`close`
    meanwhile (a command returning while an engine of the same process still evaluates in
    another thread) waits for the block to end. Callers serialise their own use of it."""
    with _lock:
        guard = _in_use.setdefault(name, threading.Lock())
    with guard:
        yield engine(name, setup)


def is_open(name: str, mr: MiniRacer) -> bool:
    """Whether ``mr`` is still the open context called ``name`` (not closed since)."""
    with _lock:
        opened = _engines.get(name)
        return opened is not None and opened[0] is mr


def close() -> None:
    """Close the long-lived contexts (the checker, every :func:`engine`), if open
    (idempotent)."""
    global _checker, _checker_stack
    with _lock:
        stack, _checker, _checker_stack = _checker_stack, None, None
        engines = [(name, opened[1], _in_use.get(name)) for name, opened in _engines.items()]
        _engines.clear()
    if stack is not None:
        stack.close()
    for _, engine_stack, guard in engines:
        if guard is None:
            engine_stack.close()
            continue
        with guard:  # after the evaluation in progress, if any
            engine_stack.close()


atexit.register(close)
