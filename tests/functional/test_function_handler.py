"""The function block's Lambda handler, end to end in a real V8 isolate."""

from __future__ import annotations

import time
from typing import Any

import pytest
from stepweave.errors import BlockError, BlockInputError, BlockResourceError, BlockTimeoutError

from functions.function.handler import lambda_handler


def _event(code: str, **params: Any) -> dict[str, Any]:
    return {
        "block": {"id": "fn1", "name": "Transform", "type": "function"},
        "params": {"code": code, **params},
        "context": {
            "workflow": "support-timeline",
            "execution": "arn:aws:states:eu-west-1:123456789012:execution:sm:run-1",
            "loop": None,
            "parallel": None,
        },
    }


def test_returns_value_and_console_output() -> None:
    out = lambda_handler(
        _event(
            "console.log('total', 3, {a: 1}, [true], null);\n"
            "console.error('oops');\n"
            "return {sum: 1 + 2, list: [1, 'two']};"
        ),
        None,
    )
    assert out == {
        "result": {"sum": 3, "list": [1, "two"]},
        "stdout": 'total 3 {"a":1} [true] null\noops',
    }


def test_undefined_result_is_none_and_no_output_is_empty() -> None:
    assert lambda_handler(_event("let x = 1;"), None) == {"result": None, "stdout": ""}


def test_async_await_with_timers() -> None:
    code = (
        "const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));\n"
        "await wait(20);\n"
        "const parts = await Promise.all([wait(5).then(() => 'a'), Promise.resolve('b')]);\n"
        "return parts.join('');"
    )
    assert lambda_handler(_event(code), None)["result"] == "ab"


def test_zero_and_missing_timer_delays_fire() -> None:
    code = (
        "const order = [];\n"
        "await new Promise((resolve) => setTimeout(resolve, 0));\n"
        "await new Promise((resolve) => setTimeout(() => { order.push('a'); resolve(); }));\n"
        "const id = setTimeout(() => order.push('cancelled'), 1);\n"
        "clearTimeout(id);\n"
        "await new Promise((resolve) => setTimeout(resolve, 5));\n"
        "return order;"
    )
    assert lambda_handler(_event(code, timeoutMs=2000), None)["result"] == ["a"]


def test_bindings_are_real_objects() -> None:
    bindings = {"__ref_0": {"items": [{"n": 2}, {"n": 5}], "label": "x"}, "__ref_1": 10}
    code = (
        "if (!Array.isArray(__ref_0.items)) throw new Error('not an array');\n"
        "return __ref_0.items.map((i) => i.n * __ref_1).concat([typeof __ref_0.label]);"
    )
    out = lambda_handler(_event(code, bindings=bindings), None)
    assert out["result"] == [20, 50, "string"]


def test_env_values_are_strings_and_unset_names_stay_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPWEAVE_TEST_PORT", "8080")
    monkeypatch.delenv("STEPWEAVE_TEST_UNSET", raising=False)
    code = (
        "return [typeof __env_STEPWEAVE_TEST_PORT, __env_STEPWEAVE_TEST_PORT,"
        " __env_STEPWEAVE_TEST_UNSET];"
    )
    names = ["STEPWEAVE_TEST_PORT", "STEPWEAVE_TEST_UNSET"]
    out = lambda_handler({**_event(code, envNames=names), "secrets": {"names": names}}, None)
    assert out["result"] == ["string", "8080", "{{STEPWEAVE_TEST_UNSET}}"]


