"""The run API over real HTTP: the local gateway in front of the embedded engine.

GIVEN small workflows served by ``LocalApi`` behind ``Gateway`` on 127.0.0.1, WHEN a client
calls the routes with httpx, THEN it gets the statuses, bodies and records the deployed API
would give (auth, tenants, pagination, sync and async runs, cancel, every error class).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from stepweave.api.keys import disable_key
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from tests.engine.helpers import compile_text

ECHO = """
name: echo
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: double, name: Double, type: function, params: {code: "return <start.n> * 2"}}
  - {id: r, name: Respond, type: response,
     params: {data: '{"doubled": <double.result>}', status: 201, headers: {x-kind: echo}}}
edges: [start -> double, double -> r]
"""
BROKEN = """
name: broken
blocks:
  - {id: start, type: start}
  - {id: risky, name: Risky, type: function, params: {code: "throw new Error('boom')"}}
edges: [start -> risky]
"""
SLOW = """
name: slow
blocks:
  - {id: start, type: start}
  - {id: w, name: Pause, type: wait, params: {timeValue: "4", timeUnit: seconds}}
  - {id: done, name: Done, type: function, params: {code: "return 'late'"}}
edges: [start -> w, w -> done]
"""


@dataclass
class Api:
    url: str
    local: LocalApi
    key_a: str
    key_b: str

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def a(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(method, path, self.key_a, **kwargs)

    def b(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(method, path, self.key_b, **kwargs)

    def wait_status(self, execution_id: str, statuses: tuple[str, ...], key: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            body: dict[str, Any] = self.call("GET", f"/v1/executions/{execution_id}", key or self.key_a).json()
            if body.get("status") in statuses or time.monotonic() > deadline:
                return body
            time.sleep(0.05)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    workflows = {w.name: w for w in map(compile_text, (ECHO, BROKEN, SLOW))}
    with LocalEngine() as engine, LocalApi(engine, workflows, sync_timeout_s=2.0, poll_s=0.02) as local, \
            Gateway(local.routes, port=0) as gateway:
        yield Api(gateway.url, local, local.api_key(tenant="acme"), local.api_key(tenant="globex"))


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# -- auth -----------------------------------------------------------------------------------

def test_a_request_without_a_key_is_401_with_a_bearer_challenge(api: Api) -> None:
    response = api.call("GET", "/v1/executions")
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_key_is_401(api: Api) -> None:
    _error(api.call("GET", "/v1/executions", "swk_not-a-key"), 401, "unauthorized")
    _error(api.call("GET", "/v1/executions", headers={"Authorization": "Basic abc"}), 401, "unauthorized")


def test_the_key_also_works_as_x_api_key(api: Api) -> None:
    assert api.call("GET", "/v1/executions", headers={"X-Api-Key": api.key_a}).status_code == 200


def test_a_disabled_key_is_403(api: Api) -> None:
    key = api.local.api_key(tenant="acme")
    assert api.call("GET", "/v1/executions", key).status_code == 200
    disable_key(api.local.clients.ddb, api.local.settings, key)
    _error(api.call("GET", "/v1/executions", key), 403, "forbidden")


def test_health_needs_no_key_and_reports_version_and_dependencies(api: Api) -> None:
    response = api.call("GET", "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"]
    assert {d["name"]: d["ok"] for d in body["dependencies"]} == {
        "table": True, "workflow:echo": True, "workflow:broken": True, "workflow:slow": True}


# -- runs -----------------------------------------------------------------------------------

def test_a_synchronous_run_answers_with_the_response_block(api: Api) -> None:
    response = api.a("POST", "/v1/workflows/echo/run", json={"input": {"n": 21}})
    assert response.status_code == 201, response.text
    assert response.json() == {"doubled": 42}
    assert response.headers["x-kind"] == "echo"
    execution_id = response.headers["x-stepweave-execution-id"]
    record = api.a("GET", f"/v1/executions/{execution_id}").json()
    assert record["status"] == "succeeded" and record["input"] == {"n": 21}
    assert record["trigger"]["type"] == "api"
    assert [b["name"] for b in record["blocks"]] == ["start", "Double", "Respond"]


def test_a_failed_synchronous_run_is_500_naming_the_block(api: Api) -> None:
    error = _error(api.a("POST", "/v1/workflows/broken/run"), 500, "execution_failed")
    assert error["block"] == "Risky" and "boom" in error["message"]
    assert error["executionId"].startswith("arn:") and error["status"] == "failed"


def test_a_synchronous_run_past_the_limit_is_504_with_the_id_to_poll(api: Api) -> None:
    error = _error(api.a("POST", "/v1/workflows/slow/run"), 504, "timeout")
    finished = api.wait_status(error["executionId"], ("succeeded",))
    assert finished["status"] == "succeeded" and finished["output"] == {"result": "late", "stdout": ""}


def test_an_asynchronous_start_is_202_then_recorded(api: Api) -> None:
    response = api.a("POST", "/v1/workflows/echo/executions", json={"input": {"n": 2}, "name": "two"})
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["name"] == "two" and started["workflow"] == "echo" and started["status"] == "running"
    assert response.headers["location"] == f"/v1/executions/{started['executionId']}"
    done = api.wait_status(started["executionId"], ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["output"]["data"] == {"doubled": 4}, done
    assert done["durationMs"] is not None and done["stoppedAt"] >= done["startedAt"], done


def test_cancel_stops_a_running_execution(api: Api) -> None:
    started = api.a("POST", "/v1/workflows/slow/executions").json()
    response = api.a("POST", f"/v1/executions/{started['executionId']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "aborted"
    assert api.wait_status(started["executionId"], ("aborted",))["status"] == "aborted"
    _error(api.a("POST", f"/v1/executions/{started['executionId']}/cancel"), 409, "conflict")


# -- tenants and listing ----------------------------------------------------------------------

def test_a_tenant_never_sees_another_tenants_execution(api: Api) -> None:
    mine = api.a("POST", "/v1/workflows/echo/executions", json={"input": {"n": 1}}).json()["executionId"]
    api.wait_status(mine, ("succeeded",))
    _error(api.b("GET", f"/v1/executions/{mine}"), 404, "not_found")
    _error(api.b("POST", f"/v1/executions/{mine}/cancel"), 404, "not_found")
    assert mine not in {i["executionId"] for i in api.b("GET", "/v1/executions?limit=100").json()["items"]}
    assert mine in {i["executionId"] for i in api.a("GET", "/v1/executions?limit=100").json()["items"]}


def test_the_same_name_in_two_tenants_is_two_executions(api: Api) -> None:
    a = api.a("POST", "/v1/workflows/echo/executions", json={"name": "shared-name"})
    b = api.b("POST", "/v1/workflows/echo/executions", json={"name": "shared-name"})
    assert a.status_code == b.status_code == 202
    assert a.json()["executionId"] != b.json()["executionId"]


def test_listing_pages_with_a_cursor_and_filters(api: Api) -> None:
    key = api.local.api_key(tenant="pager")
    ids = [api.call("POST", "/v1/workflows/echo/executions", key, json={"input": {"n": i}}).json()["executionId"]
           for i in range(3)]
    for execution_id in ids:
        api.wait_status(execution_id, ("succeeded",), key)
    first = api.call("GET", "/v1/executions?limit=2", key).json()
    assert len(first["items"]) == 2 and first["nextCursor"]
    second = api.call("GET", "/v1/executions", key, params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert len(second["items"]) == 1 and second.get("nextCursor") is None
    assert {i["executionId"] for i in first["items"] + second["items"]} == set(ids)
    assert [i["executionId"] for i in first["items"] + second["items"]] == ids[::-1]  # newest first
    assert api.call("GET", "/v1/executions?workflow=broken", key).json()["items"] == []
    assert len(api.call("GET", "/v1/executions?status=succeeded&workflow=echo", key).json()["items"]) == 3
    assert api.call("GET", "/v1/executions?status=failed", key).json()["items"] == []
    assert api.call("GET", "/v1/executions?since=2999-01-01", key).json()["items"] == []
    assert len(api.call("GET", "/v1/executions?until=2999-01-01T00:00:00Z", key).json()["items"]) == 3


# -- errors ---------------------------------------------------------------------------------

def test_invalid_input_is_400_naming_the_field(api: Api) -> None:
    error = _error(api.a("POST", "/v1/workflows/echo/executions", json={"name": "no spaces"}), 400, "invalid_input")
    assert "name" in error["message"]
    _error(api.a("POST", "/v1/workflows/echo/executions", content=b"{not json"), 400, "invalid_input")
    _error(api.a("POST", "/v1/workflows/echo/executions", json={"unknown": 1}), 400, "invalid_input")
    _error(api.a("GET", "/v1/executions?limit=0"), 400, "invalid_input")
    _error(api.a("GET", "/v1/executions?since=yesterday"), 400, "invalid_input")
    _error(api.a("GET", "/v1/executions?cursor=bm90LWEtY3Vyc29y"), 400, "invalid_input")


def test_unknown_workflow_execution_and_route_are_404(api: Api) -> None:
    _error(api.a("POST", "/v1/workflows/nope/executions"), 404, "not_found")
    _error(api.a("POST", "/v1/workflows/nope/run"), 404, "not_found")
    _error(api.a("GET", "/v1/executions/arn:aws:states:us-east-1:123456789012:execution:x:y"), 404, "not_found")
    _error(api.a("GET", "/v1/executions/not-an-arn"), 404, "not_found")
    _error(api.a("GET", "/v1/nothing-here"), 404, "not_found")
    _error(api.a("DELETE", "/v1/executions"), 405, "method_not_allowed")


def test_a_second_start_with_the_same_name_is_409(api: Api) -> None:
    assert api.a("POST", "/v1/workflows/slow/executions", json={"name": "once"}).status_code == 202
    error = _error(api.a("POST", "/v1/workflows/slow/executions", json={"name": "once"}), 409, "conflict")
    assert "once" in error["message"]


def test_a_body_is_json_whatever_its_content_type(api: Api) -> None:
    # curl -d sends application/x-www-form-urlencoded
    response = api.a("POST", "/v1/workflows/echo/run", content=b'{"input": {"n": 1}}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 201 and response.json() == {"doubled": 2}


def test_an_input_over_step_functions_limit_is_413(api: Api) -> None:
    error = _error(api.a("POST", "/v1/workflows/echo/executions", json={"input": {"big": "x" * 300_000}}),
                   413, "too_large")
    assert error["limit"] == 262_144


def test_the_approval_pages_share_the_port(api: Api) -> None:
    response = api.call("GET", "/approvals/unknown-id")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


def test_a_rerun_starts_the_same_workflow_with_the_recorded_or_given_input(api: Api) -> None:
    """GIVEN a finished execution THEN its tenant can rerun it (202, a new execution with the
    same input, its record's trigger naming the first run), or with another input; another
    tenant cannot see it to rerun it."""
    first = api.a("POST", "/v1/workflows/echo/executions", json={"input": {"n": 4}}).json()
    done = api.wait_status(first["executionId"], ("succeeded",))
    again = api.a("POST", f"/v1/executions/{first['executionId']}/rerun")
    assert again.status_code == 202, again.text
    rerun = api.wait_status(again.json()["executionId"], ("succeeded",))
    assert again.json()["workflow"] == "echo" and rerun["output"] == done["output"]
    assert rerun["trigger"]["type"] == "rerun" and rerun["trigger"]["of"] == first["executionId"]
    edited = api.a("POST", f"/v1/executions/{first['executionId']}/rerun", json={"input": {"n": 10}})
    assert edited.status_code == 202
    assert api.wait_status(edited.json()["executionId"], ("succeeded",))["output"]["data"] == {"doubled": 20}
    assert api.b("POST", f"/v1/executions/{first['executionId']}/rerun").status_code == 404
    bad = api.a("POST", f"/v1/executions/{first['executionId']}/rerun", json={"input": [1]})
    assert bad.status_code == 400
