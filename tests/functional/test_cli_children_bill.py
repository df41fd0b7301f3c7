"""``stepweave run`` bills a distributed parallel's child executions.

GIVEN a workflow whose parallel of five items runs distributed WHEN ``stepweave run``
runs it THEN ``--json`` carries the child executions' figures (five Express children,
their billed seconds, five starts billed as transitions, their cost) and the printed bill
names them beside the parent's charges instead of saying they are not counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepweave.cli import main
from stepweave.local.progress import (
    EXPRESS_MEMORY_GB,
    EXPRESS_PRICE_PER_GB_SECOND,
    EXPRESS_PRICE_PER_REQUEST,
    PRICE_PER_TRANSITION,
)

WORKFLOW = """
name: fan-bill
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: distributed}}
  - {id: each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
  - {id: done, type: response, params: {data: {results: "<fan.results>"}}}
edges: [start -> par, "par -[parallel-start-source]-> each", par -> done]
"""
ITEMS = '{"items": [1, 2, 3, 4, 5]}'


@pytest.fixture()
def workflow(tmp_path: Path) -> str:
    path = tmp_path / "fan-bill.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    return str(path)


def test_run_json_carries_the_child_executions_figures(workflow: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", workflow, "--input", ITEMS, "--json", "-q"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "SUCCEEDED", out
    children = out["childExecutions"]
    assert {k: children[k] for k in ("executions", "express", "standard", "standardTransitions",
                                     "startTransitions")} == {
        "executions": 5, "express": 5, "standard": 0, "standardTransitions": 0,
        "startTransitions": 5}
    seconds = children["expressBilledSeconds"]
    assert seconds >= 0.5  # each child at least the 100 ms billed
    assert children["costUsd"] == pytest.approx(
        5 * (EXPRESS_PRICE_PER_REQUEST + PRICE_PER_TRANSITION)
        + seconds * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND, rel=1e-6)


def test_run_prints_the_child_executions_in_the_bill(workflow: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", workflow, "--input", ITEMS]) == 0
    [line] = [line for line in capsys.readouterr().err.splitlines() if "AWS would bill:" in line]
    assert "+ 5 Express child executions (" in line
    assert "and their 5 starts as state transitions ($" in line
    assert "per 1,000 runs in all" in line
    assert "not counted" not in line


def test_run_json_of_a_workflow_without_children_has_zero(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fan-inline.yaml"
    path.write_text(WORKFLOW.replace("mode: distributed", "mode: inline"), encoding="utf-8")
    assert main(["run", str(path), "--input", ITEMS, "--json", "-q"]) == 0
    children = json.loads(capsys.readouterr().out)["childExecutions"]
    assert children["executions"] == 0 and children["costUsd"] == 0