def test_env_names_the_workflow_did_not_declare_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``envNames`` is a param; which secrets the block may read is the event's
    ``secrets.names``, written by the compiler from the code the author wrote."""
    monkeypatch.setenv("STEPWEAVE_TEST_PORT", "8080")
    monkeypatch.setenv("STEPWEAVE_TEST_OTHER", "other-secret")
    event = _event("return __env_STEPWEAVE_TEST_OTHER;",
                   envNames=["STEPWEAVE_TEST_PORT", "STEPWEAVE_TEST_OTHER"])
    with pytest.raises(BlockInputError, match="STEPWEAVE_TEST_OTHER.* is not named by this block"):
        lambda_handler({**event, "secrets": {"names": ["STEPWEAVE_TEST_PORT"]}}, None)


def test_thrown_error_message_becomes_block_error() -> None:
    with pytest.raises(BlockError) as caught:
        lambda_handler(_event("await null; throw new TypeError('bad input: 42');"), None)
    assert type(caught.value) is BlockError
    # Sim's wording: the line of user code that threw, then the message
    assert str(caught.value) == "Line 1: `await null; throw new TypeError('bad input: 42');` - bad input: 42"


def test_error_names_the_line_that_threw() -> None:
    code = "const a = 1;\nif (a) {\n  throw new Error('second');\n}"
    with pytest.raises(BlockError, match=r"^Line 3: `throw new Error\('second'\);` - second$"):
        lambda_handler(_event(code), None)


def test_thrown_non_error_value_is_stringified() -> None:
    with pytest.raises(BlockError, match=r"^plain string$"):
        lambda_handler(_event("throw 'plain string';"), None)


def test_syntax_error() -> None:
    with pytest.raises(BlockError) as caught:
        lambda_handler(_event("return {;"), None)
    assert type(caught.value) is BlockError
    assert str(caught.value).startswith("Syntax error: ")
    assert "Unexpected token" in str(caught.value)


def test_code_cannot_break_out_of_its_function_body() -> None:
    with pytest.raises(BlockError, match=r"^Syntax error: "):
        lambda_handler(_event("}); globalThis.escaped = true; (async function () {"), None)


def test_infinite_loop_is_stopped_by_the_timeout() -> None:
    started = time.perf_counter()
    with pytest.raises(BlockTimeoutError, match=r"^Function timed out after 150 ms$"):
        lambda_handler(_event("while (true) {}", timeoutMs=150), None)
    assert time.perf_counter() - started < 2


def test_infinite_loop_after_await_is_stopped_too() -> None:
    with pytest.raises(BlockTimeoutError, match=r"^Function timed out after 150 ms$"):
        lambda_handler(_event("await null; while (true) {}", timeoutMs=150), None)


def test_promise_that_never_settles_times_out() -> None:
    with pytest.raises(BlockTimeoutError):
        lambda_handler(_event("await new Promise(() => {});", timeoutMs=100), None)


def test_memory_hog_is_stopped() -> None:
    code = "const hoard = []; while (true) { hoard.push(new Array(100000).fill(1.5)); }"
    with pytest.raises(BlockResourceError, match=r"^Function exceeded its memory limit of 32 MB$"):
        lambda_handler(_event(code, memoryMb=32, timeoutMs=20000), None)


def test_no_network_modules_or_process() -> None:
    code = (
        "return [typeof fetch, typeof require, typeof process, typeof XMLHttpRequest,"
        " typeof WebSocket];"
    )
    assert lambda_handler(_event(code), None)["result"] == ["undefined"] * 5


def test_calls_are_isolated() -> None:
    lambda_handler(_event("leaked = 'secret'; globalThis.other = 1; return 1;"), None)
    out = lambda_handler(_event("return [typeof leaked, typeof other];"), None)
    assert out["result"] == ["undefined", "undefined"]


def test_unserialisable_result_is_reported() -> None:
    with pytest.raises(BlockError, match=r"^Function result is not JSON-serialisable: "):
        lambda_handler(_event("const a = {}; a.self = a; return a;"), None)


def test_missing_code_names_the_param() -> None:
    event = _event("")
    del event["params"]["code"]
    with pytest.raises(BlockInputError, match="'code'"):
        lambda_handler(event, None)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"timeoutMs": 900_001}, "timeoutMs"),
        ({"memoryMb": 0}, "memoryMb"),
        ({"bindings": {"not valid": 1}}, "bindings"),
        ({"envNames": ["BAD-NAME"]}, "envNames"),
    ],
)
def test_invalid_params_name_the_param(params: dict[str, Any], name: str) -> None:
    with pytest.raises(BlockInputError, match=f"'{name}'"):
        lambda_handler(_event("return 1;", **params), None)


def test_invalid_event_is_a_clear_block_input_error() -> None:
    with pytest.raises(BlockInputError) as caught:
        lambda_handler({"params": {"code": "return 1"}, "context": {}}, None)
    message = str(caught.value)
    assert message.startswith("Invalid block event: ")
    assert "block: Field required" in message
    assert "context.workflow: Field required" in message


def test_emits_block_metrics_in_embedded_metric_format(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json as _json

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Stepweave")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stepweave-function")
    with pytest.raises(BlockError):
        lambda_handler(_event("throw new Error('x')"), None)
    lambda_handler(_event("return 1"), None)
    lines = [_json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    failed, ok = lines[-2], lines[-1]
    for emf in (failed, ok):
        directive = emf["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Stepweave"
        assert sorted(directive["Dimensions"][0]) == ["BlockType", "service"]
        assert emf["BlockType"] == "function" and emf["service"] == "stepweave-function"
        assert len(emf["BlockDuration"]) == 1 and emf["BlockDuration"][0] >= 0  # EMF value list
    assert failed["BlockFailures"] == [1.0] and "BlockFailures" not in ok
