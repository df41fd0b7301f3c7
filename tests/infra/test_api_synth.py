"""The ``StepweaveApi`` and the run-API function in the synthesized engine stack (built once)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra import ROOT  # noqa: E402
from infra.app import ContextError, build_app  # noqa: E402
from infra.constructs.api import RUN_API_ROUTES, TABLE_ACTIONS  # noqa: E402
from stepweave.api.sim_routes import SIM_ROUTES  # noqa: E402
from infra.stacks.data import DataStack  # noqa: E402
from infra.stacks.engine import EngineStack  # noqa: E402

STAGE = "dev"
SIM_ID = "0d6f2c3e-51b4-4f0a-9a7e-3c2b1d0e9f8a"
STANDARD = """
version: 1
name: nightly
type: standard
blocks:
  - {id: start, type: start}
  - {id: f, name: F, type: function, params: {code: "return 1"}}
edges: [start -> f]
"""


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workflows = tmp_path_factory.mktemp("workflows")
    for path in (ROOT / "workflows").iterdir():
        if path.suffix in (".yaml", ".yml", ".json"):
            shutil.copy(path, workflows / path.name)
    (workflows / "nightly.yaml").write_text(STANDARD)
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app({"workflowsDir": str(workflows), "stage": STAGE, "simWorkflowIds": {SIM_ID: "nightly"},
                     "apiRateLimitPerMinute": "120"}, outdir=str(outdir))
    assembly = app.synth()  # cdk-nag findings that are not acknowledged fail here
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    (data,) = [c for c in app.node.children if isinstance(c, DataStack)]
    return {"stack": stack, "template": assembly.get_stack_by_name(stack.stack_name).template,
            "data": assembly.get_stack_by_name(data.stack_name).template}


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _paths(template: dict[str, Any]) -> set[tuple[str, str]]:
    resources = template["Resources"]

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path(parent["Ref"])
        return f"{prefix}/{props['PathPart']}"

    return {(m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]["Ref"]))
            for m in _resources(template, "AWS::ApiGateway::Method").values()}


def test_one_regional_rest_api_with_the_routes(synth: dict[str, Any]) -> None:
    (api,) = _resources(synth["template"], "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    routes = _paths(synth["template"])
    assert set(RUN_API_ROUTES) <= routes
    for method in _resources(synth["template"], "AWS::ApiGateway::Method").values():
        assert method["Properties"]["AuthorizationType"] == "NONE"  # keys are checked by the function
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    assert not any(m == "OPTIONS" for m, _ in routes)  # CORS is off by default


def test_stage_throttles_traces_and_logs_access(synth: dict[str, Any]) -> None:
    (stage,) = _resources(synth["template"], "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == STAGE and props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    json.loads(props["AccessLogSetting"]["Format"])  # JSON lines
    settings = {s["ResourcePath"]: s for s in props["MethodSettings"]}
    assert settings["/*"]["ThrottlingRateLimit"] == 50 and settings["/*"]["LoggingLevel"] == "ERROR"
    assert settings["/~1v1~1workflows~1{workflow}~1run"]["ThrottlingRateLimit"] == 10
    (plan,) = _resources(synth["template"], "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"] == {"BurstLimit": 100, "RateLimit": 50}


def test_sims_routes_go_to_the_run_api_function_as_v1_does(synth: dict[str, Any]) -> None:
    template = synth["template"]
    resources = template["Resources"]
    routes = _paths(template)
    assert set(SIM_ROUTES) <= routes and ("POST", "/api/v2/workflows/{workflow_id}/execute") in routes
    by_route = {}
    for method in _resources(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]["Ref"]
        path = ""
        while True:  # the resource's path, up to the root
            part = resources[resource]["Properties"]
            path = f"/{part['PathPart']}{path}"
            if "Ref" not in part["ParentId"]:
                break
            resource = part["ParentId"]["Ref"]
        by_route[(props["HttpMethod"], path)] = props
    v1 = by_route[("POST", "/v1/workflows/{workflow}/executions")]
    for method, path in SIM_ROUTES:
        props = by_route[(method, path)]
        # the same function and the same checks as /v1: keys are checked by the function
        assert props["Integration"]["Uri"] == v1["Integration"]["Uri"], path
        assert props["AuthorizationType"] == "NONE" and props["Integration"]["Type"] == "AWS_PROXY"
        for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
            assert props["RequestParameters"][f"method.request.path.{name}"] is True
            assert props["RequestValidatorId"] == v1["RequestValidatorId"]
    (stage,) = _resources(template, "AWS::ApiGateway::Stage").values()
    settings = {s["ResourcePath"]: s for s in stage["Properties"]["MethodSettings"]}
    # Sim's execute may run a workflow synchronously: the synchronous rate, as /v1/.../run
    assert settings["/~1api~1v2~1workflows~1{workflow_id}~1execute"]["ThrottlingRateLimit"] == 10
    assert settings["/~1api~1v2~1workflows~1{workflow_id}~1execute"]["HttpMethod"] == "POST"
    assert settings["/~1api~1workflows~1{workflow_id}~1execute"]["ThrottlingRateLimit"] == 10
    # the Sim workflow ids of the context reach the function
    fn = next(f for k, f in _resources(template, "AWS::Lambda::Function").items() if "RunApi" in k)
    env = fn["Properties"]["Environment"]["Variables"]
    assert json.loads(env["STEPWEAVE_SIM_WORKFLOW_IDS"]) == {SIM_ID: "nightly"}
    assert env["STEPWEAVE_RATE_LIMIT_PER_MINUTE"] == "120"


def test_sim_workflow_ids_must_name_workflows_and_the_rate_limit_be_a_count(tmp_path: Path) -> None:
    (tmp_path / "nightly.yaml").write_text(STANDARD)
    for ids, message in (({SIM_ID: "nope"}, f"no workflow of that name: '{SIM_ID}' -> 'nope'"),
                         ('{"a/b": "nightly"}',
                          "'a/b' is not a Sim workflow id (1 to 128 letters, digits, '-', '_', '.' or ':')"),
                         ("[1]", 'not a JSON object {"<Sim workflow id>": "<workflow>"}')):
        with pytest.raises(ContextError) as info:
            build_app({"workflowsDir": str(tmp_path), "stage": STAGE, "simWorkflowIds": ids},
                      outdir=str(tmp_path / "out"))
        assert str(info.value) == f"context value 'simWorkflowIds': {message}"
    with pytest.raises(ContextError, match="'apiRateLimitPerMinute' must be a whole number"):
        build_app({"workflowsDir": str(tmp_path), "stage": STAGE, "apiRateLimitPerMinute": "0"},
                  outdir=str(tmp_path / "out"))


def test_gateway_errors_use_the_api_error_shape(synth: dict[str, Any]) -> None:
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in _resources(synth["template"], "AWS::ApiGateway::GatewayResponse").values()}
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert '"code": "throttled"' in throttled["ResponseTemplates"]["application/json"]
    assert responses["INTEGRATION_TIMEOUT"]["StatusCode"] == "504"


def _policy_of(synth: dict[str, Any], fragment: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for logical_id, policy in _resources(synth["template"], "AWS::IAM::Policy").items():
        if fragment in logical_id:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_the_run_api_may_only_touch_this_deployments_workflows(synth: dict[str, Any]) -> None:
    stack = synth["stack"]
    statements = _policy_of(synth, "RunApi")
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a for a in actions if a.startswith("states:")} == {
        "states:StartExecution", "states:DescribeStateMachineAlias", "states:StartSyncExecution",
        "states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"}
    # it starts (and describes) the `live` aliases only
    for statement in statements:
        if set(_as_list(statement["Action"])) & {"states:StartExecution", "states:StartSyncExecution",
                                                  "states:DescribeStateMachineAlias"}:
            assert statement["Condition"] == {"StringEquals": {"states:StateMachineQualifier": "live"}}
    assert {a for a in actions if a.startswith("dynamodb:")} == set(TABLE_ACTIONS)
    start = next(s for s in statements if "states:StartExecution" in s["Action"])
    assert len(start["Resource"]) == len(stack.workflows)
    stop = next(s for s in statements if "states:StopExecution" in s["Action"])
    text = json.dumps(stop["Resource"])
    assert f"execution:{STAGE}-nightly:*" in text and "express" not in text.lower()
    # /retry redrives this deployment's Standard executions, nothing else
    (redrive,) = [s for s in statements if "states:RedriveExecution" in _as_list(s["Action"])]
    assert redrive["Resource"] == stop["Resource"] and "Condition" not in redrive
    fn = next(f for k, f in _resources(synth["template"], "AWS::Lambda::Function").items() if "RunApi" in k)
    env = fn["Properties"]["Environment"]["Variables"]
    assert {"STEPWEAVE_TABLE", "STEPWEAVE_WORKFLOWS", "STEPWEAVE_STATE_MACHINE_PREFIX", "STEPWEAVE_VERSION",
            "STEPWEAVE_PAYLOAD_BUCKET"} <= set(env)
    assert env["STEPWEAVE_STATE_MACHINE_ALIAS"] == "live"
    assert fn["Properties"]["Timeout"] == 29
    # /run reads stored output parts back: s3:GetObject on the payload bucket's objects only
    s3 = [s for s in statements if any(str(a).startswith("s3:") for a in
                                       ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))]
    assert [s["Action"] for s in s3] == ["s3:GetObject"]
    assert json.dumps(s3[0]["Resource"]).endswith('"/*"]]}')


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_records_table_has_the_tenant_index(synth: dict[str, Any]) -> None:
    (table,) = _resources(synth["data"], "AWS::DynamoDB::Table").values()
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert indexes["byTenant"]["KeySchema"] == [{"AttributeName": "gsi2pk", "KeyType": "HASH"},
                                                {"AttributeName": "gsi2sk", "KeyType": "RANGE"}]


def test_the_api_url_is_an_output(synth: dict[str, Any]) -> None:
    assert "ApiUrl" in synth["template"]["Outputs"]


def test_cfn_lint_finds_no_error_in_the_api(synth: dict[str, Any], tmp_path: Path) -> None:
    exe = Path(__import__("sys").executable).with_name("cfn-lint")
    if not exe.exists():
        pytest.skip("cfn-lint is not installed")
    path = tmp_path / "engine.template.json"
    path.write_text(json.dumps(synth["template"]))
    import subprocess

    result = subprocess.run([str(exe), "--format", "json", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)
    findings = json.loads(result.stdout or "[]")
    assert [f for f in findings if f["Level"] == "Error"] == []
