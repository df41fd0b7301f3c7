"""The embedded engine: compiled ASL on moto's Step Functions, handlers in-process.

``LocalEngine`` starts moto (no AWS account, no network), registers the block
handlers from ``functions/`` under the function names the state machine invokes,
creates the state machine from the *same* definition the CDK app deploys (with the
handler ARNs substituted) and runs executions, reporting progress from the
execution history as it grows. After each run the execution's records (the record
and its block logs) are written by the recorder's own code into the local records table
(``stepweave.local.records``): the SQLite database ``records_file``, else one in memory.

Block outputs over the inline budget go to a payload bucket in moto's S3
(``LOCAL_PAYLOAD_BUCKET``), named to the handlers by ``STEPWEAVE_PAYLOAD_BUCKET`` as on
AWS; the variable is restored when the engine stops. The bucket is made when first used
(most runs store nothing there, and moto's S3 takes a tenth of a second to start). The
approval handler finds the records table and the outbox folder the same way (``STEPWEAVE_TABLE``,
``STEPWEAVE_OUTBOX_DIR``); ``run(approver=...)`` answers the run's pending approvals
(``stepweave.local.approvals``).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepweave.compiler import CompiledWorkflow
from stepweave.compiler.distributed import PAYLOAD_BUCKET
from stepweave.local.approvals import ApprovalDesk, Approver
from stepweave.local.distributed_map import ChildExecution, for_moto
from stepweave.runtime import payloads
from stepweave.runtime.approvals import ApprovalError
from stepweave.runtime.history import billed_transitions, lambda_invocations
from stepweave.runtime.recorder import Clients
from stepweave.runtime.stretches import Splicer
from stepweave.runtime.settings import LOCAL_PAYLOAD_BUCKET, Settings

__all__ = ["LocalEngine", "RunResult", "HANDLER_MODULES", "Progress", "real_handler"]

REGION = "us-east-1"
ACCOUNT = "123456789012"

#: The Lambda code of the project (``functions/<handler>/handler.py``), the same files
#: the CDK app deploys.
FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
HANDLER_MODULES = {"function": "function", "api": "api", "approval": "approval",
                   "agent": "agent", "router": "router", "evaluator": "evaluator",
                   "tool": "tool", "collect": "collect"}


@dataclass
class Progress:
    kind: str  # "started" | "succeeded" | "failed"
    state: str
    at: float
    detail: str = ""
    assigned: tuple[str, ...] = ()  # variables the state assigned (names only)


@dataclass
class RunResult:
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: Any
    error: str | None
    cause: str | None
    execution_arn: str
    transitions: int
    lambda_invocations: int
    duration_s: float
    events: list[dict[str, Any]] = field(default_factory=list)
    #: a split workflow's Express stretch executions, each one's duration (seconds)
    stretches_s: tuple[float, ...] = ()
    #: the child executions its distributed Maps started (distributed parallels' items,
    #: chunked loops' chunks), each with what it is billed on
    children: tuple[ChildExecution, ...] = ()


#: AWS's limit on an Express execution's duration.
EXPRESS_LIMIT_SECONDS = 300.0
EXPRESS_TIMEOUT_CAUSE = ("The execution ran longer than the 5 minutes an Express workflow "
                         "may run.")


def function_arn(handler: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stepweave-{handler}"


class LocalEngine:
    def __init__(self, handlers: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
                 records_file: Path | None = None, settings: Settings | None = None,
                 history_limit: int | None = None,
                 express_limit_s: float = EXPRESS_LIMIT_SECONDS) -> None:
        """``history_limit``: the events a Standard execution may have (AWS's 25,000 by
        default, ``stepweave.local.limits``); ``express_limit_s``: how long an Express
        execution may run (AWS's 5 minutes). Lower them only to see the limits' behaviour fast."""
        self._custom = handlers or {}
        self._history_limit = history_limit
        self._express_limit_s = express_limit_s
        self._mock: Any = None
        self._sfn: Any = None
        self._s3: Any = None
        self._payloads = False  # the engine's payload store in use (until it stops)
        self._s3_lock = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        self._records_file = records_file
        self._settings = settings
        self.records: Any = None  # stepweave.local.records.LocalRecords once started
        self._manifests: Any = None  # tempfile.TemporaryDirectory of the manifests
        self._manifest_index: dict[str, str] = {}
        #: every state machine made here -> its workflow (children included)
        self.machines: dict[str, CompiledWorkflow] = {}
        #: state machine -> the state machines of its sub-workflow blocks
        self._children: dict[str, list[str]] = {}
        #: state machine -> the state machines of its Express stretches (a split workflow)
        self.stretches: dict[str, list[str]] = {}
        #: state machine -> its manifest's ``split`` (a split workflow's added states, lead-ins)
        self._split_states: dict[str, dict[str, str]] = {}
        #: (execution, block id) -> handler calls: a distributed container's children call
        #: handlers outside the run's history (their events are the child executions')
        self._calls: dict[tuple[str, str], int] = {}
        self._calls_lock = threading.Lock()

    def __enter__(self) -> LocalEngine:
        with _long_lived_setup():
            from moto import mock_aws

            from stepweave.local import limits, moto_adapter, moto_redrive

            moto_adapter.install()
            limits.install()  # AWS's service limits, which moto does not apply
            from stepweave.local import distributed_map

            distributed_map.install()  # distributed Maps as AWS runs them
            moto_redrive.install()  # RedriveExecution, over the two above
            from stepweave.local import live

            live.install()  # each execution's history as it grows, for stepweave watch
            logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                          "lambda": {"use_docker": False}})
            self._mock.start()
            import boto3

            self._sfn = boto3.client("stepfunctions", region_name=REGION,
                                     aws_access_key_id="local", aws_secret_access_key="local")
            from stepweave.local.records import LocalRecords

            self._start_payloads()

            self.records = LocalRecords.open(self._settings or Settings.from_env(),
                                             self._records_file)
        # the approval handler finds the table and the outbox as on AWS: by environment
        self._set_env("STEPWEAVE_TABLE", self.records.table)
        self._set_env("STEPWEAVE_OUTBOX_DIR", os.environ.get("STEPWEAVE_OUTBOX_DIR")
                      or str(self.records.settings.outbox))
        self._set_env("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION") or REGION)
        # the workflows' manifests, where the approval handler finds them (as on AWS, where
        # they are bundled beside it): it records the run's block logs at a pause
        import tempfile

        self._manifests = tempfile.TemporaryDirectory(prefix="stepweave-manifests-")
        self._manifest_index = {}
        self._set_env("STEPWEAVE_MANIFESTS_DIR", self._manifests.name)
        if self.live_dir is not None:
            live.use(self.live_dir)
        return self

    def _set_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    @property
    def sfn(self) -> Any:
        """The Step Functions client of the embedded engine (moto)."""
        return self._sfn

    @property
    def s3(self) -> Any:
        """The S3 client of the embedded engine (moto), where the payload bucket is (made
        now if it was not yet)."""
        with self._s3_lock:
            if self._s3 is None and self._payloads:
                from stepweave.local.records import local_client

                s3 = local_client("s3")
                s3.create_bucket(Bucket=LOCAL_PAYLOAD_BUCKET)
                self._s3 = s3
            return self._s3

    def _start_payloads(self) -> None:
        self._payloads = True
        self._set_env("STEPWEAVE_PAYLOAD_BUCKET", LOCAL_PAYLOAD_BUCKET)
        payloads.use_store(_EngineBucket(self))

    def _stop_payloads(self) -> None:
        if not self._payloads:
            return
        payloads.use_store(None)
        with self._s3_lock:
            self._payloads, self._s3 = False, None

    def __exit__(self, *exc: object) -> None:
        from stepweave.local import live, moto_adapter, moto_redrive

        if self.live_dir is not None:
            live.use(None)
        moto_redrive.forget()  # the executions go with moto's state; failed ones were kept on disk
        from stepweave.local.redrive import release

        release()  # and the stretch histories put back with them

        for handler in list(moto_adapter.LAMBDA_HANDLERS):
            moto_adapter.LAMBDA_HANDLERS.pop(handler, None)
        self._stop_payloads()
        self._restore_env()
        if self.records is not None:  # the records database, and the routing of clients to it
            self.records.close()
        if getattr(self, "_manifests", None) is not None:
            self._manifests.cleanup()
            self._manifests = None
        if self._mock is not None:
            self._mock.stop()

    def _register(self, handlers: tuple[str, ...]) -> None:
        from stepweave.local import moto_adapter

        for handler in handlers:
            fn = self._custom.get(handler)
            if fn is None:
                fn = _bind_context(_load_handler(handler))
            moto_adapter.LAMBDA_HANDLERS[f"stepweave-{handler}"] = self._counted(fn)

    def _counted(self, fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        from stepweave.local.records import kept_map_items
        from stepweave.runtime.lead_in import IN_PROCESS_RUNNER
        from stepweave.runtime.map_items import IN_PROCESS_ITEMS

        def call(event: dict[str, Any]) -> Any:
            context, block = event.get("context"), event.get("block")
            if isinstance(context, dict) and isinstance(block, dict):
                key = (str(context.get("execution")), str(block.get("id")))
                with self._calls_lock:
                    self._calls[key] = self._calls.get(key, 0) + 1
            token = IN_PROCESS_ITEMS.set(kept_map_items)  # a handler reads the kept items
            runner = IN_PROCESS_RUNNER.set(self._run_sync)  # and runs a lead-in's stretch
            try:
                return fn(event)
            finally:
                IN_PROCESS_RUNNER.reset(runner)
                IN_PROCESS_ITEMS.reset(token)
        return call

    def _run_sync(self, machine: str, payload: str) -> dict[str, Any]:
        """``StartSyncExecution``, which moto lacks: start the execution, wait for its end
        (woken by each execution's end; an Express execution runs at most 5 minutes)."""
        from stepweave.local.moto_adapter import ENDED

        # named as AWS names it (moto would leave an Express execution unnamed)
        arn = self.sfn.start_execution(stateMachineArn=machine, input=payload,
                                       name=str(uuid.uuid4()))["executionArn"]
        deadline = time.monotonic() + 300
        while True:
            seen = ENDED.count()
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return {"executionArn": arn, **{k: described[k] for k in ("status", "output", "error", "cause",
                                                                          "startDate") if k in described}}
            if time.monotonic() > deadline:
                self.sfn.stop_execution(executionArn=arn, error="States.Timeout", cause=EXPRESS_TIMEOUT_CAUSE)
                return {"executionArn": arn, "status": "TIMED_OUT", "error": "States.Timeout",
                        "cause": EXPRESS_TIMEOUT_CAUSE}
            ENDED.wait(seen, max(0.0, deadline - time.monotonic()) + 0.01)

    def child_invocations(self, compiled: CompiledWorkflow, execution: str) -> int:
        """The Lambda invocations of ``execution``'s distributed containers' child
        executions (its blocks inside them: a child passes its parent's ARN as the event's
        execution)."""
        inside = {node for node, containers in compiled.containers.items()
                  if set(containers) & _distributed_containers(compiled)}
        with self._calls_lock:
            return sum(self._calls.get((execution, node), 0) for node in inside)

    def create(self, compiled: CompiledWorkflow, name: str | None = None) -> str:
        """The state machine of ``compiled`` (named ``name``, as a deployment names it, or
        a fresh unique name); its sub-workflows' state machines first."""
        machines = {ref: self.create(child) for ref, child in compiled.children.items()}
        stretches = {ref: self.create(part) for ref, part in compiled.stretches.items()}
        self._register(compiled.handlers)
        definition = compiled.substitutions({h: function_arn(h) for h in compiled.handlers},
                                            {**machines, **stretches})
        definition = for_moto(definition.replace(PAYLOAD_BUCKET, LOCAL_PAYLOAD_BUCKET))
        name = name or f"{compiled.name}-{uuid.uuid4().hex[:8]}"
        self._write_manifest(name, compiled)
        if LOCAL_PAYLOAD_BUCKET in definition or ":::s3:" in definition:
            _ = self.s3  # the state machine itself reads or writes S3: the bucket must exist
        arn = str(self._sfn.create_state_machine(
            name=name, definition=definition, type=compiled.workflow_type,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/stepweave-local")["stateMachineArn"])
        self.machines[arn] = compiled
        self._children[arn] = list(machines.values())
        self.stretches[arn] = list(stretches.values())
        self._split_states[arn] = dict(compiled.split_states)
        return arn

    def machine_of(self, execution: str) -> str:
        """The state machine ARN of one of this engine's executions."""
        return str(self._sfn.describe_execution(executionArn=execution)["stateMachineArn"])

    @property
    def live_dir(self) -> Path | None:
        """Where running executions' histories are written as they grow (``stepweave.local.live``)."""
        return None if self._records_file is None else Path(self._records_file).parent / "live"

    @property
    def redrive_dir(self) -> Path | None:
        """Where failed runs are kept to be redriven (beside the records database; None with
        records in memory)."""
        return None if self._records_file is None else Path(self._records_file).parent / "redrive"

    def stretch_machines(self) -> set[str]:
        """The state machines of split workflows' Express stretches (runs of their parents',
        not runs of their own)."""
        return {arn for arns in self.stretches.values() for arn in arns}

    def descendants(self, machine: str) -> list[str]:
        """The state machines ``machine``'s sub-workflow blocks run, at any depth."""
        found: list[str] = []
        for child in self._children.get(machine, []):
            found += [child, *self.descendants(child)]
        return found

    def record_children(self, machine: str) -> None:
        """Record the nested executions a run of ``machine`` started, as the recorder does
        on AWS for every Standard execution (each shows its parent as its trigger)."""
        for child in self.descendants(machine):
            manifest = self.machines[child].manifest()
            for page in self._sfn.get_paginator("list_executions").paginate(stateMachineArn=child):
                for execution in page["executions"]:
                    self.records.record_run(self._sfn, execution["executionArn"], manifest)
                    from stepweave.local.live import finish

                    finish(self.live_dir, execution["executionArn"])

    def _write_manifest(self, state_machine: str, compiled: CompiledWorkflow) -> None:
        folder = Path(self._manifests.name)
        (folder / f"{compiled.name}.json").write_text(json.dumps(compiled.manifest()), encoding="utf-8")
        self._manifest_index[state_machine] = compiled.name
        (folder / "index.json").write_text(json.dumps(self._manifest_index), encoding="utf-8")

    def run(self, compiled: CompiledWorkflow, payload: Any,
            on_progress: Callable[[Progress], None] | None = None,
            timeout_s: float = 600.0, approver: Approver | None = None,
            poll_s: float = 0.2) -> RunResult:
        """Run to the end. Pending approvals are offered to ``approver`` whenever the run
        changed and at least every ``poll_s`` (without one they wait, up to ``timeout_s`` like
        the rest of the run). Between changes this blocks: a waiting run uses no CPU."""
        arn = self.create(compiled)
        started = time.monotonic()
        from stepweave.local import limits

        limits.set_history_limit(self._history_limit)  # taken by the execution as it starts
        execution = self._sfn.start_execution(stateMachineArn=arn, name=f"run-{uuid.uuid4().hex[:12]}",
                                              input=json.dumps(payload))["executionArn"]
        if "approval" in compiled.handlers:  # a run that may wait shows its record meanwhile
            self.records.record_start(self._sfn, execution, compiled.manifest())
        return self.follow(compiled, execution, started, on_progress=on_progress, timeout_s=timeout_s,
                           approver=approver, poll_s=poll_s)

    def follow(self, compiled: CompiledWorkflow, execution: str, started: float, *, since: int = 0,
               on_progress: Callable[[Progress], None] | None = None, timeout_s: float = 600.0,
               approver: Approver | None = None, poll_s: float = 0.2) -> RunResult:
        """``run``'s wait for a started (or redriven) execution to end, then its records; the
        history before event ``since`` (a redriven execution's earlier attempts) is not read,
        shown or billed."""
        arn = self.machine_of(execution)
        next_poll, last_ask, asked = 0.0, 0.0, -1
        events: list[dict[str, Any]] = []  # the history read so far (after ``since``)
        by_id: dict[Any, dict[str, Any]] = {}  # the events read so far, by id
        desk = None if approver is None else ApprovalDesk(
            Clients(sfn=self._sfn, ddb=self.records.ddb), self.records.settings, approver)
        from stepweave.local.moto_adapter import CHANGES

        # a split workflow's blocks run in its stretches' executions too: one history
        splicer = self._splicer(compiled)
        own: list[dict[str, Any]] = []  # the execution's own history (what Standard bills)
        changes = CHANGES.count()
        # an Express execution stops at AWS's duration limit, as States.Timeout (TIMED_OUT)
        express = compiled.workflow_type == "EXPRESS" and self._express_limit_s < timeout_s
        if express:
            timeout_s = self._express_limit_s
        timed_out = False
        try:
            while True:
                desc = self._sfn.describe_execution(executionArn=execution)
                if on_progress is not None:  # the events added since the last read
                    new = self._read(execution, since, own, splicer)
                    events += new
                    by_id.update((e.get("id"), e) for e in new)
                    for event in new:
                        progress = _progress(event, by_id)
                        if progress is not None:
                            on_progress(progress)
                if desc["status"] != "RUNNING":
                    break
                if time.monotonic() - started > timeout_s and not timed_out:
                    timed_out = express
                    self._sfn.stop_execution(
                        executionArn=execution,
                        **({"error": "States.Timeout", "cause": EXPRESS_TIMEOUT_CAUSE} if express
                           else {"error": "Stepweave.LocalTimeout"}))
                due = None
                if desk is not None:  # after a change (at most every 50 ms), else every poll_s
                    due = next_poll if asked == changes else min(next_poll, last_ask + 0.05)
                    if time.monotonic() >= due:
                        last_ask, asked = time.monotonic(), changes
                        next_poll = due = last_ask + poll_s
                        self._answer(desk, execution)
                changes = self._wait_for_change(changes, started + timeout_s, due)
        except KeyboardInterrupt:  # Ctrl-C while waiting: stop the run, not just the loop
            self._sfn.stop_execution(executionArn=execution, error="Stepweave.Interrupted")
            raise
        duration = time.monotonic() - started
        events += self._read(execution, since, own, splicer)
        self.records.record_run(self._sfn, execution, compiled.manifest())
        from stepweave.local.distributed_map import child_executions, forget_items

        forget_items(execution)  # its distributed Maps' items are in its block logs now
        children = child_executions(execution)
        self.record_children(arn)
        from stepweave.local.live import finish

        finish(self.live_dir, execution)
        if compiled.workflow_type == "STANDARD":
            from stepweave.local.redrive import keep

            keep(self, execution)  # a failed run can be redriven later (stepweave retry)
        output = json.loads(desc["output"]) if desc.get("output") else None
        status, error, cause = desc["status"], desc.get("error"), desc.get("cause")
        if timed_out and status == "ABORTED":
            status, error, cause = "TIMED_OUT", "States.Timeout", EXPRESS_TIMEOUT_CAUSE
        invocations = lambda_invocations(events) + self.child_invocations(compiled, execution)
        return RunResult(status, output, error, cause, execution,
                         billed_transitions(own), invocations, duration, events,
                         stretches_s=self._stretch_seconds(arn, own), children=children)

    def _stretch_seconds(self, machine: str, own: list[dict[str, Any]]) -> tuple[float, ...]:
        """How long each Express stretch execution the run's own events ``own`` started ran
        (the run's alone: other runs of ``machine`` start executions of the same stretches)."""
        from stepweave.local.records import execution_span
        from stepweave.runtime.stretch_logs import machine_of
        from stepweave.runtime.stretches import child_executions

        stretches = set(self.stretches.get(machine, []))
        added = self._split_states.get(machine, {})
        spans = (execution_span(self._sfn, child) for child in child_executions(own, added)
                 if machine_of(child) in stretches)  # not a sub-workflow's: billed as its own run
        return tuple(span for span in spans if span is not None)

    def _splicer(self, compiled: CompiledWorkflow) -> Splicer | None:
        if not compiled.split_states:
            return None
        from stepweave.local.redrive import child_history  # a stretch another process ran too

        return Splicer(compiled.split_states, lambda child, seen: child_history(self._sfn, child, seen))

    def _read(self, execution: str, since: int, own: list[dict[str, Any]],
              splicer: Splicer | None) -> list[dict[str, Any]]:
        """The history events added since the last read (``own`` gets the execution's own);
        for a split workflow, its stretches' events spliced in (``stepweave.runtime.stretches``)."""
        from stepweave.local.moto_history import events_since

        new = events_since(self._sfn, execution, since + len(own))
        own += new
        if splicer is None:
            return new
        splicer.feed(new)
        return splicer.poll()

    @staticmethod
    def _wait_for_change(seen: int, deadline: float, next_poll: float | None) -> int:
        """Block until the executions change, the approvals' next poll or the deadline (at
        most a second, should a change go unsignalled); a few ms at least, so a burst of
        events is read in one go."""
        from stepweave.local.moto_adapter import CHANGES

        time.sleep(0.005)
        until = min(deadline, next_poll if next_poll is not None else deadline, time.monotonic() + 1.0)
        return CHANGES.wait(seen, max(0.0, until - time.monotonic()))

    def _answer(self, desk: ApprovalDesk, execution: str) -> None:
        try:
            desk.poll(execution)
        except ApprovalError as exc:
            # a bad answer ends the run rather than leaving it waiting
            self._sfn.stop_execution(executionArn=execution, error="Stepweave.ApprovalStopped",
                                     cause=str(exc))
            raise


class _EngineBucket:
    """The payload store on the engine's S3, whose bucket is made on first use."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    def get(self, bucket: str, key: str) -> bytes:
        return payloads.S3Store(self._engine.s3).get(bucket, key)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        payloads.S3Store(self._engine.s3).put(bucket, key, body)


_setup_done = False
_setup_lock = threading.Lock()


@contextmanager
def _long_lived_setup() -> Iterator[None]:
    """The first engine of a process imports moto, boto3 and the ASL parser and makes moto's
    backends: tens of thousands of objects that live as long as the process. The cyclic
    garbage collector would scan them over and over while they are made (a third of a
    second of ``stepweave run`` here), so it is paused meanwhile, and what exists then is
    frozen (``gc.freeze``): later collections leave it alone. Later engines change nothing."""
    global _setup_done
    with _setup_lock:
        first, _setup_done = not _setup_done, True
    if not first or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _load_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    name = f"stepweave_functions_{handler}"
    module = sys.modules.get(name)
    if module is None:
        path = FUNCTIONS_DIR / HANDLER_MODULES[handler] / "handler.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"no handler at {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _logs_to_stderr(module)
    return module.lambda_handler  # type: ignore[no-any-return]


def _logs_to_stderr(module: Any) -> None:
    """A handler's Powertools logger writes to stdout (CloudWatch takes both streams); in
    this process stdout belongs to the command's own output (``--json`` is one JSON
    document), so the handlers' log lines go to stderr."""
    logger = getattr(module, "logger", None)
    handler = getattr(logger, "registered_handler", None)
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(_CurrentStderr())


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written (it may be replaced later)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _bind_context(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any]], Any]:
    def call(event: dict[str, Any]) -> Any:
        return handler(event, _LambdaContext())
    return call


class _LambdaContext:
    function_name = "stepweave-local"
    memory_limit_in_mb = 512
    invoked_function_arn = function_arn("local")
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _entered_state(event: dict[str, Any], by_id: dict[Any, dict[str, Any]]) -> str | None:
    """The state a task event belongs to: back along previousEventId to its StateEntered."""
    seen = 0
    current: dict[str, Any] | None = event
    while current is not None and seen < 8:
        details = current.get("stateEnteredEventDetails")
        if details:
            return str(details.get("name"))
        current = by_id.get(current.get("previousEventId"))
        seen += 1
    return None


def _progress(event: dict[str, Any], by_id: dict[Any, dict[str, Any]] | None = None) -> Progress | None:
    kind = event["type"]
    at = event["timestamp"].timestamp() if hasattr(event["timestamp"], "timestamp") else 0.0
    if kind.endswith("StateEntered"):
        return Progress("started", event["stateEnteredEventDetails"]["name"], at)
    if kind.endswith("StateExited"):
        details = event["stateExitedEventDetails"]
        failed = _caught_container(event, by_id or {})
        if failed is not None:
            return Progress("failed", details["name"], at, failed)
        assigned = tuple(k for k, v in (details.get("assignedVariables") or {}).items() if v != "null")
        return Progress("succeeded", details["name"], at, assigned=assigned)
    if kind in ("TaskFailed", "LambdaFunctionFailed", "ExecutionFailed"):
        details = (event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails")
                   or event.get("executionFailedEventDetails") or {})
        from stepweave.local.failures import describe, failed_state

        state = failed_state(details.get("cause"))
        if state is None and kind != "ExecutionFailed":
            state = _entered_state(event, by_id or {})
        return Progress("failed", state or kind, at, describe(details.get("error"), details.get("cause")))
    return None


def _distributed_containers(compiled: CompiledWorkflow) -> set[str]:
    """The blocks of ``compiled`` that run as distributed Maps (child executions)."""
    found = set()
    for name, state in compiled.definition.get("States", {}).items():
        config = (state.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
        entry = compiled.state_map.get(name)
        if config.get("Mode") == "DISTRIBUTED" and entry is not None:
            found.add(entry[0])
    return found


def _caught_container(event: dict[str, Any], by_id: dict[Any, dict[str, Any]]) -> str | None:
    """A Map or Parallel state that exits through a Catch with an error failed (its items'
    or branches' failure, caught to end the run as the failing block's): why, else None."""
    before = by_id.get(event.get("previousEventId"))
    if before is None or before.get("type") not in ("MapStateFailed", "ParallelStateFailed"):
        return None
    from stepweave.local.failures import describe

    try:
        out = json.loads(event["stateExitedEventDetails"].get("output") or "null")
    except ValueError:
        out = None
    if not isinstance(out, dict) or not isinstance(out.get("Error"), str):
        return None  # caught, not failed: a response inside it ended the run
    why = describe(str(out["Error"]), out.get("Cause") if isinstance(out.get("Cause"), str) else None)
    return f"{out['block']}: {why}" if isinstance(out.get("block"), str) else why


@contextmanager
def local_engine(**kwargs: Any) -> Iterator[LocalEngine]:
    with LocalEngine(**kwargs) as engine:
        yield engine


def real_handler(handler: str) -> Callable[[dict[str, Any]], Any]:
    """The deployed Lambda handler of ``handler`` (``functions/<handler>``), called as the
    engine calls it; for a custom handler that runs the real one for some blocks."""
    return _bind_context(_load_handler(handler))
