"""Patches that make moto's Step Functions interpreter behave like AWS for Stepweave.

moto is pinned exactly (see ``pyproject.toml``) because this module replaces three of
its internals; ``tests/engine/test_moto_adapter.py`` fails if an upgrade moves them.

* JSONata: moto has no evaluator. ``StringJSONata`` and ``StringVariableSample`` are
  given bodies that evaluate with jsonata-js, the library AWS uses
  (:mod:`stepweave.local.jsonata_eval`), and *bind* ``$states`` and the workflow
  variables (moto splices them in as source text); the context object's times are ISO
  strings, as AWS gives them. Evaluation errors become the catchable
  ``States.QueryEvaluationError``, as on AWS.
* Lambda: with Docker off moto's Lambda returns a canned answer. Invocations are
  dispatched to Python handlers registered in ``LAMBDA_HANDLERS`` (function name ->
  callable), with AWS's error payload shape (``errorType`` = exception class name).
* Nested executions (``states:startExecution``, ``.sync``, ``.sync:2``): moto passes the
  task's ASL parameter names (``StateMachineArn``, ``Input``) to boto3, which wants
  ``stateMachineArn``/``input``, and hands boto3's camelCase answers to code expecting
  AWS's task results (``ExecutionArn``, ``Output``, ``Status``...). The call and the
  result are translated both ways; dates become epoch milliseconds, as in AWS's results.
- ``StopExecution`` of an execution waiting on a task token (an approval) really stops it:
  moto marks the program stopped but leaves the callback waiting, so the execution would
  stay RUNNING until the token's timeout; the patch wakes the waiting callbacks.
- Waiting without polling: every history event an execution adds and every execution end
  bumps ``CHANGES`` (a counter with a condition), so a waiter blocks until something happens.
- One parse per definition: moto parses a definition with its ANTLR grammar when the state
  machine is created (to validate it) and again when each execution starts (~0.65 ms per
  state here). The parse trees of recent definitions are kept (``PARSE_CACHE_CHARS`` of
  definition text in all), and each parse builds a fresh program from the kept tree: an
  execution's program holds state while it runs, a tree does not.
- ``GetExecutionHistory`` is answered fast, and a run reads its history incrementally
  (:mod:`stepweave.local.moto_history`).
- ``RedriveExecution``, which moto lacks (:mod:`stepweave.local.moto_redrive`), and each
  execution's history written as it grows, for another process (:mod:`stepweave.local.live`):
  installed by the engine after these patches and the limits'.
- Per-state costs of moto's interpreter (:mod:`stepweave.local.moto_speed`).
- A ``.sync`` task (a sub-workflow, a split workflow's stretch) checked whether its child had
  ended every 0.5 s, sleeping in between: each nested execution added up to half a second to
  a run. Its wait now ends when any execution ends (``ENDED``), or after those 0.5 s at the
  latest, as before: no polling in between.
- moto lists a service's regions (when it first makes the service's backend) with a botocore
  session of its own, which loads the service's model and the endpoint data again (~50 ms
  for the first state machine); it is given boto3's default session instead, whose loader
  has them already from the engine's own clients.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from stepweave.local.moto_imports import defer_batch

defer_batch()  # before moto's parser is imported: it would load moto's Batch and EC2 backends

from moto.core.base_backend import AccountSpecificBackend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse
from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
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
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.jsonata.jsonata import extract_jsonata_variable_references
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend import execution as backend_execution
from moto.stepfunctions.parser.backend import execution_worker

from stepweave.local import jsonata_fast, live, moto_history, moto_redrive, moto_speed
from stepweave.local.jsonata_eval import (
    UNDEFINED,
    JSONataEvaluationError,
    aws_timestamp,
    check_available,
    evaluate,
)

__all__ = ["CHANGES", "ENDED", "LAMBDA_HANDLERS", "PARSE_CACHE_CHARS", "Changes", "LambdaHandler",
           "install"]

LambdaHandler = Callable[[dict[str, Any]], Any]

#: Function name (last part of the ARN) -> in-process handler taking the event.
LAMBDA_HANDLERS: dict[str, LambdaHandler] = {}

_installed = False
_lock = threading.Lock()


class Changes:
    """How many times moto's executions changed (a history event, an end), to wait on:
    ``seen = CHANGES.count()``, read the state, then ``CHANGES.wait(seen, timeout)``."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._count = 0

    def count(self) -> int:
        return self._count

    def bump(self) -> None:
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float | None) -> int:
        """Until the count moves past ``seen`` (or ``timeout`` seconds); the count."""
        with self._condition:
            self._condition.wait_for(lambda: self._count != seen, timeout)
            return self._count


