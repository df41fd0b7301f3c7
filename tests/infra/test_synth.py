"""The CDK app, synthesized once for the module from the real ``workflows/`` folder.

Skipped when the ``cdk`` extra is not installed. The first run on a machine also
downloads the layer's Lambda wheels (then cached per user).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from stepweave.compiler.compile import CompiledWorkflow, compile_workflow
from stepweave.errors import WorkflowError
from stepweave.workflow.loader import load_workflow

from infra import ROOT
from infra.app import ContextError, build_app, read_config
from infra.constructs.handlers import HANDLER_SETTINGS, discover_handlers
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
@dataclass(frozen=True)
class Synth:
    stack: EngineStack
    template: dict[str, Any]
    outdir: Path
    compiled: dict[str, CompiledWorkflow]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return str(self.stack.resolve(self.stack.get_logical_id(element)))


def _expected_workflows() -> dict[str, CompiledWorkflow]:
    files = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    compiled = [compile_workflow(load_workflow(p), str(p)) for p in files]
    return {c.name: c for c in compiled}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(outdir=str(outdir))  # cdk.json's context: the real workflows/ folder
    assembly = app.synth()
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(stack, template, outdir, _expected_workflows())


@pytest.fixture(scope="module")
def cfn_lint(synth: Synth) -> list[dict[str, Any]]:
    exe = Path(sys.executable).with_name("cfn-lint")
    if not exe.exists():
        pytest.skip("cfn-lint is not installed")
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
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
    assert len(synth.resources("AWS::StepFunctions::StateMachine")) == len(synth.compiled)
    for compiled, props, _ in _state_machines(synth):
        assert props["StateMachineType"] == compiled.workflow_type, compiled.name
        assert props["TracingConfiguration"] == {"Enabled": True}
        logging = props["LoggingConfiguration"]
        assert logging["IncludeExecutionData"] is False
        assert logging["Level"] == ("ALL" if compiled.workflow_type == "EXPRESS" else "ERROR")


def test_definition_is_the_compiled_one_and_every_placeholder_is_substituted(synth: Synth) -> None:
    functions = synth.stack.handlers.functions
    for compiled, props, _ in _state_machines(synth):
        text = props["DefinitionString"]
        assert isinstance(text, str), "the definition must not depend on tokens"
        assert json.loads(text) == compiled.definition
        substitutions = props["DefinitionSubstitutions"]
        assert set(substitutions) == {f"Handler_{h}" for h in compiled.handlers}
        for handler in compiled.handlers:
            assert substitutions[f"Handler_{handler}"] == {
                "Fn::GetAtt": [synth.logical_id(functions[handler]), "Arn"]}
        # what CloudFormation does with DefinitionSubstitutions
        for key in substitutions:
            text = text.replace("${" + key + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{key}")
        assert "${Handler_" not in text, compiled.name


def test_state_machine_role_invokes_exactly_the_functions_it_uses(synth: Synth) -> None:
    functions = synth.stack.handlers.functions
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
        arns = [{"Fn::GetAtt": [synth.logical_id(functions[h]), "Arn"]} for h in compiled.handlers]
        expected = arns + [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
        assert sorted(map(json.dumps, granted)) == sorted(map(json.dumps, expected)), compiled.name
        # no statement on the role reaches another function through a wildcard
        for statement in statements:
            if "*" in _as_list(statement["Resource"]):
                assert not any(a.startswith("lambda:") or a == "*" for a in _as_list(statement["Action"]))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- handlers, layer, logs ----------------------------------------------------------------

def test_one_function_per_handler_python312_arm64_traced(synth: Synth) -> None:
    handlers = discover_handlers(ROOT / "functions")
    assert handlers and set(synth.stack.handlers.functions) == set(handlers)
    assert len(synth.resources("AWS::Lambda::Function")) == len(handlers)
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
        assert props["Environment"]["Variables"] == {
            "POWERTOOLS_SERVICE_NAME": f"stepweave-{name}",
            "POWERTOOLS_METRICS_NAMESPACE": "Stepweave",
            "LOG_LEVEL": "INFO",
        }


def test_every_log_group_has_the_configured_retention(synth: Synth) -> None:
    log_groups = synth.resources("AWS::Logs::LogGroup")
    days = json.loads((ROOT / "cdk.json").read_text())["context"]["logRetentionDays"]
    assert log_groups and all(g["Properties"]["RetentionInDays"] == days for g in log_groups.values())
    for fn in synth.stack.handlers.functions.values():
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
        source = {p.relative_to(ROOT / "functions" / name).as_posix()
                  for p in (ROOT / "functions" / name).rglob("*")
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


# --- checks -------------------------------------------------------------------------------

def test_cdk_nag_passes_and_every_acknowledgement_has_a_reason(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and not nag["violations"]
    for suppressed in nag["suppressedViolations"]:
        assert len(suppressed["reason"]) > 40, suppressed["ruleName"]


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


def test_context_values_from_the_command_line_are_strings() -> None:
    defaults = json.loads((ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(context={**defaults, "logRetentionDays": "14", "logLevel": "debug"})
    config = read_config(app)
    assert (config.log_retention_days, config.log_level) == (14, "DEBUG")
    assert config.stack_name == "stepweave-dev-engine"
