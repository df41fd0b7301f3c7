"""Handler memory in the template: the chosen size per handler, the context's per-handler and
per-block sizes, the function handler holding its blocks' sandboxes, and invalid sizes
stopping the synth with the key named.

The app is synthesized once for the module (cdk-nag runs in the synth) from a folder with an
AI workflow (two agents: one given a size of its own), function blocks with larger
sandboxes (one given a size of its own) and an approval, with ``lambdaMemoryMb:agent=384``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
cdk = pytest.importorskip("aws_cdk")
pytest.importorskip("cdk_nag")

from infra import ROOT
from infra.app import ContextError, build_app, validate_context
from infra.memory import HANDLER_MEMORY_MB, sandbox_need_mb
from infra.stacks.engine import EngineStack

TRIAGE = """\
version: 1
name: triage
blocks:
  - {id: start, type: start}
  - {id: classify, name: Classify, type: agent,
     params: {model: local, messages: [{role: user, content: "<start.message>"}]}}
  - {id: reply, name: Reply, type: agent,
     params: {model: local, messages: [{role: user, content: "<classify.content>"}]}}
edges: [start -> classify, classify -> reply]
"""
SANDBOXES = """\
version: 1
name: sandboxes
blocks:
  - {id: start, type: start}
  - {id: small, name: Small, type: function, params: {code: "return 1"}}
  - {id: medium, name: Medium, type: function, params: {code: "return 2", memoryMb: 256}}
  - {id: big, name: Big, type: function, params: {code: "return 3", memoryMb: 512}}
edges: [start -> small, small -> medium, medium -> big]
"""
REFUNDS = """\
version: 1
name: refunds
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: amount, type: number}]}}
  - {id: ask, name: Approval, type: approval,
     params: {display: {amount: "<start.amount>"}, approvers: [lead@example.com],
              form: [{name: approved, type: boolean, required: true}], timeoutSeconds: 3600}}
  - {id: check, name: Check, type: condition,
     params: {conditions: [{id: yes, title: if, value: "<approval.approved> === true"},
                           {id: no, title: else}]}}