#: Bumped by every history event and every execution end (and by ``bump()`` to wake waiters).
CHANGES = Changes()
#: Bumped by every execution end.
ENDED = Changes()


def _root_names(expression: str) -> set[str]:
    names = set()
    for reference in extract_jsonata_variable_references(expression):
        root = reference[1:].split(".", 1)[0]
        if root:
            names.add(root)
    return names


def _bindings(env: Any, expression: str, with_states: bool) -> dict[str, Any]:
    store = env.variable_store
    bound: dict[str, Any] = {}
    for name in _root_names(expression):
        if name == "states":
            if with_states:
                bound["states"] = _aws_states(env.states._states_data)  # noqa: SLF001
            continue
        if name in store._inner_scope:  # noqa: SLF001
            bound[name] = store._inner_scope[name]  # noqa: SLF001
        elif name in store._outer_scope:  # noqa: SLF001
            bound[name] = store._outer_scope[name]  # noqa: SLF001
    return bound


def _aws_states(states: dict[str, Any]) -> dict[str, Any]:
    """``$states`` as AWS gives it: moto keeps the execution's start as a datetime and a
    state's entry as a Python isoformat string; AWS gives both as ISO 8601 with
    milliseconds and ``Z`` (``2024-11-27T00:23:19.123Z``)."""
    context = states.get("context")
    if not isinstance(context, dict):
        return states
    context = dict(context)
    for key, field in (("Execution", "StartTime"), ("State", "EnteredTime")):
        part = context.get(key)
        if isinstance(part, dict) and part.get(field) is not None:
            context[key] = {**part, field: _timestamp(part[field])}
    return {**states, "context": context}


_timestamps: dict[Any, str] = {}


def _timestamp(value: Any) -> str:
    """``aws_timestamp``, remembered for the last few thousand times (a state's expressions
    read its entered time several times, a run's its start time throughout)."""
    known = _timestamps.get(value)
    if known is None:
        known = aws_timestamp(value)
        if len(_timestamps) >= 4096:
            _timestamps.clear()
        _timestamps[value] = known
    return known


def _evaluation_failure(env: Any, cause: str) -> FailureEventException:
    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                evaluationFailedEventDetails=EvaluationFailedEventDetails(
                    error=error_name.error_name, cause=cause
                )
            ),
        )
    )


class _FrameStopped(BaseException):
    """Unwinds a Parallel branch or Map iteration that was stopped (a sibling failed or
    answered) while one of its expressions was being evaluated.

    moto skips every later component of a stopped frame but lets the state carry on with
    what they would have pushed: a Task then pops whatever is left on its stack (a
    ``timeoutInSeconds`` of ``{}``, say) into its history event, and the execution history
    can no longer be read. An evaluation hands the GIL to other threads while V8 works, so
    a stop lands in that window often. Not an ``Exception``, so no state's Retry or Catch
    handles it; the frame's program (:func:`_program_body`) ends where a stopped frame's
    loop would have ended."""


_moto_program_body = program.Program._eval_body


def _program_body(self: Any, env: Any) -> None:
    try:
        _moto_program_body(self, env)
    except _FrameStopped:
        if not env.is_frame():  # only frames raise it; anything else is a bug, not a stop
            raise


def _variable(env: Any, with_states: bool) -> Callable[[str], Any]:
    store = env.variable_store

    def value(name: str) -> Any:
        if name == "states":
            return _aws_states(env.states._states_data) if with_states else jsonata_fast.SLOW  # noqa: SLF001
        for scope in (store._inner_scope, store._outer_scope):  # noqa: SLF001
            if name in scope:
                return scope[name]
        return jsonata_fast.SLOW
    return value


