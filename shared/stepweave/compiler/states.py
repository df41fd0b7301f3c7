"""What every emitter shares: the ``Lowering`` it is handed, the context ``Ctx`` of the
region it writes into, the ``Next`` pointers still to fill (``Dangling``) and small
helpers for writing ASL states with JSONata.

A leaf of the lowering: ``stepweave.compiler.lower.Lowerer`` implements ``Lowering`` and
dispatches each block to its emitter (``stepweave.compiler.emitters``); emitters see the
lowerer only through this protocol, so none of them imports ``lower`` (nor it them, but
through the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stepweave.compiler.graph import Graph
    from stepweave.compiler.naming import StateNames
    from stepweave.compiler.resolve import Resolver, Site
    from stepweave.compiler.schedule import Tree
    from stepweave.compiler.scope import Scope

__all__ = ["Ctx", "Dangling", "Lowering", "patch", "js", "done"]

#: ``(state, key)`` pairs whose ``Next`` (or ``Default``...) is the next state, still unknown.
Dangling = list[tuple[dict[str, Any], str]]


@dataclass
class Ctx:
    scope: Scope
    containers: list[str]  # enclosing containers, innermost first
    top: bool  # directly in the top-level program (not in a branch or iteration)
    loop: str | None = None  # innermost loop whose body shares this scope


class Lowering(Protocol):
    """What an emitter may read and call of the lowerer (``stepweave.compiler.lower``)."""

    graph: Graph
    problems: list[tuple[str, str, str]]
    names: StateNames
    stems: dict[str, str]
    wstems: dict[str, str]
    resolver: Resolver
    handlers: set[str]
    secret_names: dict[str, set[str]]
    written_secrets: set[str]
    task_nodes: set[str]
    subworkflows: set[str]
    response_in_branch: bool
    response_catchers: list[dict[str, Any]]
    guarded: dict[str, bool]
    keep: dict[str, list[str]]
    #: STANDARD or EXPRESS: what the workflow compiles to (distributed Maps need Standard)
    workflow_type: str

    def block_state(self, node: str, role: str = "main") -> str: ...
    def site(self, node: str, ctx: Ctx) -> Site: ...
    def report(self, node: str, site: Site, field_name: str) -> None: ...
    def bvar(self, node: str, scope: Scope) -> str: ...
    def tvar(self, node: str, scope: Scope) -> str: ...
    def needs_time(self, node: str) -> bool: ...
    def ran_var(self, node: str, scope: Scope) -> str: ...
    def timed(self, node: str, scope: Scope, value: Any) -> dict[str, Any]: ...
    def visible(self, node: str, ctx: Ctx) -> tuple[str, str]: ...
    def guard_expr(self, node: str, ctx: Ctx) -> str: ...
    def skip_assign(self, node: str, ctx: Ctx) -> dict[str, Any]: ...
    def emit(self, tree: Tree | None, ctx: Ctx,
             states: dict[str, Any]) -> tuple[str | None, Dangling]: ...
    def region_tree(self, container: str | None) -> Tree | None: ...
    def branch_program(self, tree: Tree | None, ctx: Ctx, label: str,
                       init: dict[str, Any] | None = None,
                       tail: list[str] | None = None,
                       first: str | None = None) -> tuple[dict[str, Any], Scope]: ...
    def import_exports(self, branch_scopes: list[Scope], ctx: Ctx, result: str,
                       first_only: bool = False) -> dict[str, Any]: ...


def patch(dangling: Dangling, target: str) -> None:
    """Point every dangling ``Next`` at ``target``."""
    for state, key in dangling:
        state[key] = target


def js(expr: str) -> str:
    """A JSONata expression as an ASL field value."""
    return "{% " + expr + " %}"


def done(lw: Lowering, node: str, ctx: Ctx, output_expr: str) -> dict[str, str]:
    """The Assign that records a block's output and the time it finished."""
    return {lw.bvar(node, ctx.scope): js(output_expr), **lw.timed(node, ctx.scope, js("$millis()"))}
