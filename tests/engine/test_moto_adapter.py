"""The embedded engine patches moto internals; these tests catch an upgrade that moves them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import moto
import pytest

from stepweave.local import limits, moto_adapter
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
                         [*moto_adapter.PATCHED_ATTRIBUTES, *limits.PATCHED_ATTRIBUTES],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_patched_attributes_still_exist(owner: object, attribute: str) -> None:
    assert hasattr(owner, attribute)


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
