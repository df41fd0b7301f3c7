"""The ``stepweave`` command, end to end (compile, validate, run on the embedded engine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stepweave.cli import main

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from internal_api import InternalApi  # noqa: E402


@pytest.fixture()
def internal_api(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    api = InternalApi().start()
    monkeypatch.setenv("INTERNAL_API_URL", api.url)
    yield api
    api.shutdown()
    api.server_close()


APPROVE_REFUND = 'Approve refund={"approved": true, "comments": "checked"}'


def _order(**changes: object) -> str:
    order = json.loads((ROOT / "examples/shopify-order.json").read_text())
    order.update(changes)
    return json.dumps({k: v for k, v in order.items() if v is not None})


def test_run_main_example_end_to_end(internal_api: InternalApi, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(ROOT / "workflows/support-timeline.yaml"),
                 "--input", str(ROOT / "examples/shopify-order.json"), "--json",
                 "--approve", APPROVE_REFUND])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 0, out
    assert out["status"] == "SUCCEEDED" and out["workflowType"] == "STANDARD"
    assert out["output"] == {"data": {"eventId": "evt-0001", "customer": "Ada Lovelace", "priority": "high",
                                      "refund": {"id": "ref-0001", "status": "issued"}},
                             "status": 201, "headers": {"Content-Type": "application/json"}}
    # enrich, VIP priority, build, post, the approval's notifier, issue refund
    assert out["lambdaInvocations"] == 6 and out["stateTransitions"] > 0
    event = internal_api.events[0]
    assert event["priority"] == "high" and event["customerId"] == 207119551
    assert event["items"] == ["1 x IPod Nano - 8gb", "2 x IPod Nano - 8gb"]
    assert internal_api.refunds == [{"id": "ref-0001", "status": "issued", "order": 450789469,
                                     "amount": 199, "approvedBy": "local",
                                     "reason": "One iPod Nano arrived with a cracked screen"}]
    assert "approval 'Approve refund' is waiting" in captured.err and ".eml" in captured.err


def test_a_rejected_refund_is_not_issued(internal_api: InternalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(ROOT / "workflows/support-timeline.yaml"), "--input", _order(),
                 "--json", "-q", "--reject", "Approve refund"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["output"]["data"]["refund"] is None and internal_api.refunds == []
    assert len(internal_api.events) == 1


def test_a_small_refund_needs_no_approval(internal_api: InternalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(ROOT / "workflows/support-timeline.yaml"), "--json", "-q",
                 "--input", _order(refund={"amount": 20, "reason": "late delivery"})]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["output"]["data"]["refund"] == {"id": "ref-0001", "status": "issued"}
    assert internal_api.refunds[0]["amount"] == 20 and internal_api.refunds[0]["approvedBy"] is None


def test_non_vip_customer_takes_the_other_branch(internal_api: InternalApi,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    order = json.loads((ROOT / "examples/shopify-order.json").read_text())
    order["customer"]["id"] = 115310627
    del order["refund"]  # and no refund asked: no refund path
    assert main(["run", str(ROOT / "workflows/support-timeline.yaml"), "--input", json.dumps(order),
                 "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["output"]["data"]["priority"] == "normal"
    assert out["output"]["data"]["refund"] is None and internal_api.refunds == []
    assert internal_api.events[0]["slaHours"] == 48


def test_failed_run_exits_1_with_the_block_error(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERNAL_API_URL", "http://127.0.0.1:9")  # nothing listens there
    code = main(["run", str(ROOT / "workflows/support-timeline.yaml"),
                 "--input", str(ROOT / "examples/shopify-order.json"), "--json", "-q"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["status"] == "FAILED" and out["error"] == "Stepweave.BlockFailed"
    assert out["cause"].startswith("Enrich customer: ")


def test_progress_lines_and_bill(internal_api: InternalApi, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", str(ROOT / "workflows/support-timeline.yaml"),
          "--input", str(ROOT / "examples/shopify-order.json"), "--approve", APPROVE_REFUND])
    err = capsys.readouterr().err
    assert "▶ Enrich customer (api)" in err
    assert "✔ Post timeline event (api)" in err
    assert "✔ Approve refund (approval)" in err
    assert "AWS would bill:" in err and "6 Lambda invocations" in err


def test_bad_input_json_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(ROOT / "workflows/support-timeline.yaml"), "--input", "{nope"]) == 2
    assert "--input: not valid JSON (line 1, column 2" in capsys.readouterr().err


def test_compile_prints_asl(tmp_path: Path) -> None:
    out = tmp_path / "asl.json"
    assert main(["compile", str(ROOT / "workflows/containers-showcase.yaml"), "-o", str(out)]) == 0
    definition = json.loads(out.read_text())
    assert definition["QueryLanguage"] == "JSONata"
    assert any(s["Type"] == "Map" for s in _all_states(definition))


def _all_states(definition: dict) -> list[dict]:  # type: ignore[type-arg]
    found = []
    for state in definition["States"].values():
        found.append(state)
        for branch in state.get("Branches", []):
            found += _all_states(branch)
        if "ItemProcessor" in state:
            found += _all_states(state["ItemProcessor"])
    return found


def test_installed_command_reports_invalid_files_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nblocks: [{id: start, type: start}, {id: x, type: nope}]\n")
    proc = subprocess.run([sys.executable, "-m", "stepweave.cli", "validate", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "block 'x', field 'type': unknown block type 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_schema_file_is_up_to_date() -> None:
    from stepweave.workflow.schema import workflow_schema

    committed = json.loads((ROOT / "shared/stepweave/schema/workflow.schema.json").read_text())
    assert committed == workflow_schema(), "run: stepweave schema -o shared/stepweave/schema/workflow.schema.json"


def test_graph_draws_blocks_containers_and_edge_labels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(ROOT / "workflows/support-timeline.yaml")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("flowchart LR")
    assert 'n_is_vip{"Is VIP<br/><small>condition</small>"}' in text
    assert "n_is_vip -->|vip| n_vip_priority" in text
    assert main(["graph", str(ROOT / "workflows/containers-showcase.yaml")]) == 0
    assert 'subgraph n_follow_ups["Follow-ups (loop)"]' in capsys.readouterr().out
