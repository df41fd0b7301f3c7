"""How much memory each handler Lambda gets, and how CDK context changes it.

The sizes come from ``bench/handler_memory.py``, which runs every handler with
representative and large events in a fresh process and prints its peak resident memory;
docs/deploying.md has the table and the reasons. No CDK import here: the benches read
these sizes too.

Context keys (``infra.app`` reads them; values are whole MB from 128 to 10240):

* ``lambdaMemoryMb:<handler>`` -- the function of one handler type (``agent``, ``api``,
  ``approval``, ``evaluator``, ``function``, ``router``, ``tool``);
* ``lambdaMemoryMb:<workflow>/<block id>`` -- one block of one workflow (not an approval
  block). A state machine invokes one function per handler type, so such a block runs on
  a copy of its handler's function at that size (same code, role, log group and
  environment), shared by every block given the same size for the same handler.

The function handler also has a floor: a function block's JavaScript sandbox may use up to
its ``memoryMb`` (heap) plus as much again in array buffers before its own limit stops it
with a clear error, so the Lambda running it must hold that (``sandbox_need_mb``).
Without an override the size is raised to fit the blocks it runs; an override below that
stops the synth.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepweave.blocks.function_block import DEFAULT_MEMORY_MB, MAX_MEMORY_MB
from stepweave.compiler.compiled import CompiledWorkflow

__all__ = [
    "CONTEXT_PREFIX",
    "DEFAULT_SANDBOX_MB",
    "HANDLER_MEMORY_MB",
    "LAMBDA_MEMORY_MAX",
    "LAMBDA_MEMORY_MIN",
    "MAX_SANDBOX_MB",
    "MemoryOverrides",
    "MemoryPlan",
    "function_memory_mb",
    "handler_tasks",
    "memory_for_peak",
    "plan_memory",
    "read_memory_context",
    "sandbox_need_mb",
]

#: Lambda's limits on a function's memory (MB).
LAMBDA_MEMORY_MIN, LAMBDA_MEMORY_MAX = 128, 10240
#: ``lambdaMemoryMb:<handler>`` and ``lambdaMemoryMb:<workflow>/<block id>``.
CONTEXT_PREFIX = "lambdaMemoryMb:"
#: Memory per handler type (MB), from the peaks ``bench/handler_memory.py`` measures:
#: ``memory_for_peak`` of each handler's largest peak, except the function handler (below).
HANDLER_MEMORY_MB: Mapping[str, int] = {
    # model calls, tool calls and HTTP requests: they wait on the network
    "agent": 192,
    "router": 192,
    "evaluator": 192,
    "api": 192,
    "tool": 192,
    "approval": 192,
    # JavaScript in V8: CPU-bound, so a smaller size would cost as much per call (it runs
    # proportionally longer) and answer later; also the floor of the sandboxes it runs
    "function": 512,
    # a distributed parallel's results (JSON of up to some megabytes, parsed and offloaded)
    "collect": 256,
}
#: A function block's sandbox limit when it sets none, and the largest it may set.
DEFAULT_SANDBOX_MB, MAX_SANDBOX_MB = DEFAULT_MEMORY_MB, MAX_MEMORY_MB
#: Python, V8 and the handler itself, next to a sandbox (MB) ...
_SANDBOX_BASE_MB = 192
#: ... plus this much per MB of the sandbox's limit: its heap, its array buffers (the
#: process-memory watch allows the limit plus a quarter) and what one 20 ms watch interval
#: lets through. Measured peaks at the limit: 296, 440, 760 and 1,369 MB for 128, 256, 512
#: and 1,024 MB sandboxes.
_SANDBOX_FACTOR = 1.5
_HEADROOM, _RUNTIME_MB, _STEP_MB = 1.5, 32, 64


def memory_for_peak(peak_mb: float) -> int:
    """The size for a measured peak: 1.5 times it plus 32 MB (the Lambda runtime's own
    process; payloads larger than the measured ones), in 64 MB steps, at least 128 MB."""
    return max(LAMBDA_MEMORY_MIN, _round_up(peak_mb * _HEADROOM + _RUNTIME_MB))


def sandbox_need_mb(sandbox_mb: int) -> int:
    """The least memory of a Lambda running a function block whose sandbox may use
    ``sandbox_mb`` MB: below it, Lambda would stop the process before the sandbox's own
    limit fails the block with a clear error."""
    return min(_round_up(_SANDBOX_BASE_MB + _SANDBOX_FACTOR * sandbox_mb), LAMBDA_MEMORY_MAX)


def function_memory_mb(sandbox_mb: int) -> int:
    """The function handler's size when its largest sandbox is ``sandbox_mb`` MB: its own
    size, or more when the sandbox needs it."""
    return max(HANDLER_MEMORY_MB["function"], sandbox_need_mb(sandbox_mb))


def _round_up(mb: float) -> int:
    return int(math.ceil(mb / _STEP_MB) * _STEP_MB)


# -- context --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryOverrides:
    """What the context asks for: per handler type, and per (workflow, block id)."""

    handlers: Mapping[str, int] = field(default_factory=dict)
    blocks: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def key(self, workflow: str, block: str) -> str:
        return f"{CONTEXT_PREFIX}{workflow}/{block}"


def read_memory_context(values: Mapping[str, Any]) -> tuple[MemoryOverrides, list[str]]:
    """The ``lambdaMemoryMb:...`` values of ``values`` (all of the app's context), and a
    problem per bad one (its key named). Names are checked later, by ``plan_memory``,
    once the workflows are compiled."""
    handlers: dict[str, int] = {}
    blocks: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for key in sorted(values):
        if not key.startswith(CONTEXT_PREFIX):
            if key.lower().startswith(CONTEXT_PREFIX.lower().rstrip(":")):
                problems.append(f"context key '{key}' is not one the app reads: memory is set "
                                f"with '{CONTEXT_PREFIX}<handler>' or "
                                f"'{CONTEXT_PREFIX}<workflow>/<block id>'")
            continue
        target = key[len(CONTEXT_PREFIX):]
        value = _memory_value(values[key])
        if value is None:
            problems.append(f"context value '{key}' must be a whole number of MB from "
                            f"{LAMBDA_MEMORY_MIN} to {LAMBDA_MEMORY_MAX} (Lambda's limits); "
                            f"got {values[key]!r}")
            continue
        workflow, slash, block = target.partition("/")
        if not workflow or (slash and not block):
            problems.append(f"context key '{key}' must name a handler "
                            f"('{CONTEXT_PREFIX}agent') or a block "
                            f"('{CONTEXT_PREFIX}<workflow>/<block id>')")
        elif slash:
            blocks[(workflow, block)] = value
        else:
            handlers[workflow] = value
    return MemoryOverrides(handlers, blocks), problems


def _memory_value(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) \
            and LAMBDA_MEMORY_MIN <= value <= LAMBDA_MEMORY_MAX:
        return value
    return None


# -- what the workflows need ----------------------------------------------------------------


def handler_tasks(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Every Lambda task of a compiled definition, at any depth: (state, handler, block id).

    A block handler's task names its function as ``Resource`` (``${Handler_<name>}``) with
    the block event as ``Arguments``; an approval's names it as ``Arguments.FunctionName``
    with the event as ``Arguments.Payload``."""
    stack: list[Any] = [definition]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if node.get("Type") == "Task":
            arguments = node.get("Arguments")
            arguments = arguments if isinstance(arguments, dict) else {}
            payload = arguments.get("Payload") if "FunctionName" in arguments else arguments
            handler = _placeholder_handler(arguments.get("FunctionName", node.get("Resource")))
            block = payload.get("block") if isinstance(payload, dict) else None
            if handler is not None and isinstance(block, dict) and isinstance(block.get("id"), str):
                yield node, handler, block["id"]
        stack.extend(v for v in reversed(list(node.values())) if isinstance(v, (dict, list)))


def _placeholder_handler(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("${Handler_") and value.endswith("}"):
        return value[len("${Handler_"):-1]
    return None


def _sandbox_mb(state: Mapping[str, Any]) -> int:
    """A function task's sandbox limit: its literal ``memoryMb``, the default without one,
    the largest allowed when it is computed at run time."""
    params = state.get("Arguments", {}).get("params")
    value = params.get("memoryMb", DEFAULT_SANDBOX_MB) if isinstance(params, dict) else None
    if value is None:  # params computed at run time
        return MAX_SANDBOX_MB
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, 1), MAX_SANDBOX_MB)
    if isinstance(value, str) and value.strip().isdigit():
        return min(int(value), MAX_SANDBOX_MB)
    return MAX_SANDBOX_MB


