"""A recorded run bills what the run really costs, as ``stepweave run`` bills it.

GIVEN a split workflow (support-timeline: a Standard parent and two Express stretches) and a
workflow whose parallel runs distributed (Express child executions), run with ``stepweave
run`` WHEN ``stepweave execution`` shows the recorded run THEN its bill is the line ``stepweave
run`` printed, stretches and children included, and ``--json`` carries the figures; and the
run API's execution (the embedded engine behind the local gateway, over HTTP) has the same
bill.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from stepweave.cli import main
from stepweave.compiler import compile_workflow
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from stepweave.runtime.pricing import (
    EXPRESS_MEMORY_GB,
    EXPRESS_PRICE_PER_GB_SECOND,
    EXPRESS_PRICE_PER_REQUEST,
    PRICE_PER_TRANSITION,
)
from stepweave.workflow.loader import load_workflow

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from internal_api import InternalApi  # noqa: E402
from tests.functional.test_cli_children_bill import WORKFLOW  # noqa: E402

#: a distributed parallel whose items are Express child executions
FAN = WORKFLOW.replace("name: fan-bill", "name: fan-record")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """``stepweave run``: the bill it printed and the run's name."""
    assert main(["run", *argv]) == 0
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "AWS would bill:" in line]
    [name] = [line.split()[-1] for line in err.splitlines() if "block logs: stepweave execution" in line]
    return line.strip(), name


def _shown(name: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    """``stepweave execution``: its bill line, and its ``--json``."""
    assert main(["execution", name]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "AWS would bill:" in line]
    assert main(["execution", name, "--json"]) == 0
    return line.strip(), json.loads(capsys.readouterr().out)


def test_a_split_runs_record_bills_its_express_stretches(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    server = InternalApi().start()
    try:
        monkeypatch.setenv("INTERNAL_API_URL", server.url)
        printed, name = _run([str(ROOT / "workflows" / "support-timeline.yaml"), "--input",
                              str(ROOT / "examples" / "shopify-order.json"), "--approve", "Approve refund"],
                             capsys)
    finally:
        server.shutdown()
        server.server_close()
    assert "+ 2 Express stretch executions ($" in printed
    shown, detail = _shown(name, capsys)
    assert shown == printed  # the same words, the same figures
    record, bill = detail["execution"], detail["bill"]
    assert (record["workflowType"], record["stretchExecutions"]) == ("STANDARD", 2)
    assert "childExpressExecutions" not in record  # no distributed containers
    seconds = record["stretchBilledSeconds"]
    assert seconds >= 0.2 and round(seconds * 10) == pytest.approx(seconds * 10)  # 100 ms steps
    assert bill["expressStretches"] == {
        "executions": 2, "billedSeconds": seconds,
        "costUsd": pytest.approx(2 * EXPRESS_PRICE_PER_REQUEST
                                 + seconds * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND, abs=1e-9)}
    assert bill["totalCostUsd"] == pytest.approx(
        record["transitions"] * PRICE_PER_TRANSITION + bill["expressStretches"]["costUsd"], abs=1e-9)
    assert bill["text"] == printed.removeprefix("AWS would bill: ")


def test_a_distributed_parallels_record_bills_its_child_executions(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "fan.yaml").write_text(FAN, encoding="utf-8")
    printed, name = _run(["fan.yaml", "--input", '{"items": [1, 2, 3]}'], capsys)
    assert "+ 3 Express child executions (" in printed
    shown, detail = _shown(name, capsys)
    assert shown == printed
    record, bill = detail["execution"], detail["bill"]
    assert (record["childExpressExecutions"], record["childStandardExecutions"]) == (3, 0)
    assert "stretchExecutions" not in record and "unreadChildExecutions" not in record
    children = bill["childExecutions"]
    assert {k: children[k] for k in ("executions", "express", "standard", "startTransitions")} == {
        "executions": 3, "express": 3, "standard": 0, "startTransitions": 3}
    assert children["expressBilledSeconds"] == record["childExpressBilledSeconds"] >= 0.3
    assert bill["expressStretches"]["executions"] == 0


def test_the_run_apis_execution_carries_the_whole_bill(tmp_path: Path) -> None:
    (tmp_path / "fan.yaml").write_text(FAN, encoding="utf-8")
    compiled = compile_workflow(load_workflow(tmp_path / "fan.yaml"), str(tmp_path / "fan.yaml"))
    with LocalEngine() as engine, LocalApi(engine, {"fan-record": compiled}, poll_s=0.02) as local, \
            Gateway(local.routes, port=0) as gateway:
        headers = {"x-api-key": local.api_key(tenant="acme")}
        started = httpx.post(f"{gateway.url}/v1/workflows/fan-record/executions", headers=headers,
                             json={"input": {"items": [1, 2]}}, timeout=30)
        assert started.status_code == 202, started.text
        execution = started.json()["executionId"]
        deadline = time.monotonic() + 30
        while True:
            body: dict[str, Any] = httpx.get(f"{gateway.url}/v1/executions/{execution}", headers=headers,
                                             timeout=30).json()
            if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert body["status"] == "succeeded", body
    bill = body["bill"]
    assert bill["workflowType"] == "STANDARD" and bill["stateTransitions"] > 0
    children = bill["childExecutions"]
    assert (children["executions"], children["express"], children["startTransitions"]) == (2, 2, 2)
    assert children["expressBilledSeconds"] >= 0.2
    assert bill["totalCostUsd"] == pytest.approx(bill["costUsd"] + children["costUsd"], abs=1e-9)
    assert bill["text"].startswith(f"{bill['stateTransitions']} state transitions (")
    assert "+ 2 Express child executions (" in bill["text"]
