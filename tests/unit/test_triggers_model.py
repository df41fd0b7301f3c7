"""``triggers:`` in workflow files: validation naming file and field, EventBridge expressions,
event input templates, and Sim's trigger blocks mapped onto them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stepweave.errors import WorkflowError
from stepweave.triggers.declare import EventTrigger, ScheduleTrigger
from stepweave.triggers.rules import CronError, event_input, eventbridge_cron, schedule_expression
from stepweave.workflow.loader import parse_workflow

BASE: dict[str, Any] = {"name": "orders", "blocks": [{"id": "start", "type": "start"}]}


def _problems(triggers: list[Any]) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        parse_workflow({**BASE, "triggers": triggers}, "orders.yaml")
    return [str(p) for p in info.value.problems]


def test_all_three_kinds_load() -> None:
    workflow = parse_workflow({**BASE, "triggers": [
        {"type": "webhook", "signature": {"scheme": "github", "secret": "GH_SECRET"}},
        {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "input": {"a": 1}},
        {"type": "event", "source": "com.example", "detailType": "Placed"}]}, "orders.yaml")
    kinds = [t.type for t in workflow.triggers]
    assert kinds == ["webhook", "schedule", "event"]
    assert isinstance(workflow.triggers[2], EventTrigger) and workflow.triggers[2].source == ["com.example"]


@pytest.mark.parametrize(("trigger", "field", "text"), [
    ({"type": "webhook"}, "triggers.0.webhook.signature", "required field is missing"),
    ({"type": "webhook", "signature": {"scheme": "stripe"}}, "signature", "needs 'secret'"),
    ({"type": "webhook", "signature": {"scheme": "github", "secret": "has space"}}, "secret", "pattern"),
    ({"type": "webhook", "signature": {"scheme": "github", "secret": "S", "prefix": "x"}}, "signature",
     "for scheme 'hmac'"),
    ({"type": "webhook", "signature": {"scheme": "none", "secret": "S"}}, "signature", "no other field"),
    ({"type": "webhook", "signature": "none", "inputMapping": {"a": "payload.x"}}, "inputMapping",
     "'body'"),
    ({"type": "webhook", "signature": "none", "maxBodyBytes": 10**8}, "maxBodyBytes", "less than"),
    ({"type": "schedule", "cron": "every day"}, "cron", "not a cron expression"),
    ({"type": "schedule", "cron": "0 9 1 * MON"}, "cron", "cannot combine"),
    ({"type": "schedule", "rate": "5 fortnights"}, "rate", "not a rate"),
    ({"type": "schedule", "rate": "5 minutes", "cron": "0 9 * * *"}, "schedule", "exactly one"),
    ({"type": "schedule", "rate": "1 hour", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"type": "event"}, "source", "required"),
    ({"type": "cron"}, "triggers.0", "tag"),
])
def test_mistakes_name_the_file_and_the_field(trigger: dict[str, Any], field: str, text: str) -> None:
    (problem,) = _problems([trigger])
    assert problem.startswith("orders.yaml, field 'triggers.0")
    assert field in problem and text in problem


def test_one_webhook_per_workflow_and_unique_names() -> None:
    assert "at most one webhook" in _problems([{"type": "webhook", "signature": "none"},
                                               {"type": "webhook", "signature": "none", "name": "b"}])[0]
    assert "unique" in _problems([{"type": "schedule", "rate": "1 day"},
                                  {"type": "schedule", "rate": "2 days"}])[0]


@pytest.mark.parametrize(("unix", "eventbridge"), [
    ("0 9 * * 1-5", "0 9 ? * MON-FRI *"),
    ("*/15 * * * *", "*/15 * * * ? *"),
    ("30 7 * * 0,6,7", "30 7 ? * SUN,SAT,SUN *"),
    ("0 0 1 * *", "0 0 1 * ? *"),
    ("0 12 ? * MON *", "0 12 ? * MON *"),
])
def test_unix_cron_becomes_eventbridge_cron(unix: str, eventbridge: str) -> None:
    assert eventbridge_cron(unix) == eventbridge


def test_cron_and_rate_expressions() -> None:
    assert schedule_expression(ScheduleTrigger(type="schedule", rate="1 minutes")) == "rate(1 minute)"
    assert schedule_expression(ScheduleTrigger(type="schedule", rate="3 hour")) == "rate(3 hours)"
    with pytest.raises(CronError):
        eventbridge_cron("0 9 * * * *")  # neither day field is '?'


def test_event_input_template_is_json_once_filled() -> None:
    trigger = EventTrigger(type="event", source=["s"], inputMapping={"id": "detail.order.id",
                                                                     "kind": "detail-type"})
    paths, template = event_input("orders", trigger)
    assert paths["f0"] == "$.detail.order.id" and paths["f1"] == "$.detail-type"
    values = {"f0": 7, "f1": "Placed", "evSource": "s", "evDetailType": "Placed", "evId": "e",
              "evTime": "t"}
    for name, value in values.items():
        template = template.replace(f"<{name}>", json.dumps(value))
    assert json.loads(template)["id"] == 7 and json.loads(template)["trigger"]["eventId"] == "e"
    plain_paths, plain = event_input("orders", EventTrigger(type="event", source=["s"]))
    assert plain_paths["evDetail"] == "$.detail" and '"detail":<evDetail>' in plain


def _sim(blocks: dict[str, Any]) -> dict[str, Any]:
    return {"workflow": {"name": "Order Sync"}, "state": {"blocks": blocks, "edges": [
        {"source": key, "target": "f"} for key in blocks if key != "f"]}}


def _function() -> dict[str, Any]:
    return {"id": "f", "type": "function", "name": "F", "subBlocks": {"code": {"value": "return 1"}}}


@pytest.mark.parametrize(("sub_blocks", "expected"), [
    ({"scheduleType": {"value": "minutes"}, "minutesInterval": {"value": "15"}}, {"rate": "15 minutes"}),
    ({"scheduleType": {"value": "hourly"}, "hourlyMinute": {"value": "5"}}, {"cron": "5 * * * *"}),
    ({"scheduleType": {"value": "daily"}, "dailyTime": {"value": "08:30"}}, {"cron": "30 8 * * *"}),
    ({"scheduleType": {"value": "weekly"}, "weeklyDay": {"value": "FRI"},
      "weeklyDayTime": {"value": "17:00"}, "timezone": {"value": "America/New_York"}},
     {"cron": "0 17 * * FRI", "timezone": "America/New_York"}),
    ({"scheduleType": {"value": "monthly"}, "monthlyDay": {"value": "1"},
      "monthlyTime": {"value": "06:00"}}, {"cron": "0 6 1 * *"}),
    ({"scheduleType": {"value": "custom"}, "cronExpression": {"value": "0 */2 * * *"}},
     {"cron": "0 */2 * * *"}),
])
def test_sim_schedule_blocks_become_schedule_triggers(sub_blocks: dict[str, Any],
                                                      expected: dict[str, Any]) -> None:
    workflow = parse_workflow(_sim({"sch": {"id": "sch", "type": "schedule", "name": "Schedule",
                                            "subBlocks": sub_blocks}, "f": _function()}), "x.json")
    (trigger,) = workflow.triggers
    dumped = trigger.model_dump(exclude_none=True)
    assert {k: dumped[k] for k in expected} == expected
    assert workflow.block("sch").type == "start"


def test_sim_webhook_blocks_become_signed_webhook_triggers() -> None:
    workflow = parse_workflow(_sim({
        "start": {"id": "start", "type": "start_trigger", "name": "Start", "subBlocks": {}},
        "wh": {"id": "wh", "type": "generic_webhook", "name": "Hook", "subBlocks": {
            "inputFormat": {"value": [{"name": "orderId", "type": "string"}]}}},
        "gh": {"id": "gh", "type": "webhook", "name": "GitHub", "subBlocks": {
            "webhookProvider": {"value": "github"}}},
        "f": _function()}), "x.json")
    (trigger,) = workflow.triggers  # one webhook per workflow: the first
    assert trigger.type == "webhook"
    assert trigger.signature.scheme == "hmac" and trigger.signature.secret == "ORDER_SYNC_WEBHOOK_SECRET"
    assert workflow.blocks[0].id == "start"  # the Start block still starts manual runs
    assert workflow.block("wh").params["inputFormat"] == [{"name": "orderId", "type": "string"}]
