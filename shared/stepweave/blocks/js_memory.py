"""A memory budget for the array buffers of a function block's JavaScript.

V8's heap limit (``memoryMb``) does not cover array buffers: their bytes live outside the
heap, and one builtin call (``new Uint8Array(2 ** 30).fill(1)``) can allocate and touch a
gigabyte before anything can stop it, so a 512 MB Lambda would be killed by user code. The
script here runs before the user's code, in the same fresh context, and makes every way
JavaScript can allocate array-buffer memory count against the budget:

* the constructors (``ArrayBuffer`` and ``SharedArrayBuffer``, resizable ones at their
  ``maxByteLength``, every typed array), through ``new``, ``from``/``of`` and subclasses;
  ``WebAssembly`` is removed;
* ``ArrayBuffer``'s ``transfer`` and ``resize``, which can grow a buffer (copies such as
  ``slice`` or ``map`` are never larger than a buffer that already fit).

No single allocation may exceed the budget: it throws ``RangeError``, as V8 does when an
allocation fails, before any memory is taken; uncaught, the block fails with
``BlockResourceError``. Many allocations that together exceed it are stopped by the
process-memory watch of ``stepweave.blocks.function_block`` (every 20 ms), which can act
between builtin calls; counting live buffers here instead (a ``FinalizationRegistry``) refused
loops that allocate and drop buffers without yielding, whose memory V8 had already freed.
Code that stays within the budget behaves exactly as before.
"""

from __future__ import annotations

__all__ = ["buffer_guard", "BUDGET_MESSAGE"]

#: The start of the RangeError's message (the handler maps it to BlockResourceError).
BUDGET_MESSAGE = "Function exceeded its memory limit"

_GUARD = r"""
(function (budget, message) {
  'use strict';
  const construct = Reflect.construct, apply = Reflect.apply;
  const take = (bytes) => {
    if (bytes > budget) throw new RangeError(message);
  };
  const lengthOf = (value) => {
    if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
    if (value === undefined || value === null) return 0;
    if (typeof value === 'object') {
      if (value instanceof ArrayBuffer) return 0;  // a view of an existing buffer
      const n = Number(value.length);
      return Number.isFinite(n) ? n : 0;
    }
    return 0;
  };
  const Base = ArrayBuffer;
  const bufferBytes = (args) => {
    const size = Number(args[0]) || 0;
    const options = args[1];
    const most = options && typeof options === 'object' ? Number(options.maxByteLength) || 0 : 0;
    return Math.max(size, most);
  };
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer']) {
    const Original = globalThis[name];
    if (typeof Original !== 'function') continue;
    const proxy = new Proxy(Original, {
      construct(target, args, newTarget) {
        take(bufferBytes(args));
        return construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    globalThis[name] = proxy;
  }
  const names = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
                 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array',
                 'BigUint64Array', 'Float16Array'];
  for (const name of names) {
    const Original = globalThis[name];
    if (typeof Original !== 'function') continue;
    const size = Original.BYTES_PER_ELEMENT;
    const proxy = new Proxy(Original, {
      construct(target, args, newTarget) {
        const bytes = lengthOf(args[0]) * size;
        take(bytes);
        return construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    globalThis[name] = proxy;
  }
  for (const method of ['transfer', 'transferToFixedLength']) {
    const original = Base.prototype[method];
    if (typeof original !== 'function') continue;
    Base.prototype[method] = function (...args) {
      take(args.length ? Number(args[0]) || 0 : 0);
      return apply(original, this, args);
    };
  }
  const resize = Base.prototype.resize;
  if (typeof resize === 'function') {
    Base.prototype.resize = function (length) {
      take(Number(length) || 0);
      apply(resize, this, [length]);
    };
  }
  delete globalThis.WebAssembly;
})(%d, %s);
"""


def buffer_guard(memory_mb: int) -> str:
    """The script that bounds array-buffer memory to ``memory_mb`` MB (see the module)."""
    import json

    budget = memory_mb * 1024 * 1024
    message = json.dumps(f"{BUDGET_MESSAGE} of {memory_mb} MB (array buffers)")
    return _GUARD % (budget, message)