@dataclass(frozen=True)
class MemoryPlan:
    """The memory of every handler function, and the blocks that run on a copy of theirs."""

    #: handler type -> MB of its function
    handlers: Mapping[str, int]
    #: workflow -> block id -> (handler, MB): blocks on a copy of their handler's function
    blocks: Mapping[str, Mapping[str, tuple[str, int]]] = field(default_factory=dict)

    def variants(self) -> list[tuple[str, int]]:
        """Every (handler, MB) copy some block runs on, sorted."""
        return sorted({v for by_block in self.blocks.values() for v in by_block.values()})


def plan_memory(overrides: MemoryOverrides, workflows: Mapping[str, CompiledWorkflow],
                handler_types: set[str], *, block_handlers: set[str]) -> MemoryPlan:
    """Each handler's memory and each overridden block's, checked against the workflows.

    ``workflows``: the compiled workflows by name. ``handler_types``: every
    handler the app deploys; ``block_handlers``: those a block can have a copy of (the
    approval notifier has one function). Raises ``ValueError`` naming every bad key.
    """
    problems: list[str] = []
    for handler in sorted(set(overrides.handlers) - handler_types):
        problems.append(f"context key '{CONTEXT_PREFIX}{handler}' names no handler; the "
                        f"handlers are {', '.join(sorted(handler_types))}")
    tasks: dict[str, dict[str, list[tuple[dict[str, Any], str]]]] = {}
    for name, compiled in workflows.items():
        for state, handler, block in handler_tasks(compiled.definition):
            tasks.setdefault(name, {}).setdefault(block, []).append((state, handler))
    blocks: dict[str, dict[str, tuple[str, int]]] = {}
    for (workflow, block), mb in sorted(overrides.blocks.items()):
        key = overrides.key(workflow, block)
        if workflow not in workflows:
            problems.append(f"context key '{key}': there is no workflow '{workflow}' "
                            f"(workflows: {', '.join(sorted(workflows)) or 'none'})")
            continue
        handlers = {h for _, h in tasks.get(workflow, {}).get(block, [])}
        if block not in workflows[workflow].blocks:
            problems.append(f"context key '{key}': workflow '{workflow}' has no block '{block}' "
                            "(a block id)")
        elif not handlers:
            kind = workflows[workflow].blocks[block][1]
            problems.append(f"context key '{key}': block '{block}' of workflow '{workflow}' is a "
                            f"{kind} block, which runs in the state machine, not on a Lambda "
                            "function")
        elif len(handlers) > 1 or not handlers <= block_handlers:
            kind = "/".join(sorted(handlers))
            problems.append(f"context key '{key}': the memory of the {kind} block '{block}' is "
                            f"set for its handler only ('{CONTEXT_PREFIX}{kind}')")
        else:
            (handler,) = handlers
            blocks.setdefault(workflow, {})[block] = (handler, mb)
    # a handler without a size of its own is refused by its construct, naming it
    sizes = {h: overrides.handlers.get(h, HANDLER_MEMORY_MB.get(h, 0)) for h in handler_types
             if h in overrides.handlers or h in HANDLER_MEMORY_MB}
    if "function" in handler_types:  # every sandbox fits the function that runs it
        needs: dict[int | None, list[tuple[str, str, int]]] = {}
        for workflow, by_block in sorted(tasks.items()):
            for block, states in sorted(by_block.items()):
                for state, handler in states:
                    if handler == "function":
                        own = blocks.get(workflow, {}).get(block)
                        needs.setdefault(None if own is None else own[1], []).append(
                            (workflow, block, _sandbox_mb(state)))
        for copy_mb, users in sorted(needs.items(), key=lambda item: item[0] or 0):
            workflow, block, sandbox = max(users, key=lambda user: user[2])
            need = sandbox_need_mb(sandbox)
            size = sizes.get("function", 0) if copy_mb is None else copy_mb
            if copy_mb is None and "function" not in overrides.handlers:
                sizes["function"] = max(size, function_memory_mb(sandbox))
                continue
            if size >= need:
                continue
            key = (overrides.key(workflow, block) if copy_mb is not None
                   else f"{CONTEXT_PREFIX}function")
            problems.append(f"context value '{key}' is {size} MB: function block '{block}' of "
                            f"workflow '{workflow}' may use {sandbox} MB in its sandbox "
                            f"(memoryMb), which needs at least {need} MB")
    if problems:
        raise ValueError("\n".join(problems))
    return MemoryPlan(sizes, blocks)
