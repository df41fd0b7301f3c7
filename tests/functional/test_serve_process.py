"""``stepweave serve`` as a process: idle it sleeps, it describes its API (``/openapi.json``
and a ``/docs`` page), an execution is found by its name as well as its ARN, and
``stepweave approvals`` finds the server by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stepweave.api.openapi import openapi_document
from stepweave.cli import main
from tests.functional.test_waiting_run import FLOW, MAX_IDLE_CPU, cpu_share, free_port, servers_of, wait_until

ECHO = """
name: echo
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: done, type: response, params: {data: {n: "<start.n>"}, status: 200}}
edges: [start -> done]
"""
KEY = "swk_serve-test-key-for-the-local-tenant-0123"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("serve")
    (root / "workflows").mkdir()
    (root / "workflows" / "echo.yaml").write_text(ECHO, encoding="utf-8")
    (root / "workflows" / "refund.yaml").write_text(FLOW, encoding="utf-8")
    local_dir = root / ".stepweave"
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(local_dir), "STEPWEAVE_API_KEY": KEY}
    env.pop("STEPWEAVE_PUBLIC_URL", None)
    serve = subprocess.Popen([str(Path(sys.executable).with_name("stepweave")), "serve", "--workflows",
                              str(root / "workflows"), "--port", url.rsplit(":", 1)[1]],
                             cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: servers_of(local_dir), "address written down", process=serve)
        yield {"url": url, "process": serve, "local_dir": local_dir}
    finally:
        serve.terminate()
        serve.communicate(timeout=30)
    assert servers_of(local_dir) == []  # removed on exit


def test_an_idle_server_sleeps(served: dict[str, object]) -> None:
    process = served["process"]
    assert isinstance(process, subprocess.Popen)
    share = cpu_share(process.pid)
    assert share < MAX_IDLE_CPU, f"the idle server used {share:.0%} of a core"


def test_the_api_is_described_at_openapi_json_and_docs(served: dict[str, object]) -> None:
    document = httpx.get(f"{served['url']}/openapi.json")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    assert document.text == openapi_document()
    assert {"/v1/approvals", "/webhooks/{workflow}"} <= set(document.json()["paths"])
    page = httpx.get(f"{served['url']}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    for route in ("/v1/executions/{execution_id}", "/v1/approvals/{approval_id}/decision",
                  "/webhooks/{workflow}", "/health"):
        assert f"<code>{route}</code>" in page.text
    assert "<script" not in page.text and "http" not in page.text.replace("http-equiv", "")


def test_an_execution_is_found_by_its_name(served: dict[str, object]) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    started = httpx.post(f"{served['url']}/v1/workflows/echo/executions", headers=headers,
                         json={"input": {"n": 3}, "name": "order-1001"})
    assert started.status_code == 202, started.text
    arn = started.json()["executionId"]
    for reference in ("order-1001", "local.order-1001", arn):
        found = httpx.get(f"{served['url']}/v1/executions/{reference}", headers=headers)
        assert found.status_code == 200, (reference, found.text)
        assert found.json()["executionId"] == arn and found.json()["name"] == "order-1001"
    # another tenant's name is not found, nor an unknown one
    assert httpx.get(f"{served['url']}/v1/executions/acme.order-1001", headers=headers).status_code == 404
    assert httpx.get(f"{served['url']}/v1/executions/order-9999", headers=headers).status_code == 404


def test_approvals_finds_the_server(served: dict[str, object], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STEPWEAVE_LOCAL_DIR", str(served["local_dir"]))
    monkeypatch.setenv("STEPWEAVE_API_KEY", KEY)  # the server took the key it was given
    monkeypatch.delenv("STEPWEAVE_PUBLIC_URL", raising=False)
    started = httpx.post(f"{served['url']}/v1/workflows/refund-wait/executions",
                         headers={"x-api-key": KEY}, json={"input": {"amount": 5}})
    assert started.status_code == 202, started.text
    listed: list[dict[str, object]] = []

    def pending() -> bool:
        assert main(["approvals", "--json"]) == 0
        listed[:] = json.loads(capsys.readouterr().out)["approvals"]
        return bool(listed)

    wait_until(pending, "pending approval")
    assert listed[0]["executionId"] == started.json()["executionId"]
    assert main(["approvals", "reject", str(listed[0]["id"])]) == 0
    assert "decided Approval" in capsys.readouterr().out
