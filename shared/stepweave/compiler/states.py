"""Small helpers for writing ASL states with JSONata."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepweave.compiler.lower import Ctx, Lowerer

__all__ = ["js", "done"]


def js(expr: str) -> str:
    """A JSONata expression as an ASL field value."""
    return "{% " + expr + " %}"


def done(lw: Lowerer, node: str, ctx: Ctx, output_expr: str) -> dict[str, str]:
    """The Assign that records a block's output and the time it finished."""
    return {lw.bvar(node, ctx.scope): js(output_expr), **lw.timed(node, ctx.scope, js("$millis()"))}
