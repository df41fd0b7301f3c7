"""Distributed Map states on the embedded engine, as AWS runs them.

moto's parser has a distributed Map (taken from LocalStack) that differs from AWS where
Stepweave's distributed parallels and chunked loops (``stepweave.compiler.distributed``)
depend on it. These patches make it behave as AWS documents:

* **Child executions are isolated.** Each item runs as its own execution: it does not see
  the parent's variables (moto ran it in an inner variable scope of the parent's, so a
  body reading a parent variable that was not passed in worked locally and not on AWS), nor
  the parent's ``$states.context.Map`` (only the ``ItemSelector``, evaluated in the parent,
  sees the item). Its events are its own: none enter the parent's history (moto's did not
  either), and a ``STANDARD`` child has its own 25,000-event limit
  (``stepweave.local.limits``). Each child's events are kept, an ``EXPRESS`` child's too
  (AWS keeps none), by parent execution and Map Run (``item_events``): the run's records
  derive the block logs of the blocks inside from them (``stepweave.runtime.map_items``).
  Each child is also noted as Step Functions bills it (``child_executions``): its type, its
  billed state transitions and how long it ran.
* **Failures fail the Map Run.** AWS fails the Map state with
  ``States.ExceedToleratedFailureThreshold`` once more items fail than
  ``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` allow (none by default); moto
  ignored failed items.
* **ResultWriter writes the results.** AWS writes ``manifest.json`` and result files
  (``SUCCEEDED_0.json``, ``FAILED_0.json``: arrays of the child executions with their
  ``Input`` and ``Output`` as JSON text) under ``<Prefix>/<map run id>/``; moto wrote an
  empty manifest.
* **A child without ``TimeoutSeconds`` runs on its worker's thread.** moto's program
  starts a thread per execution to time it out (and keeps each in a list for good);
  without a timeout it only waited for it.
* **Workers loop instead of recursing.** moto's worker recursed once per item, which
  overflows the stack of a worker thread running thousands of items.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from stepweave.local.moto_imports import defer_batch

defer_batch()

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.execution_type import (
    ExecutionType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as dic,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as dipw,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool
from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import (
    DEFAULT_MAX_CONCURRENCY_VALUE,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
    ResultWriter,
)
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    Resource,
)
from moto.stepfunctions.parser.asl.component.state.state_props import StateProps
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
from moto.stepfunctions.parser.asl.eval.variable_store import VariableStore
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from stepweave.local import limits
from stepweave.runtime.history import billed_transitions

__all__ = ["install", "for_moto", "PATCHED_ATTRIBUTES", "TOLERANCE_CAUSE", "child_history_peak",
           "reset_child_history_peak", "item_events", "forget_items", "ChildExecution",
           "child_executions", "noted_children"]

TOLERANCE_CAUSE = "The specified tolerated failure threshold was exceeded"
_Worker = dipw.DistributedItemProcessorWorker
_Component = dic.DistributedIterationComponent
_installed = False
_lock = threading.Lock()
_child_events_peak = 0
#: parent execution ARN -> map run ARN -> [(item index, the child execution's events, as
#: moto keeps them)]: what the run's block logs are derived from (``item_events``)
_ITEMS: dict[str, dict[str, list[tuple[int, list[Any]]]]] = {}


@dataclass(frozen=True)
class ChildExecution:
    """One child execution a distributed Map started, with what Step Functions bills it
    on: a ``STANDARD`` child its state transitions, an ``EXPRESS`` child a request and its
    duration (``stepweave.runtime.pricing.children_bill`` prices them)."""

    workflow_type: str  # EXPRESS | STANDARD
    #: its billed state transitions (``stepweave.runtime.history.billed_transitions`` of
    #: its own events), an Express child's counted too
    transitions: int
    duration_s: float  # how long it ran
    map_run: str  # the Map Run ARN that started it
    status: str  # SUCCEEDED | FAILED | ABORTED


#: parent execution ARN -> the child executions its distributed Maps started (at any depth:
#: a child's own distributed Maps' too), as they ended
_CHILDREN: dict[str, list[ChildExecution]] = {}


def child_executions(execution_arn: str) -> tuple[ChildExecution, ...]:
    """The child executions the distributed Maps of ``execution_arn`` started since this
    was last asked, and forgets them (a redrive's are its own)."""
    with _lock:
        return tuple(_CHILDREN.pop(execution_arn, ()))


def noted_children(execution_arn: str) -> tuple[ChildExecution, ...]:
    """The child executions ``child_executions`` would give, left noted (the run's record
    bills them: ``stepweave.runtime.recorder.Clients.map_children``)."""
    with _lock:
        return tuple(_CHILDREN.get(execution_arn, ()))


def item_events(execution_arn: str) -> dict[str, list[tuple[int, list[Any]]]]:
    """The events of each child execution the distributed Maps of ``execution_arn`` ran, by
    Map Run ARN, in item order (moto's history events: ``moto_history.parse_events`` gives
    them as ``GetExecutionHistory`` would). An Express child's are kept too, though AWS
    keeps none: a run's records hold every block's log, as inline."""
    with _lock:
        runs = {arn: sorted(items, key=lambda item: item[0])
                for arn, items in _ITEMS.get(execution_arn, {}).items()}
    return runs


def forget_items(execution_arn: str) -> None:
    """Drop what ``item_events`` keeps for ``execution_arn`` (once its records are written)."""
    with _lock:
        _ITEMS.pop(execution_arn, None)


def child_history_peak() -> int:
    """The most events any child execution had since ``reset_child_history_peak`` (an
    Express child's are counted, though Express keeps no history)."""
    return _child_events_peak


def reset_child_history_peak() -> None:
    global _child_events_peak
    _child_events_peak = 0


def _child_events(env: Any, standard: bool) -> EventManager:
    """A child execution's event manager: an Express child's events are kept, unlimited
    (AWS keeps none; the run's block logs are read from them), a Standard child's have
    their own history limit."""
    manager: Any = EventManager()
    if not standard:
        manager.stepweave_blocks_only = True  # its exit details: what block logs read (moto_speed)
        return manager  # type: ignore[no-any-return]
    manager.stepweave_root = env
    manager.stepweave_limited = True
    manager.stepweave_limit = limits.history_limit()
    return manager  # type: ignore[no-any-return]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _eval_job(self: Any, env: Any, job: Any) -> None:
    global _child_events_peak
    record = self._map_run_record
    record.item_counter.total.count()
    record.item_counter.running.count()
    record.execution_counter.total.count()
    record.execution_counter.running.count()
    row: dict[str, Any] = {"index": job.job_index, "started": _now(), "status": "FAILED",
                           "name": uuid.uuid4().hex}
    job_output = None
    parent = str(env.states.context_object.context_object_data["Execution"]["Id"])
    standard = getattr(self, "stepweave_standard", True)
    began, manager = time.monotonic(), None
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input))
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)  # the ItemSelector: evaluated in the parent
        row["input"] = env.states.get_input()
        # from here on, the child execution: its own variables, context and history
        env.variable_store = VariableStore()  # type: ignore[no-untyped-call]
        env.states.context_object.context_object_data.pop("Map", None)
        env.event_manager = manager = _child_events(env, standard)
        program = job.job_program
        if program.timeout_seconds is None:  # moto's eval, without a thread to time it out
            env.next_state_name = program.start_at.start_at_name
            EvalComponent.eval(program, env)
        else:
            program.eval(env)
        end = env.program_state()
        if isinstance(end, ProgramError):
            details = end.error or {}
            row.update(error=details.get("error"), cause=details.get("cause"))
            record.execution_counter.failed.count()
            record.item_counter.failed.count()
        elif isinstance(end, ProgramStopped):
            row["status"] = "ABORTED"
            record.execution_counter.aborted.count()
            record.item_counter.aborted.count()
        else:
            job_output = env.states.get_input()
            row.update(status="SUCCEEDED", output=job_output)
            record.item_counter.succeeded.count()
            record.item_counter.results_written.count()
            record.execution_counter.succeeded.count()
            record.execution_counter.results_written.count()
            record.execution_counter.running.offset(-1)
    except FailureEventException as failure:
        pair = failure.extract_error_cause_pair()
        if pair:
            row.update(error=pair[0], cause=pair[1])
        record.item_counter.failed.count()
    except Exception as exc:  # noqa: BLE001 - as moto: a broken item fails, not the engine
        row.update(error="States.Runtime", cause=str(exc))
        record.item_counter.failed.count()
    finally:
        record.item_counter.running.offset(-1)
        job.job_output = job_output
        row["stopped"] = _now()
        events = env.event_manager._event_id_gen._next_id  # noqa: SLF001
        kept = list(getattr(env.event_manager, "_history_event_list", ()))
        child = None if manager is None else ChildExecution(  # None: its ItemSelector failed
            "STANDARD" if standard else "EXPRESS", billed_transitions(kept),
            time.monotonic() - began, str(record.map_run_arn), row["status"])
        with _lock:
            record.stepweave_rows.append(row)
            if child is not None:
                _CHILDREN.setdefault(parent, []).append(child)
            _child_events_peak = max(_child_events_peak, int(events) - 1)
            if kept:
                runs = _ITEMS.setdefault(parent, {})
                runs.setdefault(str(record.map_run_arn), []).append((job.job_index, kept))


