"""Webhook ingest under load on loopback: requests per second, latency, lost or duplicated executions.

The local gateway (``stepweave.local.gateway``, the one ``stepweave serve`` runs) serves
``POST /webhooks/{workflow}`` with ``handle_webhook`` on moto's DynamoDB and Step Functions
(a one-state Standard machine; moto records executions without running them, so this
measures the ingest: signature, dedup claim, StartExecution, record). A baseline route on
the same gateway answers 202 without doing anything: the ratio is the ingest's own cost.

Deliveries are GitHub-signed; a share of them are resent with the same delivery id (provider
retries), a 409 (another request is accepting it) is resent. At the end every distinct
delivery must have exactly one execution, and every answer for a delivery the same id.

    python bench/webhook_load.py [--requests 2000] [--concurrency 8] [--retries 0.2] [--max-seconds 60]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

SECRET = "bench-secret"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], float]:
    parts = urlsplit(url)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    elapsed = time.perf_counter() - start
    return response.status, json.loads(data or b"{}"), elapsed


def _signed(body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}",
            "X-GitHub-Delivery": delivery}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(requests: int, concurrency: int, retries: float, max_seconds: float) -> dict[str, Any]:
    from moto import mock_aws
    from stepweave.local.gateway import Gateway, Route
    from stepweave.local.records import create_table, local_client
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.secrets import Secrets
    from stepweave.runtime.settings import Settings
    from stepweave.triggers.declare import WebhookTrigger
    from stepweave.triggers.targets import WebhookTarget
    from stepweave.triggers.webhook import handle_webhook

    with mock_aws():
        sfn, ddb = local_client("stepfunctions"), local_client("dynamodb")
        create_table(ddb, "records")
        arn = sfn.create_state_machine(name="bench-repo", definition=PASS,
                                       roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
        trigger = WebhookTrigger.model_validate(
            {"type": "webhook", "signature": {"scheme": "github", "secret": "BENCH_SECRET"}})
        targets = {"repo": WebhookTarget("repo", arn, "STANDARD", trigger)}
        settings = Settings(table="records")
        clients = Clients(sfn=sfn, ddb=ddb)
        secrets = Secrets(settings, env={"BENCH_SECRET": SECRET})

        def ingest(event: dict[str, Any]) -> dict[str, Any]:
            return handle_webhook(event, clients=clients, settings=settings, workflows=targets,
                                  secrets=secrets)

        def baseline(event: dict[str, Any]) -> dict[str, Any]:
            return {"statusCode": 202, "headers": {"Content-Type": "application/json"},
                    "body": "{}", "isBase64Encoded": False}

        gateway = Gateway([Route("POST", "/webhooks/{workflow}", ingest),
                           Route("POST", "/baseline", baseline)], port=0).start()
        rng = random.Random(7)
        unique = max(1, round(requests * (1 - retries)))
        plan = [f"d-{i}" for i in range(unique)]
        plan += [f"d-{rng.randrange(unique)}" for _ in range(requests - unique)]
        rng.shuffle(plan)
        deadline = time.monotonic() + max_seconds

        def deliver(delivery: str) -> tuple[str, int, str | None, float]:
            body = json.dumps({"delivery": delivery, "action": "opened"}).encode()
            latency = 0.0
            for _ in range(50):
                status, answer, elapsed = _post(gateway.url, "/webhooks/repo", body,
                                                _signed(body, delivery))
                latency = elapsed
                if status != 409 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            return delivery, status, answer.get("executionId"), latency

        def base(_: int) -> float:
            return _post(gateway.url, "/baseline", b"{}", {"Content-Type": "application/json"})[2]

        try:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                started = time.perf_counter()
                base_latencies = list(pool.map(base, range(min(requests, 1000))))
                base_seconds = time.perf_counter() - started
                started = time.perf_counter()
                results = list(pool.map(deliver, plan))
                seconds = time.perf_counter() - started
        finally:
            gateway.stop()
        executions = []
        token = None
        while True:
            page = sfn.list_executions(stateMachineArn=arn, **({"nextToken": token} if token else {}))
            executions += page["executions"]
            token = page.get("nextToken")
            if not token:
                break
    ids: dict[str, set[str]] = {}
    for delivery, status, execution, _ in results:
        if status in (200, 202) and execution:
            ids.setdefault(delivery, set()).add(execution)
    distinct = set(plan)
    latencies = [r[3] for r in results]
    return {
        "requests": len(results), "distinct deliveries": len(distinct), "concurrency": concurrency,
        "webhook req/s": round(len(results) / seconds, 1),
        "webhook p50 ms": round(_percentile(latencies, 0.50), 2),
        "webhook p99 ms": round(_percentile(latencies, 0.99), 2),
        "baseline req/s": round(len(base_latencies) / base_seconds, 1),
        "baseline p99 ms": round(_percentile(base_latencies, 0.99), 2),
        "p50 vs baseline": round(statistics.median(latencies) / statistics.median(base_latencies), 1),
        "executions": len(executions),
        "lost": len(distinct - set(ids)),
        "duplicated": len(executions) - len(distinct),
        "inconsistent answers": sum(1 for v in ids.values() if len(v) > 1),
        "non-2xx": sum(1 for r in results if r[1] not in (200, 202)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--retries", type=float, default=0.2, help="share of resent deliveries")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    figures = run(args.requests, args.concurrency, args.retries, args.max_seconds)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    ok = figures["lost"] == 0 and figures["duplicated"] == 0 and figures["inconsistent answers"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
