"""``stepweave test``: workflow tests beside the workflows, run on the embedded engine with
mocked blocks and no network; its output, exit codes and refusals of bad test files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from stepweave.cli import main

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW = """
name: lookup
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - id: fetch
    name: Fetch
    type: api
    params: {url: "{{LOOKUP_URL}}/items/<start.n>"}
  - {id: double, name: Double, type: function, params: {code: "return <fetch.data.value> * 2"}}
  - {id: fallback, name: Fallback, type: function, params: {code: "return -1"}}
  - id: big
    name: Big
    type: condition
    params: {conditions: [{id: yes, title: if, value: "<double.result> > 10"}, {id: no, title: else}]}
  - {id: ask, name: Ask, type: approval, params: {form: [{name: approved, type: boolean}]}}
  - {id: done, name: Done, type: function, params: {code: "return {n: <double.result>, ok: <ask.approved>}"}}
edges:
  - start -> fetch
  - fetch -> double
  - fetch -[error]-> fallback
  - double -> big
  - big -[condition-yes]-> ask
  - ask -> done
"""


class _Counter(ThreadingHTTPServer):
    """A loopback HTTP server that counts the requests it gets (none are expected)."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"value": 100}')

        server = self
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits = 0


@pytest.fixture()
def lookup_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Counter]:
    server = _Counter()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("LOOKUP_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


def _folder(tmp_path: Path, tests: list[dict[str, Any]] | str) -> Path:
    (tmp_path / "lookup.yaml").write_text(WORKFLOW, encoding="utf-8")
    text = tests if isinstance(tests, str) else yaml.safe_dump({"tests": tests}, sort_keys=False)
    (tmp_path / "lookup.test.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["test", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_example_workflows_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN the committed tests of every example workflow THEN all of them pass, each
    reported by file and name."""
    files = sorted((ROOT / "workflows").glob("*.test.yaml"))
    assert {f.name.removesuffix(".test.yaml") for f in files} == \
        {f.stem for f in (ROOT / "workflows").glob("*.yaml") if not f.name.endswith(".test.yaml")}
    names = [(str(f), t["name"]) for f in files for t in yaml.safe_load(f.read_text())["tests"]]
    code, out, _ = _run([str(f) for f in files] + ["--json"], capsys)
    document = json.loads(out)
    assert code == 0, document
    assert [(t["file"], t["name"]) for t in document["tests"]] == names
    assert document["passed"] == len(names) and document["failed"] == 0


def test_mocks_approvals_and_expectations(tmp_path: Path, lookup_api: _Counter,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN a mocked api block, a mocked error routed by an error edge and an answered
    approval THEN the expectations hold, the report says PASSED, and nothing was sent."""
    folder = _folder(tmp_path, [
        {"name": "big values are approved", "input": {"n": 1},
         "mocks": {"Fetch": {"output": {"data": {"value": 6}, "status": 200, "headers": {}}}},
         "approvals": {"Ask": {"approved": True}},
         "expect": {"output": {"result": {"n": 12, "ok": True}, "stdout": ""},
                    "ran": ["Double", "Ask", "Done"], "skipped": ["Fallback"],
                    "blocks": {"Double": {"result": 12}}}},
        {"name": "small values stop at the condition", "input": {"n": 2},
         "mocks": {"Fetch": {"output": {"data": {"value": 2}, "status": 200, "headers": {}}}},
         "expect": {"skipped": ["Ask", "Done"], "blocks": {"Big": {"selectedOption": "no"}}}},
        {"name": "a failed fetch takes the error edge", "input": {"n": 3},
         "mocks": {"fetch": {"error": {"type": "HttpStatusError", "message": "GET answered 503"}}},
         "expect": {"failed": ["Fetch"], "ran": ["Fallback"], "skipped": ["Double"],
                    "output_includes": {"result": -1}}},
    ])
    code, out, _ = _run([str(folder)], capsys)
    assert code == 0, out
    assert out.count(" PASSED (") == 3 and "3 passed, 0 failed" in out
    assert lookup_api.hits == 0


def test_a_failed_expectation_is_reported_and_exits_1(tmp_path: Path, lookup_api: _Counter,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, [
        {"name": "wrong output", "input": {"n": 1},
         "mocks": {"Fetch": {"output": {"data": {"value": 1}, "status": 200, "headers": {}}}},
         "expect": {"blocks": {"Double": {"result": 3}}, "ran": ["Ask"]}},
    ])
    code, out, _ = _run([str(folder / "lookup.test.yaml")], capsys)
    assert code == 1
    assert f"FAILED {folder / 'lookup.test.yaml'}::wrong output" in out
    assert "block 'Double' output.result is 2, expected 3" in out
    assert "block 'Ask' did not run" in out
    assert "0 passed, 1 failed" in out


def test_a_block_that_calls_out_without_a_mock_fails_and_sends_nothing(
        tmp_path: Path, lookup_api: _Counter, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, [{"name": "forgot the mock", "input": {"n": 1},
                                 "expect": {"status": "SUCCEEDED"}}])
    code, out, _ = _run([str(folder), "--json"], capsys)
    result = json.loads(out)["tests"][0]
    assert code == 1 and not result["passed"]
    assert result["failures"][0] == ("block 'Fetch' (api) ran without a mock: tests run without "
                                     "the network; add mocks: {Fetch: {output: ...}}")
    assert lookup_api.hits == 0


def test_an_unanswered_approval_fails_the_test_instead_of_waiting(
        tmp_path: Path, lookup_api: _Counter, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, [
        {"name": "no answer", "input": {"n": 1},
         "mocks": {"Fetch": {"output": {"data": {"value": 9}, "status": 200, "headers": {}}}}},
    ])
    code, out, _ = _run([str(folder), "--json"], capsys)
    result = json.loads(out)["tests"][0]
    assert code == 1
    assert result["failures"] == ["approval 'Ask' waits for an answer: add approvals: "
                                  "{Ask: {approved: true}}"]


@pytest.mark.parametrize(("tests", "expected"), [
    ([{"name": "t", "mocks": {"Nope": {"output": 1}}}],
     "field 'tests[t].mocks.Nope': no block 'Nope' in lookup.yaml"),
    ([{"name": "t", "mocks": {"Big": {"output": 1}}}],
     "field 'tests[t].mocks.Big': 'Big' is a block Step Functions runs itself"),
    ([{"name": "t", "mocks": {"Ask": {"output": 1}}}],
     "field 'tests[t].mocks.Ask': 'Ask' is an approval: answer it under 'approvals'"),
    ([{"name": "t", "mocks": {"Fetch": {"output": 1, "error": {"message": "x"}}}}],
     "field 'tests[t].mocks.Fetch': Value error, a mock gives either 'output' or 'error'"),
    ([{"name": "t", "mocks": {"Fetch": {"error": {"message": "x", "type": "Oops"}}}}],
     "field 'tests[t].mocks.Fetch.error.type': Value error, must be one of BlockError"),
    ([{"name": "t", "expect": {"stauts": "FAILED"}}], "field 'tests[t].expect.stauts': unknown field"),
    ([{"name": "t"}, {"name": "t"}], "test names must be unique: t"),
    ("tests: [name: {", "malformed YAML"),
])
def test_a_bad_test_file_is_refused_naming_file_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tests: Any, expected: str) -> None:
    folder = _folder(tmp_path, tests)
    code, out, err = _run([str(folder)], capsys)
    assert code == 2 and out == ""
    assert f"{folder / 'lookup.test.yaml'}" in err and expected in err
    assert "Traceback" not in err


def test_validate_checks_a_test_file_and_deploys_skip_it(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from infra.app import compile_workflows

    folder = _folder(tmp_path, [{"name": "t", "input": {"n": 1}}])
    assert main(["validate", str(folder / "lookup.yaml"), str(folder / "lookup.test.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"{folder / 'lookup.test.yaml'}: ok (1 tests of lookup.yaml" in out
    assert [c.name for c in compile_workflows(folder)] == ["lookup"]


def test_no_test_to_run_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([str(tmp_path)], capsys)
    assert code == 5 and "0 passed, 0 failed" in out and "no test files (*.test.yaml)" in err
    folder = _folder(tmp_path, [{"name": "t", "input": {"n": 1}}])
    code, _, err = _run([str(folder), "-k", "nothing like it"], capsys)
    assert code == 5 and "no test's name contains 'nothing like it'" in err
