"""A synchronous Express run that outlives the API's wait: 504 with its name, then polled by name.

``StartSyncExecution`` is answered by a slow Step Functions stand-in on loopback (real HTTP,
a real botocore read timeout, the client the deployed run API builds); the run's log events
then reach the recorder as a CloudWatch Logs delivery; the records table is moto's DynamoDB.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from moto import mock_aws

from stepweave.api.app import ApiContext, build_resolver, resolve
from stepweave.api.errors import SyncTimeout
from stepweave.api.executions import AwsExecutions, Target, sync_client
from stepweave.api.keys import create_key
from stepweave.local.gateway import to_event
from stepweave.local.records import create_table, local_client
from stepweave.runtime.express import record_log_delivery
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings
from tests.loopback import Loopback, loopback

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:dev-quote"
SETTINGS = Settings(table="records")


@pytest.fixture()
def slow() -> Iterator[Loopback]:
    """Step Functions answering every request after 1.5 s."""
    with loopback(lambda request: (200, b'{"status": "SUCCEEDED"}', 1.5)) as server:
        yield server


def _client(server: Loopback, timeout_s: float) -> Any:
    # StartSyncExecution goes to the ``sync-`` host of the endpoint: loopback has none
    return sync_client(timeout_s, Config(inject_host_prefix=False), endpoint_url=server.url,
                       region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def test_the_sync_client_gives_up_once_without_starting_the_run_again(slow: Loopback) -> None:
    executions = AwsExecutions(None, {"quote": Target("quote", MACHINE, "EXPRESS")},
                               sync_client=_client(slow, 0.3))
    with pytest.raises(SyncTimeout) as info:
        executions.start_sync("quote", "{}", "acme.q-1", 0.3)
    assert info.value.details == {"executionName": "acme.q-1", "workflow": "quote"}
    assert "poll GET /v1/executions/{executionName}" in str(info.value)
    time.sleep(1.8)  # a retry would have reached the server by now
    assert len(slow.requests) == 1


def _delivery(*events: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    messages = [{"id": str(i), "type": kind, "details": details, "previous_event_id": "0",
                 "event_timestamp": str(at), "redrive_count": "0",
                 "execution_arn": f"arn:aws:states:us-east-1:123456789012:express:dev-quote:{name}:"
                                  "5b1e7c1e-0000-4000-8000-00000000abcd"}
                for i, (kind, name, at, details) in enumerate(events)]
    data = {"messageType": "DATA_MESSAGE", "logEvents": [
        {"id": str(i), "timestamp": int(m["event_timestamp"]), "message": json.dumps(m)}
        for i, m in enumerate(messages)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()}}


def test_a_timed_out_run_is_polled_by_name_by_its_tenant_only(slow: Loopback) -> None:
    with mock_aws():
        ddb = local_client("dynamodb")
        create_table(ddb, "records")
        key_a, _ = create_key(ddb, SETTINGS, tenant="acme")
        key_b, _ = create_key(ddb, SETTINGS, tenant="globex")
        executions = AwsExecutions(None, {"quote": Target("quote", MACHINE, "EXPRESS")},
                                   sync_client=_client(slow, 0.3))
        context = ApiContext(ddb=ddb, settings=SETTINGS, executions=executions, version="t",
                             sync_timeout_s=0.3)
        resolver = build_resolver(lambda: context)

        def call(method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
            event = to_event(method, path, {"x-api-key": key},
                             json.dumps(body).encode() if body is not None else b"",
                             resource=path, path_parameters=None)
            response = resolve(resolver, event, None)
            return response["statusCode"], json.loads(response["body"])

        status, body = call("POST", "/v1/workflows/quote/run", key_a, {"name": "q-7", "input": {"n": 1}})
        assert status == 504 and body["error"]["code"] == "timeout", body
        name = body["error"]["executionName"]
        assert name == "acme.q-7"
        # nothing is known of the run until its log events arrive
        assert call("GET", f"/v1/executions/{name}", key_a)[0] == 404

        recorder = Clients(sfn=None, ddb=ddb)
        manifests = {"workflow": "quote", "type": "EXPRESS", "states": {}, "blocks": {}}
        t0 = 1_764_000_000_000
        record_log_delivery(_delivery(("ExecutionStarted", name, t0, {"input": '{"n": 1}'}),
                                      ("ExecutionStarted", "wh-3f2a", t0, {"input": "{}"})),
                            settings=SETTINGS, clients=recorder, manifests=lambda _arn: manifests)
        status, running = call("GET", f"/v1/executions/{name}", key_a)
        assert status == 200 and running["status"] == "running" and running["trigger"] == {"type": "api"}
        assert running["executionId"].endswith(f":express:dev-quote:{name}:5b1e7c1e-0000-4000-8000-00000000abcd")
        # another tenant, and a name the API did not give, find nothing
        assert call("GET", f"/v1/executions/{name}", key_b)[0] == 404
        assert call("GET", "/v1/executions/wh-3f2a", key_a)[0] == 404

        record_log_delivery(_delivery(("ExecutionSucceeded", name, t0 + 31_000, {"output": '{"price": 12}'})),
                            settings=SETTINGS, clients=recorder, manifests=lambda _arn: manifests)
        status, done = call("GET", f"/v1/executions/{name}", key_a)
        assert status == 200 and done["status"] == "succeeded" and done["output"] == {"price": 12}, done
        assert done["durationMs"] == 31_000
        # billed on its request and duration; its Lambda invocations were not counted
        assert done["bill"]["workflowType"] == "EXPRESS" and done["bill"].get("lambdaInvocations") is None
        assert done["bill"]["text"].startswith("1 Express request, 31.0 s at 64 MB")
        assert done["bill"]["text"].endswith("its Lambda invocations not counted")
        # and the tenant's listing shows it, the other tenant's does not
        listed = call("GET", "/v1/executions?workflow=quote", key_a)[1]
        assert [i["executionId"] for i in listed["items"]] == [done["executionId"]]
        assert call("GET", "/v1/executions?workflow=quote", key_b)[1]["items"] == []