def _eval_jsonata(env: Any, expression: str, with_states: bool = True) -> Any:
    quick = jsonata_fast.evaluate(expression, _variable(env, with_states))
    if quick is not jsonata_fast.SLOW:  # a variable or a path into one, answered here
        if env.is_frame() and not env.is_running():
            raise _FrameStopped()
        return quick
    try:
        result = evaluate(expression, _bindings(env, expression, with_states))
    except JSONataEvaluationError as exc:
        raise _evaluation_failure(
            env, f"The JSONata expression '{expression}' threw an error: {exc}"
        ) from exc
    if env.is_frame() and not env.is_running():
        raise _FrameStopped()
    if result is UNDEFINED:
        raise _evaluation_failure(
            env, f"The JSONata expression '{expression}' returned nothing (undefined)."
        )
    return result


def _string_jsonata_eval_body(self: Any, env: Any) -> None:
    env.stack.append(_eval_jsonata(env, self.expression))


def _string_variable_sample_eval_body(self: Any, env: Any) -> None:
    env.stack.append(_eval_jsonata(env, self.expression, with_states=True))


def _function_name(parameters: dict[str, Any]) -> str:
    return str(parameters.get("FunctionName", "")).split(":")[-1]


def _invoke(parameters: dict[str, Any]) -> dict[str, Any]:
    name = _function_name(parameters)
    handler = LAMBDA_HANDLERS.get(name)
    if handler is None:
        error = {"errorType": "ResourceNotFoundException",
                 "errorMessage": f"Function not found: {name}"}
        return {"StatusCode": 404, "FunctionError": "Unhandled", "Payload": error}
    raw = parameters.get("Payload") or b"{}"
    event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    try:
        payload = json.loads(json.dumps(handler(event)))
    except Exception as exc:  # noqa: BLE001 - Lambda reports every exception this way
        payload = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": "local",
            "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
        }
        return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload,
                "ExecutedVersion": "$LATEST"}
    return {"StatusCode": 200, "Payload": payload, "ExecutedVersion": "$LATEST"}


def _invoke_lambda_function(parameters: dict[str, Any], region: str,
                            state_credentials: Any) -> dict[str, Any]:
    return _invoke(parameters)


def _exec_lambda_function(env: Any, parameters: dict[str, Any], region: str,
                          account: str, credentials: Any) -> None:
    response = _invoke(parameters)
    if response.get("FunctionError"):
        raise lambda_eval_utils.LambdaFunctionErrorException(
            response["FunctionError"], json.dumps(response["Payload"], separators=(",", ":"))
        )
    env.stack.append(response)


_SFN_PARAMS = {"StateMachineArn": "stateMachineArn", "Input": "input", "Name": "name",
               "TraceHeader": "traceHeader"}


def _as_task_result(response: dict[str, Any]) -> None:
    """boto3's answer -> the task result AWS gives (PascalCase keys, dates in ms), in place."""
    items = [(key, value) for key, value in response.items() if key != "ResponseMetadata"]
    response.clear()
    for key, value in items:
        if hasattr(value, "timestamp"):
            value = int(value.timestamp() * 1000)
        response[key[:1].upper() + key[1:]] = value


def _sfn_eval_service_task(self: Any, env: Any, resource_runtime_part: Any,
                           normalised_parameters: dict[str, Any], state_credentials: Any) -> None:
    client = boto_client_for(region=resource_runtime_part.region, service="stepfunctions",
                             state_credentials=state_credentials)
    params = {_SFN_PARAMS.get(k, k): v for k, v in normalised_parameters.items()}
    if not params.get("name"):  # AWS names an unnamed execution with a UUID
        params["name"] = str(uuid.uuid4())
    response = dict(getattr(client, self._get_boto_service_action())(**params))
    _as_task_result(response)
    env.stack.append(response)


