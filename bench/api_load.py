"""Run-API requests per second against the local gateway (``stepweave serve``'s stack).

Prints requests/s for GET /health, GET /v1/executions/{id} and GET /v1/executions, and the
ratio to a trivial handler behind the same gateway (the HTTP and event overhead alone),
measured in the same process. Usage: python bench/api_load.py [requests per route]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

import httpx  # noqa: E402

from stepweave.local.api import LocalApi  # noqa: E402
from stepweave.local.engine import LocalEngine  # noqa: E402
from stepweave.local.gateway import Gateway, Route  # noqa: E402
from tests.engine.helpers import compile_text  # noqa: E402

FLOW = """
name: bench
blocks:
  - {id: start, type: start}
  - {id: r, name: Respond, type: response, params: {data: {ok: true}}}
edges: [start -> r]
"""


def _rate(client: httpx.Client, path: str, n: int, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    for _ in range(n):
        client.get(path, headers=headers).raise_for_status()
    return n / (time.perf_counter() - started)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    workflow = compile_text(FLOW)
    with LocalEngine() as engine, LocalApi(engine, {workflow.name: workflow}) as api:
        key = api.api_key(tenant="bench")
        baseline = Route("GET", "/baseline", lambda event: {"statusCode": 200, "body": "{}"})
        with Gateway([*api.routes, baseline], port=0) as gateway, httpx.Client(base_url=gateway.url) as client:
            auth = {"Authorization": f"Bearer {key}"}
            run = client.post("/v1/workflows/bench/run", headers=auth, json={})
            execution = run.headers["x-stepweave-execution-id"]
            base = _rate(client, "/baseline", n, {})
            print(f"baseline (trivial handler): {base:8.0f} req/s")
            for label, path in (("GET /health", "/health"), (f"GET /v1/executions/{{id}}", f"/v1/executions/{execution}"),
                                ("GET /v1/executions", "/v1/executions")):
                rate = _rate(client, path, n, auth)
                print(f"{label:28s}{rate:8.0f} req/s  ({rate / base:.2f}x baseline)")


if __name__ == "__main__":
    main()
