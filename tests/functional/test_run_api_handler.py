"""functions/runapi/handler.py with API Gateway REST proxy events, on the AWS implementation
(``AwsExecutions``) against moto's Step Functions and DynamoDB."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stepweave.api.errors import Conflict, Throttled
from stepweave.api.executions import translate
from stepweave.api.keys import create_key
from stepweave.local import moto_versions
from stepweave.local.gateway import to_event
from stepweave.local.records import create_table, local_client
from stepweave.runtime.settings import Settings
from tests.conftest import ROOT

TABLE = "records"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


@pytest.fixture()
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    moto_versions.install()  # moto starts versions and aliases
    # executions run (moto's interpreter), as the embedded engine's do
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        ddb, sfn = local_client("dynamodb"), local_client("stepfunctions")
        create_table(ddb, TABLE)
        # deployed as the CDK app deploys it: a published version and the `live` alias
        made = sfn.create_state_machine(name="dev-orders", definition=PASS, type="STANDARD",
                                        roleArn="arn:aws:iam::123456789012:role/r", publish=True)
        arn = made["stateMachineArn"]
        sfn.create_state_machine_alias(name="live", routingConfiguration=[
            {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}])
        monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
        monkeypatch.setenv("STEPWEAVE_WORKFLOWS", json.dumps({"orders": "STANDARD"}))
        monkeypatch.setenv("STEPWEAVE_STATE_MACHINE_PREFIX", arn[: -len("orders")])
        monkeypatch.setenv("STEPWEAVE_STATE_MACHINE_ALIAS", "live")
        monkeypatch.setenv("STEPWEAVE_VERSION", "2025.01-test")
        spec = importlib.util.spec_from_file_location("runapi_handler_test", ROOT / "functions/runapi/handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        key, _ = create_key(ddb, Settings(table=TABLE), tenant="acme")
        yield module, key


def _call(module: Any, method: str, path: str, key: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
    event = to_event(method, path, headers, json.dumps(body).encode() if body is not None else b"",
                     resource=path, path_parameters=None)
    response = module.lambda_handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_start_describe_list_and_cancel_through_the_lambda(handler: tuple[Any, str]) -> None:
    module, key = handler
    status, started = _call(module, "POST", "/v1/workflows/orders/executions", key, {"input": {"id": 7}})
    assert status == 202, started
    assert started["executionId"].endswith(":execution:dev-orders:acme." + started["name"])
    # started through the `live` alias, on the version it points at
    described = local_client("stepfunctions").describe_execution(executionArn=started["executionId"])
    assert described["stateMachineAliasArn"].endswith(":stateMachine:dev-orders:live")
    assert described["stateMachineVersionArn"].endswith(":stateMachine:dev-orders:1")
    status, record = _call(module, "GET", f"/v1/executions/{started['executionId']}", key)
    assert status == 200 and record["input"] == {"id": 7} and record["trigger"]["type"] == "api"
    status, listing = _call(module, "GET", "/v1/executions?workflow=orders", key)
    assert [i["executionId"] for i in listing["items"]] == [started["executionId"]]
    status, _ = _call(module, "POST", f"/v1/executions/{started['executionId']}/cancel", key)
    assert status in (202, 409)  # moto may already have finished the Pass state


def test_health_reports_the_deployed_version(handler: tuple[Any, str]) -> None:
    module, _ = handler
    status, body = _call(module, "GET", "/health")
    assert status == 200 and body["version"] == "2025.01-test"
    assert {d["name"] for d in body["dependencies"]} == {"table", "workflow:orders"}


def test_no_key_and_unknown_workflow(handler: tuple[Any, str]) -> None:
    module, key = handler
    assert _call(module, "POST", "/v1/workflows/orders/executions")[0] == 401
    status, body = _call(module, "POST", "/v1/workflows/other/executions", key, {})
    assert status == 404 and body["error"]["code"] == "not_found"


def test_step_functions_errors_become_api_errors() -> None:
    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "StartExecution")

    assert isinstance(translate(client_error("ThrottlingException")), Throttled)
    assert isinstance(translate(client_error("ExecutionLimitExceeded")), Throttled)
    assert isinstance(translate(client_error("ExecutionAlreadyExists")), Conflict)
    other = client_error("AccessDeniedException")
    assert translate(other) is other
