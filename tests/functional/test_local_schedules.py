"""Schedules fire under ``stepweave serve`` (``stepweave.local.schedules``): each at its start
time, once, with the deployed schedule's run input; the record shows the schedule."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

from stepweave.compiler import compile_workflow
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.schedules import LocalScheduler
from stepweave.workflow.loader import parse_workflow, parse_yaml

WORKFLOW = """
name: digest
triggers:
  - {type: schedule, name: every-quarter, cron: "*/15 * * * *", input: {report: quarterly}}
  - {type: schedule, name: off, cron: "* * * * *", enabled: false}
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: report, type: string}]}}
  - {id: f, name: F, type: function, params: {code: "return <start.report>"}}
edges: [start -> f]
"""


def test_a_schedule_starts_its_workflow_once_per_start_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_workflow(parse_workflow(parse_yaml(WORKFLOW), "digest.yaml"), "digest.yaml")
    start = datetime(2026, 12, 7, 8, 7, tzinfo=UTC)
    clock = [start]
    log = io.StringIO()
    with LocalEngine(records_file=tmp_path / "records.db") as engine, \
            LocalApi(engine, {"digest": compiled}) as api:
        scheduler = LocalScheduler(api.executions, {"digest": compiled}, log=log, clock=lambda: clock[0])
        assert scheduler.upcoming() == [("digest", "every-quarter", datetime(2026, 12, 7, 8, 15, tzinfo=UTC))]
        assert scheduler.tick(start + timedelta(minutes=5)) == []  # 08:12: not yet
        (fired,) = scheduler.tick(start + timedelta(minutes=9))  # 08:16
        assert fired.scheduled == datetime(2026, 12, 7, 8, 15, tzinfo=UTC) and fired.error is None
        assert scheduler.tick(start + timedelta(minutes=10)) == []  # the same start time: once
        assert scheduler.upcoming()[0][2] == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
        run_input = json.loads(engine.sfn.describe_execution(executionArn=fired.execution_arn)["input"])
        assert run_input["report"] == "quarterly"
        assert run_input["trigger"]["type"] == "schedule"
        assert run_input["trigger"]["name"] == "every-quarter"
        assert run_input["trigger"]["scheduledTime"] == "2026-12-07T08:15:00Z"
        deadline = time.monotonic() + 30
        while api.executions.describe(fired.execution_arn).status == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        outcome = api.executions.describe(fired.execution_arn)
        assert outcome.status == "SUCCEEDED"
        assert json.loads(outcome.output or "null") == {"result": "quarterly", "stdout": ""}
    assert "schedule 'every-quarter' of digest (2026-12-07 08:15 UTC): started schedule-every-quarter-" in log.getvalue()
