"""Execution records of local runs: the recorder's own code against a local records table.

The table is ``stepweave.local.store.SqliteTable``: ``.stepweave/records.db`` (SQLite, one
row per item; ``STEPWEAVE_LOCAL_DIR`` moves the folder), shared by every ``stepweave``
process of the folder, each reading and writing it directly. ``LocalRecords.ddb`` is a
boto3 DynamoDB client whose calls the table answers (a ``before-call`` hook, as botocore's
``Stubber`` uses), so the code the deployment runs against DynamoDB (recorder, approvals,
API keys, webhook deliveries) runs unchanged. While a store is open, DynamoDB clients made
from boto3's default session (the in-process Lambda handlers' ``boto3.client("dynamodb")``)
reach it too, for requests naming its table.

After a run the recorder is fed the status-change events AWS would send (``RUNNING``, then
the final one), built from ``DescribeExecution``, with the events the engine kept of its
distributed Maps' child executions (their blocks' logs: ``stepweave.runtime.map_items``).
A ``records.json`` left by an older version is imported once, when ``records.db`` is
created, and is not read afterwards.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.local.store import SqliteTable, TableError
from stepweave.runtime.recorder import (
    Clients,
    Outcome,
    record,
    status_change_event,
    trigger_in_input,
)
from stepweave.runtime.records import to_dynamo
from stepweave.runtime.settings import LOCAL_TABLE, Settings

__all__ = [
    "LEGACY_RECORDS_FILE",
    "LOCAL_TRIGGER",
    "RECORDS_FILE",
    "LocalRecords",
    "LocalRecordsError",
    "create_table",
    "execution_span",
    "local_client",
    "local_records",
    "records_path",
]

RECORDS_FILE = "records.db"
#: The JSON file older versions kept; imported into a new ``records.db``.
LEGACY_RECORDS_FILE = "records.json"
LOCAL_TRIGGER = {"type": "local"}
REGION = "us-east-1"
_HOOK = "stepweave-local-records"


class LocalRecordsError(StepweaveError):
    """The local records cannot be read."""


def create_table(ddb: Any, table: str) -> None:
    """The records table exactly as deployed: keys pk/sk, GSIs byWorkflow and byTenant, TTL expiresAt."""
    strings = [{"AttributeName": n, "AttributeType": "S"}
               for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")]
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=strings,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": index, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                          {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"}]}
            for index, prefix in (("byWorkflow", "gsi1"), ("byTenant", "gsi2"))])
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True,
                                                                       "AttributeName": "expiresAt"})


def local_client(service: str, validate: bool = True) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=REGION, aws_access_key_id="local",
                        aws_secret_access_key="local", config=Config(parameter_validation=validate))


class LocalRecords:
    """The local records table and a DynamoDB client that reaches it. Close it (or use it as
    a context manager) when done: that closes the database and ends the routing of the
    default session's clients to it."""

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.settings = settings.model_copy(update={"table": LOCAL_TABLE})
        self.table = self.settings.require_table()
        self.path = path
        try:
            self.store = SqliteTable(path, on_create=self._import_legacy)
        except sqlite3.DatabaseError as exc:
            raise LocalRecordsError(f"{path} is not a records database ({exc}; move it away to "
                                    "start afresh)") from None
        self.ddb = local_client("dynamodb")
        # first: before the default session's routing hook, which the client's events copied
        self.ddb.meta.events.register_first("before-call.dynamodb", _Answer(self), unique_id=f"{_HOOK}-own")
        # what records runs: the recorder's requests unchecked by botocore (checking a run's
        # ten thousand block logs took longer than writing them; the functional tests check
        # the recorder's requests against moto's DynamoDB)
        self._writer = local_client("dynamodb", validate=False)
        self._writer.meta.events.register_first("before-call.dynamodb", _Answer(self),
                                                unique_id=f"{_HOOK}-own")
        _activate(self)

    @classmethod
    def open(cls, settings: Settings, path: Path | None = None) -> LocalRecords:
        return cls(settings, path)

    def close(self) -> None:
        _deactivate(self)
        self.store.close()

    def __enter__(self) -> LocalRecords:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _import_legacy(self, store: SqliteTable) -> None:
        legacy = None if self.path is None else self.path.parent / LEGACY_RECORDS_FILE
        if legacy is None or not legacy.is_file():
            return
        try:
            data = json.loads(legacy.read_text(encoding="utf-8"))
            stored = data["items"]
            if not isinstance(stored, list) or not all(isinstance(i, dict) and "pk" in i for i in stored):
                raise ValueError("not a list of items")
        except (OSError, ValueError, KeyError, TypeError):
            raise LocalRecordsError(
                f"{legacy} is not a records file (move it away to start afresh)") from None
        now = time.time()
        store.put_items([{k: to_dynamo(v) for k, v in item.items()} for item in stored
                         if int(item.get("expiresAt") or now + 1) > now])

    def record_start(self, sfn: Any, execution_arn: str, manifest: dict[str, Any]) -> Outcome:
        """Feed the recorder a run's RUNNING event (the record a waiting run shows)."""
        description = sfn.describe_execution(executionArn=execution_arn)
        return record(status_change_event(description, "RUNNING"), settings=self.settings,
                      clients=Clients(sfn=sfn, ddb=self.ddb), manifests=lambda _arn: manifest,
                      trigger=_trigger(description))

    def record_run(self, sfn: Any, execution_arn: str, manifest: dict[str, Any]) -> Outcome:
        """Feed the recorder the events of a finished run (RUNNING, then its final status)."""
        description = sfn.describe_execution(executionArn=execution_arn)
        from stepweave.local.redrive import child_history

        from stepweave.local.distributed_map import noted_children

        clients = Clients(sfn=sfn, ddb=self._writer, map_items=kept_map_items,
                          child_history=lambda child: child_history(sfn, child),
                          map_children=noted_children, execution_span=lambda child: execution_span(sfn, child))
        for event in (status_change_event(description, "RUNNING"), status_change_event(description)):
            outcome = record(event, settings=self.settings, clients=clients,
                             manifests=lambda _arn: manifest, trigger=_trigger(description))
        return outcome


