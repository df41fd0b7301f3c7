"""Sim's own Python SDK (``simstudio-sdk`` from PyPI, unmodified) against ``stepweave serve``:
an application built on it switches to Stepweave by changing ``base_url``. Runs execute
synchronously and asynchronously, the run and the job are polled, errors arrive as Sim's
(unknown workflow, bad key, invalid input, another tenant's run) and the rate-limit headers
count each key's requests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

simstudio = pytest.importorskip("simstudio")

from simstudio import AsyncExecutionResult, SimStudioClient, SimStudioError  # noqa: E402

from stepweave.cli import main  # noqa: E402
from tests.functional.test_waiting_run import FLOW, free_port, servers_of, wait_until  # noqa: E402

ECHO = """
name: echo
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: double, name: Double, type: function, params: {code: "return <start.n> * 2"}}
  - {id: done, name: Done, type: response, params: {data: {n: "<start.n>", twice: "<double.result>"}}}
edges: [start -> double, double -> done]
"""
BOOM = """
name: boom
blocks:
  - {id: start, type: start}
  - {id: fail, name: Fail, type: function, params: {code: "throw new Error('no luck')"}}
edges: [start -> fail]
"""
PAIR = """
name: pair
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: pair, name: Pair, type: function, params: {code: "return [<start.n>, <start.n> + 1]"}}
edges: [start -> pair]
"""
KEY = "swk_sim-sdk-test-key-for-the-local-tenant-01"
#: the id a Sim application knows the echo workflow by
SIM_ID = "4a7d3c1e-93b0-4c1f-8e5a-0c9d2f6b71e4"
#: requests a minute each key may make on Sim's routes (the tests of one key stay under it)
LIMIT = 100


def _key(local_dir: Path, tenant: str) -> str:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(io.StringIO()):
        patch.setenv("STEPWEAVE_LOCAL_DIR", str(local_dir))
        assert main(["keys", "create", "--tenant", tenant]) == 0
    return out.getvalue().strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sim-sdk")
    (root / "workflows").mkdir()
    for name, text in (("echo", ECHO), ("boom", BOOM), ("refund", FLOW), ("pair", PAIR)):
        (root / "workflows" / f"{name}.yaml").write_text(text, encoding="utf-8")
    local_dir = root / ".stepweave"
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(local_dir), "STEPWEAVE_API_KEY": KEY,
           "STEPWEAVE_RATE_LIMIT_PER_MINUTE": str(LIMIT), "STEPWEAVE_APPROVAL_DELIVERY": "none",
           "STEPWEAVE_SIM_WORKFLOW_IDS": json.dumps({SIM_ID: "echo"})}
    serve = subprocess.Popen([str(Path(sys.executable).with_name("stepweave")), "serve", "--workflows",
                              str(root / "workflows"), "--port", url.rsplit(":", 1)[1]],
                             cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: servers_of(local_dir), "address written down", process=serve)
        yield {"url": url, "other": _key(local_dir, "other"), "burst": _key(local_dir, "burst")}
    finally:
        serve.terminate()
        serve.communicate(timeout=30)


@pytest.fixture
def sim(served: dict[str, Any]) -> Iterator[SimStudioClient]:
    with SimStudioClient(api_key=KEY, base_url=served["url"]) as client:
        yield client


def _settled(sim: SimStudioClient, workflow: str, run_id: str, until: tuple[str, ...],
             **options: Any) -> dict[str, Any]:
    delay = 0.05
    for _ in range(40):
        run = sim.get_workflow_run(workflow, run_id, **options)
        if run["status"] in until:
            return run
        time.sleep(delay)
        delay = min(1.0, delay * 1.5)
    pytest.fail(f"run {run_id} is still {run['status']}")


def test_a_synchronous_run_answers_sims_result(sim: SimStudioClient, served: dict[str, Any]) -> None:
    result = sim.execute_workflow_sync("echo", {"n": 4})
    assert result.success is True and result.status == "completed" and result.error is None
    assert result.output == {"data": {"n": 4, "twice": 8}, "status": 200,
                             "headers": {"Content-Type": "application/json"}}
    assert result.metadata is not None
    run_id = result.metadata["runId"]
    started = datetime.fromisoformat(result.metadata["startTime"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(result.metadata["endTime"].replace("Z", "+00:00"))
    assert started <= ended and result.total_duration == result.metadata["duration"] >= 0
    # the same execution, with the same key, through /v1
    v1 = httpx.get(f"{served['url']}/v1/executions/{run_id}", headers={"x-api-key": KEY}).json()
    assert v1["workflow"] == "echo" and v1["status"] == "succeeded" and v1["name"] == run_id
    assert v1["trigger"]["type"] == "api"


def test_a_failed_run_is_answered_in_band_naming_the_block(sim: SimStudioClient) -> None:
    result = sim.execute_workflow("boom", {})
    assert result.success is False and result.status == "failed" and result.output is None
    assert result.error is not None and result.error.startswith("block 'Fail' failed:") and "no luck" in result.error
    assert result.metadata is not None
    run = sim.get_workflow_run("boom", result.metadata["runId"])
    assert run["status"] == "failed" and run["error"]["code"] == "BLOCK_EXECUTION_FAILED"
    assert run["error"]["blockName"] == "Fail" and run["endedAt"] is not None
    job = sim.get_job_status(result.metadata["runId"])
    assert job["status"] == "failed" and "no luck" in job["error"] and "output" not in job


def test_an_asynchronous_run_is_polled_as_a_run_and_as_a_job(sim: SimStudioClient, served: dict[str, Any]) -> None:
    queued = sim.execute_workflow("echo", {"n": 5}, async_execution=True)
    assert isinstance(queued, AsyncExecutionResult) and queued.success
    assert queued.status_url == f"{served['url']}/api/v2/workflows/echo/runs/{queued.run_id}"
    run = _settled(sim, "echo", queued.run_id, ("completed", "failed"), include_output=True,
                   selected_outputs=["Double.result", "double", "Nowhere.x", "Done.data.n", "Done.data.n.0"])
    assert run["status"] == "completed" and run["error"] is None and run["trigger"] == "api"
    assert run["output"]["data"] == {"n": 5, "twice": 10}
    assert run["blockOutputs"] == {"Double.result": 10, "double": {"result": 10, "stdout": ""},
                                   "Nowhere.x": None, "Done.data.n": 5, "Done.data.n.0": None}
    assert run["durationMs"] >= 0 and run["startedAt"] <= run["endedAt"]
    assert sim.get_workflow_run("echo", queued.run_id)["output"] is None  # only with includeOutput
    pair = sim.execute_workflow("pair", {"n": 7})
    assert pair.metadata is not None and pair.output == {"result": [7, 8], "stdout": ""}
    outputs = sim.get_workflow_run("pair", pair.metadata["runId"], selected_outputs=["Pair.result.1", "pair.result.2"])
    assert outputs["blockOutputs"] == {"Pair.result.1": 8, "pair.result.2": None}
    job = sim.get_job_status(queued.run_id)
    assert job["success"] is True and job["taskId"] == queued.run_id and job["status"] == "completed"
    assert job["output"]["data"] == {"n": 5, "twice": 10}
    assert job["metadata"]["completedAt"] == run["endedAt"]
    assert job["metadata"]["workflowId"] == SIM_ID  # a job names its workflow by the Sim id mapped to it
    # a run is read under its own workflow only
    with pytest.raises(SimStudioError) as other:
        sim.get_workflow_run("boom", queued.run_id)
    assert (other.value.status, other.value.code) == (404, "NOT_FOUND")


def test_a_waiting_run_is_paused_and_a_cancelled_one_cancelled(sim: SimStudioClient, served: dict[str, Any]) -> None:
    queued = sim.execute_workflow("refund-wait", {"amount": 12}, async_execution=True)
    assert isinstance(queued, AsyncExecutionResult)
    run = _settled(sim, "refund-wait", queued.run_id, ("paused", "failed", "completed"))
    assert run["status"] == "paused" and run["endedAt"] is None
    paused = run["paused"]
    assert paused["pauseKind"] == "human" and paused["blockedOnBlockId"] == "ask"
    assert paused["pausePointCount"] == 1 and paused["resumedCount"] == 0 and paused["resumeAt"] is None
    # the pause's context is the approval: the same one /v1/approvals lists
    approvals = httpx.get(f"{served['url']}/v1/approvals", headers={"x-api-key": KEY}).json()["approvals"]
    assert paused["contextId"] in [a["id"] for a in approvals]
    assert sim.get_job_status(queued.run_id)["status"] == "processing"
    cancelled = httpx.post(f"{served['url']}/v1/executions/{queued.run_id}/cancel", headers={"x-api-key": KEY})
    assert cancelled.status_code == 202
    run = _settled(sim, "refund-wait", queued.run_id, ("cancelled", "failed", "completed"))
    assert run["status"] == "cancelled" and run["error"]["code"] == "CANCELLED"
    assert sim.get_job_status(queued.run_id)["status"] == "cancelled"


def test_errors_have_sims_codes(sim: SimStudioClient, served: dict[str, Any]) -> None:
    with pytest.raises(SimStudioError) as unknown:
        sim.execute_workflow("no-such-workflow", {"n": 1})
    assert (unknown.value.status, unknown.value.code, str(unknown.value)) == (404, "NOT_FOUND", "Workflow not found")
    with SimStudioClient(api_key="swk_not-a-key-of-anyone", base_url=served["url"]) as stranger:
        with pytest.raises(SimStudioError) as bad_key:
            stranger.execute_workflow("echo", {"n": 1})
        assert (bad_key.value.status, bad_key.value.code) == (401, "UNAUTHORIZED")
        with pytest.raises(SimStudioError) as bad_key_job:
            stranger.get_job_status("anything")
        assert (bad_key_job.value.status, str(bad_key_job.value)) == (401, "invalid API key")
        assert stranger.validate_workflow("echo") is False
    with pytest.raises(SimStudioError) as streamed:
        sim.execute_workflow("echo", {"n": 1}, stream=True)
    assert (streamed.value.status, streamed.value.code) == (400, "BAD_REQUEST")
    assert "stream" in str(streamed.value)
    with pytest.raises(SimStudioError) as capped:
        sim.execute_workflow("echo", {"n": 1}, async_execution=True, execution_timeout_seconds=60)
    assert capped.value.status == 400 and "timeoutSeconds" in str(capped.value)
    with pytest.raises(SimStudioError) as missing_job:
        sim.get_job_status("no-such-run")
    assert (missing_job.value.status, missing_job.value.code, str(missing_job.value)) == (
        404, "TASK_NOT_FOUND", "Task not found")
    # what the SDK cannot send wrong: the input must be an object, and fields are Sim's
    for body, field in (({"input": [1, 2]}, "input"), ({"input": {}, "mode": "fast"}, "mode")):
        answer = httpx.post(f"{served['url']}/api/v2/workflows/echo/execute", json=body, headers={"x-api-key": KEY})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "BAD_REQUEST" and field in error["message"]


def test_a_run_is_seen_by_its_tenant_only(sim: SimStudioClient, served: dict[str, Any]) -> None:
    result = sim.execute_workflow("echo", {"n": 2})
    assert result.metadata is not None
    with SimStudioClient(api_key=served["other"], base_url=served["url"]) as other:
        with pytest.raises(SimStudioError) as hidden:
            other.get_workflow_run("echo", result.metadata["runId"])
        assert hidden.value.status == 404
        with pytest.raises(SimStudioError) as hidden_job:
            other.get_job_status(result.metadata["runId"])
        assert hidden_job.value.status == 404


def test_a_caller_chosen_run_id_is_claimed_once(served: dict[str, Any]) -> None:
    url, headers = f"{served['url']}/api/v2/workflows/echo/execute", {"x-api-key": KEY, "X-Run-Id": "order-77"}
    first = httpx.post(url, json={"input": {"n": 1}}, headers=headers)
    assert first.status_code == 200 and first.headers["X-Run-Id"] == "order-77"
    assert first.json()["data"]["runId"] == "order-77"
    again = httpx.post(url, json={"input": {"n": 1}}, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["details"]["code"] == "RUN_ID_CONFLICT"
    odd = httpx.post(url, json={"input": {}}, headers={**headers, "X-Run-Id": "not/allowed"})
    assert odd.status_code == 400 and odd.json()["error"]["code"] == "BAD_REQUEST"


def test_sims_workflow_id_names_the_workflow_it_is_mapped_to(sim: SimStudioClient, served: dict[str, Any]) -> None:
    result = sim.execute_workflow(SIM_ID, {"n": 3})
    assert result.status == "completed" and result.output["data"] == {"n": 3, "twice": 6}
    assert result.metadata is not None
    run_id = result.metadata["runId"]
    run = sim.get_workflow_run(SIM_ID, run_id)
    assert run["workflowId"] == SIM_ID and run["status"] == "completed"
    assert sim.get_workflow_run("echo", run_id)["workflowId"] == "echo"  # its name still works
    assert sim.get_job_status(run_id)["metadata"]["workflowId"] == SIM_ID
    assert sim.get_workflow_status(SIM_ID).is_deployed is True
    v1 = httpx.get(f"{served['url']}/v1/executions/{run_id}", headers={"x-api-key": KEY}).json()
    assert v1["workflow"] == "echo"


def test_workflow_status(sim: SimStudioClient) -> None:
    status = sim.get_workflow_status("echo")
    assert status.is_deployed is True and status.needs_redeployment is False
    assert sim.validate_workflow("echo") is True
    assert sim.validate_workflow("no-such-workflow") is False
    with pytest.raises(SimStudioError) as unknown:
        sim.get_workflow_status("no-such-workflow")
    assert (unknown.value.status, str(unknown.value), unknown.value.code) == (
        404, "Workflow not found", "WORKFLOW_NOT_FOUND")


def test_rate_limit_headers_count_each_keys_requests(served: dict[str, Any]) -> None:
    with SimStudioClient(api_key=served["burst"], base_url=served["url"]) as burst:
        burst.execute_workflow("echo", {"n": 1})
        info = burst.get_rate_limit_info()
        assert info is not None and info.limit == LIMIT and info.retry_after is None
        now_ms = int(time.time() * 1000)
        assert now_ms - 1000 < info.reset <= now_ms + 61_000 and info.reset % 60_000 == 0
        # every request of a window takes one; the first over the limit is refused until it ends
        seen: list[tuple[int, int]] = [(info.reset, info.remaining)]
        refused = None
        for _ in range(2 * LIMIT + 2):
            try:
                burst.get_job_status("no-such-run")
            except SimStudioError as exc:
                info = burst.get_rate_limit_info()
                assert info is not None
                if exc.status == 429:
                    refused = (exc, info)
                    break
                assert exc.status == 404
            seen.append((info.reset, info.remaining))
        assert refused is not None, "never refused"
        exc, info = refused
        assert info.remaining == 0 and info.retry_after is not None and 1000 <= info.retry_after <= 60_000
        assert exc.code == "RATE_LIMITED" and str(exc) == "API rate limit exceeded"
        for (reset, remaining), (next_reset, next_remaining) in zip(seen, seen[1:]):
            assert next_reset > reset or next_remaining == remaining - 1
        window = [remaining for reset, remaining in seen if reset == info.reset]
        assert window[-1] == 0 and window == list(range(window[0], -1, -1))
        usage = burst.get_usage_limits().rate_limit["sync"]
        assert usage["requestsPerMinute"] == LIMIT
        if datetime.fromisoformat(usage["resetAt"].replace("Z", "+00:00")).timestamp() * 1000 == info.reset:
            assert usage["remaining"] == 0 and usage["isLimited"] is True
        refusal: SimStudioError | None = None
        try:
            burst.execute_workflow("echo", {"n": 1})
        except SimStudioError as late:
            refusal = late
        after = burst.get_rate_limit_info()
        if after is not None and after.reset == info.reset:  # still the same window
            assert refusal is not None and (refusal.status, refusal.code) == (429, "RATE_LIMIT_EXCEEDED")
    # another key's requests are its own
    with SimStudioClient(api_key=served["other"], base_url=served["url"]) as other:
        assert other.get_usage_limits().rate_limit["async"]["remaining"] > 0


def test_the_answers_are_the_ones_the_openapi_document_describes(served: dict[str, Any]) -> None:
    doc = httpx.get(f"{served['url']}/openapi.json").json()

    def documented(path: str, method: str, status: str) -> dict[str, Any]:
        answer = doc["paths"][path][method]["responses"][status]
        schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
        return schema["properties"]["data"] if "data" in schema["properties"] else schema

    headers = {"x-api-key": KEY}
    done = httpx.post(f"{served['url']}/api/v2/workflows/echo/execute", json={"input": {"n": 1}}, headers=headers)
    queued = httpx.post(f"{served['url']}/api/v2/workflows/echo/execute", json={"input": {"n": 1}, "async": True},
                        headers=headers)
    run_id = done.json()["data"]["runId"]
    older = f"{served['url']}/api/workflows/echo/execute"
    answers = {
        ("/api/workflows/{workflow_id}/execute", "post", "200"): httpx.post(older, json={"n": 1}, headers=headers).json(),
        ("/api/workflows/{workflow_id}/execute", "post", "202"):
            httpx.post(older, json={"n": 1}, headers={**headers, "X-Execution-Mode": "async"}).json(),
        ("/api/v2/workflows/{workflow_id}/execute", "post", "200"): done.json()["data"],
        ("/api/v2/workflows/{workflow_id}/execute", "post", "202"): queued.json()["data"],
        ("/api/v2/workflows/{workflow_id}/runs/{run_id}", "get", "200"):
            httpx.get(f"{served['url']}/api/v2/workflows/echo/runs/{run_id}", headers=headers).json()["data"],
        ("/api/jobs/{job_id}", "get", "200"): httpx.get(f"{served['url']}/api/jobs/{run_id}", headers=headers).json(),
        ("/api/workflows/{workflow_id}/status", "get", "200"):
            httpx.get(f"{served['url']}/api/workflows/echo/status", headers=headers).json(),
        ("/api/users/me/usage-limits", "get", "200"):
            httpx.get(f"{served['url']}/api/users/me/usage-limits", headers=headers).json(),
    }
    for (path, method, status), answer in answers.items():
        assert set(answer) <= set(documented(path, method, status)["properties"]), (path, status, answer)


def test_sims_older_execute_route_as_its_typescript_sdk_calls_it(served: dict[str, Any]) -> None:
    """``simstudio-ts-sdk`` 0.1.2 posts the input itself to ``/api/workflows/{id}/execute``
    (``X-Execution-Mode: async`` to start it) and reads the older answers and headers."""
    url, headers = f"{served['url']}/api/workflows/echo/execute", {"X-API-Key": KEY, "Content-Type": "application/json"}
    done = httpx.post(url, json={"n": 4, "selectedOutputs": ["Double.result"]}, headers=headers)
    assert done.status_code == 200
    body = done.json()
    assert body["success"] is True and body["error"] is None and body["output"]["data"] == {"n": 4, "twice": 8}
    assert set(body["metadata"]) == {"duration", "startTime", "endTime"} and body["metadata"]["duration"] >= 0
    reset = int(done.headers["X-RateLimit-Reset"])  # epoch seconds, as the older routes sent it
    assert reset % 60 == 0 and int(done.headers["X-RateLimit-Limit"]) == LIMIT
    # a body of control fields only: its `input`
    assert httpx.post(url, json={"input": {"n": 2}, "stream": False}, headers=headers).json()["output"]["data"] == {
        "n": 2, "twice": 4}
    failed = httpx.post(f"{served['url']}/api/workflows/boom/execute", json={}, headers=headers)
    assert failed.status_code == 500
    assert failed.json()["success"] is False and failed.json()["code"] == "BLOCK_EXECUTION_FAILED"
    assert "no luck" in failed.json()["error"]
    queued = httpx.post(url, json={"n": 5}, headers={**headers, "X-Execution-Mode": "async"})
    assert queued.status_code == 202
    started = queued.json()
    assert started["success"] is True and started["async"] is True and started["jobId"] == started["executionId"]
    assert started["statusUrl"] == f"{served['url']}/api/jobs/{started['jobId']}"
    with SimStudioClient(api_key=KEY, base_url=served["url"]) as sim:
        assert _settled(sim, "echo", started["jobId"], ("completed", "failed"))["status"] == "completed"
        assert sim.get_job_status(started["jobId"])["output"]["data"] == {"n": 5, "twice": 10}
    for body, headers_, field in (({"n": 1, "stream": True}, headers, "stream"),
                                  ({"n": 1, "workflowStateOverride": {}}, headers, "workflowStateOverride"),
                                  ([1, 2], headers, "body")):
        refused = httpx.post(url, json=body, headers=headers_)
        assert refused.status_code == 400 and refused.json()["code"] == "BAD_REQUEST"
        assert field in refused.json()["error"] or field == "body"
    unknown = httpx.post(f"{served['url']}/api/workflows/nope/execute", json={}, headers=headers)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Workflow not found", "code": "NOT_FOUND"})


def test_a_body_that_is_not_json_is_refused_in_sims_shape(served: dict[str, Any]) -> None:
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    v2 = httpx.post(f"{served['url']}/api/v2/workflows/echo/execute", content=b'{"input": {"n": NaN}}',
                    headers=headers)
    assert v2.status_code == 400 and v2.json()["error"]["code"] == "BAD_REQUEST"
    assert "input.n" in v2.json()["error"]["message"]
    older = httpx.post(f"{served['url']}/api/workflows/echo/execute", content=b'{"n": ', headers=headers)
    assert older.status_code == 400 and older.json()["code"] == "BAD_REQUEST"
    v1 = httpx.post(f"{served['url']}/v1/workflows/echo/run", content=b'{"n": ', headers=headers)
    assert v1.json()["error"]["code"] == "invalid_input"  # /v1 keeps its own shape
