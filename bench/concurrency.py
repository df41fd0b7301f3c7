"""How much concurrency the fork/join scheduler keeps, on seeded random DAGs.

For each DAG family, random block durations (unknown to the compiler, which only
sees the graph) give three makespans:

* ideal: the critical path (every block starts the moment its inputs are done);
* ours: the nested Parallel/sequence tree the compiler emits (``schedule``);
* level: a level-by-level compile, each topological level one Parallel state.

Printed figures are ideal/ours and ideal/level (1.00 = no concurrency lost), the
worst case over the samples, and a check that no dependency is ever violated.

    python bench/concurrency.py [--samples 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))

from stepweave.compiler.schedule import Leaf, Par, Seq, Tree, schedule, toposort  # noqa: E402

Edge = tuple[str, str]


def series_parallel(rng: random.Random, size: int) -> tuple[list[str], list[Edge]]:
    counter = iter(range(10**6))

    def build(n: int) -> tuple[list[str], list[str], list[str], list[Edge]]:
        if n == 1:
            node = f"n{next(counter)}"
            return [node], [node], [node], []
        k = rng.randint(1, n - 1)
        a_nodes, a_src, a_snk, a_edges = build(k)
        b_nodes, b_src, b_snk, b_edges = build(n - k)
        if rng.random() < 0.5:  # series
            cross = [(x, y) for x in a_snk for y in b_src]
            return a_nodes + b_nodes, a_src, b_snk, a_edges + b_edges + cross
        return a_nodes + b_nodes, a_src + b_src, a_snk + b_snk, a_edges + b_edges

    nodes, _, _, edges = build(size)
    return nodes, edges


def sparse_non_sp(rng: random.Random, size: int) -> tuple[list[str], list[Edge]]:
    nodes, edges = series_parallel(rng, size)
    order = {n: i for i, n in enumerate(_topo(nodes, edges))}
    ranked = sorted(nodes, key=order.__getitem__)
    extra = max(1, size // 10)  # N-shapes and bridges
    for _ in range(extra):
        i = rng.randrange(len(ranked) - 1)
        j = rng.randrange(i + 1, len(ranked))
        edges.append((ranked[i], ranked[j]))
    return nodes, sorted(set(edges))


def dense_layered(rng: random.Random, size: int) -> tuple[list[str], list[Edge]]:
    width = max(2, int(size ** 0.5))
    layers = [[f"n{l}_{i}" for i in range(width)] for l in range(max(2, size // width))]
    edges = []
    for prev, cur in zip(layers, layers[1:]):
        for node in cur:
            preds = [p for p in prev if rng.random() < 0.5] or [rng.choice(prev)]
            edges += [(p, node) for p in preds]
    return [n for layer in layers for n in layer], edges


def _topo(nodes: list[str], edges: list[Edge]) -> list[str]:
    return toposort(nodes, edges)


def critical_path(nodes: list[str], edges: list[Edge], dur: dict[str, float]) -> float:
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        pred[b].append(a)
    finish: dict[str, float] = {}
    for n in _topo(nodes, edges):
        finish[n] = max((finish[p] for p in pred[n]), default=0.0) + dur[n]
    return max(finish.values())


def level_by_level(nodes: list[str], edges: list[Edge], dur: dict[str, float]) -> float:
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        pred[b].append(a)
    level: dict[str, int] = {}
    for n in _topo(nodes, edges):
        level[n] = max((level[p] + 1 for p in pred[n]), default=0)
    worst: dict[int, float] = {}
    for n, lv in level.items():
        worst[lv] = max(worst.get(lv, 0.0), dur[n])
    return sum(worst.values())


def simulate(tree: Tree, dur: dict[str, float], start: float, times: dict[str, tuple[float, float]]) -> float:
    """Run the tree from ``start``; record each block's (start, end). Returns the end."""
    if isinstance(tree, Leaf):
        times[tree.node] = (start, start + dur[tree.node])
        return start + dur[tree.node]
    if isinstance(tree, Seq):
        for item in tree.items:
            start = simulate(item, dur, start, times)
        return start
    assert isinstance(tree, Par)
    return max(simulate(b, dur, start, times) for b in tree.branches)


def measure(family: str, samples: int, size: int, seed: int) -> dict[str, float]:
    gen = {"series-parallel": series_parallel, "sparse non-SP": sparse_non_sp,
           "dense layered": dense_layered}[family]
    ours, level, violations = [], [], 0
    for s in range(samples):
        rng = random.Random(seed * 1000 + s)
        nodes, edges = gen(rng, size)
        dur = {n: rng.uniform(0.1, 1.0) for n in nodes}
        tree = schedule(nodes, edges)
        assert tree is not None
        times: dict[str, tuple[float, float]] = {}
        span = simulate(tree, dur, 0.0, times)
        violations += sum(1 for a, b in edges if times[a][1] > times[b][0] + 1e-9)
        ideal = critical_path(nodes, edges, dur)
        ours.append(ideal / span)
        level.append(ideal / level_by_level(nodes, edges, dur))
    return {"ours": statistics.mean(ours), "ours_min": min(ours), "level": statistics.mean(level),
            "level_min": min(level), "violations": violations}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"concurrency kept (ideal makespan / compiled makespan), {args.samples} DAGs of "
          f"~{args.size} blocks per family, random durations U(0.1, 1.0), seed {args.seed}")
    print(f"{'family':18} {'ours mean':>10} {'ours min':>9} {'level mean':>11} {'level min':>10} "
          f"{'violated deps':>14}")
    for family in ("series-parallel", "sparse non-SP", "dense layered"):
        r = measure(family, args.samples, args.size, args.seed)
        print(f"{family:18} {r['ours']:10.3f} {r['ours_min']:9.3f} {r['level']:11.3f} "
              f"{r['level_min']:10.3f} {r['violations']:14d}")


if __name__ == "__main__":
    main()
