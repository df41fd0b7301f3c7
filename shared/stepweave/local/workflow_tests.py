"""Workflow tests: files beside the workflows (``<name>.test.yaml``) that run a workflow on
the embedded engine with mocked blocks and no network, and check what happened.

.. code-block:: yaml

    workflow: support-timeline.yaml      # default: the test file's name without .test
    tests:
      - name: a VIP order is posted with high priority
        input: {id: 1, customer: {id: 7}}
        mocks:                           # by block name or id: an output, or an error
          Enrich customer: {output: {data: {id: 7, lifetime_value: 5000}, status: 200}}
          Post timeline event: {error: {message: "503 from the timeline", type: HttpStatusError}}
        approvals:                       # by block name or id: the submission
          Approve refund: {approved: true}
        expect:
          status: SUCCEEDED              # the default
          output: {...}                  # equal; output_includes: a subset
          ran: [VIP priority]            # blocks that ran (failed ones included)
          skipped: [Standard priority]   # blocks that did not run
          failed: [Post timeline event]
          blocks: {VIP priority: {result: {priority: high}}}   # a subset of each output
          error: "text"                  # in the run's error or cause

Blocks that call out (api, agent, router, evaluator, tool) must be mocked when they run:
an unmocked one fails with ``UnmockedBlock``, naming the mock to add. An AI block on the
offline ``local`` model runs as it is (and so do the tools it calls: mock it to keep them
from running). Function blocks run
their code in the sandbox and approvals store their request as in ``stepweave run`` (their
email goes to a temporary outbox); either may be mocked too. Native blocks (conditions,
variables, waits, responses) run as Step Functions runs them and cannot be mocked.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stepweave.compiler.compiled import CompiledWorkflow
from stepweave.errors import BLOCK_ERROR_NAMES, Problem, WorkflowError

__all__ = ["TestFile", "TestCase", "CaseResult", "load_test_file", "run_test_files",
           "NETWORK_HANDLERS"]

#: Handlers that reach the network: their blocks must be mocked in a test.
NETWORK_HANDLERS = frozenset({"api", "agent", "router", "evaluator", "tool"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MockError(_Model):
    message: str = Field(min_length=1)
    type: str = "BlockError"

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BLOCK_ERROR_NAMES:
            raise ValueError(f"must be one of {', '.join(BLOCK_ERROR_NAMES)}")
        return value


class Mock(_Model):
    output: Any = None
    error: MockError | None = None

    @model_validator(mode="after")
    def _one(self) -> Mock:
        if (self.error is None) == ("output" not in self.model_fields_set):
            raise ValueError("a mock gives either 'output' or 'error'")
        return self


class Expect(_Model):
    status: Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] = "SUCCEEDED"
    output: Any = None
    output_includes: Any = None
    error: str | None = None
    ran: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    blocks: dict[str, Any] = Field(default_factory=dict)


class TestCase(_Model):
    __test__ = False  # not a pytest class

    name: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)
    mocks: dict[str, Mock] = Field(default_factory=dict)
    approvals: dict[str, dict[str, Any]] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    timeout: float = Field(default=120.0, gt=0, le=3600, description="seconds")


class TestFile(_Model):
    __test__ = False

    workflow: str | None = None
    tests: list[TestCase] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> TestFile:
        names = [t.name for t in self.tests]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"test names must be unique: {', '.join(twice)}")
        return self


@dataclass
class LoadedTests:
    path: Path
    spec: TestFile
    workflow_path: Path
    compiled: CompiledWorkflow
    #: block name or id as the tests write it -> block id (every workflow of the family)
    blocks: dict[str, str]
    handlers: dict[str, str | None]  # block id -> its handler (None: a native block)


@dataclass
class CaseResult:
    file: str
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    status: str | None = None
    duration_s: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


class UnmockedBlock(Exception):
    """A block that would reach the network ran without a mock."""


def load_test_file(path: Path) -> LoadedTests:
    """Read a test file and compile its workflow; a ``WorkflowError`` naming the test file,
    the test and the field for anything wrong."""
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import TEST_SUFFIXES, load_workflow, parse_text, read_text

    file = str(path)
    if not path.name.lower().endswith(TEST_SUFFIXES):
        raise WorkflowError([Problem(file, "test files end in .test.yaml, .test.yml or .test.json")])
    data = parse_text(read_text(path), file)
    try:
        spec = TestFile.model_validate(data)
    except ValidationError as exc:
        raise WorkflowError([_problem(file, data, err) for err in exc.errors(include_url=False)]) from None
    workflow_path = _workflow_path(path, spec)
    compiled = compile_workflow(load_workflow(workflow_path), str(workflow_path))
    blocks, handlers = _block_index(compiled)
    problems = []
    for case in spec.tests:
        for section, names in (("mocks", case.mocks), ("approvals", case.approvals),
                               ("expect.blocks", case.expect.blocks),
                               ("expect.ran", case.expect.ran), ("expect.skipped", case.expect.skipped),
                               ("expect.failed", case.expect.failed)):
            for name in names:
                if name not in blocks:
                    problems.append(Problem(file, f"no block '{name}' in {workflow_path.name}",
                                            None, f"tests[{case.name}].{section}.{name}"))
        for name in case.mocks:
            if name in blocks and handlers[blocks[name]] == "approval":
                problems.append(Problem(file, f"'{name}' is an approval: answer it under "
                                              "'approvals' instead of mocking it", None,
                                        f"tests[{case.name}].mocks.{name}"))
            elif name in blocks and handlers[blocks[name]] is None:
                problems.append(Problem(file, (
                    f"'{name}' is a block Step Functions runs itself (no handler): it cannot be "
                    "mocked; mock the blocks it reads instead"), None, f"tests[{case.name}].mocks.{name}"))
        for name in case.approvals:
            if name in blocks and handlers[blocks[name]] != "approval":
                problems.append(Problem(file, f"'{name}' is not an approval block", None,
                                        f"tests[{case.name}].approvals.{name}"))
    if problems:
        raise WorkflowError(problems)
    return LoadedTests(path, spec, workflow_path, compiled, blocks, handlers)


def _problem(file: str, data: Any, error: Any) -> Problem:
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int):
        tests = data.get("tests") if isinstance(data, dict) else None
        raw = tests[loc[1]] if isinstance(tests, list) and loc[1] < len(tests) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        loc[:2] = [f"tests[{name if isinstance(name, str) else loc[1]}]"]
    message = {"extra_forbidden": "unknown field",
               "missing": "required field is missing"}.get(error["type"], error["msg"])
    return Problem(file, message, None, ".".join(str(p) for p in loc) or None)


def _workflow_path(path: Path, spec: TestFile) -> Path:
    from stepweave.workflow.loader import TEST_SUFFIXES, WORKFLOW_SUFFIXES

    if spec.workflow is not None:
        target = (path.parent / spec.workflow)
        if not target.is_file():
            raise WorkflowError([Problem(str(path), f"no workflow file {spec.workflow!r} beside it",
                                         None, "workflow")])
        return target
    stem = path.name[: -len(next(s for s in TEST_SUFFIXES if path.name.lower().endswith(s)))]
    for suffix in WORKFLOW_SUFFIXES:
        if (path.parent / f"{stem}{suffix}").is_file():
            return path.parent / f"{stem}{suffix}"
    raise WorkflowError([Problem(str(path), f"no workflow {stem}.yaml (or .yml, .json) beside it; "
                                            "name one with 'workflow:'", None, "workflow")])


def _block_index(compiled: CompiledWorkflow) -> tuple[dict[str, str], dict[str, str | None]]:
    from stepweave.blocks.catalog import block_type

    blocks: dict[str, str] = {}
    handlers: dict[str, str | None] = {}
    for workflow in (compiled, *compiled.children.values()):
        for block_id, (name, type_name) in workflow.blocks.items():
            btype = block_type(type_name)
            handlers[block_id] = btype.handler if btype is not None else None
            blocks.setdefault(block_id, block_id)
            blocks.setdefault(name, block_id)
    return blocks, handlers


class _Dispatch:
    """The Lambda handlers of a test session: a mocked block answers from its mock, a
    network block without one fails, the rest run their real handler."""

    def __init__(self) -> None:
        self.mocks: dict[str, Mock] = {}  # block id -> mock, for the test being run
        self.unmocked: list[str] = []  # what reached for the network in the test being run

    def handler(self, name: str, real: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def call(event: dict[str, Any]) -> Any:
            payload = event.get("Payload", event) if "FunctionName" in event else event
            block = payload.get("block") or {}
            mock = self.mocks.get(str(block.get("id")))
            if mock is not None:
                if mock.error is not None:
                    raise type(mock.error.type, (Exception,), {})(mock.error.message)
                return mock.output
            if name in NETWORK_HANDLERS and not _offline(name, payload.get("params") or {}):
                message = (f"block '{block.get('name')}' ({name}) ran without a mock: tests run "
                           f"without the network; add mocks: {{{block.get('name')}: {{output: ...}}}}")
                self.unmocked.append(message)
                raise UnmockedBlock(message)
            return real(event)
        return call


def _offline(handler: str, params: dict[str, Any]) -> bool:
    """An AI block on the ``local`` model (deterministic, offline) runs as it is."""
    return handler in ("agent", "router", "evaluator") and params.get("model") == "local" \
        and not params.get("baseUrl") and params.get("provider") in (None, "local")


@contextmanager
def _session(handlers: set[str]) -> Iterator[tuple[Any, _Dispatch]]:
    from stepweave.local.engine import LocalEngine, real_handler
    from stepweave.runtime.settings import Settings

    dispatch = _Dispatch()
    with tempfile.TemporaryDirectory(prefix="stepweave-test-") as tmp:
        # the engine reads the outbox from the environment, as handlers do
        previous = os.environ.get("STEPWEAVE_OUTBOX_DIR")
        os.environ["STEPWEAVE_OUTBOX_DIR"] = str(Path(tmp) / "outbox")
        try:
            custom = {h: dispatch.handler(h, real_handler(h)) for h in handlers}
            with LocalEngine(handlers=custom, records_file=Path(tmp) / "records.db",
                             settings=Settings.from_env()) as engine:
                yield engine, dispatch
        finally:
            if previous is None:
                os.environ.pop("STEPWEAVE_OUTBOX_DIR", None)
            else:
                os.environ["STEPWEAVE_OUTBOX_DIR"] = previous


def run_test_files(paths: list[Path], on_result: Callable[[CaseResult], None],
                   select: str | None = None) -> list[CaseResult]:
    """Load every file first (a broken one stops everything with its problems), then run
    each test (those whose name contains ``select``) on one embedded engine."""
    loaded = [load_test_file(path) for path in paths]
    handlers = {h for item in loaded for h in item.handlers.values() if h is not None}
    results: list[CaseResult] = []
    if not loaded:
        return results
    with _session(handlers) as (engine, dispatch):
        for item in loaded:
            for case in item.spec.tests:
                if select is not None and select not in case.name:
                    continue
                result = _run_case(engine, dispatch, item, case)
                on_result(result)
                results.append(result)
    return results


def _run_case(engine: Any, dispatch: _Dispatch, item: LoadedTests, case: TestCase) -> CaseResult:
    from stepweave.runtime.approvals import ApprovalError
    from stepweave.runtime.history import block_runs

    dispatch.mocks = {item.blocks[name]: mock for name, mock in case.mocks.items()}
    dispatch.unmocked = []
    answers = {item.blocks[name]: submission for name, submission in case.approvals.items()}
    unanswered: list[str] = []

    def approver(approval: Any) -> dict[str, Any] | None:
        if approval.block_id in answers:
            return answers[approval.block_id]
        unanswered.append(approval.block_name)
        raise ApprovalError(f"approval '{approval.block_name}' waits for an answer: add "
                            f"approvals: {{{approval.block_name}: {{approved: true}}}}")

    started = time.monotonic()
    report = CaseResult(str(item.path), case.name, passed=False)
    try:
        result = engine.run(item.compiled, case.input, timeout_s=case.timeout, approver=approver,
                            poll_s=0.1)
    except ApprovalError as exc:
        report.failures.append(str(exc))
        report.duration_s = time.monotonic() - started
        return report
    report.duration_s = time.monotonic() - started
    report.status = result.status
    runs = block_runs(result.events, item.compiled.manifest())
    report.failures = list(dict.fromkeys(dispatch.unmocked)) + _check(case.expect, result, runs, item)
    report.passed = not report.failures
    return report


def _check(expect: Expect, result: Any, runs: list[Any], item: LoadedTests) -> list[str]:
    failures: list[str] = []
    if result.status != expect.status:
        why = f": {result.error}: {_cause_text(result.cause)}" if result.error else ""
        failures.append(f"status is {result.status}, expected {expect.status}{why}")
    if "output" in expect.model_fields_set and result.output != expect.output:
        failures.append(f"output is {_show(result.output)}, expected {_show(expect.output)}")
    if expect.output_includes is not None:
        failures += _not_included(expect.output_includes, result.output, "output")
    if expect.error is not None and expect.error not in f"{result.error or ''} {result.cause or ''}":
        failures.append(f"error {result.error!r} ({_cause_text(result.cause)!r}) does not contain "
                        f"{expect.error!r}")
    by_block: dict[str, list[Any]] = {}
    for run in runs:
        by_block.setdefault(run.block, []).append(run)
    for name in expect.ran:
        if item.blocks[name] not in by_block:
            failures.append(f"block '{name}' did not run")
    for name in expect.skipped:
        if item.blocks[name] in by_block:
            failures.append(f"block '{name}' ran, expected it skipped")
    for name in expect.failed:
        if not any(r.failed for r in by_block.get(item.blocks[name], [])):
            failures.append(f"block '{name}' did not fail")
    for name, subset in expect.blocks.items():
        done = by_block.get(item.blocks[name])
        if not done:
            failures.append(f"block '{name}' did not run, so it has no output")
            continue
        failures += _not_included(subset, done[-1].output, f"block '{name}' output")
    return failures


def _not_included(subset: Any, actual: Any, where: str) -> list[str]:
    """What of ``subset`` is not in ``actual``: objects by key (recursively), anything else equal."""
    if isinstance(subset, dict):
        if not isinstance(actual, dict):
            return [f"{where} is {_show(actual)}, expected an object with {_show(subset)}"]
        out: list[str] = []
        for key, value in subset.items():
            if key not in actual:
                out.append(f"{where}.{key} is missing, expected {_show(value)}")
            else:
                out += _not_included(value, actual[key], f"{where}.{key}")
        return out
    if subset != actual:
        return [f"{where} is {_show(actual)}, expected {_show(subset)}"]
    return []


def _cause_text(cause: str | None) -> str:
    """A Lambda error's message from its cause (JSON with ``errorMessage``), else the cause."""
    if not cause:
        return ""
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and isinstance(data.get("errorMessage"), str):
        return str(data["errorMessage"])
    return cause


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 300 else text[:297] + "..."