def _eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
    while job is not None:
        job_frame = worker_frame.open_inner_frame()
        self._eval_job(env=job_frame, job=job)
        worker_frame.delete_frame(job_frame)
        if isinstance(job.job_output, Exception) or self.stopped():
            break
        next_job = self._job_pool.next_job()
        if next_job is None:
            break
        self._job_pool.close_job(job)
        job = next_job
    self._env.delete_frame(worker_frame)
    if job is not None:
        self._job_pool.close_job(job)


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    items: list[Any] = env.stack.pop()
    record = eval_input.map_run_record
    record.stepweave_rows = []
    job_pool = JobPool(job_program=self._get_iteration_program(), job_inputs=items)
    standard = (self._processor_config.execution_type == ExecutionType.Standard
                and not _local(record).get("express"))
    limit = record.max_concurrency
    workers = len(items) if limit == DEFAULT_MAX_CONCURRENCY_VALUE else min(limit, len(items))
    for _ in range(workers):
        worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
        worker.stepweave_standard = standard
        thread = threading.Thread(target=worker.eval, daemon=True)
        thread.start()
    job_pool.await_jobs()
    exception = job_pool.get_worker_exception()
    if exception is not None:
        raise exception
    failed = sum(1 for row in record.stepweave_rows if row["status"] != "SUCCEEDED")
    tolerated = eval_input.tolerated_failure_count or 0
    share = eval_input.tolerated_failure_percentage or 0.0
    if failed and failed > tolerated and (not items or failed * 100.0 / len(items) > share):
        _exceeded(env)
    env.stack.append([closed.job_output for closed in job_pool.get_closed_jobs()])


