"""Turning a DAG into nested sequences and fork/joins (what Step Functions can run).

Step Functions expresses concurrency only as Parallel states: strict fork/join. A
series-parallel DAG decomposes exactly (no concurrency lost). For other shapes (an
"N", a bridge) some dependency must be added; we choose where by estimated
makespan, so the loss is as small as the block durations we can guess allow.

Decomposition of a node set (with an explicit stack: a region may be thousands deep):

* one node -> a leaf;
* several weakly connected components -> ``Par`` of each;
* a *lossless* series cut (every node before it reaches every node after it) ->
  ``Seq`` of the parts, split at every such cut;
* otherwise (a non-series-parallel core) -> the downset cut with the smallest
  estimated critical path ``cp(before) + cp(after)``.

Only dependencies are ever added, never removed: no dependency can be violated.

Cost of the cuts. The candidate cuts of a core (level boundaries, and around each node)
are all downsets ``D`` of it, so their two sides' critical paths come from two passes over
the core per duration sample, not one pass per cut: ``cp(D)`` is the largest forward finish
time in ``D`` (a downset's finish times are the core's), ``cp(U)`` of the upset ``U`` after
it the largest backward "tail" in ``U``; the largest value outside a closure (the nodes that
do not reach, or are not reached by, a node) comes from one sweep over the nodes by
decreasing value with bit-set closures. A path's length summed backwards can differ in its
last bits from the forward sum a pass over ``U`` alone gives, so a cut whose rounded cost
that difference could change, and which could be among those chosen, has its sides
recomputed by forward passes: the choice, ties included, is exactly that of evaluating every
cut on its own (``bench/compile_scale.py`` compares the two).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import TypeVar

__all__ = ["Leaf", "Seq", "Par", "Tree", "schedule", "toposort", "tree_makespan"]

_T = TypeVar("_T")


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

_LOOKAHEAD = 3  # cuts compared by the trees they lead to
_LOOKAHEAD_MAX_NODES = 60  # above this, the ideal-makespan ranking alone decides
_UNIT_ROUNDOFF = 2.0 ** -53


class _Dag:
    """The graph with nodes numbered in topological order; closures as bit sets over those
    numbers (bit ``j`` of ``desc[i]``: node ``j`` is reachable from node ``i``)."""

    def __init__(self, nodes: list[str], deps: Iterable[tuple[str, str]]) -> None:
        self.order = {n: i for i, n in enumerate(nodes)}
        self.succ: dict[str, set[str]] = {n: set() for n in nodes}
        self.pred: dict[str, set[str]] = {n: set() for n in nodes}
        for a, b in deps:
            if a in self.succ and b in self.succ and a != b:
                self.succ[a].add(b)
                self.pred[b].add(a)
        self.topo = self._toposort(nodes)

    def _toposort(self, nodes: list[str]) -> list[str]:
        """Kahn's order, the ready node first in ``nodes`` first (a heap: no re-sorting)."""
        indeg = {n: len(self.pred[n]) for n in nodes}
        ready = [(self.order[n], n) for n in nodes if indeg[n] == 0]
        heapq.heapify(ready)
        out: list[str] = []
        while ready:
            node = heapq.heappop(ready)[1]
            out.append(node)
            for s in self.succ[node]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(ready, (self.order[s], s))
        if len(out) != len(nodes):
            raise ValueError("graph has a cycle")
        return out

    def number(self) -> None:
        """Positions, adjacency by position and the closures (for scheduling)."""
        self.pos = pos = {n: i for i, n in enumerate(self.topo)}
        self.file_order = [self.order[n] for n in self.topo]
        self.succ_pos = [sorted(pos[s] for s in self.succ[n]) for n in self.topo]
        self.pred_pos = [sorted(pos[p] for p in self.pred[n]) for n in self.topo]
        count = len(self.topo)
        self.desc = [0] * count
        for i in range(count - 1, -1, -1):
            acc = 0
            for j in self.succ_pos[i]:
                acc |= self.desc[j] | (1 << j)
            self.desc[i] = acc
        self.anc = [0] * count
        for i in range(count):
            acc = 0
            for j in self.pred_pos[i]:
                acc |= self.anc[j] | (1 << j)
            self.anc[i] = acc


def _mask(positions: Iterable[int]) -> int:
    mask = 0
    for i in positions:
        mask |= 1 << i
    return mask


