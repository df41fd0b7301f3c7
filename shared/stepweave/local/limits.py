"""AWS Step Functions' service limits, enforced on the embedded engine.

moto runs what AWS would stop: a Standard execution past 25,000 history events, a variable
of several megabytes, a Map whose results would never fit. Locally a run must fail exactly
where it would fail once deployed, with the error AWS reports, so these patches add the
limits moto lacks (its own check of a state's output size, ``States.DataLimitExceeded``,
is kept):

* **History**: a Standard execution fails when its history reaches 25,000 events, unless
  event 25,000 is ``ExecutionSucceeded`` (AWS: "Avoid reaching the history quota"). The
  failure is ``States.Runtime`` with the cause AWS gives, "The execution reached the
  maximum number of history events (25000).", and cannot be caught: the execution stops.
  Express executions have no history and no such limit.
* **Variables**: one variable holds at most 256 KiB, and one ``Assign`` at most 256 KiB in
  all (a Map's or Parallel's results assigned to a variable count here): beyond,
  ``States.DataLimitExceeded``.
* **Errors inside a Map iteration** keep their ``States.*`` name (moto's iterations refuse
  those names and report a confusing error of their own instead).
* **Errors AWS does not let ``States.ALL`` catch**: ``States.DataLimitExceeded`` and
  ``States.Runtime`` are terminal; ``States.ALL`` in a Retry or Catch does not match them
  (moto's does).

Every limit is a module constant, so tests and the docs name the same figures.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import threading
from typing import Any

from stepweave.local import json_text
from stepweave.local.moto_imports import defer_batch

defer_batch()  # before moto's parser is imported: it would load moto's Batch and EC2 backends

from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    HistoryEventType,
    StateMachineType,
)
from moto.stepfunctions.parser.asl.component.common.assign.assign_decl import AssignDecl
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
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
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    iteration_worker,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

__all__ = ["install", "set_history_limit", "history_limit", "MAX_HISTORY_EVENTS", "MAX_VARIABLE_BYTES",
           "MAX_ASSIGN_BYTES",
           "HISTORY_LIMIT_CAUSE", "PATCHED_ATTRIBUTES"]

MAX_HISTORY_EVENTS = 25_000
MAX_VARIABLE_BYTES = 262_144
MAX_ASSIGN_BYTES = 262_144
HISTORY_LIMIT_CAUSE = ("The execution reached the maximum number of history events "
                       f"({MAX_HISTORY_EVENTS}).")
_TERMINAL = frozenset({StatesErrorNameType.StatesStatesDataLimitExceeded.to_name(),
                       StatesErrorNameType.StatesRuntime.to_name()})
_FINAL_EVENTS = frozenset({HistoryEventType.ExecutionSucceeded, HistoryEventType.ExecutionFailed,
                           HistoryEventType.ExecutionAborted, HistoryEventType.ExecutionTimedOut})

_history_limit = MAX_HISTORY_EVENTS


def set_history_limit(limit: int | None) -> None:
    """The history limit of the executions that follow (None: AWS's)."""
    global _history_limit
    _history_limit = MAX_HISTORY_EVENTS if limit is None else limit


def history_limit() -> int:
    """The history limit of the executions that start now."""
    return _history_limit


def _history_cause(limit: int) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


_moto_env_init = Environment.__init__
_moto_set_error = Environment.set_error
_moto_add_event = EventManager.add_event
_moto_assign = AssignDecl._eval_body
_moto_error_equals = ErrorEqualsDecl._eval_body
_installed = False
_lock = threading.Lock()
_add_lock = threading.RLock()


def _env_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _moto_env_init(self, *args, **kwargs)
    # frames replace their manager with the root's: the root's stays marked
    manager = self.event_manager
    manager.stepweave_root = self
    manager.stepweave_limited = self.execution_type == StateMachineType.STANDARD
    manager.stepweave_limit = _history_limit


def _set_error(self: Any, error: Any) -> None:
    # once the history limit failed the run, that is its error: the states it interrupts
    # (a Map waiting on its iterations) would report their own, wrapped versions of it
    if getattr(self.event_manager, "stepweave_over", False) and getattr(
            self, "stepweave_limit_error", None) is not None:
        return
    _moto_set_error(self, error)


def _add_event(self: Any, context: Any, event_type: Any, event_details: Any = None,
               timestamp: Any = None, update_source_event_id: bool = True) -> int:
    if not getattr(self, "stepweave_limited", False) or event_type in _FINAL_EVENTS:
        final_id: int = _moto_add_event(self, context, event_type, event_details, timestamp,
                                        update_source_event_id)
        return final_id
    # the check and the event in one step: a Map's iterations add events from many threads,
    # and each seeing room for one more would take the history past the limit
    with _add_lock:
        next_id: int = self._event_id_gen._next_id
        if getattr(self, "stepweave_over", False):
            return next_id - 1  # the run is failing: nothing more is recorded
        limit: int = self.stepweave_limit
        if next_id >= limit:
            # the last event may only end the run (AWS: if event 25,000 is not
            # ExecutionSucceeded, ExecutionFailed is logged as that event)
            self.stepweave_over = True
            root = self.stepweave_root
            root.stepweave_limit_error = True
            _moto_set_error(root, ExecutionFailedEventDetails(
                error=StatesErrorNameType.StatesRuntime.to_name(),
                cause=_history_cause(limit)))
            return next_id - 1
        event_id: int = _moto_add_event(self, context, event_type, event_details, timestamp,
                                        update_source_event_id)
    return event_id


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    return json_text.size_and_digest(value)[0]  # a growing array: only its new part written


def _assign(self: Any, env: Any) -> None:
    declarations: dict[str, Any] = {}
    for binding in self.declaration_bindings:
        binding.eval(env=env)
        declarations.update(env.stack.pop())
    total = 0
    for name, value in declarations.items():
        size = _size(value)
        total += size
        if size > MAX_VARIABLE_BYTES:
            _data_limit(env, f"The variable '{name}' is {size} bytes; a variable holds at most "
                             f"{MAX_VARIABLE_BYTES} bytes.")
    if total > MAX_ASSIGN_BYTES:
        _data_limit(env, f"The variables assigned by one state are {total} bytes in all; at most "
                         f"{MAX_ASSIGN_BYTES} bytes may be assigned at once.")
    for name, value in declarations.items():
        env.variable_store.set(variable_identifier=name, variable_value=value)


def _data_limit(env: Any, cause: str) -> None:
    error = StatesErrorNameType.StatesStatesDataLimitExceeded
    details: Any = {"executionFailedEventDetails": ExecutionFailedEventDetails(
        error=error.to_name(), cause=cause)}
    raise FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=error), event_type=HistoryEventType.TaskFailed,
        event_details=details))


