"""``RedriveExecution`` for moto's Step Functions, which has none.

AWS redrives a failed Standard execution in place: the same execution (ARN, start date,
input, definition) runs again from its failed state, ``redriveCount`` goes up, the status
goes back to ``RUNNING``, the history gains an ``ExecutionRedriven`` event followed by the
events of what runs again, and the states that succeeded (Task states, Map iterations and
Parallel branches) are not run again.

The embedded engine does it by *replay*. While a Standard execution runs, every state that
completes is journaled under a key: its name, the Map iteration it runs in (the innermost
``Map.Item.Index``), and a hash of its input and of the workflow variables it can see (but
the compiler's completion-time marks, ``t_<stem>``: when a block ended, not what it made); a
Task, Map or Parallel state's journal entry also holds its raw result (what the Lambda
function, nested execution or iterations returned, before ``ResultSelector``, ``Assign``
and ``Output``). A redrive evaluates the same definition again, from the start, in the same
execution, against that journal (:class:`Journal`):

* a state whose key is journaled (with a result, for a Task/Map/Parallel state) is
  *replayed*: its result is the journaled one, nothing is invoked, a Wait state does not
  wait, and it adds no history events (its variables and output are evaluated again from
  the same input, variables and result, so they are the same);
* the first state that is not journaled (the one that failed, or one a journaled state was
  never followed by) and everything after it run for real and add their events.

Keys repeat (a loop's states, entered once per iteration): each journaled completion is
used once, in order. Limits of replay, against AWS: a state whose completion depends on
more than its input, its variables and its task's result (``$now()``, ``$random()``,
``$uuid()``, the context object's times) may evaluate differently, and when that changes
what a later state receives, that state runs again rather than being replayed; a Task
whose error was caught (by an error edge) has no result to replay, so it runs again.

The journal of an execution is in memory while the engine lives (``JOURNALS``); the engine
saves a failed execution's journal, history and description to disk
(:func:`saved_state`) and :func:`restore` puts such an execution back into a new engine, as
it ended, so it can be redriven by another process.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import copy
import datetime
import hashlib
import json
import re
import threading
from collections import deque
from threading import Thread
from typing import Any

from stepweave.local import json_text
from stepweave.local.moto_imports import defer_batch

defer_batch()

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import (
    ExecutionRedrivenEventDetails,
    ExecutionStatus,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.state_wait import StateWait
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramRunning
from moto.stepfunctions.parser.backend import execution as backend_execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse

__all__ = ["JOURNALS", "REDRIVE_DAYS", "Journal", "forget", "install", "restore", "saved_state",
           "PATCHED_ATTRIBUTES"]

#: AWS redrives an execution up to 14 days after it stopped.
REDRIVE_DAYS = 14
#: AWS redrives an execution at most 1,000 times.
MAX_REDRIVES = 1000


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


class Journal:
    """The completed states of one execution (see the module's docstring); ``prior`` is what
    a redrive replays (the journal of the attempts before it), ``done`` what this attempt
    completed (replayed states included, so a later redrive replays them too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done: dict[str, list[Any]] = {}
        self.prior: dict[str, deque[Any]] = {}
        self.replayed = 0

    def add(self, key: str, result: Any) -> None:
        with self._lock:
            self.done.setdefault(key, []).append(result)

    def take(self, key: str) -> Any:
        """The next journaled completion of ``key`` (``_MISSING`` when there is none)."""
        with self._lock:
            found = self.prior.get(key)
            if not found:
                return _MISSING
            self.replayed += 1
            return found.popleft()

    def begin_redrive(self) -> None:
        with self._lock:
            self.prior = {key: deque(results) for key, results in self.done.items()}
            self.done = {}
            self.replayed = 0

    def to_json(self) -> dict[str, list[Any]]:
        with self._lock:
            return {key: list(results) for key, results in self.done.items()}

    @classmethod
    def from_json(cls, data: dict[str, list[Any]]) -> Journal:
        journal = cls()
        journal.done = {str(k): list(v) for k, v in data.items()}
        return journal


class _Missing:
    pass


_MISSING: Any = _Missing()
#: A journaled completion without a result (a Pass, Choice, Wait... state).
_NO_RESULT = {"stepweave": "completed"}

#: execution ARN -> its journal (Standard executions of this process)
JOURNALS: dict[str, Journal] = {}
_journals_lock = threading.Lock()


#: execution ARNs of Express executions (never journaled)
_EXPRESS: set[str] = set()


def _journal(env: Any) -> Journal | None:
    data = env.states.context_object.context_object_data
    arn = str(data["Execution"]["Id"])
    with _journals_lock:
        journal = JOURNALS.get(arn)
        if journal is not None or arn in _EXPRESS:
            return journal
        if _machine_type(str(data["StateMachine"]["Id"])) == "EXPRESS":
            _EXPRESS.add(arn)
            return None
        journal = JOURNALS[arn] = Journal()
        return journal


def forget() -> None:
    """Drop every journal (the engine stopped: its executions are gone with moto's state; the
    failed ones were kept on disk)."""
    with _journals_lock:
        JOURNALS.clear()
        _EXPRESS.clear()


def _machine_type(machine_arn: str) -> str:
    """moto's ``type`` of a state machine (its executions' ``sm_type`` is always STANDARD)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parts = machine_arn.split(":")
    try:
        machine = stepfunctions_parser_backends[parts[4]][parts[3]].describe_state_machine(machine_arn)
    except Exception:  # noqa: BLE001 - a version or alias ARN: journal it
        return "STANDARD"
    return str(getattr(machine, "type", "STANDARD"))


#: The compiler's completion-time marks (``t_<stem>``, ``t2_<stem>``: ``$millis()`` when a block
#: completed, to order a container's results): times, not data, so not part of a state's key.
_TIME_MARK = re.compile(r"t\d*_")


def _key(name: str, env: Any) -> str:
    data = env.states.context_object.context_object_data
    index = ((data.get("Map") or {}).get("Item") or {}).get("Index")
    store = env.variable_store
    digest = hashlib.blake2b(_part(env.states._states_data["input"]), digest_size=12)  # noqa: SLF001
    for k, v in {**store._outer_scope, **store._inner_scope}.items():  # noqa: SLF001
        if not _TIME_MARK.match(k):
            digest.update(b"\x00" + k.encode("utf-8") + b"\x00" + _part(v))
    return f"{name}|{'' if index is None else index}|{digest.hexdigest()}"


def _part(value: Any) -> bytes:
    """A value's part of a key: its JSON text, or for a large array the digest of it
    (:mod:`stepweave.local.json_text`: a loop's collection and results so far, seen by every
    state of the loop, are not written out again for each)."""
    if isinstance(value, list) and len(value) >= json_text.LARGE:
        return b"#" + json_text.size_and_digest(value)[1]
    return json_text.text(value)


_moto_eval_body = CommonStateField._eval_body


def _eval_body(self: Any, env: Any) -> None:
    journal = _journal(env)
    if journal is None:
        _moto_eval_body(self, env)
        return
    key = _key(self.name, env)
    replay = journal.take(key) if journal.prior else _MISSING
    if replay is not _MISSING and isinstance(self, ExecutionState) and replay == _NO_RESULT:
        replay = _MISSING  # completed without a result (its error caught): it runs again
    env.stepweave_key, env.stepweave_replay, env.stepweave_result = key, replay, _MISSING
    context = env.event_history_context
    quiet = replay is not _MISSING
    if quiet:
        context.stepweave_quiet = True
    try:
        _moto_eval_body(self, env)
    finally:
        if quiet:
            context.stepweave_quiet = False
    if not isinstance(env.program_state(), (ProgramRunning, ProgramEnded)):
        return  # failed, or stopped (a sibling branch failed) before it completed: not journaled
    if not isinstance(self, ExecutionState):
        journal.add(key, _NO_RESULT)
    elif env.stepweave_result is not _MISSING:  # completed with its result (not through a Catch)
        journal.add(key, env.stepweave_result)


def _evaluate_with_timeout(self: Any, env: Any) -> None:
    """moto's ``ExecutionState._evaluate_with_timeout`` with a replayed result taken instead of
    evaluating the state, and the result journaled."""
    self.timeout.eval(env=env)
    timeout_seconds: int = env.stack.pop()
    replay = getattr(env, "stepweave_replay", _MISSING)
    if replay is not _MISSING:
        env.stepweave_replay = _MISSING  # a retry after a later failure runs for real
        execution_output = copy.deepcopy(replay)
    else:
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        execution_outputs: list[Any] = []
        execution_exceptions: list[Exception | None] = [None]
        terminated_event = threading.Event()

        def _exec_and_notify() -> None:
            try:
                self._eval_execution(frame)
                execution_outputs.extend(frame.stack)
            except Exception as ex:  # noqa: BLE001 - as moto: re-raised below
                execution_exceptions.append(ex)
            terminated_event.set()

        thread = Thread(target=_exec_and_notify, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()
        finished_on_time = terminated_event.wait(timeout_seconds)
        frame.set_ended()
        env.close_frame(frame)
        execution_exception = execution_exceptions.pop()
        if execution_exception:
            raise execution_exception
        if not finished_on_time:
            raise EvalTimeoutError()
        execution_output = execution_outputs.pop()
    env.stepweave_result = copy.deepcopy(execution_output)  # journaled once the state completes
    env.stack.append(execution_output)
    if not self._is_language_query_jsonpath():
        env.states.set_result(execution_output)
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        res = env.stack.pop()
        env.states.reset(input_value=res)


_moto_wait = StateWait._eval_state


def _wait_eval_state(self: Any, env: Any) -> None:
    if getattr(env, "stepweave_replay", _MISSING) is _MISSING:
        _moto_wait(self, env)
    elif self.assign_decl:  # a replayed wait does not wait again
        self.assign_decl.eval(env=env)


_moto_add_event = EventManager.add_event


def _add_event(self: Any, context: Any, event_type: Any, event_details: Any = None,
               timestamp: Any = None, update_source_event_id: bool = True) -> int:
    if getattr(context, "stepweave_quiet", False):
        return int(context.source_event_id)  # a replayed state adds no events
    return int(_moto_add_event(self, context=context, event_type=event_type, event_details=event_details,
                               timestamp=timestamp, update_source_event_id=update_source_event_id))


class _RedriveWorker(ExecutionWorker):
    """The execution's program again, its history continued: ``ExecutionRedriven`` instead
    of ``ExecutionStarted``."""

    def __init__(self, *args: Any, previous: list[Any], count: int, redriven_at: datetime.datetime,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._previous, self._count, self._redriven_at = previous, count, redriven_at

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        self.env = env = self._get_evaluation_environment()
        execution: Any = env.states.context_object.context_object_data["Execution"]
        execution["RedriveCount"] = self._count
        execution["RedriveTime"] = self._redriven_at.isoformat()
        manager = env.event_manager
        manager._history_event_list.extend(self._previous)  # noqa: SLF001
        manager._event_id_gen._next_id = len(self._previous) + 1  # noqa: SLF001
        details: Any = {"executionRedrivenEventDetails": ExecutionRedrivenEventDetails(redriveCount=self._count)}
        env.event_manager.add_event(context=env.event_history_context,
                                    event_type=HistoryEventType.ExecutionRedriven, event_details=details)
        program.eval(env)
        self._execution_communication.terminated()


def _not_redrivable(execution: Any, now: datetime.datetime) -> str | None:
    """Why AWS would refuse to redrive ``execution`` (None: it would not)."""
    status = execution.exec_status
    if str(getattr(execution.state_machine, "type", "STANDARD")) == "EXPRESS":
        return "Express executions cannot be redriven"
    if status not in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED):
        return f"Execution is {getattr(status, 'value', status)} and cannot be redriven"
    if getattr(execution, "stepweave_redrive_count", 0) >= MAX_REDRIVES:
        return f"Execution has been redriven {MAX_REDRIVES} times, the most allowed"
    stopped = execution.stop_date
    if stopped is not None and now - stopped > datetime.timedelta(days=REDRIVE_DAYS):
        return f"Execution stopped more than {REDRIVE_DAYS} days ago and cannot be redriven"
    if execution.exec_worker is None or execution.exec_worker.env is None:
        return "Execution has no history to redrive from"
    return None


def redrive(execution: Any) -> datetime.datetime:
    """Redrive ``execution`` (moto's) in place; the redrive's date."""
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    reason = _not_redrivable(execution, now)
    if reason is not None:
        raise ExecutionNotRedrivable(reason)
    previous = execution.exec_worker.env.event_manager.get_event_history()
    arn = execution.exec_arn
    with _journals_lock:
        journal = JOURNALS.setdefault(arn, Journal())
    journal.begin_redrive()
    count = getattr(execution, "stepweave_redrive_count", 0) + 1
    template = execution._get_start_execution_worker()  # noqa: SLF001
    worker = _RedriveWorker(
        evaluation_details=template._evaluation_details,  # noqa: SLF001
        exec_comm=template._execution_communication,  # noqa: SLF001
        cloud_watch_logging_session=template._cloud_watch_logging_session,  # noqa: SLF001
        activity_store=template._activity_store,  # noqa: SLF001
        previous=previous, count=count, redriven_at=now)
    execution.stepweave_redrive_count = count
    execution.stepweave_redrive_date = now
    execution.exec_worker = worker
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = None
    execution.output = execution.error = execution.cause = None
    worker.start()  # type: ignore[no-untyped-call]
    return now


def _find(backend: Any, arn: str) -> Any:
    return backend.describe_execution(arn)


def _redrive_execution(self: Any) -> ActionResult:
    arn = self._get_param("executionArn")
    execution = _find(self.stepfunction_backend, arn)
    return ActionResult({"redriveDate": redrive(execution)})


_moto_describe = StepFunctionResponse.describe_execution


def _describe_execution(self: Any) -> Any:
    """moto's answer with AWS's redrive fields (and the stop date of a timed-out run)."""
    result = _moto_describe(self)
    execution = _find(self.stepfunction_backend, self._get_param("executionArn"))
    if not hasattr(execution, "exec_status"):  # moto's basic backend (no interpreter): as it is
        return result
    answer = result.result if isinstance(result, ActionResult) else None
    if isinstance(answer, dict):
        count = getattr(execution, "stepweave_redrive_count", 0)
        answer["redriveCount"] = count
        if count:
            answer["redriveDate"] = execution.stepweave_redrive_date
        reason = _not_redrivable(execution, datetime.datetime.now(tz=datetime.timezone.utc))
        answer["redriveStatus"] = "REDRIVABLE" if reason is None else "NOT_REDRIVABLE"
        if reason is not None:
            answer["redriveStatusReason"] = reason
        if execution.stop_date is not None and "stopDate" not in answer:
            answer["stopDate"] = execution.stop_date
    return result


_moto_terminated = backend_execution.BaseExecutionWorkerCommunication.terminated


def _terminated(self: Any) -> None:
    execution = self.execution
    try:
        _moto_terminated(self)
    finally:
        if execution.exec_status == ExecutionStatus.SUCCEEDED:  # not redrivable: forget it
            with _journals_lock:
                JOURNALS.pop(execution.exec_arn, None)
        _EXPRESS.discard(execution.exec_arn)


# -- saving and restoring an ended execution -------------------------------------------------------

def saved_state(execution_arn: str) -> dict[str, Any] | None:
    """What :func:`restore` needs to put the ended execution back (JSON-serialisable), or None
    when it is not a redrivable one of this process."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parts = execution_arn.split(":")
    try:
        execution: Any = stepfunctions_parser_backends[parts[4]][parts[3]].describe_execution(execution_arn)
    except Exception:  # noqa: BLE001 - not an execution here
        return None
    if _not_redrivable(execution, datetime.datetime.now(tz=datetime.timezone.utc)) is not None:
        return None
    journal = JOURNALS.get(execution_arn)
    return {
        "executionArn": execution_arn,
        "name": execution.name,
        "stateMachineArn": execution.state_machine.arn,
        "input": execution.execution_input,
        "startDate": execution.start_date.isoformat(),
        "stopDate": execution.stop_date.isoformat() if execution.stop_date else None,
        "status": execution.exec_status.value,
        "error": execution.error,
        "cause": execution.cause,
        "redriveCount": getattr(execution, "stepweave_redrive_count", 0),
        "redriveDate": (execution.stepweave_redrive_date.isoformat()
                        if getattr(execution, "stepweave_redrive_count", 0) else None),
        "events": json.loads(json.dumps(execution.exec_worker.env.event_manager.get_event_history(),
                                        default=str)),
        "journal": journal.to_json() if journal is not None else {},
    }


def restore(saved: dict[str, Any]) -> str:
    """Put a saved execution back, as it ended, on its state machine (which must exist, with
    the same name); its ARN."""
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    arn = str(saved["executionArn"])
    parts = arn.split(":")
    backend: Any = stepfunctions_parser_backends[parts[4]][parts[3]]
    machine: Any = backend.describe_state_machine(str(saved["stateMachineArn"]))
    clone = copy.deepcopy(machine, {id(machine.executions): [], id(machine.backend): machine.backend})
    execution: Any = Execution(
        name=str(saved["name"]), sm_type=clone.sm_type, role_arn=clone.roleArn, exec_arn=arn,
        account_id=parts[4], region_name=parts[3], state_machine=clone,
        start_date=datetime.datetime.fromisoformat(saved["startDate"]), cloud_watch_logging_session=None,
        input_data=str(saved["input"]), trace_header=None, activity_store={})
    worker = execution._get_start_execution_worker()  # noqa: SLF001
    worker.env = worker._get_evaluation_environment()  # noqa: SLF001 - never evaluated: holds the history
    manager = worker.env.event_manager
    manager._history_event_list.extend(saved["events"])  # noqa: SLF001
    manager._event_id_gen._next_id = len(saved["events"]) + 1  # noqa: SLF001
    execution.exec_worker = worker
    execution.exec_status = ExecutionStatus(saved["status"])
    execution.stop_date = datetime.datetime.fromisoformat(saved["stopDate"]) if saved.get("stopDate") else None
    execution.error, execution.cause = saved.get("error"), saved.get("cause")
    if saved.get("redriveCount"):
        execution.stepweave_redrive_count = int(saved["redriveCount"])
        execution.stepweave_redrive_date = datetime.datetime.fromisoformat(saved["redriveDate"])
    with _journals_lock:
        JOURNALS[arn] = Journal.from_json(saved.get("journal") or {})
    machine.executions.append(execution)
    return arn


_installed = False
_lock = threading.Lock()


def install() -> None:
    """Apply the patches (idempotent); after ``moto_adapter``'s and ``limits``', whose end-of-run
    hook and event hook this wraps."""
    global _installed, _moto_terminated, _moto_add_event
    with _lock:
        if _installed:
            return
        _moto_terminated = backend_execution.BaseExecutionWorkerCommunication.terminated
        _moto_add_event = EventManager.add_event
        CommonStateField._eval_body = _eval_body  # type: ignore[method-assign]
        ExecutionState._evaluate_with_timeout = _evaluate_with_timeout  # type: ignore[method-assign]
        StateWait._eval_state = _wait_eval_state  # type: ignore[method-assign]
        EventManager.add_event = _add_event  # type: ignore[method-assign]
        StepFunctionResponse.redrive_execution = _redrive_execution  # type: ignore[attr-defined]
        StepFunctionResponse.describe_execution = _describe_execution  # type: ignore[method-assign]
        backend_execution.BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]
        _installed = True


# Kept for the adapter test: the attributes this module replaces or uses must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (CommonStateField, "_eval_body"),
    (ExecutionState, "_evaluate_with_timeout"),
    (StateWait, "_eval_state"),
    (EventManager, "add_event"),
    (StepFunctionResponse, "describe_execution"),
    (ExecutionWorker, "_get_evaluation_environment"),
    (backend_execution.BaseExecutionWorkerCommunication, "terminated"),
)