class _WakingTime:
    """``time`` for moto's callback module: its ``sleep`` (between checks whether a ``.sync``
    task's child ended) returns as soon as an execution ends."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        ENDED.wait(ENDED.count(), seconds)


_moto_aws_sdk_eval = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task


def _aws_sdk_eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
    """An ``aws-sdk:*`` task's result as AWS gives it: JSON. boto3 answers S3 GetObject's
    ``Body`` as a stream and times as datetimes; Step Functions gives the body as text and
    times as ISO 8601 strings."""
    _moto_aws_sdk_eval(self, env, *args, **kwargs)
    env.stack.append(_as_json(env.stack.pop()))


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if hasattr(value, "read"):
        body = value.read()
        return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _sfn_normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
    if isinstance(response, dict):
        _as_task_result(response)


_moto_worker_stop = execution_worker.ExecutionWorker.stop


_moto_terminated = backend_execution.BaseExecutionWorkerCommunication.terminated


def _worker_stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
    self.stepweave_stopped = (error, cause)
    _moto_worker_stop(self, stop_date=stop_date, error=error, cause=cause)
    pool = getattr(getattr(self, "env", None), "callback_pool_manager", None)
    for endpoint in list(getattr(pool, "_pool", {}).values()):
        endpoint.interrupt_all()  # the woken task fails; the execution is still ABORTED


def _terminated(self: Any) -> None:
    _moto_terminated(self)
    execution = self.execution
    stopped = getattr(execution.exec_worker, "stepweave_stopped", None)
    if stopped is not None:  # as AWS reports a stopped execution: the stop's error and cause
        execution.exec_status = ExecutionStatus.ABORTED
        execution.error, execution.cause = (stopped[0] or None), (stopped[1] or None)
    ENDED.bump()
    CHANGES.bump()


#: The definition text whose parse trees are kept, in all (a tree takes ~65 bytes of memory
#: per character of its definition); the most recent definition's is always kept.
PARSE_CACHE_CHARS = 2 * 1024 * 1024

_moto_parse = AmazonStateLanguageParser.parse
_trees: OrderedDict[str, Any] = OrderedDict()  # definition -> its parse tree, most recent last
_trees_chars = 0
_trees_lock = threading.Lock()


def _parse(definition: str) -> tuple[Any, Any]:
    """moto's parse, once per definition: a kept tree gives a fresh program."""
    global _trees_chars
    with _trees_lock:
        tree = _trees.get(definition)
        if tree is not None:
            _trees.move_to_end(definition)
    if tree is not None:
        return Preprocessor().visit(tree), tree
    program, tree = _moto_parse(definition)  # raises on a definition that does not parse
    with _trees_lock:
        if definition not in _trees:
            _trees[definition] = tree
            _trees_chars += len(definition)
            while _trees_chars > PARSE_CACHE_CHARS and len(_trees) > 1:
                dropped, _ = _trees.popitem(last=False)
                _trees_chars -= len(dropped)
    return program, tree


def _regions_session(cls: Any) -> Any:
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


_moto_publish_history_event = EventManager._publish_history_event


def _publish_history_event(self: Any, *args: Any, **kwargs: Any) -> None:
    _moto_publish_history_event(self, *args, **kwargs)
    CHANGES.bump()

def _started_pools(backend: Any) -> Iterator[Any]:
    """The callback pools of the running executions whose worker has started: an execution
    is listed RUNNING a moment before it has one, and moto's answer to a task token would
    fail on it (``'NoneType' object has no attribute 'callback_pool_manager'``) while another
    run is starting -- as a lead-in's notifier answers while its stretch's runs start."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    for execution in backend._get_executions(ExecutionStatus.RUNNING):
        env = getattr(getattr(execution, "exec_worker", None), "env", None)
        if env is not None:
            yield env.callback_pool_manager


def _answer_token(backend: Any, answer: Callable[[Any], bool]) -> None:
    from moto.stepfunctions.parser.api import InvalidToken, TaskDoesNotExist, TaskTimedOut
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
    )

    for pool in _started_pools(backend):
        try:
            if answer(pool):
                return
        except CallbackNotifyConsumerError as error:
            raise (TaskTimedOut("Task Timed Out") if isinstance(error, CallbackConsumerTimeout)
                   else TaskDoesNotExist("Task Does Not Exist")) from None
    raise InvalidToken()  # type: ignore[no-untyped-call]


def _backend_send_task_success(self: Any, task_token: str, outcome: str) -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess

    result = CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
    _answer_token(self, lambda pool: bool(pool.notify(callback_id=task_token, outcome=result)))


def _backend_send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure

    result = CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
    _answer_token(self, lambda pool: bool(pool.notify(callback_id=task_token, outcome=result)))


def _backend_send_task_heartbeat(self: Any, task_token: str) -> None:
    _answer_token(self, lambda pool: bool(pool.heartbeat(callback_id=task_token)))


def _send_task_failure(self: Any) -> Any:
    """moto's ``SendTaskFailure`` drops the ``cause`` it is given; AWS fails the task with it."""
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                cause=self._get_param("cause"))
    return EmptyResult()


