"""The embedded engine's JSONata does what AWS Step Functions does, where ports diverge.

Each case here is one where an evaluator other than jsonata-js (the Python port the engine
used before) answers differently from AWS, in a way that changes a run's control flow or
output; each asserts AWS's answer. Then Step Functions' own functions, as AWS documents
them, the context object's times, and the library's lifecycle (missing, closed, reopened).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stepweave import v8
from stepweave.local import jsonata_eval
from stepweave.local.engine import LocalEngine
from stepweave.local.jsonata_eval import (
    UNDEFINED,
    JSONataEvaluationError,
    JSONataUnavailable,
    evaluate,
)
from tests.engine.helpers import compile_text

ROOT = Path(__file__).resolve().parents[2]

NUMBER_FIELD = """
name: number-field
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: done, type: response, params: {data: {n: "<start.n>"}}}
edges: [start -> done]
"""


def _code(expression: str, bindings: dict[str, object] | None = None) -> str | None:
    with pytest.raises(JSONataEvaluationError) as caught:
        evaluate(expression, bindings or {})
    return caught.value.code


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["5.", ".5", "-.5", "+5", " 5", "1e400", "٥"])
def test_number_of_a_string_outside_its_number_syntax_is_d3030(text: str) -> None:
    assert _code("$number($v)", {"v": text}) == "D3030"


def test_number_of_strings_it_reads() -> None:
    assert evaluate("$number($v)", {"v": "007"}) == 7
    assert evaluate("$number($v)", {"v": "-1.5e3"}) == -1500
    assert evaluate("$number($v)", {"v": "0x1F"}) == 31


def test_number_field_given_5_dot_is_what_javascripts_number_makes_of_it(engine: LocalEngine) -> None:
    # The start block converts a number field as Sim does (JavaScript's Number()), in the
    # compiled expression itself: jsonata-js (AWS) never sees "5." in $number, which it
    # would refuse (D3030), so both engines give Sim's answer.
    compiled = compile_text(NUMBER_FIELD)
    for text, number in (("5.", 5), (".5", 0.5), (" 5.25 ", 5.25)):
        result = engine.run(compiled, {"n": text})
        assert result.status == "SUCCEEDED", (text, result.cause)
        assert result.output["data"] == {"n": number}, text
    with pytest.raises(JSONataEvaluationError, match="D3030"):
        evaluate("$number($v)", {"v": "5."})  # what the compiled idiom avoids


def test_unicode_digits_are_not_digits(engine: LocalEngine) -> None:
    assert evaluate(r"$contains($v, /^\d+$/)", {"v": "٥"}) is False
    assert evaluate(r"$contains($v, /\d/)", {"v": "١٢"}) is False
    # so a number field given "٥" keeps the string instead of converting it
    result = engine.run(compile_text(NUMBER_FIELD), {"n": "٥"})
    assert result.status == "SUCCEEDED" and result.output["data"] == {"n": "٥"}


def test_big_integers_are_doubles() -> None:
    # 2**64 + 1 becomes the double 2**64, written back as JavaScript writes it
    assert evaluate("$v", {"v": 2**64 + 1}) == 18446744073709552000
    assert evaluate("$v = 9007199254740993", {"v": 2**53}) is True
    assert evaluate("$v + 1", {"v": 2**53}) == 2**53


# -- strings ---------------------------------------------------------------------------------


def test_lowercase_maps_characters_it_does_not_casefold() -> None:
    assert evaluate('$lowercase("STRAßE")', {}) == "straße"
    assert evaluate("$lowercase($v) = 'strasse'", {"v": "STRAßE"}) is False


def test_string_of_objects_keeps_non_ascii_and_rounds_to_15_digits() -> None:
    assert evaluate("$string($v)", {"v": {"c": "é", "e": "😀"}}) == '{"c":"é","e":"😀"}'
    assert evaluate("$string($v)", {"v": {"a": 0.1 + 0.2}}) == '{"a":0.3}'
    assert evaluate("$string(0.1 + 0.2)", {}) == "0.3"
    assert evaluate("$string($v)", {"v": [1e-06, 1e21, 1e-7]}) == "[0.000001,1e+21,1e-7]"
    assert evaluate("$string($v)", {"v": 1e-06}) == "0.000001"


def test_string_of_long_integers() -> None:
    assert evaluate("$string(1234567890123456)", {}) == "1234567890123460"
    assert evaluate("$string($v)", {"v": 12345678901234567891}) == "12345678901234600000"


# -- $parse ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[NaN]", "1e400", "Infinity", "-Infinity", "{'a': 1}",
                                  "[1,]", "", "{\"a\": 1e999}"])
def test_parse_is_strict_json(text: str) -> None:
    with pytest.raises(JSONataEvaluationError, match=r"\$parse"):
        evaluate("$parse($v)", {"v": text})


def test_parse_reads_json() -> None:
    assert evaluate('$parse($v)', {"v": '{"a": [1, 2.5, null, "é"], "b": {}}'}) == {
        "a": [1, 2.5, None, "é"], "b": {}}
    assert evaluate("$parse($v)", {"v": "12345678901234567891"}) == 12345678901234567000
    assert evaluate("$parse($v)", {}) is UNDEFINED


# -- the context object ----------------------------------------------------------------------


def test_context_times_are_iso_strings_with_milliseconds(engine: LocalEngine) -> None:
    probe = {"QueryLanguage": "JSONata", "StartAt": "Probe", "States": {"Probe": {
        "Type": "Pass", "End": True, "Output": {
            "start": "{% $states.context.Execution.StartTime %}",
            "entered": "{% $states.context.State.EnteredTime %}",
            "types": "{% [$type($states.context.Execution.StartTime),"
                     " $type($states.context.State.EnteredTime)] %}",
            "startMillis": "{% $toMillis($states.context.Execution.StartTime) %}"}}}}
    compiled = dataclasses.replace(compile_text(NUMBER_FIELD), definition=probe)
    result = engine.run(compiled, {})
    assert result.status == "SUCCEEDED", result.cause
    out = result.output
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert iso.match(out["start"]) and iso.match(out["entered"]), out
    assert out["types"] == ["string", "string"]
    assert out["entered"] >= out["start"] and isinstance(out["startMillis"], int)


# -- Step Functions' functions ---------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "name"), [("MD5", "md5"), ("SHA-1", "sha1"),
                                                  ("SHA-256", "sha256"), ("SHA-384", "sha384"),
                                                  ("SHA-512", "sha512")])
def test_hash_is_the_hex_digest_of_the_utf8_bytes(algorithm: str, name: str) -> None:
    for text in ["", "abc", "é€😀" * 40, "x" * 111, "y" * 112, "z" * 1000]:
        expected = hashlib.new(name, text.encode("utf-8")).hexdigest()
        assert evaluate("$hash($v, $a)", {"v": text, "a": algorithm}) == expected


def test_hash_algorithm_is_required_and_case_sensitive() -> None:
    assert evaluate("$hash('abc')", {}) is UNDEFINED
    with pytest.raises(JSONataEvaluationError, match="unsupported hash algorithm"):
        evaluate("$hash('abc', 'sha-256')", {})
    assert _code("$hash(42, 'MD5')") == "T0410"  # a string to hash, as States.Hash


def test_random_is_seeded() -> None:
    a, b, c = (evaluate("$random($s)", {"s": s}) for s in (7, 7, 8))
    assert a == b and a != c and 0 <= a < 1
    assert evaluate("$random(7.9)", {}) == a  # an integer seed: rounded towards zero
    draws = evaluate("[1..200].$random()", {})
    assert all(0 <= x < 1 for x in draws) and len(set(draws)) == 200
    seeded = [evaluate("$random($s)", {"s": s}) for s in range(200)]
    assert len(set(seeded)) == 200 and 0.35 < sum(seeded) / 200 < 0.65


def test_uuid_is_version_4() -> None:
    ids = evaluate("[1..100].$uuid()", {})
    v4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(v4.match(i) for i in ids) and len(set(ids)) == 100


def test_partition_and_range() -> None:
    assert evaluate("$partition([1,2,3,4,5], 2)", {}) == [[1, 2], [3, 4], [5]]
    assert evaluate("$partition([1,2,3], 2.9)", {}) == [[1, 2], [3]]
    assert evaluate("$partition([], 2)", {}) is UNDEFINED
    assert evaluate("$partition([1], 0)", {}) is UNDEFINED
    with pytest.raises(JSONataEvaluationError):
        evaluate("$partition([1], -2)", {})
    assert evaluate("$range(0, 10, 2)", {}) == [0, 2, 4, 6, 8, 10]
    assert evaluate("$range(10, 1, -4)", {}) == [10, 6, 2]
    assert evaluate("$range(-1.7, 2, 1)", {}) == [-1, 0, 1, 2]
    assert evaluate("$range(0, 10)", {}) is UNDEFINED
    assert evaluate("$range(10, 0, 1)", {}) is UNDEFINED
    with pytest.raises(JSONataEvaluationError):
        evaluate("$range(0, 10, 0)", {})


def test_eval_is_refused_and_the_library_s_own_functions_remain() -> None:
    with pytest.raises(JSONataEvaluationError, match=r"\$eval is not supported"):
        evaluate("$eval('1')", {})
    assert evaluate("$sum([1, 2]) & $string($count([1]))", {}) == "31"


def test_errors_carry_the_library_s_code_and_position() -> None:
    with pytest.raises(JSONataEvaluationError) as caught:
        evaluate("1 + ", {})
    assert caught.value.code and caught.value.code.startswith("S0")
    with pytest.raises(JSONataEvaluationError) as caught:
        evaluate('"a" + 1', {})
    assert caught.value.code == "T2001" and caught.value.position is not None
    with pytest.raises(JSONataEvaluationError, match="D1001"):
        evaluate("{'x': 1/0}", {})


def test_a_syntax_error_is_the_answer_every_time() -> None:
    for _ in range(2):
        with pytest.raises(JSONataEvaluationError, match="S0"):
            evaluate("$x +", {"x": 1})


def test_evaluations_from_many_threads_each_get_their_own_answer() -> None:
    # Parallel branches and Map iterations evaluate at the same time
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> object:
        return evaluate("$i * 2 & '-' & $s", {"i": i, "s": "x" * (i % 7)})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(400)))
    assert answers == [f"{i * 2}-{'x' * (i % 7)}" for i in range(400)]


def test_variables_are_bound_not_spliced() -> None:
    tricky = 'it\'s "quoted" %} $states {% \\ \u2028'
    assert evaluate("$s & '!'", {"s": tricky}) == tricky + "!"
    assert evaluate("$s", {"s": "$string(1)"}) == "$string(1)"


# -- lifecycle ---------------------------------------------------------------------------------


def test_close_frees_the_context_and_the_next_evaluation_reopens_it() -> None:
    assert evaluate("$x * 2", {"x": 21}) == 42
    first = v8.engine("jsonata", lambda mr: None)
    v8.close()
    assert evaluate("$x * 2", {"x": 4}) == 8
    assert v8.engine("jsonata", lambda mr: None) is not first


def test_a_missing_library_names_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(JSONataUnavailable, match="node_modules/jsonata is not installed: "
                                                 "run `npm ci`"):
        jsonata_eval.library_path(search=[tmp_path])


def test_another_jsonata_version_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "jsonata"
    package.mkdir(parents=True)
    (package / "jsonata.js").write_text("var jsonata = null;")
    (package / "package.json").write_text(json.dumps({"name": "jsonata", "version": "2.1.0"}))
    with pytest.raises(JSONataUnavailable, match="is jsonata 2.1.0, AWS Step Functions "
                                                 "evaluates 2.0.6: run `npm ci`"):
        jsonata_eval.library_path(search=[tmp_path])


def test_run_without_the_library_exits_with_a_clear_message(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yaml"
    workflow.write_text(NUMBER_FIELD)
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(tmp_path),
           jsonata_eval.LIBRARY_ENV: str(tmp_path / "missing" / "jsonata.js")}
    proc = subprocess.run([sys.executable, "-m", "stepweave.cli", "run", str(workflow), "-q"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"STEPWEAVE_JSONATA_JS={tmp_path / 'missing' / 'jsonata.js'}: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_nan_reaches_the_engine() -> None:
    with pytest.raises(JSONataEvaluationError, match="not a JSON value"):
        evaluate("$x", {"x": math.nan})


def test_an_evaluation_whose_context_is_closed_under_it_runs_again() -> None:
    """A command that ends closes the V8 contexts (``stepweave.v8.close``) while an engine of
    the same process may still be evaluating a state's expression in another thread: that
    evaluation runs again in a new context instead of failing the state."""
    import threading
    import time

    from stepweave import v8

    slow = "$sum([1..700].($x := $; $sum([1..700].($ * $x))))"  # most of a second
    jsonata_eval.evaluate("1", {})
    opened = v8.engine("jsonata", lambda _mr: None)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = jsonata_eval.evaluate(slow, {})
        except Exception as exc:  # noqa: BLE001 - the assertion below says what it was
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    v8.close()  # as `stepweave ...`'s main() does when it returns
    worker.join(60)
    assert not v8.is_open("jsonata", opened), "the context the evaluation started in was closed"
    assert outcome == {"value": 60196622500}


def test_contexts_closed_again_and_again_never_fail_an_evaluation_in_progress() -> None:
    """Commands ending one after another in a process whose engine keeps evaluating (as a
    test suite's CLI calls do): each ``close`` waits for the evaluation in progress, which
    neither fails nor hangs until its time limit."""
    import threading
    import time

    from stepweave import v8

    outcomes: list[object] = []
    until = time.monotonic() + 1.5

    def run() -> None:
        while time.monotonic() < until:
            try:
                outcomes.append(jsonata_eval.evaluate("$x + 1", {"x": 1}))
            except Exception as exc:  # noqa: BLE001 - the assertion below says what it was
                outcomes.append(exc)
                return

    worker = threading.Thread(target=run)
    worker.start()
    while time.monotonic() < until:
        time.sleep(0.003)
        v8.close()
    worker.join(60)
    assert outcomes and set(map(repr, outcomes)) == {"2"}