def _exceeded(env: Any) -> None:
    error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
    raise FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=error), event_type=HistoryEventType.MapRunFailed,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(  # type: ignore[typeddict-item]
            error=error.to_name(), cause=TOLERANCE_CAUSE))))


def _put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ResultWriter: the manifest and the result files, as AWS writes them."""
    parameters = env.stack.pop()
    env.stack.pop()  # the Map's outputs: written from the Map Run's record instead
    s3 = boto_client_for(service="s3", region=resource_runtime_part.region,
                         state_credentials=state_credentials)
    record = env.map_run_record_pool_manager.get_all()[-1]
    bucket = parameters["Bucket"]
    prefix = parameters.get("Prefix") or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    base = prefix + record.map_run_arn.split(":")[-1] + "/"
    machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    rows = sorted(getattr(record, "stepweave_rows", []), key=lambda r: r["index"])
    for status in ("SUCCEEDED", "FAILED"):
        chosen = [r for r in rows if (r["status"] == "SUCCEEDED") == (status == "SUCCEEDED")]
        if not chosen:
            continue
        body = json.dumps([_result_row(r, machine, record.map_run_arn) for r in chosen]).encode()
        key = f"{base}{status}_0.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
    key = base + "manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append({"MapRunArn": record.map_run_arn,
                      "ResultWriterDetails": {"Bucket": bucket, "Key": key}})


def _result_row(row: dict[str, Any], machine: str, map_run: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ExecutionArn": f"{map_run.replace(':mapRun:', ':execution:')}:{row['name']}",
        "Input": json.dumps(row.get("input"), separators=(",", ":")),
        "InputDetails": {"Included": True}, "Name": row["name"], "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE", "StartDate": row["started"], "StateMachineArn": machine,
        "Status": row["status"], "StopDate": row["stopped"]}
    if row["status"] == "SUCCEEDED":
        out["Output"] = json.dumps(row.get("output"), separators=(",", ":"))
        out["OutputDetails"] = {"Included": True}
    else:
        out["Error"] = row.get("error") or "States.Runtime"
        out["Cause"] = row.get("cause") or ""
    return out


def install() -> None:
    """Apply the patches (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _Worker._eval_job = _eval_job  # type: ignore[method-assign]
        _Worker._eval_pool = _eval_pool  # type: ignore[method-assign]
        _Component._map_run = _map_run  # type: ignore[method-assign]
        resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(_put_object)  # type: ignore[method-assign]
        ResultWriter._eval_body = _write_results  # type: ignore[method-assign]
        Preprocessor.visitResult_writer_decl = _writer_decl  # type: ignore[method-assign]
        _installed = True


# Kept for the adapter test: the attributes this module replaces must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (_Worker, "_eval_job"),
    (_Worker, "_eval_pool"),
    (_Component, "_map_run"),
    (resource_eval_s3.ResourceEvalS3, "_handle_put_object"),
    (ResultWriter, "_eval_body"),
    (Preprocessor, "visitResult_writer_decl"),
)


