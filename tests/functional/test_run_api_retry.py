"""``POST /v1/executions/{id}/retry`` over real HTTP (the local gateway before the embedded
engine): a failed run resumes from the failed block as the same execution, the blocks that
succeeded are not run again, another tenant gets 404, what cannot be redriven is a 409; and a
run that failed under an earlier ``stepweave serve`` is retried by the next one."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from stepweave.local.redrive import in_engine
from tests.engine.helpers import compile_text
from tests.loopback import Loopback, Request, loopback

EXPRESS = """
name: quick
blocks:
  - {id: start, type: start}
  - {id: boom, name: Boom, type: function, params: {code: "throw new Error('no')"}}
edges: [start -> boom]
"""
SLOW = """
name: slow
type: standard
blocks:
  - {id: start, type: start}
  - {id: w, name: Pause, type: wait, params: {timeValue: "3", timeUnit: seconds}}
edges: [start -> w]
"""


def _flaky(url: str) -> str:
    return f"""
name: flaky
type: standard
blocks:
  - {{id: start, type: start}}
  - {{id: fetch, name: Fetch, type: api, params: {{url: "{url}/value", method: POST}}}}
  - {{id: use, name: Use, type: api, params: {{url: "{url}/flaky", method: POST, body: "<fetch.data>", retries: 0}}}}
  - {{id: after, name: After, type: function, params: {{code: "return <use.data.v> + 1"}}}}
edges: [start -> fetch, fetch -> use, use -> after]
"""


class Server:
    """/flaky fails (503) once after each ``fail_next()``; everything else answers."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.failing = False

    def fail_next(self) -> None:
        self.failing = True

    def __call__(self, request: Request) -> tuple[int, bytes, float]:
        self.hits[request.path] += 1
        if request.path == "/flaky" and self.failing:
            self.failing = False
            return 503, b'{"down": true}', 0.0
        return 200, b'{"v": 7}', 0.0


class Client:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {self.key}"},
                             timeout=30, **kwargs)

    def wait(self, execution_id: str, *statuses: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            body: dict[str, Any] = self("GET", f"/v1/executions/{execution_id}").json()
            if body.get("status") in statuses or time.monotonic() > deadline:
                return body
            time.sleep(0.05)

    def start(self, workflow: str) -> str:
        response = self("POST", f"/v1/workflows/{workflow}/executions", json={"input": {}})
        assert response.status_code == 202, response.text
        return str(response.json()["executionId"])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Server, Loopback]]:
    answers = Server()
    with loopback(answers) as running:
        yield answers, running


@contextmanager
def serve(records: Path, url: str) -> Iterator[tuple[LocalApi, Client, Client]]:
    workflows = {w.name: w for w in map(compile_text, (_flaky(url), EXPRESS, SLOW))}
    with LocalEngine(records_file=records) as engine, LocalApi(engine, workflows, poll_s=0.02) as local, \
            Gateway(local.routes, port=0) as gateway:
        yield (local, Client(gateway.url, local.api_key(tenant="acme")),
               Client(gateway.url, local.api_key(tenant="globex")))


def _conflict(response: httpx.Response, text: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "conflict" and text in error["message"], error


def test_retry_resumes_the_same_execution_and_says_what_cannot_be(
        tmp_path: Path, server: tuple[Server, Loopback]) -> None:
    answers, running = server
    with serve(tmp_path / "records.db", running.url) as (local, acme, globex):
        answers.fail_next()
        before = Counter(answers.hits)
        arn = acme.start("flaky")
        assert acme.wait(arn, "failed")["status"] == "failed"
        assert globex("POST", f"/v1/executions/{arn}/retry").status_code == 404  # another tenant's
        response = acme("POST", f"/v1/executions/{arn}/retry")
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["executionId"] == arn and body["redriveCount"] == 1 and body["status"] == "running"
        assert response.headers["location"] == f"/v1/executions/{arn}"
        done = acme.wait(arn, "succeeded")
        assert done["status"] == "succeeded" and done["redriveCount"] == 1 and done["output"]["result"] == 8
        assert answers.hits - before == Counter({"/value": 1, "/flaky": 2})  # Fetch ran once overall
        assert [(b["name"], b["success"]) for b in done["blocks"]] == [
            ("start", True), ("Fetch", True), ("Use", False), ("Use", True), ("After", True)]
        # what cannot be retried: a run that succeeded, one still running, an Express run
        _conflict(acme("POST", f"/v1/executions/{arn}/retry"), "it succeeded")
        slow = acme.start("slow")
        _conflict(acme("POST", f"/v1/executions/{slow}/retry"), "it is running")
        quick = acme.start("quick")
        assert acme.wait(quick, "failed")["status"] == "failed"
        _conflict(acme("POST", f"/v1/executions/{quick}/retry"), "Express")
        assert acme("POST", "/v1/executions/run-nope/retry").status_code == 404
        local.executions.wait_recorded()


def test_a_run_that_failed_under_an_earlier_serve_is_retried_by_the_next(
        tmp_path: Path, server: tuple[Server, Loopback]) -> None:
    answers, running = server
    records = tmp_path / "records.db"
    with serve(records, running.url) as (local, acme, _):
        answers.fail_next()
        arn = acme.start("flaky")
        assert acme.wait(arn, "failed")["status"] == "failed"
        local.executions.wait_recorded()
        key = acme.key
    before = Counter(answers.hits)
    with serve(records, running.url) as (local, acme, _):
        assert not in_engine(local.engine, arn)  # gone with the engine that ran it
        acme.key = key
        response = acme("POST", f"/v1/executions/{arn}/retry")
        assert response.status_code == 202, response.text
        done = acme.wait(arn, "succeeded")
        assert done["redriveCount"] == 1 and done["output"]["result"] == 8
        assert answers.hits - before == Counter({"/flaky": 1})  # only the failed block ran again
        kept = list((tmp_path / "redrive").glob("*.json"))
        assert kept == []  # a run that succeeded is not kept
        assert json.loads(acme("GET", f"/v1/executions/{arn}").text)["blocks"][-1]["name"] == "After"