edges: [start -> ask, ask -> check]
"""
#: the sizes chosen from bench/handler_memory.py's peaks (docs/deploying.md, "Handler memory")
CHOSEN = dict(HANDLER_MEMORY_MB)
CONTEXT = {"lambdaMemoryMb:agent": "384",  # as -c passes it
           "lambdaMemoryMb:triage/classify": "1024",
           "lambdaMemoryMb:sandboxes/big": 1024}  # as cdk.json holds it


def _workflows(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("triage", TRIAGE), ("sandboxes", SANDBOXES), ("refunds", REFUNDS)):
        (folder / f"{name}.yaml").write_text(text)
    return folder


@dataclass(frozen=True)
class Synth:
    stack: EngineStack
    template: dict[str, Any]
    outdir: Path

    def props(self, construct: Any) -> dict[str, Any]:
        logical_id = self.stack.resolve(self.stack.get_logical_id(construct.node.default_child))
        properties: dict[str, Any] = self.template["Resources"][logical_id]["Properties"]
        return properties

    def machine(self, workflow: str) -> dict[str, Any]:
        return self.props(self.stack.workflows[workflow].state_machine)

    def arn(self, fn: Any) -> dict[str, Any]:
        return {"Fn::GetAtt": [self.stack.resolve(self.stack.get_logical_id(fn.node.default_child)),
                               "Arn"]}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    workflows = _workflows(tmp_path_factory.mktemp("workflows"))
    outdir = tmp_path_factory.mktemp("out")
    app = build_app({"workflowsDir": str(workflows), **CONTEXT}, outdir=str(outdir))
    assembly = app.synth()  # cdk-nag runs here: an unacknowledged finding fails the synth
    (stack,) = [c for c in app.node.children if isinstance(c, EngineStack)]
    return Synth(stack, assembly.get_stack_by_name(stack.stack_name).template, outdir)


def _task(definition: dict[str, Any], block: str) -> dict[str, Any]:
    (state,) = [s for s in definition["States"].values()
                if s.get("Type") == "Task" and s.get("Arguments", {}).get("block", {}).get("id") == block]
    return state


# -- sizes in the template -------------------------------------------------------------------

def test_each_handler_function_has_the_chosen_memory(synth: Synth) -> None:
    handlers = synth.stack.handlers.functions
    assert set(handlers) == {"agent", "api", "collect", "evaluator", "function", "router", "tool"}
    expected = {**CHOSEN,
                "agent": 384,  # lambdaMemoryMb:agent
                "function": sandbox_need_mb(256)}  # block 'medium' asks for a 256 MB sandbox
    for name, fn in handlers.items():
        assert synth.props(fn)["MemorySize"] == expected[name], name
    assert synth.stack.approvals is not None
    assert synth.props(synth.stack.approvals.notifier)["MemorySize"] == CHOSEN["approval"]


def test_a_block_given_a_size_runs_on_a_copy_of_its_handler_at_that_size(synth: Synth) -> None:
    agent = synth.stack.handlers.functions["agent"]
    copy = synth.stack.handlers.variants[("agent", 1024)]
    base, props = synth.props(agent), synth.props(copy)
    assert props["MemorySize"] == 1024 and base["MemorySize"] == 384
    # the same handler: code, role, log group, environment (its logs and metrics are the agent's)
    for key in ("Code", "Handler", "Runtime", "Architectures", "Layers", "Role", "LoggingConfig",
                "Timeout", "Environment", "TracingConfig"):
        assert props[key] == base[key], key
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "stepweave-agent"
    # the block's task invokes the copy; the other agent block, the agent function
    machine = synth.machine("triage")
    definition = json.loads(machine["DefinitionString"])
    assert _task(definition, "classify")["Resource"] == "${Handler_agent_1024mb}"
    assert _task(definition, "reply")["Resource"] == "${Handler_agent}"
    assert machine["DefinitionSubstitutions"] == {"Handler_agent": synth.arn(agent),
                                                  "Handler_agent_1024mb": synth.arn(copy)}
    # everything else in the definition is the compiled one
    compiled = synth.stack.workflows["triage"].compiled.definition
    _task(definition, "classify")["Resource"] = "${Handler_agent}"
    assert definition.pop("Comment").startswith(compiled["Comment"])  # + the block summary
    assert definition == {k: v for k, v in compiled.items() if k != "Comment"}
    # only workflows with such a block invoke the copy; it is alarmed like every function
    assert "Handler_agent_1024mb" not in json.dumps(synth.machine("sandboxes"))
    assert "agent-1024mb" in synth.stack.service_functions()


def test_the_state_machine_may_invoke_the_copy_and_its_handler(synth: Synth) -> None:
    machine = synth.machine("triage")
    role = machine["RoleArn"]["Fn::GetAtt"][0]
    granted = [r for p in synth.template["Resources"].values()
               if p["Type"] == "AWS::IAM::Policy" and {"Ref": role} in p["Properties"]["Roles"]
               for s in p["Properties"]["PolicyDocument"]["Statement"]
               if "lambda:InvokeFunction" in json.dumps(s["Action"])
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    arns = [synth.arn(synth.stack.handlers.functions["agent"]),
            synth.arn(synth.stack.handlers.variants[("agent", 1024)])]
    expected = arns + [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
    assert sorted(map(json.dumps, granted)) == sorted(map(json.dumps, expected))


def test_function_memory_holds_the_largest_sandbox_it_runs(synth: Synth) -> None:
    # 'big' (512 MB sandbox) runs on its own 1024 MB copy; 'medium' (256 MB) sets the rest
    function = synth.props(synth.stack.handlers.functions["function"])
    assert function["MemorySize"] == sandbox_need_mb(256) > HANDLER_MEMORY_MB["function"]
    big = synth.props(synth.stack.handlers.variants[("function", 1024)])
    assert big["MemorySize"] == 1024 >= sandbox_need_mb(512)
    definition = json.loads(synth.machine("sandboxes")["DefinitionString"])
    assert _task(definition, "big")["Resource"] == "${Handler_function_1024mb}"
    assert {_task(definition, b)["Resource"] for b in ("small", "medium")} == {"${Handler_function}"}


def test_cdk_nag_passes_with_the_copies(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and not nag["violations"]


# -- invalid sizes stop the synth --------------------------------------------------------------

@pytest.mark.parametrize("value", ["64", "127", "10241", "256.5", "512.0", "256MB", "", True, -256])
def test_a_size_outside_lambdas_limits_is_refused_naming_the_key(value: Any) -> None:
    with pytest.raises(ContextError, match=re.escape(
            "context value 'lambdaMemoryMb:router' must be a whole number of MB from 128 to 10240")):
        build_app({"lambdaMemoryMb:router": value})


def test_limits_themselves_are_accepted() -> None:
    defaults = json.loads((ROOT / "cdk.json").read_text())["context"]
    config = validate_context({**defaults, "lambdaMemoryMb:agent": "128",
                               "lambdaMemoryMb:w/b": 10240})
    assert config.memory.handlers == {"agent": 128}
    assert config.memory.blocks == {("w", "b"): 10240}


@pytest.mark.parametrize(("context", "message"), [
    ({"lambdaMemoryMb:agnet": "256"},
     "context key 'lambdaMemoryMb:agnet' names no handler; the handlers are agent, api, approval"),
    ({"lambdaMemoryMb:triage/nope": "256"},
     "context key 'lambdaMemoryMb:triage/nope': workflow 'triage' has no block 'nope'"),
    ({"lambdaMemoryMb:nowhere/classify": "256"},
     "context key 'lambdaMemoryMb:nowhere/classify': there is no workflow 'nowhere'"),
    ({"lambdaMemoryMb:refunds/check": "256"},
     "block 'check' of workflow 'refunds' is a condition block, which runs in the state machine"),
    ({"lambdaMemoryMb:refunds/ask": "256"},
     "the memory of the approval block 'ask' is set for its handler only "
     "('lambdaMemoryMb:approval')"),
    ({"lambdaMemoryMb:function": "512"},
     "context value 'lambdaMemoryMb:function' is 512 MB: function block 'big' of workflow "
     "'sandboxes' may use 512 MB in its sandbox (memoryMb), which needs at least 960 MB"),
    ({"lambdaMemoryMb:sandboxes/big": "768"},
     "context value 'lambdaMemoryMb:sandboxes/big' is 768 MB"),
    ({"lambdaMemoryMB:agent": "256"}, "context key 'lambdaMemoryMB:agent' is not one the app reads"),
    ({"lambdaMemoryMb:": "256"}, "context key 'lambdaMemoryMb:' must name a handler"),
])
def test_a_size_for_something_that_is_not_there_is_refused(tmp_path: Path, context: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ContextError, match=re.escape(message)):
        build_app({"workflowsDir": str(_workflows(tmp_path / "workflows")), **context},
                  outdir=str(tmp_path / "out"))


def test_every_bad_key_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ContextError) as info:
        build_app({"workflowsDir": str(_workflows(tmp_path / "workflows")),
                   "lambdaMemoryMb:agnet": "256", "lambdaMemoryMb:triage/nope": "300"},
                  outdir=str(tmp_path / "out"))
    assert str(info.value).startswith("2 context values are invalid:")
    assert "'lambdaMemoryMb:agnet'" in str(info.value)
    assert "'lambdaMemoryMb:triage/nope'" in str(info.value)


def test_the_app_exits_with_the_message_and_writes_no_template(tmp_path: Path) -> None:
    env = {**os.environ,
           "CDK_CONTEXT_JSON": json.dumps({"lambdaMemoryMb:agent": "64"}),  # as the CLI does
           "CDK_OUTDIR": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 2
    assert result.stderr == ("infra.app: context value 'lambdaMemoryMb:agent' must be a whole "
                             "number of MB from 128 to 10240 (Lambda's limits); got '64'\n")
    assert not list(tmp_path.glob("out/*.template.json"))


# -- the documented sizes are the deployed ones ----------------------------------------------

def test_docs_table_lists_the_deployed_sizes() -> None:
    text = (ROOT / "docs" / "deploying.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (\d+) MB \|", text, flags=re.M))
    assert {h: int(mb) for h, mb in rows.items()} == dict(HANDLER_MEMORY_MB)
