"""The fork/join scheduler: exact on series-parallel DAGs, never violates a dependency."""

from __future__ import annotations

import random

import pytest

from stepweave.compiler.schedule import Leaf, Par, Seq, Tree, schedule, tree_makespan


def _spans(tree: Tree, dur: dict[str, float], start: float, out: dict[str, tuple[float, float]]) -> float:
    if isinstance(tree, Leaf):
        out[tree.node] = (start, start + dur[tree.node])
        return start + dur[tree.node]
    if isinstance(tree, Seq):
        for item in tree.items:
            start = _spans(item, dur, start, out)
        return start
    return max(_spans(b, dur, start, out) for b in tree.branches)


def test_fan_out_fan_in_is_one_parallel_between_two_leaves() -> None:
    tree = schedule(["s", "a", "b", "m"], [("s", "a"), ("s", "b"), ("a", "m"), ("b", "m")])
    assert tree == Seq((Leaf("s"), Par((Leaf("a"), Leaf("b"))), Leaf("m")))


def test_independent_chains_stay_concurrent() -> None:
    tree = schedule(["a1", "a2", "b1", "b2"], [("a1", "a2"), ("b1", "b2")])
    assert tree == Par((Seq((Leaf("a1"), Leaf("a2"))), Seq((Leaf("b1"), Leaf("b2")))))


def test_empty_region_has_no_tree() -> None:
    assert schedule([], []) is None


def test_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        schedule(["a", "b"], [("a", "b"), ("b", "a")])


def test_n_shape_keeps_every_dependency() -> None:
    edges = [("a", "c"), ("a", "d"), ("b", "d")]
    tree = schedule(["a", "b", "c", "d"], edges)
    assert tree is not None
    spans: dict[str, tuple[float, float]] = {}
    _spans(tree, {n: 1.0 for n in "abcd"}, 0.0, spans)
    assert all(spans[x][1] <= spans[y][0] for x, y in edges)


@pytest.mark.parametrize("seed", range(30))
def test_random_dags_never_violate_a_dependency(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(14)]
    edges = [(nodes[i], nodes[j]) for i in range(14) for j in range(i + 1, 14) if rng.random() < 0.2]
    tree = schedule(nodes, edges)
    assert tree is not None
    dur = {n: rng.uniform(0.1, 1.0) for n in nodes}
    spans: dict[str, tuple[float, float]] = {}
    total = _spans(tree, dur, 0.0, spans)
    assert sorted(spans) == sorted(nodes)  # every block exactly once
    assert all(spans[a][1] <= spans[b][0] + 1e-12 for a, b in edges)
    assert total == pytest.approx(tree_makespan(tree, dur.__getitem__))


def test_same_graph_gives_the_same_tree() -> None:
    edges = [("a", "c"), ("a", "d"), ("b", "d"), ("c", "e"), ("d", "e")]
    assert schedule(list("abcde"), edges) == schedule(list("abcde"), list(edges))
