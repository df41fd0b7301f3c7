"""Variable scopes of the compiled state machine.

Step Functions gives each Parallel branch and Map iteration a variable scope of its
own: it can read outer variables but never assign them, and what it assigns is gone
when it ends unless returned as output. Every block's output therefore lives in a
variable named after the block *and the scope that assigned it*; when a branch ends
its variables are exported and re-assigned, under the outer scope's names, by the
Parallel/Map state. References compile to the nearest visible name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Scope"]


@dataclass
class Scope:
    id: int
    parent: Scope | None = None
    #: block id -> True once its output/time variables are assigned in this scope
    blocks: dict[str, bool] = field(default_factory=dict)
    #: workflow variable name -> assigned in this scope
    wvars: set[str] = field(default_factory=set)
    #: blocks whose variables this scope must export when it ends (home or re-exported)
    exports: list[str] = field(default_factory=list)
    fail_state: str | None = None

    def _suffix(self) -> str:
        return "" if self.id == 0 else str(self.id)

    def bvar(self, stem: str) -> str:
        return f"b{self._suffix()}_{stem}"

    def tvar(self, stem: str) -> str:
        return f"t{self._suffix()}_{stem}"

    def wvar(self, name_stem: str) -> str:
        return f"w{self._suffix()}_{name_stem}"

    def lookup_block(self, block_id: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None:
            if block_id in scope.blocks:
                return scope
            scope = scope.parent
        return None

    def lookup_wvar(self, name: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.wvars:
                return scope
            scope = scope.parent
        return None

    def define_block(self, block_id: str) -> None:
        if block_id not in self.blocks:
            self.blocks[block_id] = True
            self.exports.append(block_id)
