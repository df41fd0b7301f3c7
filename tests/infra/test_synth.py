"""The CDK app, synthesized once for the module.

The synth reads the real ``workflows/`` plus one Standard workflow (the examples are
all Express, and the recorder treats the two types differently), with an alarm email
and a non-default record retention set, so that one synth covers every optional part.
Until ``functions/recorder/handler.py`` exists, a stand-in recorder is synthesized from
a copy of ``functions/``.

Skipped when the ``cdk`` extra is not installed. The first run on a machine also
downloads the layer's Lambda wheels (then cached per user).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stepweave.compiler.subworkflow import machine_key

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from aws_cdk import aws_sns as sns
from stepweave.compiler.compile import CompiledWorkflow, compile_workflow
from stepweave.errors import WorkflowError
from stepweave.runtime.settings import DEFAULT_INLINE_BUDGET_BYTES
from stepweave.workflow.loader import load_workflow, workflow_files

from infra import ROOT
from infra.app import (
    ContextError,
    build_app,
    check_state_machine_names,
    read_config,
    validate_context,
)
from infra.constructs.handlers import (
    HANDLER_SETTINGS,
    PAYLOAD_ACTIONS,
    SECRETS_ACTIONS,
    HANDLER_TABLE_ACTIONS,
    discover_handlers,
)
from infra.constructs.monitoring import Monitoring
from infra.constructs.recorder import (
    EXECUTION_HISTORY_ACTIONS,
    EXPRESS_LOG_EVENTS,
    RECORDER_SETTINGS,
    TABLE_ACTIONS,
    recorder_code_dir,
)
from infra.stacks.data import DataStack
from infra.stacks.engine import EngineStack

WORKFLOWS = ROOT / "workflows"
BROKEN_WORKFLOW = """\
version: 1
name: broken
blocks:
  - {id: start, type: start, name: Start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges:
  - start -> step
  - step -> nowhere
"""
STANDARD_WORKFLOW = """\
version: 1
name: nightly-report
type: standard
blocks:
  - {id: start, type: start, name: Start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges:
  - start -> step
"""
STAND_IN_RECORDER = """\
def lambda_handler(event, context):
    return None
"""
ALARM_EMAIL = "ops@example.com"
RECORD_RETENTION_DAYS = 45
STAGE = "dev"


@dataclass(frozen=True)
class Synth:
    data: DataStack
    stack: EngineStack
    template: dict[str, Any]  # the engine stack's
    data_template: dict[str, Any]
    outdir: Path
    compiled: dict[str, CompiledWorkflow]
    functions_dir: Path

    def resources(self, type_: str,
                  template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        template = self.template if template is None else template
        return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        stack = cdk.Stack.of(element)
        return str(stack.resolve(element.logical_id))  # overrides included

    def props(self, construct: Any) -> dict[str, Any]:
        template = self.data_template if cdk.Stack.of(construct) is self.data else self.template
        properties: dict[str, Any] = template["Resources"][self.logical_id(construct)]["Properties"]
        return properties

    @property
    def recorder(self) -> Any:
        assert self.stack.recorder is not None
        return self.stack.recorder

    def standard(self) -> list[str]:
        return sorted(n for n, c in self.compiled.items() if c.workflow_type == "STANDARD")

    def express(self) -> list[str]:
        return sorted(n for n, c in self.compiled.items() if c.workflow_type == "EXPRESS")


def _compile_all(directory: Path) -> dict[str, CompiledWorkflow]:
    compiled = [compile_workflow(load_workflow(p), str(p)) for p in workflow_files(directory)]
    return {c.name: c for c in compiled}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    workflows = tmp_path_factory.mktemp("workflows")
    for path in workflow_files(WORKFLOWS):
        shutil.copy(path, workflows / path.name)
    (workflows / "nightly-report.yaml").write_text(STANDARD_WORKFLOW)

    functions_dir = ROOT / "functions"
    if recorder_code_dir(functions_dir) is None:
        functions_dir = tmp_path_factory.mktemp("src") / "functions"
        shutil.copytree(ROOT / "functions", functions_dir,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (functions_dir / "recorder").mkdir(exist_ok=True)
        (functions_dir / "recorder" / "handler.py").write_text(STAND_IN_RECORDER)

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app({"workflowsDir": str(workflows), "alarmEmail": ALARM_EMAIL,
                     "recordRetentionDays": str(RECORD_RETENTION_DAYS)},  # as -c passes it
                    outdir=str(outdir), functions_dir=functions_dir)
    assembly = app.synth()
    (data,) = [c for c in app.node.children if isinstance(c, DataStack)]
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return Synth(
        data=data,
        stack=stack,
        template=assembly.get_stack_by_name(stack.stack_name).template,
        data_template=assembly.get_stack_by_name(data.stack_name).template,
        outdir=outdir,
        compiled=_compile_all(workflows),
        functions_dir=functions_dir,
    )


@pytest.fixture(scope="module")
def cfn_lint(synth: Synth) -> list[dict[str, Any]]:
    exe = Path(sys.executable).with_name("cfn-lint")
    if not exe.exists():
        pytest.skip("cfn-lint is not installed")
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
    assert [Path(t).name for t in templates] == [f"stepweave-{STAGE}-data.template.json",
                                                 f"stepweave-{STAGE}-engine.template.json"]
    result = subprocess.run([str(exe), "--format", "json", *templates],
                            capture_output=True, text=True, check=False, timeout=120)
    assert not result.returncode & 1, f"cfn-lint failed to run:\n{result.stderr}"
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return findings


def _state_machines(synth: Synth) -> Iterator[tuple[CompiledWorkflow, dict[str, Any], Any]]:
    for name, workflow in synth.stack.workflows.items():
        resource = synth.template["Resources"][synth.logical_id(workflow.state_machine)]
        yield synth.compiled[name], resource["Properties"], workflow


# --- state machines -----------------------------------------------------------------------

def test_one_state_machine_per_workflow_with_the_compiled_type(synth: Synth) -> None:
    assert synth.compiled, "workflows/ holds no workflow"
    assert set(synth.stack.workflows) == set(synth.compiled)
    # one per workflow, and one per Express stretch of a split workflow
    assert len(synth.resources("AWS::StepFunctions::StateMachine")) == len(synth.compiled) + sum(
        len(c.stretches) for c in synth.compiled.values())
    for compiled, props, _ in _state_machines(synth):
        assert props["StateMachineType"] == compiled.workflow_type, compiled.name
        assert props["TracingConfiguration"] == {"Enabled": True}
        logging = props["LoggingConfiguration"]
        assert logging["IncludeExecutionData"] is False
        assert logging["Level"] == ("ALL" if compiled.workflow_type == "EXPRESS" else "ERROR")
    assert synth.standard() and synth.express(), "the synth must cover both workflow types"


def test_state_machine_names_are_stage_dash_workflow(synth: Synth) -> None:
    for compiled, props, workflow in _state_machines(synth):
        assert props["StateMachineName"] == f"{STAGE}-{compiled.name}"
        assert workflow.state_machine_name == props["StateMachineName"]


def test_a_state_machine_name_over_80_characters_is_refused() -> None:
    workflow = next(iter(_compile_all(WORKFLOWS).values()))
    check_state_machine_names("s" * (80 - len(workflow.name) - 1), [workflow])  # exactly 80
    with pytest.raises(ContextError, match=r"Step Functions allows 80"):
        check_state_machine_names("s" * (80 - len(workflow.name)), [workflow])


def _invoked_functions(synth: Synth) -> dict[str, Any]:
    """The function behind each ``${Handler_<name>}``: the block handlers and the approval notifier."""
    functions: dict[str, Any] = dict(synth.stack.handlers.functions)
    if synth.stack.approvals is not None:
        functions["approval"] = synth.stack.approvals.notifier
    return functions


def test_definition_is_the_compiled_one_and_every_placeholder_is_substituted(synth: Synth) -> None:
    functions = _invoked_functions(synth)
    for compiled, props, _ in _state_machines(synth):
        text = props["DefinitionString"]
        assert isinstance(text, str), "the definition must not depend on tokens"
        deployed = json.loads(text)
        # the top-level Comment also carries the workflow's block summary (`stepweave diff --aws`)
        assert deployed.pop("Comment").startswith(compiled.definition["Comment"] + " stepweave-file:sha256:")
        assert deployed == {k: v for k, v in compiled.definition.items() if k != "Comment"}
        substitutions = props["DefinitionSubstitutions"]
        # the handlers this state machine invokes (a split parent: those outside its stretches)
        handlers = _handlers_named(compiled)
        stretches = {machine_key(ref) for ref in compiled.stretches}
        assert set(substitutions) == {f"Handler_{h}" for h in handlers} | stretches
        for handler in handlers:
            assert substitutions[f"Handler_{handler}"] == {
                "Fn::GetAtt": [synth.logical_id(functions[handler]), "Arn"]}
        # what CloudFormation does with DefinitionSubstitutions
        for key in substitutions:
            text = text.replace("${" + key + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{key}")
        assert "${Handler_" not in text, compiled.name


def test_state_machine_role_invokes_exactly_the_functions_it_uses(synth: Synth) -> None:
    functions = _invoked_functions(synth)
    policies = synth.resources("AWS::IAM::Policy").values()
    for compiled, props, _ in _state_machines(synth):
        role = props["RoleArn"]["Fn::GetAtt"][0]
        statements = [s for p in policies if {"Ref": role} in p["Properties"]["Roles"]
                      for s in p["Properties"]["PolicyDocument"]["Statement"]]
        lambda_statements = [s for s in statements
                             if any(a.startswith("lambda:") for a in _as_list(s["Action"]))]
        granted: list[Any] = []
        for statement in lambda_statements:
            assert statement["Effect"] == "Allow"
            assert _as_list(statement["Action"]) == ["lambda:InvokeFunction"], statement
            granted += _as_list(statement["Resource"])
        arns = [{"Fn::GetAtt": [synth.logical_id(functions[h]), "Arn"]} for h in _handlers_named(compiled)]
        expected = arns + [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
        assert sorted(map(json.dumps, granted)) == sorted(map(json.dumps, expected)), compiled.name
        # no statement on the role reaches another function through a wildcard
        for statement in statements:
            if "*" in _as_list(statement["Resource"]):
                assert not any(a.startswith("lambda:") or a == "*" for a in _as_list(statement["Action"]))


def _handlers_named(compiled: Any) -> list[str]:
    """The handlers ``compiled``'s own definition invokes (``${Handler_<name>}``)."""
    text = json.dumps(compiled.definition)
    return [h for h in compiled.handlers if "${Handler_" + h + "}" in text]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- handlers, layer, logs ----------------------------------------------------------------

def test_one_function_per_handler_python312_arm64_traced(synth: Synth) -> None:
    handlers = discover_handlers(synth.functions_dir)
    assert handlers == discover_handlers(ROOT / "functions") and "recorder" not in handlers
    assert set(synth.stack.handlers.functions) == set(handlers)
    # the block handlers and the service functions (recorder, run API, ingest, approvals): no
    # function CDK would add behind our back (custom resources, log retention...)
    service = synth.stack.service_functions()
    assert set(handlers) <= set(service) and {"recorder", "runapi"} <= set(service)
    assert sorted(synth.resources("AWS::Lambda::Function")) == sorted(
        synth.logical_id(fn) for fn in service.values())
    layer = synth.logical_id(synth.stack.layer)
    for name, fn in synth.stack.handlers.functions.items():
        props = synth.template["Resources"][synth.logical_id(fn)]["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == "handler.lambda_handler"
        assert props["Layers"] == [{"Ref": layer}]
        assert props["MemorySize"] == HANDLER_SETTINGS[name].memory_mb
        assert props["Timeout"] == HANDLER_SETTINGS[name].timeout_seconds
        env = props["Environment"]["Variables"]
        assert env == {
            "POWERTOOLS_SERVICE_NAME": f"stepweave-{name}",
            "POWERTOOLS_METRICS_NAMESPACE": "Stepweave",
            "LOG_LEVEL": "INFO",
            "STEPWEAVE_PAYLOAD_BUCKET": env["STEPWEAVE_PAYLOAD_BUCKET"],
            "STEPWEAVE_INLINE_BUDGET_BYTES": str(DEFAULT_INLINE_BUDGET_BYTES),
            "STEPWEAVE_SECRETS_BACKEND": "ssm",
            "STEPWEAVE_SECRETS_PREFIX": f"/stepweave/{synth.stack.settings.stage}/",
            **({"STEPWEAVE_TABLE": env["STEPWEAVE_TABLE"]} if name in HANDLER_TABLE_ACTIONS else {}),
        }
        assert _export_of(synth, env["STEPWEAVE_PAYLOAD_BUCKET"]) == {"Ref": "PayloadBucket"}


def _role_grants(synth: Synth, role: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(actions, resources) of every statement granted to ``role``; no managed policies,
    no conditional or Deny statements."""
    assert synth.template["Resources"][role]["Properties"].get("ManagedPolicyArns") is None
    statements = [s for p in synth.resources("AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    granted = sorted((tuple(sorted(_as_list(s["Action"]))),
                      tuple(sorted(_render(r) for r in _as_list(s["Resource"]))))
                     for s in statements if s["Effect"] == "Allow" and "Condition" not in s)
    assert len(granted) == len(statements), role
    return granted


def _model_grants(handler: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The AI handlers may also call Bedrock models (and the email tool, of an agent or of
    a tool block, SES)."""
    ses = (("ses:SendEmail",), ("arn:aws:ses:us-east-1:123456789012:identity/*",))
    if handler == "tool":
        return [ses]
    if handler not in ("agent", "router", "evaluator"):
        return []
    grants = [(("bedrock:InvokeModel",), (
        "arn:aws:bedrock:*::foundation-model/*",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/*"))]
    if handler == "agent":
        grants.append(ses)
    return grants


#: The secrets the example workflows name, by the handler that reads them: the api blocks'
#: {{INTERNAL_API_URL}} and the triage agent's slack tool default; each handler's role may
#: read exactly those parameters (no path wildcard), a handler naming none reads none.
SECRETS_NAMED = {"api": ("INTERNAL_API_URL",), "agent": ("SLACK_WEBHOOK_URL",)}


def test_handler_roles_read_and_write_payload_objects_and_nothing_else(synth: Synth) -> None:
    objects = _render(_export_name(synth, {"Fn::GetAtt": ["PayloadBucket", "Arn"]})) + "/*"
    table_arn = _export_name(synth, {"Fn::GetAtt": ["RecordsTable", "Arn"]})
    for name, fn in synth.stack.handlers.functions.items():
        granted = _role_grants(synth, synth.logical_id(fn.role))
        assert granted == sorted([
            (("logs:CreateLogStream", "logs:PutLogEvents"),
             (f"<{synth.logical_id(fn.log_group)}.Arn>",)),
            (("xray:PutTelemetryRecords", "xray:PutTraceSegments"), ("*",)),
            (tuple(sorted(PAYLOAD_ACTIONS)), (objects,)),
            *([(SECRETS_ACTIONS, tuple(f"arn:aws:ssm:us-east-1:123456789012:parameter/stepweave/"
                                       f"{synth.stack.settings.stage}/{secret}"
                                       for secret in SECRETS_NAMED[name]))]
              if name in SECRETS_NAMED else []),
            *_model_grants(name),
            *([(tuple(sorted(HANDLER_TABLE_ACTIONS[name])), (_render(table_arn),))]
              if name in HANDLER_TABLE_ACTIONS else []),
        ]), name
    assert PAYLOAD_ACTIONS == ("s3:GetObject", "s3:PutObject")
    assert HANDLER_TABLE_ACTIONS == {"agent": ("dynamodb:Query", "dynamodb:PutItem")}
    agent_env = synth.props(synth.stack.handlers.functions["agent"])["Environment"]["Variables"]
    assert _export_of(synth, agent_env["STEPWEAVE_TABLE"]) == {"Ref": "RecordsTable"}
    assert SECRETS_ACTIONS == ("ssm:GetParameter",)


def test_every_log_group_has_the_configured_retention(synth: Synth) -> None:
    log_groups = synth.resources("AWS::Logs::LogGroup")
    days = json.loads((ROOT / "cdk.json").read_text())["context"]["logRetentionDays"]
    assert log_groups and all(g["Properties"]["RetentionInDays"] == days for g in log_groups.values())
    for fn in [*synth.stack.handlers.functions.values(), synth.recorder.function]:
        props = synth.template["Resources"][synth.logical_id(fn)]["Properties"]
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in log_groups
    for _, props, _ in _state_machines(synth):
        (destination,) = props["LoggingConfiguration"]["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] in log_groups


def _asset_dir(synth: Synth, resource: dict[str, Any], key: str) -> Path:
    asset_hash = resource["Properties"][key]["S3Key"].removesuffix(".zip")
    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    return synth.outdir / str(manifest["files"][asset_hash]["source"]["path"])


def test_function_code_is_its_handler_folder_only(synth: Synth) -> None:
    for name, fn in synth.stack.handlers.functions.items():
        code = _asset_dir(synth, synth.template["Resources"][synth.logical_id(fn)], "Code")
        shipped = {p.relative_to(code).as_posix() for p in code.rglob("*")}
        source = {p.relative_to(synth.functions_dir / name).as_posix()
                  for p in (synth.functions_dir / name).rglob("*")
                  if "__pycache__" not in p.parts}
        assert shipped == source and "handler.py" in shipped


def test_layer_holds_stepweave_without_local_and_arm64_wheels(synth: Synth) -> None:
    layer = synth.template["Resources"][synth.logical_id(synth.stack.layer)]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    site = _asset_dir(synth, layer, "Content") / "python"
    assert (site / "stepweave" / "__init__.py").is_file()
    assert (site / "stepweave" / "blocks" / "function_block.py").is_file()
    assert not (site / "stepweave" / "local").exists()
    assert not list(site.joinpath("stepweave").rglob("__pycache__"))
    for package in ("pydantic", "httpx", "aws_lambda_powertools", "py_mini_racer"):
        assert (site / package / "__init__.py").is_file(), package
    native = [*site.glob("pydantic_core/*.so"), site / "py_mini_racer" / "libmini_racer.so"]
    assert len(native) == 2
    for library in native:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183, \
            f"{library.name} is not an aarch64 library"  # 183 = EM_AARCH64
    assert re.search(r"cpython-312-aarch64", native[0].name)


# --- data stack ---------------------------------------------------------------------------

def test_table_and_bucket_logical_ids_are_frozen(synth: Synth) -> None:
    # A new logical id makes CloudFormation create a new, empty table or bucket.
    resources = synth.data_template["Resources"]
    assert resources["RecordsTable"]["Type"] == "AWS::DynamoDB::Table"
    assert resources["PayloadBucket"]["Type"] == "AWS::S3::Bucket"
    assert synth.logical_id(synth.data.table) == "RecordsTable"
    assert synth.logical_id(synth.data.payload_bucket) == "PayloadBucket"
    assert synth.data.stack_name == f"stepweave-{STAGE}-data"


def test_records_table_design(synth: Synth) -> None:
    (table,) = synth.resources("AWS::DynamoDB::Table", synth.data_template).values()
    props = table["Properties"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": n, "AttributeType": "S"}
        for n in ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "pk", "sk")]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert props["GlobalSecondaryIndexes"] == [{
        "IndexName": name,
        "KeySchema": [{"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                      {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    } for name, prefix in (("byWorkflow", "gsi1"), ("byTenant", "gsi2"))]
    assert "LocalSecondaryIndexes" not in props
    assert props["BillingMode"] == "PAY_PER_REQUEST" and "ProvisionedThroughput" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}  # the AWS-managed KMS key
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert "TableName" not in props  # generated: a retained table never blocks a redeploy


def test_payload_bucket_is_private_encrypted_tls_only_and_expires_objects(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket", synth.data_template).values()
    props = bucket["Properties"]
    assert props["BucketEncryption"] == {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props.get("VersioningConfiguration", {"Status": "Suspended"})["Status"] != "Enabled"
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule and "Filter" not in rule
    assert rule["ExpirationInDays"] == RECORD_RETENTION_DAYS
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"

    (policy,) = synth.resources("AWS::S3::BucketPolicy", synth.data_template).values()
    assert policy["Properties"]["Bucket"] == {"Ref": "PayloadBucket"}
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert [_render(r) for r in statement["Resource"]] == [
        "<PayloadBucket.Arn>", "<PayloadBucket.Arn>/*"]


def test_the_engine_receives_the_table_and_bucket_from_the_data_stack(synth: Synth) -> None:
    assert synth.stack.table is synth.data.table
    assert synth.stack.payload_bucket is synth.data.payload_bucket
    assert synth.data in synth.stack.dependencies
    # the engine never defines stateful resources of its own
    for type_ in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
        assert not synth.resources(type_)


# --- recorder -----------------------------------------------------------------------------

def test_recorder_is_skipped_without_its_folder(tmp_path: Path) -> None:
    assert recorder_code_dir(tmp_path) is None
    (tmp_path / "recorder").mkdir()
    assert recorder_code_dir(tmp_path) is None  # a folder without handler.py
    (tmp_path / "recorder" / "handler.py").write_text(STAND_IN_RECORDER)
    assert recorder_code_dir(tmp_path) == tmp_path / "recorder"


def test_recorder_function_and_its_environment(synth: Synth) -> None:
    props = synth.props(synth.recorder.function)
    assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Layers"] == [{"Ref": synth.logical_id(synth.stack.layer)}]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["MemorySize"] == RECORDER_SETTINGS.memory_mb
    assert props["Timeout"] == RECORDER_SETTINGS.timeout_seconds
    env = props["Environment"]["Variables"]
    assert env == {
        "POWERTOOLS_SERVICE_NAME": "stepweave-recorder",
        "POWERTOOLS_METRICS_NAMESPACE": "Stepweave",
        "LOG_LEVEL": "INFO",
        "STEPWEAVE_TABLE": env["STEPWEAVE_TABLE"],
        "STEPWEAVE_RETENTION_DAYS": str(RECORD_RETENTION_DAYS),
        "STEPWEAVE_MANIFESTS_DIR": "manifests",
    }
    assert _export_of(synth, env["STEPWEAVE_TABLE"]) == {"Ref": "RecordsTable"}


def test_recorder_code_is_its_folder_plus_the_manifests(synth: Synth) -> None:
    resource = synth.template["Resources"][synth.logical_id(synth.recorder.function)]
    code = _asset_dir(synth, resource, "Code")
    source = synth.functions_dir / "recorder"
    own = {p.relative_to(source).as_posix() for p in source.rglob("*")
           if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    shipped = {p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file()}
    manifests = {f"manifests/{n}.json" for n in synth.compiled} | {"manifests/index.json"}
    assert shipped == own | manifests and "handler.py" in shipped
    for name, compiled in synth.compiled.items():
        assert json.loads((code / "manifests" / f"{name}.json").read_text()) == compiled.manifest()
    index = json.loads((code / "manifests" / "index.json").read_text())
    assert index == {f"{STAGE}-{name}": name for name in synth.compiled}
    assert not (source / "manifests").exists(), "the synth must not write into functions/"


def test_recorder_role_grants_exactly_what_it_needs(synth: Synth) -> None:
    recorder = synth.recorder
    granted = _role_grants(synth, synth.logical_id(recorder.function.role))
    executions = tuple(sorted(
        f"arn:aws:states:us-east-1:123456789012:execution:{STAGE}-{name}:*"
        for name in synth.standard()))
    queue = f"<{synth.logical_id(recorder.dead_letter_queue)}.Arn>"
    table_export = _render(_export_name(synth, {"Fn::GetAtt": ["RecordsTable", "Arn"]}))
    assert granted == sorted([
        (("logs:CreateLogStream", "logs:PutLogEvents"),
         (f"<{synth.logical_id(recorder.function.log_group)}.Arn>",)),
        (("xray:PutTelemetryRecords", "xray:PutTraceSegments"), ("*",)),
        (("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"), (queue,)),
        (tuple(sorted(TABLE_ACTIONS)), (table_export,)),
        (tuple(sorted(EXECUTION_HISTORY_ACTIONS)), executions),
        # a split workflow's Express stretches: their blocks are read back from their logs
        *((("logs:FilterLogEvents",), (f"<{synth.logical_id(w.stretch_log_groups[ref])}.Arn>",))
          for w in synth.stack.workflows.values() for ref in w.stretches),
        *((("states:DescribeStateMachine",), (f"<{synth.logical_id(machine)}>",))
          for w in synth.stack.workflows.values() for _, machine, _ in w.stretches.values()),
    ])
    # Express executions have no history and no DescribeExecution: nothing granted on them
    assert not any(":express:" in r for _, resources in granted for r in resources)


def test_rule_sends_status_changes_of_exactly_the_standard_state_machines(synth: Synth) -> None:
    rule = synth.resources("AWS::Events::Rule")[synth.logical_id(synth.recorder.rule)]
    pattern = rule["Properties"]["EventPattern"]
    arns = [{"Ref": synth.logical_id(synth.stack.workflows[n].state_machine)}
            for n in synth.standard()]
    assert pattern == {"source": ["aws.states"],
                       "detail-type": ["Step Functions Execution Status Change"],
                       "detail": {"stateMachineArn": arns}}
    (target,) = rule["Properties"]["Targets"]
    queue = synth.logical_id(synth.recorder.dead_letter_queue)
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(synth.recorder.function), "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600
    # EventBridge may send to the dead-letter queue, for this rule only
    (queue_policy,) = synth.resources("AWS::SQS::QueuePolicy").values()
    allows = [s for s in queue_policy["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"], s["Condition"]) for s in allows] == [
        ({"Service": "events.amazonaws.com"}, "sqs:SendMessage",
         {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [synth.logical_id(synth.recorder.rule),
                                                         "Arn"]}}})]


def test_express_logs_deliver_execution_events_to_the_recorder(synth: Synth) -> None:
    filters = synth.resources("AWS::Logs::SubscriptionFilter")
    recorder = {"Fn::GetAtt": [synth.logical_id(synth.recorder.function), "Arn"]}
    by_log_group = {f["Properties"]["LogGroupName"]["Ref"]: f["Properties"]
                    for f in filters.values()}
    expected = {synth.logical_id(synth.stack.workflows[n].log_group) for n in synth.express()}
    assert set(by_log_group) == expected and len(filters) == len(expected)
    for props in by_log_group.values():
        assert props["DestinationArn"] == recorder
        pattern = props["FilterPattern"]
        assert sorted(re.findall(r'\$\.type = "(\w+)"', pattern)) == sorted(EXPRESS_LOG_EVENTS)
    permissions = [p["Properties"] for p in synth.resources("AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == recorder]
    assert sorted(p["Principal"] for p in permissions) == sorted(
        ["logs.amazonaws.com"] * len(expected) + ["events.amazonaws.com"])


def test_failed_asynchronous_invocations_go_to_the_dead_letter_queue(synth: Synth) -> None:
    (config,) = synth.resources("AWS::Lambda::EventInvokeConfig").values()
    queue = synth.logical_id(synth.recorder.dead_letter_queue)
    function = {"Ref": synth.logical_id(synth.recorder.function)}
    assert config["Properties"]["FunctionName"] == function
    assert config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}}
    (dlq,) = synth.resources("AWS::SQS::Queue").values()
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True


# --- monitoring ---------------------------------------------------------------------------

def test_dashboard_has_a_row_per_workflow_and_function_and_the_block_metrics(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"stepweave-{STAGE}"
    body = json.loads(_render(dashboard["Properties"]["DashboardBody"]))
    widgets = body["widgets"]
    titles = [w["properties"].get("title", "") for w in widgets]
    metrics = [m for w in widgets for m in w["properties"].get("metrics", [])]
    for name, workflow in synth.stack.workflows.items():
        arn = f"<{synth.logical_id(workflow.state_machine)}>"
        assert any(name in t for t in titles), name
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                       "ExecutionsTimedOut"):
            assert ["AWS/States", metric, "StateMachineArn", arn] in [m[:4] for m in metrics]
        times = [m[4]["stat"] for m in metrics
                 if m[:4] == ["AWS/States", "ExecutionTime", "StateMachineArn", arn]]
        assert sorted(times) == ["p50", "p90", "p99"]
    functions = {**synth.stack.handlers.functions, "recorder": synth.recorder.function}
    for name, fn in functions.items():
        ref = f"<{synth.logical_id(fn)}>"
        assert any(name in t for t in titles), name
        for metric in ("Invocations", "Errors", "Throttles", "Duration"):
            assert ["AWS/Lambda", metric, "FunctionName", ref] in [m[:4] for m in metrics]
    expressions = [m[0]["expression"] for m in metrics if isinstance(m[0], dict)]
    for metric in ("BlockDuration", "BlockFailures"):
        assert any(e.startswith("SEARCH('{Stepweave,BlockType,service}") and
                   f'MetricName="{metric}"' in e for e in expressions), metric


def test_alarms_for_every_workflow_function_and_the_dead_letter_queue(synth: Synth) -> None:
    topic = {"Ref": synth.logical_id(synth.stack.monitoring.topic)}
    found = set()
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [topic]
        assert props["Threshold"] == 1 and props["EvaluationPeriods"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        if "Metrics" not in props:  # a metric of our own (the approval sweep's)
            found.add((props["Namespace"], props["MetricName"], props["Dimensions"][0]["Value"]))
            continue
        (stat,) = [m["MetricStat"] for m in props["Metrics"]]
        assert stat["Period"] == 300
        metric = stat["Metric"]
        (dimension,) = metric["Dimensions"]
        found.add((metric["Namespace"], metric["MetricName"], _render(dimension["Value"])))
    expected = set()
    for workflow in synth.stack.workflows.values():
        arn = f"<{synth.logical_id(workflow.state_machine)}>"
        expected |= {("AWS/States", "ExecutionsFailed", arn),
                     ("AWS/States", "ExecutionsTimedOut", arn)}
    for fn in synth.stack.service_functions().values():
        expected |= {("AWS/Lambda", m, f"<{synth.logical_id(fn)}>")
                     for m in ("Errors", "Throttles")}
    queues = [synth.recorder.dead_letter_queue]
    if synth.stack.triggers.dead_letter_queue is not None:
        queues.append(synth.stack.triggers.dead_letter_queue)
    for dlq in queues:
        queue = synth.logical_id(dlq)
        expected.add(("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"<{queue}.QueueName>"))
    if synth.stack.approvals is not None:
        expected.add(("Stepweave", "ApprovalsStuck", "stepweave-sweeper"))
    assert found == expected


def test_alarm_topic_is_encrypted_tls_only_and_mails_the_alarm_email(synth: Synth) -> None:
    (topic,) = synth.resources("AWS::SNS::Topic").values()
    (key_id, key), = synth.resources("AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
               and sorted(s["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
               for s in key_statements)
    (policy,) = synth.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    topic_ref = {"Ref": synth.logical_id(synth.stack.monitoring.topic)}
    assert {"Action": "sns:Publish", "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny", "Principal": "*", "Resource": topic_ref,
            "Sid": "AllowPublishThroughSSLOnly"} in statements
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert _render(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == \
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"
    (subscription,) = synth.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {"Endpoint": ALARM_EMAIL, "Protocol": "email",
                                          "TopicArn": topic_ref}


def test_no_subscription_without_an_alarm_email() -> None:
    # construction only, no synth
    stack = cdk.Stack(cdk.App(), "Monitoring")
    monitoring = Monitoring(stack, "M", stage="dev", workflows={}, functions={}, alarm_email=None)
    assert monitoring.subscription is None
    assert not [c for c in stack.node.find_all() if isinstance(c, sns.Subscription)]


# --- template helpers ---------------------------------------------------------------------

def _render(value: Any) -> str:
    """A template value as text: pseudo parameters as in us-east-1 / 123456789012,
    ``Ref`` as ``<Id>``, ``GetAtt`` as ``<Id.Attr>``, imports as ``<import Name>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1",
                      "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}
            return pseudo.get(arg, f"<{arg}>")
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(_render(v) for v in arg[1])
        if fn == "Fn::ImportValue":
            return f"<import {_render(arg)}>"
    raise AssertionError(f"cannot render {value!r}")


def _export_of(synth: Synth, imported: dict[str, Any]) -> Any:
    """The data stack output value behind an ``Fn::ImportValue`` of the engine stack."""
    name = imported["Fn::ImportValue"]
    (value,) = [o["Value"] for o in synth.data_template["Outputs"].values()
                if o.get("Export", {}).get("Name") == name]
    return value


def _export_name(synth: Synth, value: Any) -> dict[str, Any]:
    """``Fn::ImportValue`` of the data stack output whose value is ``value``."""
    (name,) = [o["Export"]["Name"] for o in synth.data_template["Outputs"].values()
               if "Export" in o and o["Value"] == value]
    return {"Fn::ImportValue": name}


# --- checks -------------------------------------------------------------------------------

def test_cdk_nag_passes_and_every_acknowledgement_has_a_reason(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and not nag["violations"]
    for suppressed in nag["suppressedViolations"]:
        assert len(suppressed["reason"]) > 40, suppressed["ruleName"]
    # every kind of acknowledgement infra/nag.py makes (and docs/deploying.md lists)
    rules = {v["ruleName"].split("[")[0] for v in nag["suppressedViolations"]}
    expected = {"AwsSolutions-IAM5", "AwsSolutions-L1", "AwsSolutions-S1", "AwsSolutions-SF1",
                "AwsSolutions-SQS3",
                # the REST API (infra/constructs/api.py): auth in the functions, no WAF, the
                # account-level logging role's managed policy
                "AwsSolutions-APIG3", "AwsSolutions-APIG4", "AwsSolutions-COG4", "AwsSolutions-IAM4"}
    if synth.stack.approvals is not None:
        expected.add("AwsSolutions-SMG4")  # the CSRF key is not rotated
    assert rules == expected


def test_cfn_lint_finds_no_errors_outside_the_known_definition_placeholders(
    cfn_lint: list[dict[str, Any]],
) -> None:
    errors = [f for f in cfn_lint if f["Level"] == "Error" and not _is_definition_e1029(f)]
    assert not errors, "\n".join(f"{f['Rule']['Id']} {f['Message']} at {f['Location']['Path']}"
                                 for f in errors)


def test_cfn_lint_finds_no_placeholder_like_text_in_definitions(
    cfn_lint: list[dict[str, Any]],
) -> None:
    # JavaScript template literals (`${order.id}`) are written \u0024{ in the definition
    found = [f["Message"] for f in cfn_lint if _is_definition_e1029(f)]
    assert not found, "\n".join(found)


def _is_definition_e1029(finding: dict[str, Any]) -> bool:
    return bool(finding["Rule"]["Id"] == "E1029"
                and finding["Location"]["Path"][-1] == "DefinitionString")


# --- failures -----------------------------------------------------------------------------

def _expected_report(path: Path) -> str:
    with pytest.raises(WorkflowError) as info:
        compile_workflow(load_workflow(path), str(path))
    return info.value.report()


def test_a_broken_workflow_stops_the_synth_with_the_compiler_report(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text((WORKFLOWS / "containers-showcase.yaml").read_text())
    (tmp_path / "broken.yaml").write_text(BROKEN_WORKFLOW)
    with pytest.raises(WorkflowError) as info:
        build_app({"workflowsDir": str(tmp_path)}, outdir=str(tmp_path / "out"))
    assert info.value.report() == _expected_report(tmp_path / "broken.yaml")
    assert "target 'nowhere' is not a block id" in info.value.report()


def test_the_app_exits_with_the_report_only(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN_WORKFLOW)
    env = {**os.environ,
           "CDK_CONTEXT_JSON": json.dumps({"workflowsDir": str(tmp_path)}),  # as the CLI does
           "CDK_OUTDIR": str(tmp_path / "out")}
    env.pop("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", None)  # the app sets it itself
    result = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == _expected_report(tmp_path / "broken.yaml") + "\n"
    assert not list(tmp_path.glob("out/*.template.json"))


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "Prod!"}, "context value 'stage'"),
        ({"logRetentionDays": 31}, "context value 'logRetentionDays' must be one of 1, 3, 5"),
        ({"logRetentionDays": True}, "context value 'logRetentionDays'"),
        ({"logLevel": "LOUD"}, "context value 'logLevel'"),
        ({"workflowsDir": "no/such/folder"}, "is not a directory"),
    ],
)
def test_invalid_context_is_reported_clearly(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ContextError, match=re.escape(message)):
        build_app(context)


def _defaults(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, **overrides}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("stage", "", "context value 'stage' is not set"),
        ("stage", "x" * 25, "context value 'stage' must be lowercase"),
        ("logRetentionDays", "31", "context value 'logRetentionDays' must be one of 1, 3, 5"),
        ("recordRetentionDays", 0,
         "'recordRetentionDays' must be a whole number of days from 1 to 3650"),
        ("recordRetentionDays", 3651, "'recordRetentionDays' must be a whole number of days"),
        ("recordRetentionDays", "30d", "'recordRetentionDays' must be a whole number of days"),
        ("recordRetentionDays", 7.5, "'recordRetentionDays' must be a whole number of days"),
        ("recordRetentionDays", True, "'recordRetentionDays' must be a whole number of days"),
        ("recordRetentionDays", None, "context value 'recordRetentionDays' is not set"),
        ("alarmEmail", "ops", "context value 'alarmEmail' must be an email address"),
        ("alarmEmail", "ops@localhost", "context value 'alarmEmail' must be an email address"),
        ("alarmEmail", ["ops@example.com"], "context value 'alarmEmail' must be an email address"),
        ("approverEmailSender", "no reply@example.com",
         "context value 'approverEmailSender' must be an email address"),
        ("logLevel", "verbose", "context value 'logLevel' must be one of DEBUG"),
    ],
)
def test_each_context_value_is_validated(key: str, value: Any, message: str) -> None:
    with pytest.raises(ContextError, match=re.escape(message)):
        validate_context(_defaults(**{key: value}))


def test_context_defaults_and_optional_values() -> None:
    config = validate_context(_defaults())
    assert (config.stage, config.log_retention_days, config.record_retention_days) == \
        ("dev", 30, 30)
    assert config.alarm_email is None and config.approver_email_sender is None
    assert config.workflows_dir == WORKFLOWS and config.log_level == "INFO"
    config = validate_context(_defaults(recordRetentionDays="3650", alarmEmail="ops@example.com",
                                        approverEmailSender="approvals@mail.example.org"))
    assert config.record_retention_days == 3650
    assert config.alarm_email == "ops@example.com"
    assert config.approver_email_sender == "approvals@mail.example.org"
    assert validate_context(_defaults(recordRetentionDays=1)).record_retention_days == 1


def test_context_values_from_the_command_line_are_strings() -> None:
    defaults = json.loads((ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(context={**defaults, "logRetentionDays": "14", "logLevel": "debug"})
    config = read_config(app)
    assert (config.log_retention_days, config.log_level) == (14, "DEBUG")
    assert config.engine_stack_name == "stepweave-dev-engine"
    assert config.data_stack_name == "stepweave-dev-data"
