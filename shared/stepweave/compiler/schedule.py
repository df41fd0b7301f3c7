"""Turning a DAG into nested sequences and fork/joins (what Step Functions can run).

Step Functions expresses concurrency only as Parallel states: strict fork/join. A
series-parallel DAG decomposes exactly (no concurrency lost). For other shapes (an
"N", a bridge) some dependency must be added; we choose where by estimated
makespan, so the loss is as small as the block durations we can guess allow.

Decomposition of a node set, recursively:

* one node -> a leaf;
* several weakly connected components -> ``Par`` of each;
* a *lossless* series cut (every node before it reaches every node after it) ->
  ``Seq`` of the parts, split at every such cut;
* otherwise (a non-series-parallel core) -> the downset cut with the smallest
  estimated critical path ``cp(before) + cp(after)``.

Only dependencies are ever added, never removed: no dependency can be violated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Leaf", "Seq", "Par", "Tree", "schedule", "toposort", "tree_makespan"]


@dataclass(frozen=True)
class Leaf:
    node: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Tree, ...]


@dataclass(frozen=True)
class Par:
    branches: tuple[Tree, ...]


Tree = Leaf | Seq | Par


class _Dag:
    def __init__(self, nodes: list[str], deps: Iterable[tuple[str, str]]) -> None:
        self.order = {n: i for i, n in enumerate(nodes)}
        self.succ: dict[str, set[str]] = {n: set() for n in nodes}
        self.pred: dict[str, set[str]] = {n: set() for n in nodes}
        for a, b in deps:
            if a in self.succ and b in self.succ and a != b:
                self.succ[a].add(b)
                self.pred[b].add(a)
        self.topo = self._toposort(nodes)
        self._desc: dict[str, frozenset[str]] = {}
        for node in reversed(self.topo):
            acc: set[str] = set()
            for s in self.succ[node]:
                acc.add(s)
                acc |= self._desc[s]
            self._desc[node] = frozenset(acc)

    def _toposort(self, nodes: list[str]) -> list[str]:
        indeg = {n: len(self.pred[n]) for n in nodes}
        ready = sorted((n for n in nodes if indeg[n] == 0), key=self.order.__getitem__)
        out: list[str] = []
        while ready:
            node = ready.pop(0)
            out.append(node)
            for s in sorted(self.succ[node], key=self.order.__getitem__):
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
            ready.sort(key=self.order.__getitem__)
        if len(out) != len(nodes):
            raise ValueError("graph has a cycle")
        return out

    def reaches(self, a: str, b: str) -> bool:
        return b in self._desc[a]


def _components(nodes: list[str], dag: _Dag) -> list[list[str]]:
    members = set(nodes)
    seen: set[str] = set()
    comps = []
    for start in nodes:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            n = stack.pop()
            comp.append(n)
            for m in dag.succ[n] | dag.pred[n]:
                if m in members and m not in seen:
                    seen.add(m)
                    stack.append(m)
        comps.append(sorted(comp, key=dag.order.__getitem__))
    return comps


def _lossless_cuts(order: list[str], dag: _Dag) -> list[int]:
    """Positions k where every node of order[:k] reaches every node of order[k:].

    It is enough to check the prefix's maxima against the suffix's minima, both kept
    up to date incrementally as the cut moves forward."""
    members = set(order)
    pending = {n: len(dag.pred[n] & members) for n in order}
    minima = {n for n in order if pending[n] == 0}
    maxima: set[str] = set()
    cuts = []
    for k in range(1, len(order)):
        node = order[k - 1]
        maxima -= dag.pred[node]
        maxima.add(node)
        minima.discard(node)
        for succ in dag.succ[node] & members:
            pending[succ] -= 1
            if pending[succ] == 0:
                minima.add(succ)
        if all(dag.reaches(a, b) for a in maxima for b in minima):
            cuts.append(k)
    return cuts


def _critical_paths(nodes: list[str], dag: _Dag, samples: list[dict[str, float]]) -> float:
    """Mean critical path of ``nodes`` over the duration samples."""
    members = set(nodes)
    order = [n for n in dag.topo if n in members]
    total = 0.0
    for dur in samples:
        finish: dict[str, float] = {}
        for n in order:
            start = max((finish[p] for p in dag.pred[n] if p in members), default=0.0)
            finish[n] = start + dur[n]
        total += max(finish.values(), default=0.0)
    return total / len(samples)


def _levels(order: list[str], dag: _Dag) -> tuple[dict[str, int], dict[str, int]]:
    members = set(order)
    depth: dict[str, int] = {}
    for n in order:
        depth[n] = max((depth[p] + 1 for p in dag.pred[n] if p in members), default=0)
    height: dict[str, int] = {}
    for n in reversed(order):
        height[n] = max((height[s] + 1 for s in dag.succ[n] if s in members), default=0)
    return depth, height


def _candidates(order: list[str], dag: _Dag) -> list[frozenset[str]]:
    """Downsets to cut at: level boundaries, and around each node."""
    members = frozenset(order)
    depth, height = _levels(order, dag)
    out: list[frozenset[str]] = []
    for k in range(1, max(depth.values()) + 1):
        out.append(frozenset(n for n in order if depth[n] < k))
    for k in range(1, max(height.values()) + 1):
        out.append(frozenset(n for n in order if height[n] >= k))
    for n in order:
        desc = dag._desc[n] & members
        anc = frozenset(m for m in order if n in dag._desc[m])
        out += [anc, anc | {n}, members - desc - {n}, members - desc]
    seen: set[frozenset[str]] = set()
    unique = []
    for cand in out:
        if cand and len(cand) < len(members) and cand not in seen:
            seen.add(cand)
            unique.append(cand)
    return unique


_LOOKAHEAD = 3  # cuts compared by the trees they lead to
_LOOKAHEAD_MAX_NODES = 60  # above this, the ideal-makespan ranking alone decides


def _best_cut(order: list[str], dag: _Dag, samples: list[dict[str, float]],
              lookahead: bool = True) -> tuple[list[str], list[str]]:
    """The downset cut with the smallest expected makespan (durations sampled around
    the estimated weights, with a fixed seed: the choice is deterministic).

    Cuts are ranked by the ideal makespan of their two sides; for small parts the best
    few are then compared by the makespan of the trees they actually lead to."""
    ranked: list[tuple[float, int, list[str], list[str]]] = []
    for index, cand in enumerate(_candidates(order, dag)):
        before = [m for m in order if m in cand]
        after = [m for m in order if m not in cand]
        cost = round(_critical_paths(before, dag, samples) + _critical_paths(after, dag, samples), 9)
        ranked.append((cost, index, before, after))
    ranked.sort(key=lambda r: (r[0], r[1]))
    if not lookahead or len(order) > _LOOKAHEAD_MAX_NODES:
        return ranked[0][2], ranked[0][3]
    best: tuple[float, int, list[str], list[str]] | None = None
    for _, index, before, after in ranked[:_LOOKAHEAD]:
        tree = _flatten_seq([_build(before, dag, samples, False), _build(after, dag, samples, False)])
        real = round(sum(tree_makespan(tree, d.__getitem__) for d in samples) / len(samples), 9)
        if best is None or (real, index) < best[:2]:
            best = (real, index, before, after)
    assert best is not None
    return best[2], best[3]


def _build(nodes: list[str], dag: _Dag, weight: list[dict[str, float]],
           lookahead: bool = True) -> Tree:
    if len(nodes) == 1:
        return Leaf(nodes[0])
    comps = _components(nodes, dag)
    if len(comps) > 1:
        return Par(tuple(_build(c, dag, weight, lookahead) for c in comps))
    order = [n for n in dag.topo if n in set(nodes)]
    cuts = _lossless_cuts(order, dag)
    if cuts:
        bounds = [0, *cuts, len(order)]
        parts = [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        return _flatten_seq([_build(p, dag, weight, lookahead) for p in parts])
    before, after = _best_cut(order, dag, weight, lookahead)
    return _flatten_seq([_build(before, dag, weight, lookahead), _build(after, dag, weight, lookahead)])


def _flatten_seq(items: list[Tree]) -> Tree:
    flat: list[Tree] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Seq) else (item,))
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def schedule(nodes: list[str], deps: Iterable[tuple[str, str]],
             weight: Callable[[str], float] = lambda _: 1.0, samples: int = 16) -> Tree | None:
    """Nested Seq/Par tree running ``nodes`` with every dependency respected.

    ``weight`` estimates each block's duration; actual durations vary, so lossy cuts
    are ranked by their mean makespan over ``samples`` draws of U(0.25, 1.75) x weight.
    """
    if not nodes:
        return None
    dag = _Dag(nodes, deps)
    rng = random.Random(1729)
    draws = [{n: weight(n) * rng.uniform(0.25, 1.75) for n in dag.topo} for _ in range(samples)]
    return _build(list(dag.topo), dag, draws)


def toposort(nodes: list[str], deps: Iterable[tuple[str, str]]) -> list[str]:
    """Nodes in dependency order (ties in the given order). Raises ValueError on a cycle."""
    return list(_Dag(nodes, deps).topo)


def tree_makespan(tree: Tree, duration: Callable[[str], float]) -> float:
    """Completion time of the tree when each leaf takes ``duration(node)``."""
    if isinstance(tree, Leaf):
        return duration(tree.node)
    if isinstance(tree, Seq):
        return sum(tree_makespan(t, duration) for t in tree.items)
    return max(tree_makespan(t, duration) for t in tree.branches)