def install() -> None:
    """Apply the patches (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        check_available()  # no jsonata-js: say what to run now, not in the first state
        string_expression.StringJSONata._eval_body = _string_jsonata_eval_body  # type: ignore[method-assign]
        string_expression.StringVariableSample._eval_body = (  # type: ignore[method-assign]
            _string_variable_sample_eval_body)
        program.Program._eval_body = _program_body  # type: ignore[method-assign]
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        lambda_eval_utils.exec_lambda_function = _exec_lambda_function
        sfn_task = state_task_service_sfn.StateTaskServiceSfn
        state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task = (  # type: ignore[method-assign]
            _aws_sdk_eval_service_task)
        setattr(state_task_service_callback, "time", _WakingTime())  # noqa: B010 - a module attribute
        sfn_task._eval_service_task = _sfn_eval_service_task  # type: ignore[method-assign]
        sfn_task._normalise_response = _sfn_normalise_response  # type: ignore[method-assign]
        execution_worker.ExecutionWorker.stop = _worker_stop  # type: ignore[method-assign]
        backend_execution.BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]
        EventManager._publish_history_event = _publish_history_event  # type: ignore[method-assign]
        AmazonStateLanguageParser.parse = staticmethod(_parse)  # type: ignore[method-assign]
        AccountSpecificBackend.get_session = classmethod(_regions_session)  # type: ignore[method-assign,assignment]
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        StepFunctionsParserBackend.send_task_success = _backend_send_task_success  # type: ignore[method-assign,assignment]
        StepFunctionsParserBackend.send_task_failure = _backend_send_task_failure  # type: ignore[method-assign,assignment]
        StepFunctionsParserBackend.send_task_heartbeat = _backend_send_task_heartbeat  # type: ignore[method-assign,assignment]
        moto_history.install()
        moto_speed.install()
        _installed = True


# Kept for the adapter test: the attributes this module replaces must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (string_expression.StringJSONata, "_eval_body"),
    (string_expression.StringVariableSample, "_eval_body"),
    (program.Program, "_eval_body"),
    (lambda_eval_utils, "_invoke_lambda_function"),
    (lambda_eval_utils, "exec_lambda_function"),
    (state_task_service_sfn.StateTaskServiceSfn, "_eval_service_task"),
    (state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task"),
    (state_task_service_callback, "time"),
    (state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK"),
    (state_task_service_sfn.StateTaskServiceSfn, "_normalise_response"),
    (execution_worker.ExecutionWorker, "stop"),
    (backend_execution.BaseExecutionWorkerCommunication, "terminated"),
    (EventManager, "_publish_history_event"),
    (AmazonStateLanguageParser, "parse"),
    (AccountSpecificBackend, "get_session"),
    (StepFunctionResponse, "send_task_failure"),
    (StepFunctionsParserBackend, "send_task_success"),
    (StepFunctionsParserBackend, "send_task_failure"),
    (StepFunctionsParserBackend, "send_task_heartbeat"),
    *moto_history.PATCHED_ATTRIBUTES,
    *moto_speed.PATCHED_ATTRIBUTES,
    *moto_redrive.PATCHED_ATTRIBUTES,
    *live.PATCHED_ATTRIBUTES,
)
