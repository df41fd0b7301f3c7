"""The notifier's ``StartSyncExecution`` of the stretch before an approval, through a real
botocore client (its answers stubbed: ``botocore.stub.Stubber``): a refusal that started
nothing is tried again, anything else is not (a second call could run the stretch twice),
and the answer becomes what the notifier acts on."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from stepweave.runtime.lead_in import RETRY_WAITS, aws_runner, run_lead_in

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:dev-flow-express-1:3"
STRETCH = {"StateMachineArn": MACHINE,
           "Input": {"entry": "Start", "input": {"a": 1}, "vars": {}, "execution": "arn:x",
                     "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "arn:x"}}
ARN = "arn:aws:states:us-east-1:123456789012:express:dev-flow-express-1:n:1"
STARTED = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def _answer(status: str, **more: object) -> dict[str, object]:
    return {"executionArn": ARN, "startDate": STARTED, "stopDate": STARTED, "status": status, **more}


def _client() -> tuple[object, Stubber]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    return sfn, Stubber(sfn)


def test_a_refusal_that_started_nothing_is_tried_again() -> None:
    sfn, stub = _client()
    expected = {"stateMachineArn": MACHINE, "input": json.dumps(
        {"entry": "Start", "input": {"a": 1}, "vars": {}, "execution": "arn:x"})}
    stub.add_client_error("start_sync_execution", "ExecutionLimitExceeded", expected_params=expected)
    stub.add_client_error("start_sync_execution", "ThrottlingException", expected_params=expected)
    output = {"exit": "Ask", "output": {}, "vars": {"b_x": 2}, "params": {"subject": "s"}}
    stub.add_response("start_sync_execution", _answer("SUCCEEDED", output=json.dumps(output)), expected)
    waits: list[float] = []
    with stub:
        lead = run_lead_in(STRETCH, aws_runner(sfn, sleep=waits.append))
    stub.assert_no_pending_responses()
    assert (lead.status, lead.exit, lead.vars, lead.params) == ("SUCCEEDED", "Ask", {"b_x": 2}, {"subject": "s"})
    assert lead.answer() == {"ExecutionArn": ARN, "StartDate": round(STARTED.timestamp() * 1000)}
    assert len(waits) == 2 and all(0 <= w <= RETRY_WAITS[i] for i, w in enumerate(waits))


def test_other_errors_are_not_tried_again_and_a_failed_stretch_is_reported() -> None:
    sfn, stub = _client()
    stub.add_client_error("start_sync_execution", "InvalidExecutionInput")
    with stub, pytest.raises(Exception, match="InvalidExecutionInput"):
        run_lead_in(STRETCH, aws_runner(sfn, sleep=lambda s: None))
    stub.assert_no_pending_responses()

    sfn, stub = _client()
    stub.add_response("start_sync_execution", _answer("FAILED", error="Stepweave.BlockFailed", cause="A: nope"))
    with stub:
        lead = run_lead_in(STRETCH, aws_runner(sfn))
    assert (lead.status, lead.error, lead.cause) == ("FAILED", "Stepweave.BlockFailed", "A: nope")

    sfn, stub = _client()
    stub.add_response("start_sync_execution", _answer("TIMED_OUT"))
    with stub:
        lead = run_lead_in(STRETCH, aws_runner(sfn))
    assert (lead.status, lead.error) == ("TIMED_OUT", "States.Timeout")


def test_refusals_past_the_last_try_fail_the_notifier() -> None:
    sfn, stub = _client()
    for _ in range(len(RETRY_WAITS) + 1):
        stub.add_client_error("start_sync_execution", "ThrottlingException")
    with stub, pytest.raises(Exception, match="ThrottlingException"):
        run_lead_in(STRETCH, aws_runner(sfn, sleep=lambda s: None))
    stub.assert_no_pending_responses()
