"""The embedded engine patches moto internals; these tests catch an upgrade that moves them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import moto
import pytest

from stepweave.local import (
    distributed_map,
    limits,
    live,
    moto_adapter,
    moto_history,
    moto_imports,
    moto_redrive,
    moto_speed,
)
from stepweave.local.engine import LocalEngine
from stepweave.local.jsonata_eval import UNDEFINED, JSONataEvaluationError, evaluate
from tests.engine.helpers import compile_text

ROOT = Path(__file__).resolve().parents[2]


def test_moto_is_pinned_exactly_to_the_adapted_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [d for d in pyproject["project"]["optional-dependencies"]["local"] if d.startswith("moto")]
    assert pins == ["moto[stepfunctions,dynamodb]==5.2.5"]
    assert moto.__version__ == "5.2.5"


@pytest.mark.parametrize(("owner", "attribute"),
                         [attribute for module in (moto_adapter, limits, distributed_map, live, moto_history,
                                                   moto_redrive, moto_speed)
                          for attribute in module.PATCHED_ATTRIBUTES],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_patched_attributes_still_exist(owner: object, attribute: str) -> None:
    assert hasattr(owner, attribute)


def _python(code: str) -> str:
    """``code`` run by a fresh interpreter (nothing of moto imported yet); its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_engine_leaves_motos_batch_and_ec2_backends_unloaded() -> None:
    # moto's parser imports moto.batch.utils; the package's __init__ would load the Batch
    # backend and EC2's with it (0.7 s of every run): an upgrade that brings that back fails here
    loaded = json.loads(_python(
        "import json, sys\n"
        "from stepweave.local.engine import LocalEngine\n"
        "from tests.engine.helpers import compile_text\n"
        "compiled = compile_text('name: one\\nblocks:\\n  - {id: start, type: start}\\n'\n"
        "                        '  - {id: v, name: V, type: variables, params: {variables: '\n"
        "                        '[{variableName: x, value: \"1\"}]}}\\nedges: [start -> v]\\n')\n"
        "with LocalEngine() as engine:\n"
        "    assert engine.run(compiled, {}).status == 'SUCCEEDED'\n"
        "loaded = [m for m in sys.modules if m.startswith(('moto.batch', 'moto.ec2'))]\n"
        "print(json.dumps(sorted(loaded)))"))
    assert "moto.batch.utils" in loaded  # what the parser needs is there
    assert "moto.batch.models" not in loaded and not any(m.startswith("moto.ec2") for m in loaded)


def test_motos_batch_backend_still_loads_when_asked_for() -> None:
    out = _python(
        "import sys\n"
        "import stepweave.local.moto_adapter\n"
        "import boto3\n"
        "from moto import mock_aws\n"
        "with mock_aws():\n"
        "    batch = boto3.client('batch', region_name='us-east-1', aws_access_key_id='x',\n"
        "                         aws_secret_access_key='x')\n"
        "    print(batch.describe_compute_environments()['computeEnvironments'])\n"
        "import moto.batch\n"
        "from moto.batch import models\n"
        "print(moto.batch.batch_backends is models.batch_backends,\n"
        "      'moto.batch.models' in sys.modules)\n")
    assert out.split() == ["[]", "True", "True"]


def test_the_batch_package_is_deferred_only_if_it_only_re_exports() -> None:
    init = Path(moto.__file__).parent / "batch" / "__init__.py"
    assert moto_imports.batch_exports(init.read_text()) == {
        "batch_backends": ("models", "batch_backends")}
    assert moto_imports.batch_exports('"""doc"""\nfrom .models import a as b, c\n') == {
        "b": ("models", "a"), "c": ("models", "c")}
    for changed in ("from .models import *\n", "from .models import a\nsetup()\n",
                    "from moto.batch.models import a\n", "import os\n", ""):
        with pytest.raises(moto_imports.DeferredImportError):
            moto_imports.batch_exports(changed)


def test_jsonata_binds_variables_instead_of_splicing_text() -> None:
    # moto splices string variables unescaped; a quote in a value must survive
    assert evaluate("$s & '!'", {"s": 'it\'s "quoted"'}) == 'it\'s "quoted"!'
    assert evaluate("$x = null", {"x": None}) is True
    assert evaluate("$missing", {}) is UNDEFINED


