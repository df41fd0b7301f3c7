"""The deployment's HTTP API: one regional REST API (``StepweaveApi``) and the run-API
function behind most of it (``RunApiFunction``).

Routes (Lambda proxy integrations; authentication is done by the functions: API keys for
``/v1``, signatures for webhooks, CSRF tokens for the decision pages):

* ``GET /health``, ``POST /v1/workflows/{workflow}/executions``, ``POST
  /v1/workflows/{workflow}/run``, ``GET /v1/executions``, ``GET /v1/executions/{id}``,
  ``POST /v1/executions/{id}/cancel``, ``POST /v1/executions/{id}/rerun``, ``POST
  /v1/executions/{id}/retry`` and Sim's routes (``POST /api/v2/workflows/{workflow_id}/execute``,
  ``POST /api/workflows/{workflow_id}/execute``,
  ``GET .../runs/{run_id}``, ``GET /api/jobs/{job_id}``, ``GET /api/workflows/{workflow_id}/status``,
  ``GET /api/users/me/usage-limits``: ``stepweave.api.sim_routes``) -> the run-API function;
* ``POST /webhooks/{workflow}`` -> ``ingest_function`` (when given);
* ``GET|POST /approvals/{id}``, ``GET /v1/approvals``, ``POST /v1/approvals/{id}/decision``
  -> ``decision_function``
  (when given).

The stage throttles (rate and burst, lower for synchronous runs) and carries a usage plan,
writes JSON access logs to its own log group, traces with X-Ray and logs errors. API
Gateway's own errors (unknown route, throttling, too large, timeout) answer the API's JSON
error shape. CORS is off unless origins are given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from stepweave.api.sim_routes import SIM_ROUTES
from stepweave.runtime.arns import LIVE_ALIAS

from infra.constructs.handlers import HandlerSettings, python_function
from infra.constructs.recorder import execution_arn_pattern
from infra.constructs.workflow import WorkflowStateMachine, qualifier_condition

__all__ = ["RUN_API_FOLDER", "TABLE_ACTIONS", "TENANT_INDEX", "RUN_API_SETTINGS", "RUN_API_ROUTES", "SYNC_ROUTES", "StepweaveApi", "RunApiFunction",
           "ERROR_RESPONSES"]

RUN_API_FOLDER = "runapi"
#: The run API's actions on the records table (and its byTenant index).
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query")
TENANT_INDEX = "byTenant"
#: A synchronous run waits up to 25 s; API Gateway gives up at 29 s.
RUN_API_SETTINGS = HandlerSettings(memory_mb=512, timeout_seconds=29)
#: (method, path) of the run API's routes.
RUN_API_ROUTES = (
    ("GET", "/health"),
    ("POST", "/v1/workflows/{workflow}/executions"),
    ("POST", "/v1/workflows/{workflow}/run"),
    ("GET", "/v1/executions"),
    ("GET", "/v1/executions/{id}"),
    ("POST", "/v1/executions/{id}/cancel"),
    ("POST", "/v1/executions/{id}/rerun"),
    ("POST", "/v1/executions/{id}/retry"),
    *SIM_ROUTES,
)
#: The routes that may run a workflow synchronously: the stage's lower rate.
SYNC_ROUTES = ("/v1/workflows/{workflow}/run", "/api/v2/workflows/{workflow_id}/execute",
               "/api/workflows/{workflow_id}/execute")
_R = apigw.ResponseType
#: API Gateway's own errors -> (status, code) of the API's error shape.
ERROR_RESPONSES: Mapping[str, tuple[apigw.ResponseType, str, str]] = {
    "MissingRoute": (_R.MISSING_AUTHENTICATION_TOKEN, "404", "not_found"),
    "Throttled": (_R.THROTTLED, "429", "throttled"),
    "QuotaExceeded": (_R.QUOTA_EXCEEDED, "429", "throttled"),
    "TooLarge": (_R.REQUEST_TOO_LARGE, "413", "too_large"),
    "BadBody": (_R.BAD_REQUEST_BODY, "400", "invalid_input"),
    "BadParameters": (_R.BAD_REQUEST_PARAMETERS, "400", "invalid_input"),
    "Timeout": (_R.INTEGRATION_TIMEOUT, "504", "timeout"),
    "Default4xx": (_R.DEFAULT_4_XX, "", "invalid_input"),
    "Default5xx": (_R.DEFAULT_5_XX, "", "internal"),
}


class RunApiFunction(Construct):
    """The run-API function: may start, describe and stop executions of this deployment's
    workflows only, and read and write the records table."""

    def __init__(self, scope: Construct, construct_id: str, *, code_dir: Path, layer: lambda_.ILayerVersion,
                 table: dynamodb.ITable, workflows: Mapping[str, WorkflowStateMachine], stage: str,
                 version: str, record_retention_days: int, log_retention: logs.RetentionDays,
                 log_level: str, payload_bucket: s3.IBucket | None = None,
                 sim_workflow_ids: Mapping[str, str] | None = None,
                 rate_limit_per_minute: int | None = None) -> None:
        """``payload_bucket``: where handlers store outputs over the inline budget; ``/run``
        reads a run's stored output parts back from it (``s3:GetObject`` only).
        ``sim_workflow_ids``: the Sim workflow ids Sim's routes take for workflows;
        ``rate_limit_per_minute``: each key's requests a minute there (none: the default)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = stack.format_arn(service="states", resource="stateMachine", resource_name=f"{stage}-",
                                  arn_format=ArnFormat.COLON_RESOURCE_NAME)
        types = {name: w.compiled.workflow_type for name, w in sorted(workflows.items())}
        self.function = python_function(
            self, RUN_API_FOLDER, description="Stepweave run API: start, follow and cancel executions",
            code=lambda_.Code.from_asset(str(code_dir), exclude=["__pycache__", "*.pyc"]),
            layer=layer, settings=RUN_API_SETTINGS, log_retention=log_retention, log_level=log_level,
            environment={"STEPWEAVE_TABLE": table.table_name,
                         "STEPWEAVE_RETENTION_DAYS": str(record_retention_days),
                         "STEPWEAVE_WORKFLOWS": stack.to_json_string(types),
                         "STEPWEAVE_STATE_MACHINE_PREFIX": prefix,
                         "STEPWEAVE_STATE_MACHINE_ALIAS": LIVE_ALIAS,
                         "STEPWEAVE_VERSION": version,
                         **({"STEPWEAVE_PAYLOAD_BUCKET": payload_bucket.bucket_name}
                            if payload_bucket is not None else {}),
                         **({"STEPWEAVE_SIM_WORKFLOW_IDS": json.dumps(dict(sim_workflow_ids), sort_keys=True)}
                            if sim_workflow_ids else {}),
                         **({"STEPWEAVE_RATE_LIMIT_PER_MINUTE": str(rate_limit_per_minute)}
                            if rate_limit_per_minute else {})})
        self.payload_bucket = payload_bucket
        if payload_bucket is not None:
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[payload_bucket.arn_for_objects("*")]))
        # what stepweave.api calls: GetItem (keys, records), UpdateItem (started records),
        # Query (block logs; a tenant's executions through the byTenant index)
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=list(TABLE_ACTIONS), resources=[table.table_arn, f"{table.table_arn}/index/{TENANT_INDEX}"]))
        # it starts each workflow's `live` alias, and nothing else (the qualifier condition);
        # /health describes the alias
        machines = [w.state_machine.state_machine_arn for w in workflows.values()]
        if machines:
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["states:StartExecution"], resources=machines,
                conditions=qualifier_condition()))
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["states:DescribeStateMachineAlias"], resources=machines,
                conditions=qualifier_condition()))
        express = [w.state_machine.state_machine_arn for w in workflows.values()
                   if w.compiled.workflow_type == "EXPRESS"]
        if express:
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["states:StartSyncExecution"], resources=express,
                conditions=qualifier_condition()))
        standard = [execution_arn_pattern(stack, w.state_machine_name) for w in workflows.values()
                    if w.compiled.workflow_type == "STANDARD"]
        if standard:  # /retry redrives a failed run: Standard executions only (Express cannot be)
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"],
                resources=standard))
        self.workflows = dict(workflows)


class StepweaveApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str,
                 run_api_function: lambda_.IFunction, log_retention: logs.RetentionDays,
                 ingest_function: lambda_.IFunction | None = None,
                 decision_function: lambda_.IFunction | None = None,
                 throttle_rate: float = 50, throttle_burst: int = 100, sync_throttle_rate: float = 10,
                 cors_origins: Sequence[str] | None = None) -> None:
        super().__init__(scope, construct_id)
        self.stage_name = stage
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention)
        self.api = apigw.RestApi(
            self, "RestApi", rest_api_name=f"stepweave-{stage}",
            description=f"Stepweave ({stage}): run API, webhooks and approval decisions",
            endpoint_configuration=apigw.EndpointConfiguration(types=[apigw.EndpointType.REGIONAL]),
            cloud_watch_role=True,
            default_cors_preflight_options=apigw.CorsOptions(allow_origins=list(cors_origins))
            if cors_origins else None,
            deploy_options=apigw.StageOptions(
                stage_name=stage, tracing_enabled=True, metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR, data_trace_enabled=False,
                throttling_rate_limit=throttle_rate, throttling_burst_limit=throttle_burst,
                method_options={f"{path}/POST": apigw.MethodDeploymentOptions(
                    throttling_rate_limit=sync_throttle_rate,
                    throttling_burst_limit=max(1, int(sync_throttle_rate * 2))) for path in SYNC_ROUTES},
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=False)))
        self.validator = apigw.RequestValidator(self, "Validator", rest_api=self.api,
                                                validate_request_parameters=True, validate_request_body=True)
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan", name=f"stepweave-{stage}",
            throttle=apigw.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)])
        for name, (kind, status, code) in ERROR_RESPONSES.items():
            self.api.add_gateway_response(
                name, type=kind, status_code=status or None,
                response_headers={"Content-Type": "'application/json'",
                                  **({"Retry-After": "'1'"} if status == "429" else {})},
                templates={"application/json": '{"error": {"code": "' + code
                           + '", "message": $context.error.messageString}}'})
        self.functions: dict[str, lambda_.IFunction] = {"runapi": run_api_function}
        for method, path in RUN_API_ROUTES:
            self._route(method, path, run_api_function)
        if ingest_function is not None:
            self.functions["ingest"] = ingest_function
            self._route("POST", "/webhooks/{workflow}", ingest_function)
        if decision_function is not None:
            self.functions["decision"] = decision_function
            for method, path in (("GET", "/approvals/{id}"), ("POST", "/approvals/{id}"),
                                 ("GET", "/v1/approvals"), ("POST", "/v1/approvals/{id}/decision")):
                self._route(method, path, decision_function)

    @property
    def url(self) -> str:
        return self.api.url

    def url_without_stage_dependency(self) -> str:
        """The same URL built from the REST API's id and the stage's name: a function whose
        environment holds it does not depend on the deployment (and so on every routed
        function), which would close a cycle when a routed function's grants depend on
        resources that depend on it (the approval notifier and the state machines)."""
        stack = Stack.of(self)
        return (f"https://{self.api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/"
                f"{self.stage_name}/")

    def _route(self, method: str, path: str, fn: lambda_.IFunction) -> apigw.Method:
        resource = self.api.root.resource_for_path(path)
        params = {f"method.request.path.{p.strip('{}')}": True for p in path.split("/") if p.startswith("{")}
        return resource.add_method(
            method, apigw.LambdaIntegration(fn, proxy=True, allow_test_invoke=False),
            authorization_type=apigw.AuthorizationType.NONE, request_parameters=params or None,
            request_validator=self.validator if params else None)
