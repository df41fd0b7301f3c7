"""Block outputs over the inline budget flow through a workflow on the embedded engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stepweave.local.engine import LocalEngine
from stepweave.paths import parse_path
from stepweave.runtime.payloads import stub_ref
from stepweave.runtime.query import get_execution
from stepweave.runtime.settings import DEFAULT_INLINE_BUDGET_BYTES, LOCAL_PAYLOAD_BUCKET

from tests.engine.helpers import compile_text, run_text

pytestmark = pytest.mark.usefixtures("engine")

ITEMS = 20_000
# ~1 MB of objects, and a 1 MB string; a function reads both whole, a condition and the
# response read small fields of the array's output (kept inline), the response one of the
# string's (stubbed: native blocks cannot follow a reference)
WORKFLOW = f"""
name: big-outputs
blocks:
  - {{id: start, type: start}}
  - {{id: big, name: Big, type: function, params: {{code: "const items = [];
      for (let i = 0; i < {ITEMS}; i++) items.push({{id: i, name: 'item number ' + i, tags: ['a', 'b']}});
      return {{count: items.length, items}};"}}}}
  - {{id: text, name: Text, type: function, params: {{code: "return 'x'.repeat(1000000)"}}}}
  - {{id: measure, name: Measure, type: function, params: {{code: "const items = <big.result.items>;
      return {{items: items.length, last: items[items.length - 1].name,
              ids: items.reduce((s, i) => s + i.id, 0), chars: <text.result>.length,
              count: <big.result.count>}};"}}}}
  - {{id: check, name: Check, type: condition,
     params: {{conditions: [{{id: many, title: if, value: "<big.result.count> > 10000"}},
                          {{id: few, title: else, value: ""}}]}}}}
  - {{id: respond, name: Respond, type: response,
     params: {{data: {{count: "<big.result.count>", first: "<big.result.items[0].name>",
                     measured: "<measure.result>", text: "<text.result>"}}}}}}
edges: [start -> big, big -> text, text -> measure, measure -> check, "check -[condition-many]-> respond"]
"""


@pytest.fixture(scope="module")
def run(engine: LocalEngine) -> tuple[Any, list[str]]:
    return run_text(engine, WORKFLOW)


def test_the_compiled_events_keep_what_the_workflow_reads() -> None:
    states = compile_text(WORKFLOW).definition["States"]
    keep = {s["Arguments"]["block"]["id"]: s["Arguments"].get("keep")
            for s in states.values() if s["Type"] == "Task"}
    assert keep == {"big": ["result.count", "result.items", "result.items[0].name"],
                    "text": ["result"], "measure": ["result"]}


def test_a_megabyte_output_flows_through_the_workflow(run: tuple[Any, list[str]]) -> None:
    result, ran = run
    assert result.status == "SUCCEEDED", result.cause
    assert ran == ["start", "Big", "Text", "Measure", "Check", "Respond"]
    data = result.output["data"]
    # the handler resolved both stubs: every element and every character arrived
    assert data["measured"] == {"items": ITEMS, "last": f"item number {ITEMS - 1}",
                                "ids": ITEMS * (ITEMS - 1) // 2, "chars": 1_000_000,
                                "count": ITEMS}
    # native blocks read the kept fields (the condition selected "many")
    assert data["count"] == ITEMS and data["first"] == "item number 0"
    # ... and see the stub of what was not kept
    ref = stub_ref(data["text"])
    assert ref is not None and ref["path"] == "result" and ref["bytes"] == 1_000_002


def test_no_variable_is_over_the_budget_and_the_outputs_are_in_the_bucket(
        engine: LocalEngine, run: tuple[Any, list[str]]) -> None:
    result, _ = run
    assigned = [(name, value) for event in result.events
                for name, value in (event.get("stateExitedEventDetails", {})
                                    .get("assignedVariables") or {}).items()]
    assert assigned
    assert max(len(v.encode()) for _, v in assigned) <= DEFAULT_INLINE_BUDGET_BYTES
    outputs = {name: json.loads(v) for name, v in assigned if name in ("b_big", "b_text")}
    execution = result.execution_arn.split(":")
    listed = engine.s3.list_objects_v2(Bucket=LOCAL_PAYLOAD_BUCKET,
                                       Prefix=f"{execution[6]}/{execution[7]}/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert [k.split("/")[2] for k in keys] == ["big", "text"]  # one object per output
    big = outputs["b_big"]["result"]
    assert big["count"] == ITEMS and big["items"][0]["name"] == "item number 0"
    tail = stub_ref(big["items"][-1])
    assert tail is not None and tail["key"] in keys and tail["path"] == "result.items"
    stored = json.loads(engine.s3.get_object(Bucket=LOCAL_PAYLOAD_BUCKET,
                                             Key=tail["key"])["Body"].read())
    assert len(stored["result"]["items"]) == ITEMS and stored["stdout"] == ""
    assert parse_path(tail["path"]) == ("result", "items") and tail["from"] == len(big["items"]) - 1


def test_block_logs_keep_the_stub_as_stored(engine: LocalEngine, run: tuple[Any, list[str]]) -> None:
    result, _ = run
    detail = get_execution(engine.records.ddb, engine.records.settings, result.execution_arn)
    assert detail is not None
    logs = {b.block_id: b for b in detail.blocks}
    assert logs["text"].output is not None
    assert stub_ref(json.loads(logs["text"].output)["result"]) is not None