def test_step_functions_extra_functions() -> None:
    assert evaluate("$partition([1,2,3,4,5], 2)", {}) == [[1, 2], [3, 4], [5]]
    assert evaluate("$range(0, 10, 5)", {}) == [0, 5, 10]
    assert evaluate("$parse('{\"a\":[1]}').a[0]", {}) == 1
    assert evaluate("$hash('abc', 'SHA-256')", {}).startswith("ba7816bf")
    assert len(evaluate("$uuid()", {})) == 36
    assert evaluate("$random(7) = $random(7)", {}) is True
    with pytest.raises(JSONataEvaluationError, match=r"\$eval is not supported"):
        evaluate("$eval('1')", {})


def test_jsonata_errors_are_catchable_query_evaluation_errors() -> None:
    compiled = compile_text("""
name: catchable
blocks:
  - {id: start, type: start}
  - {id: a, name: A, type: function, params: {code: "return 1"}}
  - {id: m, name: M, type: function, params: {code: "return <a.error>"}}
  - {id: e, name: E, type: function, params: {code: "return 'caught'"}}
edges: [start -> a, "a -[error]-> m", a -> m, "m -[error]-> e"]
""")
    with LocalEngine() as engine:
        result = engine.run(compiled, {})
    # <a.error> on a block that succeeded fails M with Sim's message; M's error edge catches it
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"result": "caught", "stdout": ""}
    failed = [e for e in result.events if e["type"] == "EvaluationFailed"]
    assert failed and "States.QueryEvaluationError" in json.dumps(failed[0], default=str)


def test_lambda_errors_carry_the_exception_class_as_error_name() -> None:
    def boom(event: dict) -> dict:  # type: ignore[type-arg]
        from stepweave.errors import HttpStatusError

        raise HttpStatusError("nope")

    compiled = compile_text("""
name: lambda-errors
blocks:
  - {id: start, type: start}
  - {id: a, name: A, type: api, params: {url: "https://example.invalid"}}
edges: [start -> a]
""")
    with LocalEngine(handlers={"api": boom}) as engine:
        result = engine.run(compiled, {})
    failed = next(e for e in result.events if e["type"] == "LambdaFunctionFailed")
    details = failed["lambdaFunctionFailedEventDetails"]
    assert details["error"] == "HttpStatusError"
    assert json.loads(details["cause"])["errorMessage"] == "nope"
    assert result.cause == "A: nope"


def test_a_task_token_is_answered_while_another_run_is_starting() -> None:
    """An execution is listed RUNNING a moment before it has a worker; moto's answer to a
    task token failed on such a one ('NoneType' object has no attribute
    'callback_pool_manager'). A token answered in that moment (a notifier that runs the
    stretch before its approval answers while runs start) reaches its task, and
    SendTaskFailure keeps the cause it is given (moto dropped it)."""
    import copy

    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    compiled = compile_text("""
name: answered
blocks:
  - {id: start, type: start}
  - {id: ask, name: Ask, type: approval, params: {form: [{name: approved, type: boolean, required: true}]}}
edges: [start -> ask]
""")
    refuse = [False]

    def answer(event: dict) -> dict:  # type: ignore[type-arg]
        backend = stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        machine = next(m for m in backend.state_machines if any(e.status == "RUNNING" for e in m.executions))
        starting = copy.copy(next(e for e in machine.executions if e.status == "RUNNING"))
        starting.exec_worker = None  # listed, not started yet
        machine.executions.insert(0, starting)
        try:
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            if refuse[0]:
                sfn.send_task_failure(taskToken=event["taskToken"], error="Refused", cause="the reason")
            else:
                sfn.send_task_success(taskToken=event["taskToken"], output=json.dumps({"approved": True}))
        finally:
            machine.executions.remove(starting)
        return {}

    with LocalEngine(handlers={"approval": answer}) as engine:
        result = engine.run(compiled, {})
        assert result.status == "SUCCEEDED", result.cause
        refuse[0] = True
        refused = engine.run(compiled, {})
    failed = next(e for e in refused.events if e["type"] == "TaskFailed")
    assert (failed["taskFailedEventDetails"]["error"], failed["taskFailedEventDetails"]["cause"]) == (
        "Refused", "the reason")
    assert refused.status == "FAILED" and refused.cause == "Ask: the reason"
