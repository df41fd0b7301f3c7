"""The one registry of emitters: block type -> the function that writes its states.

``stepweave.compiler.lower.Lowerer`` dispatches every block through ``emit_block``; an
emitter gets the lowerer as a ``stepweave.compiler.states.Lowering`` and recurses through
it (a container lowers its body with ``lw.emit``), so the emitter modules import only the
leaf ``states`` and each other downwards (``native``/``containers``/``subworkflow`` ->
``blocks`` -> ``states``), never ``lower``.

Adding a block type that Step Functions runs itself = an emitter + an entry here; a block
type with a handler needs nothing here (every handler block is a Lambda task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepweave.compiler import containers, native, subworkflow
from stepweave.compiler.blocks import emit_handler
from stepweave.compiler.states import Ctx, Dangling, Lowering

__all__ = ["EMITTERS", "Emitter", "emit_block", "folds_guard"]

Emitter = Callable[[Lowering, str, Ctx, dict[str, Any]], tuple[str, Dangling]]

EMITTERS: dict[str, Emitter] = {
    "start": native.emit_start,
    "workflow": subworkflow.emit_subworkflow,
    "function": emit_handler,
    "api": emit_handler,
    "approval": emit_handler,
    "condition": native.emit_condition,
    "variables": native.emit_variables,
    "wait": native.emit_wait,
    "response": native.emit_response,
    "loop": containers.emit_loop,
    "parallel": containers.emit_parallel,
}


def emit_block(lw: Lowering, node: str, ctx: Ctx, states: dict[str, Any]) -> tuple[str, Dangling]:
    """Write the block's states into ``states``: its entry state and its open ``Next``s."""
    btype = lw.graph.types[node]
    emitter = EMITTERS.get(btype.name)
    if emitter is None and btype.kind == "handler":
        emitter = emit_handler  # every handler block is a Lambda task (agent, router, ...)
    if emitter is None:
        raise NotImplementedError(btype.name)
    return emitter(lw, node, ctx, states)


def folds_guard(lw: Lowering, node: str) -> bool:
    """Whether the block folds its guard into its own state (no separate Choice)."""
    return native.folds_guard(lw, node)
