"""Large workflows compile, or are refused with a clear error, without running out of stack.

GIVEN long chains of blocks THEN they compile (a chain of 1,500 blocks) or fail with
"definition too large" naming the workflow, its size and what to do (a chain of 5,000 blocks;
the loader refuses its file first: a workflow file holds at most 2,000 blocks), and the CLI
reports either without a traceback. GIVEN a chain of conditions longer than Python's recursion
limit (a reference to the last reads through every one of them) THEN compiling it ends in the
size error, not a RecursionError. GIVEN graphs nested thousands deep THEN the scheduler and the
definition checks walk them; a workflow nesting fork/joins 300 deep is refused with a clear
error (the lowering itself still recurses over the nesting). GIVEN small random DAGs THEN the scheduler's trees are those of a
plain reference that evaluates every candidate cut with its own forward pass.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.compiler.aslcheck import check_definition
from stepweave.compiler.estimate import estimate_events
from stepweave.compiler.graph import build_graph
from stepweave.compiler.schedule import Leaf, Par, Seq, Tree, schedule, tree_makespan
from stepweave.errors import WorkflowError
from stepweave.workflow.loader import parse_workflow
from stepweave.workflow.model import Workflow

MAX_DEFINITION_BYTES = 1_048_576


def _chain(blocks: int) -> dict[str, Any]:
    """The start block, then ``blocks - 1`` function blocks, in one line."""
    out: list[dict[str, Any]] = [{"id": "start", "type": "start", "name": "Start"}]
    edges = []
    for index in range(1, blocks):
        out.append({"id": f"b{index}", "type": "function", "name": f"b{index}",
                    "params": {"code": f"return {index}"}})
        edges.append(f"{out[-2]['id']} -> b{index}")
    return {"version": 1, "name": f"chain-{blocks}", "blocks": out, "edges": edges}


def _too_large(exc: WorkflowError) -> str:
    [problem] = exc.problems
    assert problem.message.startswith("definition too large: "), problem.message
    return problem.message


def test_a_chain_of_1500_blocks_compiles() -> None:
    compiled = compile_workflow(parse_workflow(_chain(1500), "chain.yaml"), "chain.yaml")
    size = len(json.dumps(compiled.definition, separators=(",", ":")).encode())
    assert size <= MAX_DEFINITION_BYTES
    blocks = {block for block, _role in compiled.state_map.values()}
    assert blocks >= {f"b{i}" for i in range(1, 1500)}


def test_a_chain_of_5000_blocks_is_too_large_and_says_so() -> None:
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(Workflow.model_validate(_chain(5000)), "chain.yaml")
    message = _too_large(caught.value)
    assert caught.value.problems[0].file == "chain.yaml"
    assert "workflow 'chain-5000' (5,000 blocks)" in message
    size = int(message.split("definition of ")[1].split(" bytes")[0].replace(",", ""))
    assert size > MAX_DEFINITION_BYTES
    assert "allows 1,048,576 (1 MiB)" in message and "sub-workflows" in message


def test_the_cli_refuses_a_5000_block_file_and_a_too_large_2000_block_one_cleanly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge, large = tmp_path / "huge.json", tmp_path / "large.json"
    huge.write_text(json.dumps(_chain(5000)))
    large.write_text(json.dumps(_chain(2000)))
    assert main(["compile", str(huge), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert f"{huge}, field 'blocks': 5,000 blocks; a workflow has at most 2,000" in err
    assert main(["compile", str(large), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert f"{large}: definition too large: workflow 'chain-2000' (2,000 blocks)" in err
    assert "sub-workflows" in err
    assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "out.json").exists()


def test_a_reference_through_a_chain_of_1100_conditions_is_resolved_without_recursion() -> None:
    blocks: list[dict[str, Any]] = [{"id": "start", "type": "start", "name": "Start", "params": {
        "inputFormat": [{"name": "n", "type": "number", "value": 1}]}}]
    edges = ["start -> c0"]
    for index in range(1100):
        blocks.append({"id": f"c{index}", "type": "condition", "name": f"c{index}", "params": {
            "conditions": [{"id": "yes", "title": "if", "value": "<start.n> > 0"},
                           {"id": "no", "title": "else"}]}})
        target = f"c{index + 1}" if index < 1099 else "end"
        edges += [f"c{index} -[condition-yes]-> {target}", f"c{index} -[condition-no]-> {target}"]
    # a condition's output carries the fields of the block feeding it: <c1099.n> is start's n
    blocks.append({"id": "end", "type": "function", "name": "end",
                   "params": {"code": "return <c1099.n>"}})
    workflow = parse_workflow({"version": 1, "name": "conditions", "blocks": blocks,
                               "edges": edges}, "conditions.yaml")
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(workflow, "conditions.yaml")
    assert "workflow 'conditions' (1,102 blocks)" in _too_large(caught.value)


def _nested_diamonds(levels: int) -> tuple[list[str], list[tuple[str, str]]]:
    """x_k -> (the diamonds inside, y_k) -> z_k: a Seq in a Par in a Seq... ``levels`` deep."""
    nodes, edges, first, last = ["g"], [], "g", "g"
    for k in range(levels):
        nodes += [f"x{k}", f"y{k}", f"z{k}"]
        edges += [(f"x{k}", first), (last, f"z{k}"), (f"x{k}", f"y{k}"), (f"y{k}", f"z{k}")]
        first, last = f"x{k}", f"z{k}"
    return nodes, edges


def test_the_scheduler_decomposes_graphs_nested_past_the_recursion_limit() -> None:
    nodes, edges = _nested_diamonds(400)  # 800 levels of Seq and Par
    tree = schedule(nodes, edges)
    assert tree is not None and tree_makespan(tree, lambda _: 1.0) == 2 * 400 + 1
    for level in reversed(range(400)):
        assert isinstance(tree, Seq) and len(tree.items) == 3
        assert tree.items[0] == Leaf(f"x{level}") and tree.items[2] == Leaf(f"z{level}")
        middle = tree.items[1]
        assert isinstance(middle, Par) and middle.branches[1] == Leaf(f"y{level}")
        tree = middle.branches[0]
    assert tree == Leaf("g")
    chain = [f"n{i}" for i in range(5000)]
    assert schedule(chain, list(zip(chain, chain[1:]))) == Seq(tuple(Leaf(n) for n in chain))


def _nested_machine(levels: int) -> dict[str, Any]:
    machine: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    for level in range(levels):
        machine = {"StartAt": f"A{level}", "States": {
            f"A{level}": {"Type": "Pass", "Next": f"R{level}"},
            f"R{level}": {"Type": "Parallel", "Branches": [machine], "End": True}}}
    return {"QueryLanguage": "JSONata", **machine}


def test_a_workflow_nesting_fork_joins_300_deep_is_refused_cleanly() -> None:
    nodes, edges = _nested_diamonds(300)
    workflow = parse_workflow({"version": 1, "name": "nested", "blocks": [
        {"id": "start", "type": "start", "name": "Start"},
        *({"id": n, "type": "function", "name": n, "params": {"code": "return 1"}} for n in nodes)],
        "edges": ["start -> x299", *(f"{a} -> {b}" for a, b in edges)]}, "nested.yaml")
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(workflow, "nested.yaml")
    [problem] = caught.value.problems
    assert problem.file == "nested.yaml" and "workflow 'nested' (902 blocks)" in problem.message
    assert problem.message.startswith(("nested too deeply: ", "definition too large: "))
    assert "sub-workflows" in problem.message


def test_the_definition_checks_walk_parallels_nested_past_the_recursion_limit() -> None:
    definition = _nested_machine(1500)
    found: list[tuple[str, str]] = []
    check_definition(definition, lambda state, message: found.append((state, message)))
    assert found == []
    definition["States"]["R1499"]["Branches"][0]["States"]["R1498"]["Next"] = "Nowhere"
    check_definition(definition, lambda state, message: found.append((state, message)))
    assert [state for state, _ in found] == ["R1498", "R1498"]  # both fields, and the target
    graph = build_graph(parse_workflow({"version": 1, "name": "w", "blocks": [
        {"id": "start", "type": "start", "name": "Start"}]}, "w.yaml"), "w.yaml")
    # the run (3), per level a Pass (2) and a Parallel (2 + 4), the innermost Pass (2)
    assert estimate_events(graph, _nested_machine(1500), {}) == (3 + 1500 * 8 + 2, None, 0)


# -- the scheduler against a plain reference --------------------------------------------------

def _reference(nodes: list[str], deps: list[tuple[str, str]],
               weight: Callable[[str], float]) -> Tree:
    """The documented decomposition with nothing shared: every candidate cut's two sides get
    their own forward pass per duration sample; lossless cuts are checked pair by pair."""
    order_of = {n: i for i, n in enumerate(nodes)}
    pred = {n: {a for a, b in deps if b == n and a != n} for n in nodes}
    succ = {n: {b for a, b in deps if a == n and b != n} for n in nodes}
    topo: list[str] = []
    indeg = {n: len(pred[n]) for n in nodes}
    ready = sorted((n for n in nodes if not indeg[n]), key=order_of.__getitem__)
    while ready:
        node = ready.pop(0)
        topo.append(node)
        for s in succ[node]:
            indeg[s] -= 1
            if not indeg[s]:
                ready = sorted([*ready, s], key=order_of.__getitem__)
    desc: dict[str, set[str]] = {}
    for node in reversed(topo):
        desc[node] = set().union(*({s} | desc[s] for s in succ[node]))
    rng = random.Random(1729)
    draws = [{n: weight(n) * rng.uniform(0.25, 1.75) for n in topo} for _ in range(16)]

    def critical_path(part: list[str]) -> float:
        total = 0.0
        for dur in draws:
            finish: dict[str, float] = {}
            for n in part:
                finish[n] = max((finish[p] for p in pred[n] if p in finish), default=0.0) + dur[n]
            total += max(finish.values())
        return total / len(draws)

    def makespan(tree: Tree, dur: dict[str, float]) -> float:
        if isinstance(tree, Leaf):
            return dur[tree.node]
        if isinstance(tree, Seq):
            return sum(makespan(t, dur) for t in tree.items)
        return max(makespan(t, dur) for t in tree.branches)

    def seq(items: list[Tree]) -> Tree:
        flat = [x for item in items for x in (item.items if isinstance(item, Seq) else (item,))]
        return flat[0] if len(flat) == 1 else Seq(tuple(flat))

    def build(part: list[str], lookahead: bool) -> Tree:
        if len(part) == 1:
            return Leaf(part[0])
        members, comps, seen = set(part), [], set()
        for start in part:
            if start not in seen:
                comp, stack = [], [start]
                seen.add(start)
                while stack:
                    n = stack.pop()
                    comp.append(n)
                    for m in (succ[n] | pred[n]) & members - seen:
                        seen.add(m)
                        stack.append(m)
                comps.append(sorted(comp, key=order_of.__getitem__))
        if len(comps) > 1:
            return Par(tuple(build(c, lookahead) for c in comps))
        order = [n for n in topo if n in members]
        cuts = [k for k in range(1, len(order))
                if all(b in desc[a] for a in order[:k] for b in order[k:])]
        if cuts:
            bounds = [0, *cuts, len(order)]
            return seq([build(order[a:b], lookahead) for a, b in zip(bounds, bounds[1:])])
        depth: dict[str, int] = {}
        for n in order:
            depth[n] = max((depth[p] + 1 for p in pred[n] & members), default=0)
        height: dict[str, int] = {}
        for n in reversed(order):
            height[n] = max((height[s] + 1 for s in succ[n] & members), default=0)
        cands = [{n for n in order if depth[n] < k} for k in range(1, max(depth.values()) + 1)]
        cands += [{n for n in order if height[n] >= k} for k in range(1, max(height.values()) + 1)]
        for n in order:
            anc = {m for m in order if n in desc[m]}
            cands += [anc, anc | {n}, members - desc[n] - {n}, members - desc[n]]
        unique: list[set[str]] = []
        for cand in cands:
            if cand and cand != members and cand not in unique:
                unique.append(cand)
        ranked = sorted((round(critical_path([n for n in order if n in c])
                               + critical_path([n for n in order if n not in c]), 9), i)
                        for i, c in enumerate(unique))
        sides = [([n for n in order if n in c], [n for n in order if n not in c]) for c in unique]
        if not lookahead or len(order) > 60:
            before, after = sides[ranked[0][1]]
        else:
            trees = {i: seq([build(sides[i][0], False), build(sides[i][1], False)])
                     for _, i in ranked[:3]}
            best = min((round(sum(makespan(trees[i], d) for d in draws) / len(draws), 9), i)
                       for i in trees)
            before, after = sides[best[1]]
        return seq([build(before, lookahead), build(after, lookahead)])

    return build(topo, True)


@pytest.mark.parametrize("seed", range(24))
def test_random_dags_schedule_as_the_plain_reference(seed: int) -> None:
    rng = random.Random(1000 + seed)
    size = rng.randint(4, 16)
    nodes = [f"n{i}" for i in range(size)]
    density = rng.choice([0.15, 0.3, 0.5])
    deps = [(nodes[i], nodes[j]) for i in range(size) for j in range(i + 1, size)
            if rng.random() < density]
    rng.shuffle(nodes)  # file order is not the dependency order
    weights = {n: rng.choice([0.05, 1.0, 2.0]) for n in nodes}
    weight = weights.__getitem__
    assert schedule(nodes, deps, weight) == _reference(nodes, deps, weight)
