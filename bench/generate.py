"""Seeded generators of large workflows for the benchmarks."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["generated_workflow", "random_dag_workflow", "chain_workflow"]


def generated_workflow(blocks: int, seed: int = 1) -> dict[str, Any]:
    """A workflow of ~``blocks`` blocks: stages of fan-out/fan-in, conditions, variables."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [{"id": "start", "type": "start", "name": "Start",
                                  "params": {"inputFormat": [{"name": "n", "type": "number", "value": 1}]}}]
    edges: list[str] = []
    last = "start"
    count = 1
    stage = 0
    while count < blocks:
        stage += 1
        width = min(rng.randint(1, 4), max(1, blocks - count - 1))
        branch_ends = []
        for b in range(width):
            bid = f"s{stage}_b{b}"
            kind = rng.choice(["function", "api", "variables"])
            if kind == "function":
                params = {"code": f"return <{last}.result> ?? {stage}"} if last != "start" \
                    else {"code": "return <start.n>"}
                params = {"code": f"return {stage} + {b}"}
            elif kind == "api":
                params = {"url": "{{API_URL}}/items/<start.n>", "method": "GET"}
            else:
                params = {"variables": [{"variableName": f"v{stage}_{b}", "value": "<start.n>"}]}
            out.append({"id": bid, "type": kind, "name": f"Stage {stage} block {b}", "params": params})
            edges.append(f"{last} -> {bid}")
            branch_ends.append(bid)
            count += 1
        join = f"s{stage}_join"
        if rng.random() < 0.3:
            out.append({"id": join, "type": "condition", "name": f"Stage {stage} check",
                        "params": {"conditions": [{"id": "big", "title": "if", "value": "<start.n> > 5"},
                                                  {"id": "else", "title": "else"}]}})
        else:
            out.append({"id": join, "type": "function", "name": f"Stage {stage} join",
                        "params": {"code": "return 1"}})
        edges += [f"{e} -> {join}" for e in branch_ends]
        count += 1
        last = join
    return {"version": 1, "name": f"generated-{blocks}", "blocks": out, "edges": edges}


def random_dag_workflow(blocks: int, seed: int = 1) -> dict[str, Any]:
    """``blocks`` blocks (the start block, then function blocks) wired as a seeded random DAG:
    each block depends on one to three of the 20 blocks before it (on the start block alone
    one time in ten), so most of the graph is not series-parallel and the scheduler has to
    choose where to add dependencies."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [{"id": "start", "type": "start", "name": "Start"}]
    edges: list[str] = []
    ids: list[str] = []
    for index in range(1, blocks):
        bid = f"b{index}"
        out.append({"id": bid, "type": "function", "name": bid,
                    "params": {"code": f"return {index}"}})
        if not ids or rng.random() < 0.1:
            preds = ["start"]
        else:
            preds = sorted({rng.choice(ids[-20:]) for _ in range(rng.randint(1, 3))})
        edges += [f"{p} -> {bid}" for p in preds]
        ids.append(bid)
    return {"version": 1, "name": f"random-dag-{blocks}", "blocks": out, "edges": edges}


def chain_workflow(blocks: int) -> dict[str, Any]:
    """``blocks`` blocks in one line: the start block, then function blocks."""
    out: list[dict[str, Any]] = [{"id": "start", "type": "start", "name": "Start"}]
    edges: list[str] = []
    last = "start"
    for index in range(1, blocks):
        bid = f"b{index}"
        out.append({"id": bid, "type": "function", "name": bid,
                    "params": {"code": f"return {index}"}})
        edges.append(f"{last} -> {bid}")
        last = bid
    return {"version": 1, "name": f"chain-{blocks}", "blocks": out, "edges": edges}
