"""What the deployed recorder does for a run with a large distributed parallel: its API calls.

A distributed parallel of ``--items`` items (one variables block inside) runs on the embedded
engine, which keeps each child execution's events. The recorder Lambda's handler then gets
the run's final status change, as deployed (no ``map_items``), and reads the children through
boto3 against moto: ``ListExecutions(mapRunArn=...)`` (answered here from the kept events,
1,000 a page, as AWS pages it: moto lists no Map Run children) and each child's
``GetExecutionHistory`` (the children presented as Standard executions, so that the calls are
counted without CloudWatch Logs searches; an Express child costs one ``FilterLogEvents``
search instead). Printed: the children listed, read and counted unlogged, the block logs
written, every Step Functions call the recorder made, and its wall time.

    python bench/recorder_items.py [--items 10000]
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from moto.core.responses import ActionResult  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402
from stepweave.compiler import compile_workflow  # noqa: E402
from stepweave.local import distributed_map  # noqa: E402
from stepweave.local.engine import LocalEngine  # noqa: E402
from stepweave.local.moto_history import plain_events  # noqa: E402
from stepweave.local.records import create_table, local_client  # noqa: E402
from stepweave.runtime.history import event_time  # noqa: E402
from stepweave.runtime.recorder import Clients, status_change_event  # noqa: E402
from stepweave.workflow.loader import parse_workflow, parse_yaml  # noqa: E402

from functions.recorder import handler  # noqa: E402

WORKFLOW = """
name: wideitems
type: standard
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: items, type: array}]}}
  - {id: par, name: Fan, type: parallel, params: {parallelType: collection, collection: "<start.items>", mode: distributed}}
  - {id: each, name: Each, type: variables, parent: par, params: {variables: [{variableName: v, value: "<parallel.currentItem>"}]}}
edges: [start -> par, "par -[parallel-start-source]-> each"]
"""
TABLE = "stepweave-bench-recorder-items"
PAGE = 1000
_LISTED: dict[str, list[dict[str, Any]]] = {}
_HISTORIES: dict[str, list[dict[str, Any]]] = {}
_moto_list = StepFunctionResponse.list_executions
_moto_history = StepFunctionResponse.get_execution_history


def _list_executions(self: Any) -> Any:
    run = self._get_param("mapRunArn")
    if run is None:
        return _moto_list(self)
    children = sorted(_LISTED.get(run, []), key=lambda c: c["startDate"], reverse=True)
    start = int(self._get_param("nextToken") or 0)
    size = int(self._get_param("maxResults") or PAGE)
    page: dict[str, Any] = {"executions": children[start:start + size]}
    if start + size < len(children):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _get_execution_history(self: Any) -> Any:
    arn = self._get_param("executionArn")
    return ActionResult({"events": _HISTORIES[arn]}) if arn in _HISTORIES else _moto_history(self)


def _present(kept: dict[str, Any]) -> None:
    for run, items in kept.items():
        label = run.split(":")[6]
        for _index, raw in items:
            events = plain_events(raw)
            first = events[0]
            child = f"arn:aws:states:us-east-1:123456789012:execution:{label}:{uuid.uuid4()}"
            history = [{"timestamp": event_time(first), "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
                        "executionStartedEventDetails": {"input": first["stateEnteredEventDetails"]["input"]}}]
            for event in events:
                previous = int(event.get("previousEventId") or 0)
                history.append({**event, "timestamp": event_time(event), "id": int(event["id"]) + 1,
                                "previousEventId": previous + 1 if previous < int(event["id"]) else 1})
            history.append({"type": "ExecutionSucceeded", "timestamp": event_time(events[-1]),
                            "id": len(history) + 1, "previousEventId": len(history)})
            _HISTORIES[child] = history
            _LISTED.setdefault(run, []).append({
                "executionArn": child, "stateMachineArn": run.replace(":mapRun:", ":stateMachine:").rsplit(":", 1)[0],
                "name": child.rsplit(":", 1)[-1], "status": "SUCCEEDED", "startDate": history[0]["timestamp"],
                "stopDate": history[-1]["timestamp"], "mapRunArn": run})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    with LocalEngine() as engine:
        original = distributed_map.forget_items
        distributed_map.forget_items = lambda execution_arn: None  # kept for the recorder below
        try:
            compiled = compile_workflow(parse_workflow(parse_yaml(WORKFLOW), "<bench>"), "<bench>", split=False)
            result = engine.run(compiled, {"items": list(range(args.items))}, timeout_s=600)
            kept = distributed_map.item_events(result.execution_arn)
        finally:
            distributed_map.forget_items = original
        _present(kept)
        StepFunctionResponse.list_executions = _list_executions  # type: ignore[method-assign]
        StepFunctionResponse.get_execution_history = _get_execution_history  # type: ignore[method-assign]
        ddb = local_client("dynamodb")
        create_table(ddb, TABLE)
        desc = engine.sfn.describe_execution(executionArn=result.execution_arn)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()))
            (Path(folder) / "index.json").write_text(json.dumps({desc["stateMachineArn"].rsplit(":", 1)[-1]: compiled.name}))
            os.environ.update(STEPWEAVE_TABLE=TABLE, STEPWEAVE_MANIFESTS_DIR=folder)
            calls: collections.Counter[str] = collections.Counter()
            sfn = local_client("stepfunctions", validate=False)
            sfn.meta.events.register("before-call.states.*", lambda model, **_: calls.update([model.name]))
            handler.clients = functools.cache(lambda: Clients(
                sfn=sfn, ddb=ddb, logs=local_client("logs"), item_bound=handler.ITEM_BOUND))
            started = time.perf_counter()
            out = handler.lambda_handler(status_change_event(desc), None)
            seconds = time.perf_counter() - started
    print(f"{args.items:,} items, {sum(len(c) for c in _LISTED.values()):,} children in {len(_LISTED)} Map Run(s); "
          f"bound {handler.ITEM_BOUND}")
    print(f"recorder: {out.get('blockLogs')} block logs, {out.get('unloggedItems', 0):,} items unlogged, "
          f"{seconds:.1f} s")
    print("Step Functions calls: " + ", ".join(f"{name} {n}" for name, n in sorted(calls.items())))


if __name__ == "__main__":
    main()
