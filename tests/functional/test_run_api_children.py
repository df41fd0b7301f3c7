"""A tenant's run that starts a sub-workflow: the nested run is the tenant's too.

The run API on the embedded engine (``LocalApi`` behind the local gateway); the nested run
is recorded by the recorder's code, which gives it its parent's tenant.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from stepweave.compiler import compile_workflow
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway
from stepweave.workflow.loader import load_workflow

DOUBLE = """
name: double
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: twice, name: Twice, type: function, params: {code: "return <start.n> * 2"}}
edges: [start -> twice]
"""
PARENT = """
name: parent
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: child, name: Child, type: workflow, params: {workflow: double, input: {n: <start.n>}}}
edges: [start -> child]
"""


def _until(get: Any, check: Any) -> Any:
    deadline = time.monotonic() + 30
    while True:
        value = get()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_a_nested_run_belongs_to_the_tenant_of_its_parent(tmp_path: Path) -> None:
    (tmp_path / "double.yaml").write_text(DOUBLE)
    (tmp_path / "parent.yaml").write_text(PARENT)
    parent = compile_workflow(load_workflow(tmp_path / "parent.yaml"), str(tmp_path / "parent.yaml"))
    with LocalEngine() as engine, LocalApi(engine, {"parent": parent}, poll_s=0.02) as local, \
            Gateway(local.routes, port=0) as gateway:
        acme, globex = local.api_key(tenant="acme"), local.api_key(tenant="globex")

        def call(key: str, path: str, **kwargs: Any) -> httpx.Response:
            return httpx.request(kwargs.pop("method", "GET"), gateway.url + path,
                                 headers={"x-api-key": key}, timeout=30, **kwargs)

        started = call(acme, "/v1/workflows/parent/executions", method="POST", json={"input": {"n": 4}})
        assert started.status_code == 202, started.text
        listed = _until(lambda: call(acme, "/v1/executions?workflow=double").json()["items"],
                        lambda items: items and items[0]["status"] == "succeeded")
        (child,) = listed
        detail = call(acme, f"/v1/executions/{child['executionId']}")
        assert detail.status_code == 200 and detail.json()["output"] == {"result": 8, "stdout": ""}
        assert detail.json()["trigger"] == {"type": "workflow", "workflow": "parent", "block": "Child",
                                            "executionId": started.json()["executionId"]}
        # the other tenant sees neither the child nor its parent
        assert call(globex, "/v1/executions?workflow=double").json()["items"] == []
        assert call(globex, f"/v1/executions/{child['executionId']}").status_code == 404
        # a caller's input naming someone else's run as its parent changes nothing
        forged = {"n": 1, "trigger": {"type": "workflow", "executionId": started.json()["executionId"]}}
        theirs = call(globex, "/v1/workflows/parent/executions", method="POST", json={"input": forged})
        view = _until(lambda: call(globex, f"/v1/executions/{theirs.json()['executionId']}").json(),
                      lambda body: body.get("status") == "succeeded")
        assert view["trigger"]["type"] == "api"
        assert call(acme, f"/v1/executions/{theirs.json()['executionId']}").status_code == 404