#: Locally, each distributed Map's Label is a key here (moto's parser accepts neither
#: ``ExecutionType: EXPRESS`` nor a JSONata ``ResultWriter``'s ``Arguments``): what the
#: definition said, read back by the patched Map Run and ResultWriter.
_LOCAL: dict[str, dict[str, Any]] = {}


def for_moto(definition: str) -> str:
    """The definition as moto's parser reads it: each distributed Map's child execution
    type and ResultWriter arguments are kept aside (``_LOCAL``), under a Label of its own."""
    if '"DISTRIBUTED"' not in definition:
        return definition
    data = json.loads(definition)
    pending = [data]
    while pending:
        machine = pending.pop()
        for state in machine.get("States", {}).values():
            pending.extend(state.get("Branches", []))
            processor = state.get("ItemProcessor")
            if processor is None:
                continue
            pending.append(processor)
            config = processor.get("ProcessorConfig", {})
            if config.get("Mode") != "DISTRIBUTED":
                continue
            key = "sw" + uuid.uuid4().hex  # at most 40 characters, as AWS allows
            writer = state.get("ResultWriter")
            _LOCAL[key] = {"express": config.get("ExecutionType") == "EXPRESS",
                           "writer": dict(writer.get("Arguments") or {}) if isinstance(writer, dict) else {}}
            config["ExecutionType"] = "STANDARD"
            state["Label"] = key
            if isinstance(writer, dict):
                writer.pop("Arguments", None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _local(record: Any) -> dict[str, Any]:
    # the Map Run's ARN: ...:mapRun:<machine>/<label>:<id>
    label = str(record.map_run_arn).rsplit("/", 1)[-1].split(":")[0]
    return _LOCAL.get(label, {})


def _writer_decl(self: Any, ctx: Any) -> Any:
    """A ResultWriter whose arguments ``for_moto`` kept aside (moto's grammar has no
    ``Arguments`` there, and refuses ``Parameters`` in a JSONata state machine)."""
    props: Any = StateProps()  # type: ignore[no-untyped-call]
    for child in ctx.children[3:-1]:
        props.add(self.visit(child))
    resource = props.get(typ=Resource, raise_on_missing=ValueError(
        f"Expected a Resource declaration at '{ctx.getText()}'."))
    return ResultWriter(resource=resource, parargs=props.get(Parargs))


def _write_results(self: Any, env: Any) -> None:
    record = env.map_run_record_pool_manager.get_all()[-1]
    env.stack.append(dict(_local(record).get("writer") or {}))
    self.resource_eval.eval_resource(env=env)
