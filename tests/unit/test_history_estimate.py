"""The compiler warns when a Standard run will pass Step Functions' history limit.

GIVEN a Standard workflow whose parallel has a count in the file THEN compiling it warns,
naming the parallel, when a run can pass 25,000 history events, and says nothing below; an
Express workflow has no history limit; the estimate bounds what a run really records.
"""

from __future__ import annotations

from typing import Any

import pytest

from stepweave.cli import main
from stepweave.compiler.estimate import estimate_events
from stepweave.compiler.graph import build_graph
from stepweave.workflow.loader import parse_workflow, parse_yaml
from tests.engine.helpers import compile_text

FAN_OUT = """
name: fan-out
type: {kind}
blocks:
  - {{id: start, type: start}}
  - {{id: par, name: Fan out, type: parallel, params: {{parallelType: count, count: {count}, mode: {mode}}}}}
  - {{id: each, type: function, parent: par, params: {{code: "return 1"}}}}
  - {{id: done, type: response, params: {{data: {{n: "<par.results>"}}}}}}
edges:
  - start -> par
  - par -[parallel-start-source]-> each
  - par -> done
"""


def test_a_standard_run_past_the_limit_is_a_warning_naming_the_parallel() -> None:
    compiled = compile_text(FAN_OUT.format(kind="standard", count=3000, mode="inline"))
    [warning] = compiled.warnings
    assert warning.block == "par"
    assert "'Fan out' runs 3,000 iterations" in warning.message
    assert "25,000" in warning.message


def test_a_distributed_parallel_adds_no_iterations_to_the_runs_history() -> None:
    # 3,000 items in a Standard workflow compile to a distributed Map (auto): each item is
    # a child execution with its own history, so the run is far from the limit
    compiled = compile_text(FAN_OUT.format(kind="standard", count=3000, mode="auto"))
    assert compiled.warnings == ()
    graph = build_graph(parse_workflow(parse_yaml(FAN_OUT.format(kind="standard", count=3000,
                                                                 mode="auto")), "<t>"), "<t>")
    events, _node, _count = estimate_events(graph, compiled.definition, compiled.state_map)
    assert events < 100


@pytest.mark.parametrize("kind, count", [("standard", 100), ("express", 3000)])
def test_no_warning_below_the_limit_or_for_express(kind: str, count: int) -> None:
    assert compile_text(FAN_OUT.format(kind=kind, count=count, mode="auto")).warnings == ()


def test_compile_prints_the_warning_on_stderr(tmp_path: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fan.yaml"
    path.write_text("version: 1\n" + FAN_OUT.format(kind="standard", count=3000, mode="inline"))
    assert main(["compile", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"warning: {path}: block 'par': a run has up to about")
    assert captured.out.lstrip().startswith("{")  # the definition alone on stdout


@pytest.mark.usefixtures("engine")
def test_the_estimate_bounds_a_real_run(engine: Any) -> None:
    text = FAN_OUT.format(kind="standard", count=20, mode="auto")
    compiled = compile_text(text)
    graph = build_graph(parse_workflow(parse_yaml(text), "<test>"), "<test>")
    estimate, node, count = estimate_events(graph, compiled.definition, compiled.state_map)
    result = engine.run(compiled, {})
    assert result.status == "SUCCEEDED"
    assert (node, count) == ("par", 20)
    assert len(result.events) <= estimate <= 1.5 * len(result.events)
