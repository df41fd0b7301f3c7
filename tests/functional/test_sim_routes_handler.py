"""Sim's routes through functions/runapi/handler.py with deployed API Gateway events (on
``AwsExecutions`` against moto), and the per-key limit's windows in the records table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepweave.api.ratelimit import WINDOW_S, peek, take
from stepweave.local.gateway import to_event
from stepweave.local.records import local_client
from stepweave.runtime.settings import Settings, SettingsError
from tests.functional.test_run_api_handler import TABLE, handler  # noqa: F401 - the fixture

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


def _deployed(method: str, path: str, resource: str, key: str | None, body: Any = None,
              **headers: str) -> dict[str, Any]:
    """An event as API Gateway sends it to the function: its own domain and the stage."""
    event = to_event(method, path, {"Host": DOMAIN, "Content-Type": "application/json",
                                    **({"x-api-key": key} if key else {}), **headers},
                     json.dumps(body).encode() if body is not None else b"", resource=resource,
                     path_parameters=None)
    event["requestContext"].update(domainName=DOMAIN, stage="dev", path=f"/dev{event['path']}")
    return event


def _headers(answer: dict[str, Any]) -> dict[str, str]:
    """A proxy response's headers (multi-valued when the event's were)."""
    return {**{k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()},
            **(answer.get("headers") or {})}


def test_an_async_run_through_the_lambda_points_at_its_stage(handler: tuple[Any, str]) -> None:  # noqa: F811
    module, key = handler
    answer = module.lambda_handler(_deployed("POST", "/api/v2/workflows/orders/execute",
                                             "/api/v2/workflows/{workflow_id}/execute", key,
                                             {"input": {"id": 7}, "async": True}, **{"X-Run-Id": "o-7"}), None)
    assert answer["statusCode"] == 202, answer
    assert json.loads(answer["body"]) == {"data": {
        "runId": "o-7", "statusUrl": f"https://{DOMAIN}/dev/api/v2/workflows/orders/runs/o-7"}}
    headers = _headers(answer)
    assert headers["X-Run-Id"] == "o-7" and headers["X-RateLimit-Limit"] == "600"
    assert headers["X-RateLimit-Remaining"] == "599" and headers["X-RateLimit-Reset"].endswith(":00.000Z")
    run = module.lambda_handler(_deployed("GET", "/api/v2/workflows/orders/runs/o-7",
                                          "/api/v2/workflows/{workflow_id}/runs/{run_id}", key), None)
    assert run["statusCode"] == 200 and _headers(run)["X-RateLimit-Remaining"] == "598"
    data = json.loads(run["body"])["data"]
    assert data["runId"] == "o-7" and data["workflowId"] == "orders" and data["trigger"] == "api"
    assert data["status"] in ("running", "completed")
    # the run is the tenant's execution, as /v1 sees it
    v1 = module.lambda_handler(_deployed("GET", "/v1/executions/o-7", "/v1/executions/{id}", key), None)
    assert json.loads(v1["body"])["executionId"].endswith(":execution:dev-orders:acme.o-7")


def test_without_a_key_nothing_is_counted(handler: tuple[Any, str]) -> None:  # noqa: F811
    module, _ = handler
    answer = module.lambda_handler(_deployed("POST", "/api/v2/workflows/orders/execute",
                                             "/api/v2/workflows/{workflow_id}/execute", None, {}), None)
    assert answer["statusCode"] == 401 and "X-RateLimit-Limit" not in _headers(answer)
    assert json.loads(answer["body"])["error"]["code"] == "UNAUTHORIZED"
    legacy = module.lambda_handler(_deployed("GET", "/api/jobs/x", "/api/jobs/{job_id}", None), None)
    assert legacy["statusCode"] == 401 and json.loads(legacy["body"])["code"] == "UNAUTHORIZED"


def test_each_window_counts_on_its_own(handler: tuple[Any, str]) -> None:  # noqa: F811
    settings = Settings(table=TABLE, rate_limit_per_minute=2)
    ddb = local_client("dynamodb")
    start = 1_800_000_000 - 1_800_000_000 % WINDOW_S
    first = take(ddb, settings, "h1", now=start + 58.5)
    assert (first.used, first.remaining, first.exceeded) == (1, 1, False)
    assert first.headers() == {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1",
                               "X-RateLimit-Reset": "2027-01-15T08:01:00.000Z"}
    take(ddb, settings, "h1", now=start + 59)
    over = take(ddb, settings, "h1", now=start + 59.2)
    assert over.exceeded and over.remaining == 0 and over.headers()["Retry-After"] == "1"
    assert take(ddb, settings, "h2", now=start + 59.3).used == 1  # another key
    fresh = take(ddb, settings, "h1", now=start + WINDOW_S)  # the next window
    assert (fresh.used, fresh.exceeded, fresh.reset) == (1, False, start + 2 * WINDOW_S)
    assert peek(ddb, settings, "h1", now=start + WINDOW_S + 1).used == 1  # peeking counts nothing
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"RATE#h1#{start}"}, "sk": {"S": "RATE"}})["Item"]
    assert item["requests"] == {"N": "3"} and int(item["expiresAt"]["N"]) == start + 2 * WINDOW_S


def test_the_settings_say_what_is_wrong() -> None:
    ids = Settings.from_env({"STEPWEAVE_SIM_WORKFLOW_IDS": '{"4a7d-1": "orders"}',
                             "STEPWEAVE_RATE_LIMIT_PER_MINUTE": "30"})
    assert ids.sim_workflow_ids == {"4a7d-1": "orders"} and ids.rate_limit_per_minute == 30
    for value, message in (('{"4a7d-1": "no such/name"}', "'4a7d-1' -> 'no such/name': not a workflow name"),
                           ("[]", 'not a JSON object {"<Sim workflow id>": "<workflow>"}'), ("{", "not JSON")):
        with pytest.raises(SettingsError) as info:
            Settings.from_env({"STEPWEAVE_SIM_WORKFLOW_IDS": value})
        assert str(info.value) == f"invalid settings: STEPWEAVE_SIM_WORKFLOW_IDS: {message}"
    with pytest.raises(SettingsError, match="STEPWEAVE_RATE_LIMIT_PER_MINUTE"):
        Settings.from_env({"STEPWEAVE_RATE_LIMIT_PER_MINUTE": "0"})
