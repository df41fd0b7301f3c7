"""The ``function`` block: user JavaScript run in a fresh V8 isolate.

The code is the body of an async function, so ``return`` and ``await`` work. Each
call gets its own isolate (nothing leaks between calls); there is no network,
filesystem, ``require`` or ``process``, only the ECMAScript built-ins plus
``console`` and ``setTimeout``/``clearTimeout`` (mini-racer's timer shim, wrapped
so that a zero or missing delay fires: unwrapped, 0 throws and none never fires).

How a call runs (``py_mini_racer`` is imported lazily; cold start matters):

1. A context is created by ``stepweave.v8`` on its shared asyncio loop thread, which
   outlives it, so that freeing the context never races with callbacks of cancelled V8
   tasks and never joins a thread (see that module for why that matters at exit).
2. One "start" evaluation installs ``console``, the bindings and the
   ``__env_<NAME>`` globals, compiles the code with the ``AsyncFunction``
   constructor (the code is passed as a string value, never spliced into source)
   and calls it. Settling records a JSON envelope.
3. Short poll evaluations read the envelope. Every evaluation is cancelable and
   watched: on the deadline, the isolate's hard heap limit, or process RSS growth
   beyond the limit (a coarse backstop for off-heap ``ArrayBuffer`` memory), the
   task is cancelled and the context is freed, which terminates any JavaScript
   still running, including a runaway promise continuation.

Never use ``MiniRacer.eval`` without a timeout or ``JSPromise.get`` here: both can
block the loop thread forever behind a runaway microtask.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from stepweave.blocks.js_memory import BUDGET_MESSAGE, buffer_guard
from stepweave.errors import (
    BlockError,
    BlockInputError,
    BlockResourceError,
    BlockTimeoutError,
)

if TYPE_CHECKING:
    from py_mini_racer import MiniRacer

__all__ = ["run_function"]

DEFAULT_TIMEOUT_MS = 10_000
MAX_TIMEOUT_MS = 900_000
DEFAULT_MEMORY_MB = 128
MAX_MEMORY_MB = 1024

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WATCH_SLICE_S = 0.02
_POLL_MAX_DELAY_S = 0.025
_MB = 1024 * 1024

_PRELUDE = r"""
(function (bindingsJson, code) {
  'use strict';
  const stringify = JSON.stringify;
  const apply = Reflect.apply;
  const then = Promise.prototype.then;
  const lines = [];
  const show = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { const s = stringify(v); return s === undefined ? String(v) : s; }
    catch (e) { return String(v); }
  };
  const log = (...args) => { lines.push(args.map(show).join(' ')); };
  globalThis.console = { log, info: log, warn: log, error: log, debug: log };
  for (const name of ['fetch', 'require', 'process', 'XMLHttpRequest', 'WebSocket']) {
    delete globalThis[name];
  }
  const baseSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = (fn, delay, ...rest) =>
    baseSetTimeout(fn, Math.max(1, Number(delay) || 0), ...rest);
  const bound = JSON.parse(bindingsJson);
  for (const name of Object.keys(bound)) globalThis[name] = bound[name];
  const messageOf = (e) => {
    try {
      if (e !== null && typeof e === 'object' && typeof e.message === 'string' && e.message) {
        return e.message;
      }
      return String(e);
    } catch (_) { return 'Uncaught non-printable value'; }
  };
  const lineOf = (e) => {
    try {
      const m = /, <anonymous>:(\d+):\d+\)/.exec(String(e && e.stack));
      return m ? Number(m[1]) - 2 : null;
    } catch (_) { return null; }
  };
  let outcome = null;
  const finish = (o) => {
    o.stdout = lines.join('\n');
    try { outcome = stringify(o); }
    catch (e) {
      outcome = stringify({status: 'unserialisable', message: messageOf(e), stdout: o.stdout});
    }
  };
  Object.defineProperty(globalThis, '__stepweave_poll', {value: () => outcome});
  let fn;
  try { fn = new (Object.getPrototypeOf(async function () {}).constructor)(code); }
  catch (e) { finish({status: 'syntax', message: messageOf(e)}); return; }
  apply(then, fn(), [
    (v) => finish({status: 'ok', result: v}),
    (e) => finish({status: 'error', message: messageOf(e), line: lineOf(e)})]);
})(%s, %s);
"""


def run_function(params: dict[str, Any], *, env: Mapping[str, str]) -> dict[str, Any]:
    """Run a function block's JavaScript; return ``{"result": ..., "stdout": ...}``.

    Raises ``BlockInputError`` for bad params, ``BlockError`` for a thrown error or a
    syntax error, ``BlockTimeoutError`` and ``BlockResourceError`` for limits.
    """
    code = params.get("code")
    if not isinstance(code, str):
        raise BlockInputError("Function block parameter 'code' is required and must be a string")
    timeout_ms = _int_param(params, "timeoutMs", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
    memory_mb = _int_param(params, "memoryMb", DEFAULT_MEMORY_MB, MAX_MEMORY_MB)
    globals_ = _bindings(params.get("bindings"))
    globals_.update(_env_globals(params.get("envNames"), env))
    source = buffer_guard(memory_mb) + _PRELUDE % (json.dumps(json.dumps(globals_)),
                                                   json.dumps(code))
    envelope = _execute(source, timeout_ms, memory_mb)
    status = envelope.get("status")
    message = str(envelope.get("message", ""))
    if status == "error" and message.startswith(BUDGET_MESSAGE):
        raise BlockResourceError(message)
    if status == "ok":
        return {"result": envelope.get("result"), "stdout": str(envelope.get("stdout", ""))}
    if status == "syntax":
        raise BlockError(f"Syntax error: {message}")
    if status == "unserialisable":
        raise BlockError(f"Function result is not JSON-serialisable: {message}")
    shown = _as_written(globals_)
    raise BlockError(_with_line(code, envelope.get("line"), message, shown))


#: A bound value longer than this is cut in an error line (``...`` ends it).
_SHOWN_VALUE_MAX = 200


def _with_line(code: str, line: object, message: str,
               as_written: Callable[[str], str] = lambda text: text) -> str:
    """Sim's wording for user errors: ``Line 2: `throw new Error("x")` - x``, the line
    rendered by ``as_written`` (:func:`_as_written`)."""
    lines = code.split("\n")
    if isinstance(line, int) and 1 <= line <= len(lines) and lines[line - 1].strip():
        return f"Line {line}: `{as_written(lines[line - 1].strip())}` - {message}"
    return message


def _as_written(globals_: dict[str, Any]) -> Callable[[str], str]:
    """A line of the compiled code as its author wrote it, with each reference replaced
    by its value as JSON (Sim shows the line with the values pasted in): the compiler
    turned ``<block.path>`` into a binding (``__ref_0``; inside a string literal
    ``" + JSON.stringify(__ref_0) + "``) and ``{{NAME}}`` into ``__env_NAME``, which
    shows as ``{{NAME}}`` again (never a secret's value). Error text only: nothing
    rendered here runs."""
    bound = {name: value for name, value in globals_.items() if not name.startswith("__env_")}
    envs = [name for name in globals_ if name.startswith("__env_")]
    if not bound and not envs:
        return lambda text: text
    names = "|".join(re.escape(n) for n in sorted([*bound, *envs], key=len, reverse=True))
    pattern = re.compile(rf"""(['"]) \+ JSON\.stringify\(({names})\) \+ \1"""
                         rf"""|\$\{{JSON\.stringify\(({names})\)\}}|(?<![\w$])({names})(?![\w$])""")

    def value(match: re.Match[str]) -> str:
        name = match.group(2) or match.group(3) or match.group(4)
        if name not in bound:  # a secret, spliced or bare: its placeholder
            return "{{" + name[len("__env_"):] + "}}" if match.group(4) else match.group()
        text = json.dumps(bound[name], ensure_ascii=False, separators=(",", ":"))
        if len(text) > _SHOWN_VALUE_MAX:
            text = text[: _SHOWN_VALUE_MAX - 3] + "..."
        return text

    return lambda text: pattern.sub(value, text)


def _int_param(params: dict[str, Any], name: str, default: int, maximum: int) -> int:
    """Read an optional positive integer param bounded by ``maximum``."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise BlockInputError(
            f"Function block parameter '{name}' must be an integer from 1 to {maximum}"
        )
    return value


def _bindings(raw: object) -> dict[str, Any]:
    """Validate ``bindings``: valid JS identifiers mapped to JSON values."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BlockInputError("Function block parameter 'bindings' must be an object")
    for name, value in raw.items():
        if (
            not isinstance(name, str)
            or not _IDENTIFIER.match(name)
            or name.startswith("__stepweave")
        ):
            raise BlockInputError(
                f"Function block parameter 'bindings' has an invalid name: {name!r}"
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BlockInputError(
                f"Function block parameter 'bindings' value {name!r} is not JSON: {exc}"
            ) from None
    return dict(raw)


def _env_globals(raw: object, env: Mapping[str, str]) -> dict[str, str]:
    """Map ``envNames`` to ``__env_<NAME>`` string globals (``{{NAME}}`` when unset)."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise BlockInputError("Function block parameter 'envNames' must be a list of names")
    out: dict[str, str] = {}
    for name in raw:
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise BlockInputError(
                f"Function block parameter 'envNames' has an invalid name: {name!r}"
            )
        value = env.get(name)
        out[f"__env_{name}"] = value if value is not None else "{{" + name + "}}"
    return out


def _execute(source: str, timeout_ms: int, memory_mb: int) -> dict[str, Any]:
    """Run ``source`` in a fresh context and return the decoded outcome envelope."""
    from stepweave import v8

    loop = v8.event_loop()
    with v8.context() as mr:
        mr.set_hard_memory_limit(memory_mb * _MB)
        watch = _Watch(mr, timeout_ms, memory_mb)
        future = asyncio.run_coroutine_threadsafe(_drive(mr, source, watch), loop)
        outcome = future.result()
    decoded = json.loads(outcome)
    if not isinstance(decoded, dict):  # pragma: no cover - the prelude always sends objects
        raise BlockError("Function produced an unreadable outcome")
    return decoded


class _Watch:
    """Limits of one call: wall-clock deadline, V8 heap limit, RSS growth backstop."""

    def __init__(self, mr: MiniRacer, timeout_ms: int, memory_mb: int) -> None:
        self.mr = mr
        self.timeout_ms = timeout_ms
        self.memory_mb = memory_mb
        self.deadline = time.monotonic() + timeout_ms / 1000
        self.rss_start = _rss_bytes()
        self.rss_allowance = memory_mb * _MB + max(32 * _MB, memory_mb * _MB // 4)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def violation(self) -> BlockError | None:
        """The limit that has been crossed, if any."""
        if self.mr.was_hard_memory_limit_reached() or self._rss_exceeded():
            return BlockResourceError(f"Function exceeded its memory limit of {self.memory_mb} MB")
        if self.remaining() <= 0:
            return BlockTimeoutError(f"Function timed out after {self.timeout_ms} ms")
        return None

    def _rss_exceeded(self) -> bool:
        if self.rss_start is None:
            return False
        now = _rss_bytes()
        return now is not None and now - self.rss_start > self.rss_allowance


def _rss_bytes() -> int | None:
    """Current resident set size of this process (Linux), or None if unknown."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


async def _drive(mr: MiniRacer, source: str, watch: _Watch) -> str:
    """Start the code, then poll for its outcome until it settles or a limit trips."""
    await _watched_eval(mr, source + "\nundefined", watch)
    delay = 0.001
    while True:
        outcome = await _watched_eval(mr, "__stepweave_poll()", watch)
        if isinstance(outcome, str):
            return outcome
        problem = watch.violation()
        if problem is not None:
            raise problem
        await asyncio.sleep(min(delay, watch.remaining()))
        delay = min(delay * 2, _POLL_MAX_DELAY_S)


async def _watched_eval(mr: MiniRacer, code: str, watch: _Watch) -> object:
    """Evaluate ``code`` cancelably, checking the limits every few milliseconds."""
    from py_mini_racer import JSEvalException

    task = asyncio.ensure_future(mr.eval_cancelable(code))
    while True:
        done, _ = await asyncio.wait({task}, timeout=min(_WATCH_SLICE_S, watch.remaining()))
        if done:
            break
        problem = watch.violation()
        if problem is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, JSEvalException):
                await task
            raise problem
    try:
        return task.result()
    except JSEvalException as exc:
        problem = watch.violation()
        if problem is not None:
            raise problem from None
        raise BlockError(f"Function failed in the JavaScript engine: {exc}") from None