# -- routing DynamoDB clients to the store ----------------------------------------------------------

class _Answer:
    """A ``before-call.dynamodb`` handler: requests for ``records``'s table are answered by
    it. Bound to no store (the default session's hook): the store opened last answers, and
    requests for other tables go on to wherever the client sends them."""

    def __init__(self, records: LocalRecords | None) -> None:
        self.records = records

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        records = self.records if self.records is not None else _active()
        if records is None:
            return None
        request = json.loads(params.get("body") or b"{}")
        tables = set(request.get("RequestItems") or ()) or {request.get("TableName")}
        if tables != {records.table}:
            if self.records is None:
                return None
            return _response(400, _error("ResourceNotFoundException",
                                         f"the local records store has only table {records.table}"))
        try:
            return _response(200, records.store.handle(model.name, request))
        except TableError as exc:
            return _response(400, _error(exc.code, exc.message))


def _response(status: int, body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    body["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0,
                                "RequestId": "local"}
    return AWSResponse(None, status, {}, None), body


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


_open: list[LocalRecords] = []  # the stores open in this process, the latest last
_open_lock = threading.Lock()


def _active() -> LocalRecords | None:
    with _open_lock:
        return _open[-1] if _open else None


def _activate(records: LocalRecords) -> None:
    import boto3

    with _open_lock:
        _open.append(records)
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("before-call.dynamodb", _Answer(None), unique_id=_HOOK)


def _deactivate(records: LocalRecords) -> None:
    with _open_lock:
        if records in _open:
            _open.remove(records)


def execution_span(sfn: Any, execution_arn: str) -> float | None:
    """How long an execution ran, by its start and stop dates (as ``stepweave run`` measures
    a split run's stretches: ``LocalEngine``); None when they are not known."""
    try:
        found = sfn.describe_execution(executionArn=execution_arn)
    except Exception:  # noqa: BLE001 - kept from another process's run: measured by its events
        return None
    start, stop = found.get("startDate"), found.get("stopDate")
    return (stop - start).total_seconds() if start is not None and stop is not None else None


def kept_map_items(execution_arn: str) -> dict[str, list[tuple[int, list[dict[str, Any]]]]]:
    """The events of the child executions a run's distributed Maps ran, as the engine kept
    them (``stepweave.local.distributed_map``), for their blocks' logs."""
    from stepweave.local.distributed_map import item_events
    from stepweave.local.moto_history import plain_events

    return {run: [(index, plain_events(events)) for index, events in items]
            for run, items in item_events(execution_arn).items()}


def _trigger(description: dict[str, Any]) -> dict[str, Any]:
    """What started a local run: the ``trigger`` its input carries (a parent workflow's, as the
    recorder reads it on AWS), else the embedded engine."""
    return trigger_in_input(description.get("input")) or LOCAL_TRIGGER


@contextmanager
def local_records(settings: Settings) -> Iterator[LocalRecords]:
    """The local records of ``settings``'s folder, for a command that reads or writes them."""
    with LocalRecords.open(settings, records_path(settings)) as store:
        yield store


def records_path(settings: Settings) -> Path:
    return settings.local_dir / RECORDS_FILE
