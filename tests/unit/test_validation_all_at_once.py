"""One ``validate`` run reports every problem it can check: structural problems (params,
edges, cycles, duplicate ids) no longer hide reference, condition and code problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main

FIVE_PROBLEMS = """
version: 1
name: five
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: fetch, type: api, params: {url: "https://example.com", verb: GET}}
  - id: check
    type: condition
    params:
      conditions:
        - {id: vip, title: if, value: "<fetch.data.tier> = 'gold'"}
        - {id: reg, title: else}
  - {id: f, type: function, params: {code: "return <nosuch.result>"}}
  - {id: g, type: function, params: {code: "return {score: 1"}}
  - {id: h, type: function, params: {code: "return 1"}}
edges:
  - start -> fetch
  - fetch -> check
  - check -[condition-vip]-> f
  - check -[condition-reg]-> g
  - g -> h
  - h -[bogus]-> f
"""


def test_structural_problems_do_not_hide_the_others(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a file with two structural problems and three in references, conditions and code
    path = tmp_path / "five.yaml"
    path.write_text(FIVE_PROBLEMS)
    # WHEN it is validated once
    assert main(["validate", str(path)]) == 2
    # THEN all five are reported, structural ones first, each once
    err = capsys.readouterr().err
    expected = [
        "block 'fetch', field 'params.verb': unknown param",
        "block 'h', field 'edges[5].sourceHandle': edge to 'f': unknown source handle 'bogus'",
        "block 'g', field 'params.code': Line 1: `return {score: 1` - SyntaxError",
        "block 'check', field 'params.conditions.0.value': condition \"if\": assignment '='",
        "block 'f', field 'params': <nosuch.result> refers to no block",
    ]
    assert err.startswith("5 problem(s) found:"), err
    positions = [err.index(fragment) for fragment in expected]
    assert positions[:2] == sorted(positions[:2]) and max(positions[:2]) < min(positions[2:])


def test_references_are_checked_despite_cycles_and_duplicate_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tangled.yaml"
    path.write_text("""
version: 1
name: tangled
blocks:
  - {id: start, type: start}
  - {id: a, name: Fetch, type: api, params: {url: "https://example.com"}}
  - {id: d, type: function, params: {code: "return <nosuch.result>"}}
  - {id: e, type: function, params: {code: "return <fetch.colour>"}}
  - {id: h, type: function, params: {code: "return <loop.index>"}}
  - {id: i, type: function, params: {code: "return 1"}}
  - {id: i, name: again, type: function, params: {code: "return 2"}}
edges: [start -> a, a -> d, a -> e, start -> h, h -> i, i -> h]
""")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    for fragment in ["block 'i', field 'id': duplicate block id",
                     "cycle outside a loop",
                     "block 'd', field 'params': <nosuch.result> refers to no block",
                     "block 'e', field 'params': <fetch.colour>: \"colour\" doesn't exist",
                     "block 'h', field 'params': <loop.index> is used outside any loop"]:
        assert err.count(fragment) == 1, fragment
