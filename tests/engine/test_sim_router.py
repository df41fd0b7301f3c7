"""Router blocks from Sim exports (``router_v2`` and legacy ``router``) on the embedded engine.

The router's handler is an in-process stand-in (a keyword match instead of a model) so
that what is tested is the routing the compiler emits: edges ``router-<route id>`` fire
iff ``selectedRoute`` is that id, and an error edge takes a ``RouterNoMatch``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler import compile_workflow
from stepweave.errors import WorkflowError
from stepweave.local.engine import LocalEngine
from stepweave.runtime.history import block_runs
from stepweave.workflow.loader import load_workflow
from tests.engine.sim_export import block, edge, export, function, start, write


class RouterNoMatch(Exception):
    """Named like the router handler's error, which error edges catch."""


def keyword_router(event: dict[str, Any]) -> dict[str, Any]:
    params = event["params"]
    text = str(params.get("context") or params.get("prompt") or "").lower()
    for route in params["routes"]:
        if str(route["value"]).lower() in text:
            return {"context": params.get("context"), "selectedRoute": route["id"],
                    "reasoning": f"mentions {route['value']}"}
    raise RouterNoMatch("Router could not determine a matching route")


ROUTES = [{"id": "triage-route1", "title": "Route 1", "value": "billing"},
          {"id": "triage-route2", "title": "Route 2", "value": "bug"},
          {"id": "triage-route3", "title": "Route 3", "value": "sales"}]


def _triage(handles: list[str | None], *, error_edge: bool = False) -> dict[str, Any]:
    blocks = [start(topic="string"),
              block("triage", "router_v2", "Triage", context="Customer says: <start.topic>",
                    routes=json.dumps(ROUTES), model="gpt-4o"),
              function("billing", 'return "billing:" + <start.topic>', "Billing"),
              function("bug", 'return "bug"', "Bug"),
              function("sales", 'return "sales"', "Sales"),
              function("after", "return [<billing.result>, <bug.result>, <sales.result>]", "After")]
    edges = [edge("start", "triage"),
             edge("triage", "billing", handles[0]), edge("triage", "bug", handles[1]),
             edge("triage", "sales", handles[2]),
             edge("billing", "after"), edge("bug", "after"), edge("sales", "after")]
    if error_edge:
        blocks.append(function("fallback", 'return "fallback: " + <triage.error>', "Fallback"))
        edges.append(edge("triage", "fallback", "error"))
    return export(blocks, edges, "triage")


def _run(path: Path, payload: Any) -> tuple[Any, list[str]]:
    compiled = compile_workflow(load_workflow(path), str(path))
    with LocalEngine(handlers={"router": keyword_router}) as engine:
        result = engine.run(compiled, payload)
    return result, [r.name for r in block_runs(result.events, compiled.manifest())]


HANDLES = [f"router-{r['id']}" for r in ROUTES]


@pytest.mark.parametrize(("topic", "ran", "output"), [
    ("a billing question", "Billing", ["billing:a billing question", None, None]),
    ("found a bug", "Bug", [None, "bug", None]),
])
def test_only_the_selected_route_runs(tmp_path: Path, topic: str, ran: str, output: Any) -> None:
    result, blocks = _run(write(tmp_path, _triage(HANDLES)), {"topic": topic})
    assert result.status == "SUCCEEDED", result.cause
    assert sorted(blocks) == sorted(["Start", "Triage", ran, "After"])
    assert result.output == {"result": output, "stdout": ""}


def test_missing_handles_are_inferred_by_position(tmp_path: Path) -> None:
    result, blocks = _run(write(tmp_path, _triage([None, "source", None])), {"topic": "sales call"})
    assert result.status == "SUCCEEDED", result.cause
    assert "Sales" in blocks and "Billing" not in blocks and "Bug" not in blocks


def test_no_match_takes_the_error_edge(tmp_path: Path) -> None:
    result, blocks = _run(write(tmp_path, _triage(HANDLES, error_edge=True)), {"topic": "hello"})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "fallback: Router could not determine a matching route",
                             "stdout": ""}
    assert not {"Billing", "Bug", "Sales", "After"} & set(blocks)


def test_no_match_without_error_edge_fails_the_run(tmp_path: Path) -> None:
    result, _ = _run(write(tmp_path, _triage(HANDLES)), {"topic": "hello"})
    assert result.status == "FAILED"
    assert result.cause == "Triage: Router could not determine a matching route"


def test_legacy_router_selects_a_target_block(tmp_path: Path) -> None:
    doc = export([start(topic="string"),
                  block("pick", "router", "Pick", prompt="Route this: <start.topic>", model="gpt-4o"),
                  function("billing", 'return "b"', "Billing"),
                  function("bug", 'return "x"', "Bug")],
                 [edge("start", "pick"), edge("pick", "billing"), edge("pick", "bug", "source-right")],
                 "legacy")
    workflow = load_workflow(write(tmp_path, doc))
    routes = workflow.block("pick").params["routes"]
    assert [r["id"] for r in routes] == ["billing", "bug"]
    assert {e.sourceHandle for e in workflow.edges if e.source == "pick"} == {"router-billing",
                                                                               "router-bug"}
    # the stand-in matches on the route's value, which is the target block's name
    result, blocks = _run(write(tmp_path, doc), {"topic": "this is a bug"})
    assert result.status == "SUCCEEDED", result.cause
    assert "Bug" in blocks and "Billing" not in blocks


def test_a_handle_naming_no_route_is_a_validation_error(tmp_path: Path) -> None:
    doc = _triage(["router-triage-route1", "router-nope", HANDLES[2]])
    with pytest.raises(WorkflowError) as info:
        compile_workflow(load_workflow(write(tmp_path, doc)), "triage.json")
    assert "handle 'router-nope' names no route" in info.value.report()