def _flatten_seq(items: list[Tree]) -> Tree:
    flat: list[Tree] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Seq) else (item,))
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


@dataclass
class _Step:
    """One entry of the decomposition's stack: decompose ``nodes`` into ``holder[slot]``, or
    (``kind`` "seq"/"par") combine the finished ``parts`` there."""

    holder: list[Tree | None]
    slot: int
    nodes: list[int]
    kind: str = "build"
    parts: list[Tree | None] | None = None


class _Scheduler:
    def __init__(self, dag: _Dag, draw: Callable[[], list[dict[str, float]]]) -> None:
        dag.number()
        self.dag = dag
        self._draw = draw
        self._durations: list[list[float]] | None = None
        self._by_node: list[tuple[float, ...]] = []
        #: a core's cuts, by its nodes (the trees compared for a small core decompose the
        #: same sets again)
        self.cuts: dict[tuple[int, ...], _Cuts] = {}

    @property
    def durations(self) -> list[list[float]]:
        """Each sample's duration of each node (by position), drawn when a lossy cut is
        first needed: a series-parallel graph never needs them."""
        if self._durations is None:
            self._durations = [[draw[n] for n in self.dag.topo] for draw in self._draw()]
            self._by_node = list(zip(*self._durations))
        return self._durations

    @property
    def by_node(self) -> list[tuple[float, ...]]:
        """Each node's duration in each sample."""
        _ = self.durations
        return self._by_node

    # -- decomposition ------------------------------------------------------------------

    def build(self, nodes: list[int], lookahead: bool = True) -> Tree:
        result: list[Tree | None] = [None]
        stack = [_Step(result, 0, nodes)]
        while stack:
            step = stack.pop()
            if step.parts is not None:
                done = [p for p in step.parts if p is not None]
                step.holder[step.slot] = (Par(tuple(done)) if step.kind == "par"
                                          else _flatten_seq(done))
                continue
            if len(step.nodes) == 1:
                step.holder[step.slot] = Leaf(self.dag.topo[step.nodes[0]])
                continue
            comps = self._components(step.nodes)
            if len(comps) > 1:
                groups, kind = comps, "par"
            else:
                order = sorted(step.nodes)
                cuts = self._lossless_cuts(order)
                if cuts:
                    bounds = [0, *cuts, len(order)]
                    groups = [order[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
                else:
                    groups = list(self._best_cut(order, lookahead))
                kind = "seq"
            parts: list[Tree | None] = [None] * len(groups)
            stack.append(_Step(step.holder, step.slot, [], kind, parts))
            stack.extend(_Step(parts, index, group) for index, group in enumerate(groups))
        tree = result[0]
        assert tree is not None
        return tree

    def _components(self, nodes: list[int]) -> list[list[int]]:
        """Weakly connected components, in the order of their first node in ``nodes``,
        each in file order."""
        members = set(nodes)
        seen: set[int] = set()
        comps = []
        for start in nodes:
            if start in seen:
                continue
            comp, stack = [], [start]
            seen.add(start)
            while stack:
                n = stack.pop()
                comp.append(n)
                for m in (*self.dag.succ_pos[n], *self.dag.pred_pos[n]):
                    if m in members and m not in seen:
                        seen.add(m)
                        stack.append(m)
            comps.append(sorted(comp, key=self.dag.file_order.__getitem__))
        return comps

    def _lossless_cuts(self, order: list[int]) -> list[int]:
        """Positions k where every node of order[:k] reaches every node of order[k:].

        It is enough to check the prefix's maxima against the suffix's minima, both kept
        up to date incrementally as the cut moves forward."""
        dag = self.dag
        members = set(order)
        pending = {n: sum(1 for p in dag.pred_pos[n] if p in members) for n in order}
        minima = _mask(n for n in order if pending[n] == 0)
        maxima: set[int] = set()
        cuts = []
        for k in range(1, len(order)):
            node = order[k - 1]
            maxima.difference_update(dag.pred_pos[node])
            maxima.add(node)
            minima &= ~(1 << node)
            for succ in dag.succ_pos[node]:
                if succ in members:
                    pending[succ] -= 1
                    if pending[succ] == 0:
                        minima |= 1 << succ
            if all(not minima & ~dag.desc[a] for a in maxima):
                cuts.append(k)
        return cuts

    # -- lossy cuts ---------------------------------------------------------------------

    def _critical_path(self, nodes: list[int]) -> float:
        """Mean critical path of ``nodes`` (in topological order) over the samples, by a
        forward pass over them alone."""
        members = set(nodes)
        total = 0.0
        for dur in self.durations:
            finish: dict[int, float] = {}
            for n in nodes:
                start = max((finish[p] for p in self.dag.pred_pos[n] if p in members), default=0.0)
                finish[n] = start + dur[n]
            total += max(finish.values(), default=0.0)
        return total / len(self.durations)

    def _best_cut(self, order: list[int], lookahead: bool) -> tuple[list[int], list[int]]:
        """The downset cut with the smallest expected makespan (durations sampled around
        the estimated weights, with a fixed seed: the choice is deterministic).

        Cuts are ranked by the ideal makespan of their two sides; for small parts the best
        few are then compared by the makespan of the trees they actually lead to."""
        cuts = self.cuts.get(tuple(order))
        if cuts is None:
            cuts = self.cuts[tuple(order)] = _Cuts(self, order)
        want = _LOOKAHEAD if lookahead and len(order) <= _LOOKAHEAD_MAX_NODES else 1
        ranked = cuts.ranked(want)
        if want == 1:
            return cuts.sides(ranked[0][1])
        best: tuple[float, int, list[int], list[int]] | None = None
        for _, index in ranked:
            before, after = cuts.sides(index)
            tree = _flatten_seq([self.build(before, False), self.build(after, False)])
            real = round(sum(self._makespans(tree)) / len(self.durations), 9)
            if best is None or (real, index) < best[:2]:
                best = (real, index, before, after)
        assert best is not None
        return best[2], best[3]

    def _makespans(self, tree: Tree) -> list[float]:
        """``tree_makespan`` of the tree in each sample, in one walk."""
        def columns(combine: Callable[[Iterable[float]], float]) -> Callable[[list[list[float]]], list[float]]:
            return lambda parts: [combine(column) for column in zip(*parts, strict=True)]

        return _fold(tree, lambda node: [dur[self.dag.pos[node]] for dur in self.durations],
                     columns(sum), columns(max))


class _Cuts:
    """The candidate cuts of one core (``order``: its nodes in topological order) and the
    two sides' mean critical paths of each, from passes over the core. Within the core,
    nodes are numbered 0..m-1 in ``order`` and sets are bit sets over those numbers."""

    def __init__(self, scheduler: _Scheduler, order: list[int]) -> None:
        self.scheduler = scheduler
        self.order = order
        dag = scheduler.dag
        local = {n: k for k, n in enumerate(order)}
        m = len(order)
        preds = [[local[p] for p in dag.pred_pos[n] if p in local] for n in order]
        succs = [[local[s] for s in dag.succ_pos[n] if s in local] for n in order]
        # a core is convex (every path between two of its nodes stays in it), so its own
        # edges give the same reachability as the whole graph's
        desc = [0] * m
        for k in range(m - 1, -1, -1):
            acc = 0
            for s in succs[k]:
                acc |= desc[s] | (1 << s)
            desc[k] = acc
        anc = [0] * m
        for k in range(m):
            acc = 0
            for p in preds[k]:
                acc |= anc[p] | (1 << p)
            anc[k] = acc
        depth = [0] * m
        for k in range(m):
            depth[k] = max([depth[p] + 1 for p in preds[k]], default=0)
        height = [0] * m
        for k in range(m - 1, -1, -1):
            height[k] = max([height[s] + 1 for s in succs[k]], default=0)
        members = (1 << m) - 1

        # the candidates, in the order ties are broken by (the first of equal sets kept)
        self.cands: list[tuple[int, int, int]] = []  # (downset, family, parameter)
        seen: set[int] = set()

        def candidate(cand: int, family: int, param: int) -> None:
            if cand and cand != members and cand not in seen:
                seen.add(cand)
                self.cands.append((cand, family, param))

        max_depth, max_height = max(depth), max(height)
        by_depth: list[list[int]] = [[] for _ in range(max_depth + 1)]
        by_height: list[list[int]] = [[] for _ in range(max_height + 1)]
        for k in range(m):
            by_depth[depth[k]].append(k)
            by_height[height[k]].append(k)
        below = 0
        for k in range(1, max_depth + 1):
            below |= _mask(by_depth[k - 1])
            candidate(below, _DEPTH, k)
        at_least = [0] * (max_height + 2)
        for k in range(max_height, 0, -1):
            at_least[k] = at_least[k + 1] | _mask(by_height[k])
        for k in range(1, max_height + 1):
            candidate(at_least[k], _HEIGHT, k)
        for k in range(m):
            bit = 1 << k
            candidate(anc[k], _ANC, k)
            candidate(anc[k] | bit, _ANC_SELF, k)
            candidate(members & ~desc[k] & ~bit, _NOT_DESC_SELF, k)
            candidate(members & ~desc[k], _NOT_DESC, k)

        # finish times forward and tails backward, each node's a tuple over the samples
        by_node = scheduler.by_node
        zero = (0.0,) * len(scheduler.durations)
        start: list[tuple[float, ...]] = [zero] * m
        finish: list[tuple[float, ...]] = [zero] * m
        for k in range(m):
            ps = preds[k]
            before = zero if not ps else finish[ps[0]] if len(ps) == 1 else \
                tuple(map(max, *[finish[p] for p in ps]))
            start[k] = before
            finish[k] = tuple(map(add, before, by_node[order[k]]))
        tail: list[tuple[float, ...]] = [zero] * m
        after_tail: list[tuple[float, ...]] = [zero] * m  # the largest tail of a successor
        for k in range(m - 1, -1, -1):
            ss = succs[k]
            after = zero if not ss else tail[ss[0]] if len(ss) == 1 else \
                tuple(map(max, *[tail[x] for x in ss]))
            after_tail[k] = after
            tail[k] = tuple(map(add, by_node[order[k]], after))
        # the largest tail outside the ancestors of k and k itself, the largest finish
        # outside its descendants and k itself: a sweep per sample
        desc_self = [d | (1 << k) for k, d in enumerate(desc)]
        anc_self = [a | (1 << k) for k, a in enumerate(anc)]
        out_anc_self = list(zip(*[_sweep(column, desc_self, members) for column in zip(*tail)]))
        out_desc_self = list(zip(*[_sweep(column, anc_self, members) for column in zip(*finish)]))
        # with k itself
        out_anc = [tuple(map(max, t, o)) for t, o in zip(tail, out_anc_self, strict=True)]
        out_desc = [tuple(map(max, f, o)) for f, o in zip(finish, out_desc_self, strict=True)]
        finish_below = _running_max([[finish[j] for j in group] for group in by_depth])
        tail_from_depth = _running_max([[tail[j] for j in group] for group in reversed(by_depth)])
        finish_from_height = _running_max([[finish[j] for j in group]
                                           for group in reversed(by_height)])
        tail_below_height = _running_max([[tail[j] for j in group] for group in by_height])
        samples = len(scheduler.durations)
        self.means: list[tuple[float, float]] = []
        for _cand, family, k in self.cands:
            if family == _DEPTH:  # before: depth < k
                before, after = finish_below[k - 1], tail_from_depth[max_depth - k]
            elif family == _HEIGHT:  # before: height >= k
                before, after = finish_from_height[max_height - k], tail_below_height[k - 1]
            elif family == _ANC:
                before, after = start[k], out_anc[k]
            elif family == _ANC_SELF:
                before, after = finish[k], out_anc_self[k]
            elif family == _NOT_DESC_SELF:
                before, after = out_desc_self[k], tail[k]
            else:
                before, after = out_desc[k], after_tail[k]
            self.means.append((_total(before) / samples, _total(after) / samples))
        #: how far the backward ``cp(after)`` may be from the forward one (both sums of a
        #: path of at most ``max_height + 1`` terms), carried through the means and the sum
        self.slack = (6 * (max_height + 1) + 128) * _UNIT_ROUNDOFF

    def ranked(self, want: int) -> list[tuple[float, int]]:
        """The ``want`` best candidates as (rounded cost, index), best first."""
        costs = [before + after for before, after in self.means]
        slack = self.slack
        # the rounded cost of a cut lies within the rounded bounds of its cost; cuts whose
        # lower bound is above the ``want``-th smallest upper bound cannot be chosen
        limit = round(heapq.nsmallest(want, costs)[-1] * (1 + slack), 9)
        pool = []
        for index, cost in enumerate(costs):
            low = cost * (1 - slack)
            if low > limit + 1e-9:
                continue
            low_rounded, high_rounded = round(low, 9), round(cost * (1 + slack), 9)
            if low_rounded > limit:
                continue
            if low_rounded != high_rounded:  # the rounding may differ: evaluate the cut forward
                before, after = self.sides(index)
                low_rounded = round(self.scheduler._critical_path(before)
                                    + self.scheduler._critical_path(after), 9)
            pool.append((low_rounded, index))
        pool.sort()
        return pool[:want]

    def sides(self, index: int) -> tuple[list[int], list[int]]:
        cand = self.cands[index][0]
        before = [n for k, n in enumerate(self.order) if cand >> k & 1]
        after = [n for k, n in enumerate(self.order) if not cand >> k & 1]
        return before, after


_DEPTH, _HEIGHT, _ANC, _ANC_SELF, _NOT_DESC_SELF, _NOT_DESC = range(6)


def _sweep(values: Sequence[float], masks: list[int], members: int) -> list[float]:
    """For each node n, the largest ``values[x]`` over the nodes x whose ``masks[x]`` does
    not hold n: nodes by decreasing value, each answering the nodes still unanswered
    outside its mask (0.0 for a node no mask leaves out)."""
    answer = [0.0] * len(values)
    pending = members
    for x in sorted(range(len(values)), key=values.__getitem__, reverse=True):
        newly = pending & ~masks[x]
        if newly:
            pending ^= newly
            value = values[x]
            while newly:
                low = newly & -newly
                answer[low.bit_length() - 1] = value
                newly ^= low
            if not pending:
                break
    return answer


def _running_max(groups: list[list[tuple[float, ...]]]) -> list[tuple[float, ...]]:
    """Entry k: the largest value of each sample in groups[0..k] (groups are not empty)."""
    out = []
    best: tuple[float, ...] | None = None
    for group in groups:
        top = group[0] if len(group) == 1 else tuple(map(max, *group))
        best = top if best is None else tuple(map(max, best, top))
        out.append(best)
    return out


def _total(values: tuple[float, ...]) -> float:
    """The samples' values added in order from 0.0 (what a pass per cut accumulates)."""
    return reduce(add, values, 0.0)


def schedule(nodes: list[str], deps: Iterable[tuple[str, str]],
             weight: Callable[[str], float] = lambda _: 1.0, samples: int = 16) -> Tree | None:
    """Nested Seq/Par tree running ``nodes`` with every dependency respected.

    ``weight`` estimates each block's duration; actual durations vary, so lossy cuts
    are ranked by their mean makespan over ``samples`` draws of U(0.25, 1.75) x weight.
    """
    if not nodes:
        return None
    dag = _Dag(list(dict.fromkeys(nodes)), deps)

    def draw() -> list[dict[str, float]]:
        rng = random.Random(1729)
        return [{n: weight(n) * rng.uniform(0.25, 1.75) for n in dag.topo} for _ in range(samples)]

    return _Scheduler(dag, draw).build(list(range(len(dag.topo))))


def toposort(nodes: list[str], deps: Iterable[tuple[str, str]]) -> list[str]:
    """Nodes in dependency order (ties in the given order). Raises ValueError on a cycle."""
    return list(_Dag(nodes, deps).topo)


def tree_makespan(tree: Tree, duration: Callable[[str], float]) -> float:
    """Completion time of the tree when each leaf takes ``duration(node)``."""
    def total(parts: list[float]) -> float:
        return sum(parts)

    def longest(parts: list[float]) -> float:
        return max(parts)

    return _fold(tree, duration, total, longest)


def _fold(tree: Tree, leaf: Callable[[str], _T], seq: Callable[[list[_T]], _T],
          par: Callable[[list[_T]], _T]) -> _T:
    """The tree folded bottom-up: ``leaf`` of each node, ``seq``/``par`` of each sequence's
    or fork's folded parts (with an explicit stack: trees may nest deeply)."""
    values: list[_T] = []
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        item, expanded = stack.pop()
        if isinstance(item, Leaf):
            values.append(leaf(item.node))
            continue
        parts = item.items if isinstance(item, Seq) else item.branches
        if not expanded:
            stack.append((item, True))
            stack.extend((part, False) for part in reversed(parts))
            continue
        done = values[len(values) - len(parts):]
        del values[len(values) - len(parts):]
        values.append(seq(done) if isinstance(item, Seq) else par(done))
    return values[0]
