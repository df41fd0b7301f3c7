"""Execution histories from moto's Step Functions, read fast and incrementally.

moto answers ``GetExecutionHistory`` with every event at once (it has no paging) and writes
them with its generic response serializer, which looks every member of every event up
under several aliases: ~0.7 ms per event here, so reading a 2,000-event history took over
a second, and a run that re-read its whole history on every change spent most of its time
doing so. Two things replace that:

* :func:`events_since` reads only the events after the first ``since`` straight from the
  execution's event list (under the lock moto's own reader takes), for a run's progress;
* ``GetExecutionHistory`` writes its answer with :func:`write_events`, which walks the
  output shape once per event and writes what moto's serializer writes (the members the
  API defines, strings as strings, the timestamp in epoch seconds with milliseconds).

Both go through botocore's own parser (the API call as any client makes it, and
:func:`events_since` explicitly), so events have exactly the shape ``GetExecutionHistory``
gives. ``tests/engine/test_moto_history.py`` compares them with moto's serializer's output.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

from botocore.parsers import create_parser

from stepweave.local.moto_imports import defer_batch

defer_batch()  # before moto's Step Functions modules are imported (see moto_imports)

from moto.core.responses import ActionResult
from moto.core.serialize import BaseJSONSerializer, TimestampSerializer
from moto.stepfunctions.responses import StepFunctionResponse

__all__ = ["events_since", "plain_events", "write_events", "install", "PATCHED_ATTRIBUTES"]

OPERATION = "GetExecutionHistory"

_Writer = Callable[[Any], Any]
_timestamps = TimestampSerializer(BaseJSONSerializer.DEFAULT_TIMESTAMP_FORMAT)
#: id(output shape) -> (the shape, kept alive with its id; the writer of its events)
_writers: dict[int, tuple[Any, _Writer]] = {}
_writers_lock = threading.Lock()


def _writer(shape: Any, memo: dict[str, _Writer]) -> _Writer:
    """A function writing a value of ``shape`` as moto's JSON serializer does."""
    if shape.name in memo:
        return memo[shape.name]
    kind = shape.type_name
    if kind == "structure":
        members: list[tuple[str, _Writer]] = []

        def structure(value: Any) -> Any:
            out: dict[str, Any] = {}
            mapping = isinstance(value, dict)
            for name, write in members:
                member = value.get(name) if mapping else getattr(value, name, None)
                if member is not None:
                    out[name] = write(member)
            return out
        memo[shape.name] = structure  # before the members: a shape may contain itself
        members.extend((name, _writer(member, memo)) for name, member in shape.members.items())
        return structure
    if kind == "list":
        item = _writer(shape.member, memo)
        return lambda value: [item(v) if v is not None else v for v in value]
    if kind == "map":
        entry = _writer(shape.value, memo)
        return lambda value: {k: entry(v) for k, v in value.items()}
    if kind == "string":
        def string(value: Any) -> Any:
            if isinstance(value, Enum):
                value = value.value
            return str(value) if value not in (None, {}, []) else value
        return string
    if kind == "timestamp":
        def timestamp(value: Any) -> Any:
            wrapper: dict[str, Any] = {}
            _timestamps.serialize(wrapper, value, shape, "timestamp")
            return wrapper["timestamp"]
        return timestamp
    return lambda value: value


def _events_writer(output_shape: Any) -> _Writer:
    with _writers_lock:
        known = _writers.get(id(output_shape))
        if known is None:
            known = _writers[id(output_shape)] = (
                output_shape, _writer(output_shape.members["events"], {}))
        return known[1]


def write_events(events: list[Any], output_shape: Any) -> str:
    """``GetExecutionHistory``'s JSON body for ``events`` (moto's history events)."""
    return json.dumps({"events": _events_writer(output_shape)(events)})


def _execution(execution_arn: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parts = execution_arn.split(":")
    region, account = parts[3], parts[4]
    return stepfunctions_parser_backends[account][region].describe_execution(execution_arn)


def events_since(sfn: Any, execution_arn: str, since: int = 0) -> list[dict[str, Any]]:
    """The history events of ``execution_arn`` after its first ``since``, as
    ``GetExecutionHistory`` gives them (``sfn``: a client of the embedded engine, whose
    model and parser are used)."""
    execution = _execution(execution_arn)
    env = getattr(getattr(execution, "exec_worker", None), "env", None)
    if env is None:  # not started yet
        return []
    operation = sfn.meta.service_model.operation_model(OPERATION)
    manager = env.event_manager
    with manager._mutex:  # noqa: SLF001 - what moto's get_event_history holds while it copies
        body = write_events(manager._history_event_list[since:], operation.output_shape)  # noqa: SLF001
    return _parsed(sfn, body)


def plain_events(events: list[Any]) -> list[dict[str, Any]]:
    """moto's history ``events`` (a distributed Map's child execution's, which no API
    reads) with the members and values ``GetExecutionHistory`` gives, read directly (ten
    thousand children's events are read for one run's block logs): enumerations as their
    strings, timestamps as datetimes, empty members left out."""
    return [_plain(event) for event in events]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(member) for key, member in value.items() if member not in (None, {}, [])}
    if isinstance(value, list):
        return [_plain(member) for member in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _parsed(sfn: Any, body: str) -> list[dict[str, Any]]:
    operation = sfn.meta.service_model.operation_model(OPERATION)
    parser = create_parser(sfn.meta.service_model.protocol)
    parsed = parser.parse({"body": body.encode("utf-8"), "headers": {}, "status_code": 200},
                          operation.output_shape)
    return list(parsed.get("events", []))


class _HistoryResult(ActionResult):
    """moto's answer to ``GetExecutionHistory``, written by :func:`write_events`."""

    def execute_result(self, context: Any) -> Any:
        from moto import settings

        serializer = context.serializer_class(operation_model=context.operation_model,
                                              pretty_print=settings.PRETTIFY_RESPONSES)
        output_shape = context.operation_model.output_shape
        if not isinstance(serializer, BaseJSONSerializer) or output_shape is None:
            return super().execute_result(context)  # not the JSON protocol: moto's own way
        response = serializer._create_default_response()  # noqa: SLF001
        events = _events_writer(output_shape)(self.result["events"])  # type: ignore[index]
        response = serializer._serialized_result_to_response(  # noqa: SLF001
            response, self.result, output_shape, {"events": events})
        return response["status_code"], response["headers"], response["body"]


_moto_get_execution_history = StepFunctionResponse.get_execution_history


def _get_execution_history(self: Any) -> Any:
    result = _moto_get_execution_history(self)
    if type(result) is ActionResult and isinstance(result.result, dict) and "events" in result.result:
        return _HistoryResult(result.result)
    return result


_installed = False
_lock = threading.Lock()


def install() -> None:
    """Answer ``GetExecutionHistory`` with :func:`write_events` (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        StepFunctionResponse.get_execution_history = _get_execution_history  # type: ignore[method-assign]
        _installed = True


# Kept for the adapter test: the attributes this module uses or replaces must exist.
PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (StepFunctionResponse, "get_execution_history"),
    (BaseJSONSerializer, "_create_default_response"),
    (BaseJSONSerializer, "_serialized_result_to_response"),
    (TimestampSerializer, "serialize"),
    (ActionResult, "execute_result"),
)