def _error_equals(self: Any, env: Any) -> None:
    error_name = env.stack[-1] if env.stack else None
    name = getattr(error_name, "error_name", None)
    if name in _TERMINAL and not any(getattr(e, "error_name", None) == name
                                     for e in self.error_names):
        env.stack.pop()
        env.stack.append(False)  # States.ALL does not match AWS's terminal errors
        return
    _moto_error_equals(self, env)


def _error_name(error_name: str | None) -> Any:
    """moto's iterations wrap a failed iteration's error as a *custom* error name, which
    refuses AWS's own ``States.*`` names and turns the iteration's real error
    (``States.QueryEvaluationError``, ``States.DataLimitExceeded``...) into a confusing one.
    AWS reports the ``States.*`` error itself."""
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            pass
    return CustomErrorName(error_name=error_name)


def install() -> None:
    """Apply the limits (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        Environment.__init__ = _env_init  # type: ignore[method-assign]
        Environment.set_error = _set_error  # type: ignore[method-assign]
        EventManager.add_event = _add_event  # type: ignore[method-assign]
        AssignDecl._eval_body = _assign  # type: ignore[method-assign]
        ErrorEqualsDecl._eval_body = _error_equals  # type: ignore[method-assign]
        setattr(iteration_worker, "CustomErrorName", _error_name)  # noqa: B010 - a module attribute
        _installed = True


# Kept for the adapter test: the attributes this module replaces must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (Environment, "__init__"),
    (Environment, "set_error"),
    (EventManager, "add_event"),
    (AssignDecl, "_eval_body"),
    (ErrorEqualsDecl, "_eval_body"),
    (iteration_worker, "CustomErrorName"),
)
