"""`stepweave verify`: the conformance set gives its expected results, locally and deployed.

GIVEN the bundled conformance set WHEN ``stepweave verify`` runs THEN every case gives the
result Sim's engine (or the recorded expectation) gave, on the embedded engine. The AWS half
is exercised against Step Functions' API on moto: the set "deployed" under a stage's names
runs through StartSyncExecution (Express) and StartExecution/DescribeExecution (Standard) and
matches the local runs; a state machine that behaves differently is reported.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.conformance import compare, load_cases, run_aws, run_local
from stepweave.conformance.runner import state_machine_arns
from stepweave.local.engine import LocalEngine
from stepweave.workflow.loader import load_workflow


def test_the_local_half_matches_every_expected_result(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [c["problems"] for c in report["cases"] if c["problems"]] == []
    assert code == 0 and len(report["cases"]) == len(load_cases()) >= 12
    assert {c["local"]["status"] for c in report["cases"]} == {"SUCCEEDED", "FAILED"}


def test_a_case_that_differs_is_reported() -> None:
    [case] = [c for c in load_cases() if c.name == "S03a-condition-if-elif-else-n20"]
    with LocalEngine() as engine:
        other = run_local(engine, type(case)(**{**case.__dict__, "input": {"n": 1}}))
    problems = compare(case, other)
    assert problems and problems[0].startswith("output ")


@pytest.fixture(scope="module")
def deployed() -> Any:
    """The set on Step Functions (moto) under stage 'conformance', as `cdk deploy` names it.
    All as Standard machines: moto has no StartSyncExecution, which Express runs use."""
    with LocalEngine() as engine:
        for case in load_cases():
            compiled = compile_workflow(load_workflow(case.file), str(case.file))
            if f"conformance-{compiled.name}" not in {m.split(":")[-1] for m in engine.machines}:
                engine.create(dataclasses.replace(compiled, workflow_type="STANDARD"),
                              name=f"conformance-{compiled.name}")
        yield engine


def test_the_aws_half_runs_each_case_on_its_deployed_state_machine(deployed: LocalEngine) -> None:
    sfn = deployed._sfn  # noqa: SLF001 - the engine's own Step Functions client (moto)
    machines = state_machine_arns(sfn, "conformance")
    assert len(machines) == len({c.file for c in load_cases()})
    for case in load_cases()[:4] + load_cases()[-2:]:
        name = compile_workflow(load_workflow(case.file), str(case.file)).name
        arn, kind = machines[name]
        assert kind == "STANDARD"
        remote = run_aws(sfn, arn, kind, case)
        assert compare(case, remote) == [], case.name


def test_a_deployed_machine_that_behaves_differently_is_reported(deployed: LocalEngine) -> None:
    sfn = deployed._sfn  # noqa: SLF001
    cases = load_cases()
    [case] = [c for c in cases if c.name == "S03a-condition-if-elif-else-n20"]
    other = next(c for c in cases if c.file != case.file and c.status == "SUCCEEDED")
    name = compile_workflow(load_workflow(other.file), str(other.file)).name
    arn, kind = state_machine_arns(sfn, "conformance")[name]
    remote = run_aws(sfn, arn, kind, case)  # the wrong machine
    assert compare(case, remote)
