"""``stepweave run --trigger/--event``: a schedule's or an event rule's start, on this machine.

The event goes through EventBridge's API on moto (PutRule with the trigger's pattern,
PutEvents), so matching is EventBridge's; the run input is the deployed transformer's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stepweave.cli import main

ORDERS = """
version: 1
name: big-orders
triggers:
  - type: event
    name: order-created
    source: shop.orders
    detailType: order.created
    detail: {total: [{numeric: [">", 100]}]}
    inputMapping: {orderId: detail.id, total: detail.total, customer: detail.customer, note: detail.note}
  - {type: schedule, name: nightly, cron: "0 2 * * *", input: {mode: full}}
  - {type: webhook, signature: none}
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: orderId, type: string}, {name: total, type: number},
                                                    {name: mode, type: string}]}}
  - id: f
    name: F
    type: function
    params: {code: "return {id: <start.orderId>, total: <start.total>, mode: <start.mode>, by: <start.trigger>}"}
edges: ["start -> f"]
"""
BIG = {"source": "shop.orders", "detail-type": "order.created",
       "detail": {"id": "o-1", "total": 250, "customer": {"name": "Ann"}}}


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEPWEAVE_LOCAL_DIR", raising=False)  # records in .stepweave here
    (tmp_path / "orders.yaml").write_text(ORDERS)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    code = main(["run", "orders.yaml", "--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


def _records(workdir: Path) -> list[dict[str, object]]:
    from stepweave.local.records import local_records
    from stepweave.runtime.query import list_executions
    from stepweave.runtime.settings import Settings

    if not (workdir / ".stepweave" / "records.db").is_file():
        return []
    with local_records(Settings(local_dir=workdir / ".stepweave")) as store:
        page = list_executions(store.ddb, store.settings, limit=100)
    return [r.model_dump(by_alias=True, mode="json") for r in page.items]


def test_a_matching_event_starts_the_run_with_the_mapped_input(workdir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "big.json").write_text(json.dumps(BIG))
    code, out, err = _run(capsys, "--event", "big.json")
    assert code == 0, err
    result = out["output"]["result"]  # type: ignore[index]
    trigger = result.pop("by")
    # mapped fields as JSON values; an absent path is null
    assert result == {"id": "o-1", "total": 250, "mode": None}
    assert trigger["type"] == "event" and trigger["name"] == "order-created"
    assert trigger["workflow"] == "big-orders" and trigger["source"] == "shop.orders"
    assert trigger["detailType"] == "order.created"
    # the envelope EventBridge gave the event: an id and a time of its own
    assert re.fullmatch(r"[0-9a-f-]{36}", trigger["eventId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", trigger["time"])
    assert '"note": null' in err and '"customer": {"name": "Ann"}' in err
    (record,) = _records(workdir)
    assert record["trigger"] == trigger and record["status"] == "succeeded"


def test_a_put_events_entry_is_accepted_too(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = {"Source": "shop.orders", "DetailType": "order.created",
             "Detail": json.dumps({"id": "o-9", "total": 101.5})}
    code, out, err = _run(capsys, "--trigger", "order-created", "--event", json.dumps(entry))
    assert code == 0, err
    assert out["output"]["result"]["total"] == 101.5  # type: ignore[index]


@pytest.mark.parametrize(("event", "message"), [
    ({**BIG, "detail": {"id": "o-2", "total": 50}}, "the event does not match trigger 'order-created'"),
    ({**BIG, "source": "shop.refunds"}, "the event does not match trigger 'order-created'"),
    ({"detail-type": "order.created", "detail": {}}, "field 'source' is required"),
    ({**BIG, "detail": [1]}, "field 'detail' must be a JSON object"),
    ({"Source": "shop.orders", "DetailType": "x", "Detail": "{nope"}, "field 'Detail' is not a JSON object text"),
])
def test_an_event_the_rule_would_not_take_starts_nothing(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                         event: dict[str, object], message: str) -> None:
    (workdir / "event.json").write_text(json.dumps(event))
    code, out, err = _run(capsys, "--event", "event.json")
    assert code == 2 and out == {}
    assert err.startswith("stepweave: event.json: ") and message in err, err
    assert "Traceback" not in err and _records(workdir) == []


def test_a_schedule_starts_with_its_input_and_the_scheduled_time(workdir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--trigger", "nightly")
    assert code == 0, err
    result = out["output"]["result"]  # type: ignore[index]
    trigger = result.pop("by")
    assert result == {"id": None, "total": None, "mode": "full"}
    assert trigger["type"] == "schedule" and trigger["name"] == "nightly" and trigger["workflow"] == "big-orders"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", trigger["scheduledTime"])
    assert re.fullmatch(r"[0-9a-f-]{36}", trigger["executionId"])
    (record,) = _records(workdir)
    assert record["trigger"] == trigger


@pytest.mark.parametrize(("argv", "message"), [
    (["--trigger", "weekly"], "no trigger named 'weekly' (the workflow's triggers: order-created (event), "
                              "nightly (schedule), webhook (webhook))"),
    (["--trigger", "webhook"], "is a webhook: send it a delivery with `stepweave webhook`"),
    (["--trigger", "order-created"], "an event trigger needs the event: --event FILE"),
    (["--trigger", "nightly", "--event", "{}"], "trigger 'nightly' is a schedule"),
    (["--trigger", "nightly", "--input", "{}"], "--input and --trigger/--event exclude each other"),
    (["--event", "missing.json"], "--event: cannot read missing.json: no such file"),
    (["--event", "{oops"], "--event: not valid JSON"),
])
def test_a_trigger_that_cannot_fire_as_asked_is_a_usage_error(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                              argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == {} and message in err, err
    assert _records(workdir) == []
