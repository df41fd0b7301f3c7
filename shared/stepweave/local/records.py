"""Execution records of local runs: the recorder's own code against moto's DynamoDB.

The table is created with the deployed design (``create_table``) inside moto; after a
run the recorder is fed the status-change events AWS would send (``RUNNING``, then the
final one), built from ``DescribeExecution``. ``.stepweave/records.json`` keeps the
items between command invocations: loaded when the store opens (expired items, past
their ``expiresAt``, are dropped as DynamoDB's TTL would), written after each run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.runtime.recorder import Clients, Outcome, record, status_change_event, trigger_in_input
from stepweave.runtime.records import from_dynamo, to_dynamo
from stepweave.runtime.settings import LOCAL_TABLE, Settings

__all__ = ["LocalRecords", "LocalRecordsError", "create_table", "local_client", "local_records",
           "records_path", "RECORDS_FILE", "LOCAL_TRIGGER"]

RECORDS_FILE = "records.json"
LOCAL_TRIGGER = {"type": "local"}
REGION = "us-east-1"
_FORMAT = 1


class LocalRecordsError(StepweaveError):
    """The local records file cannot be read."""


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


def local_client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, aws_access_key_id="local",
                        aws_secret_access_key="local")


class LocalRecords:
    """The records table inside an active moto mock, optionally persisted to a file."""

    def __init__(self, settings: Settings, path: Path | None = None, ddb: Any = None) -> None:
        self.settings = settings.model_copy(update={"table": LOCAL_TABLE})
        self.table = self.settings.require_table()
        self.path = path
        self.ddb = ddb if ddb is not None else local_client("dynamodb")

    @classmethod
    def open(cls, settings: Settings, path: Path | None = None, ddb: Any = None) -> LocalRecords:
        store = cls(settings, path, ddb)
        create_table(store.ddb, store.table)
        store.load()
        return store

    def load(self) -> int:
        if self.path is None or not self.path.is_file():
            return 0
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            stored = data["items"]
            if not isinstance(stored, list) or not all(isinstance(i, dict) and "pk" in i for i in stored):
                raise ValueError("not a list of items")
        except (OSError, ValueError, KeyError, TypeError):
            raise LocalRecordsError(
                f"{self.path} is not a records file (move it away to start afresh)") from None
        now = time.time()
        items = [{k: to_dynamo(v) for k, v in item.items()} for item in stored
                 if int(item.get("expiresAt") or now + 1) > now]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
            self.ddb.batch_write_item(RequestItems={self.table: batch})
        return len(items)

    def dump(self) -> None:
        if self.path is None:
            return
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"TableName": self.table}
        while True:
            response = self.ddb.scan(**params)
            items += [{k: from_dynamo(v) for k, v in item.items()} for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        items.sort(key=lambda i: (str(i["pk"]), str(i["sk"])))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": _FORMAT, "items": items}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)

    def record_start(self, sfn: Any, execution_arn: str, manifest: dict[str, Any]) -> Outcome:
        """Feed the recorder a run's RUNNING event (the record a waiting run shows)."""
        description = sfn.describe_execution(executionArn=execution_arn)
        return record(status_change_event(description, "RUNNING"), settings=self.settings,
                      clients=Clients(sfn=sfn, ddb=self.ddb), manifests=lambda _arn: manifest,
                      trigger=_trigger(description))

    def record_run(self, sfn: Any, execution_arn: str, manifest: dict[str, Any]) -> Outcome:
        """Feed the recorder the events of a finished run (RUNNING, then its final status)."""
        description = sfn.describe_execution(executionArn=execution_arn)
        clients = Clients(sfn=sfn, ddb=self.ddb)
        for event in (status_change_event(description, "RUNNING"), status_change_event(description)):
            outcome = record(event, settings=self.settings, clients=clients,
                             manifests=lambda _arn: manifest, trigger=_trigger(description))
        self.dump()
        return outcome


def _trigger(description: dict[str, Any]) -> dict[str, Any]:
    """What started a local run: the ``trigger`` its input carries (a parent workflow's, as the
    recorder reads it on AWS), else the embedded engine."""
    return trigger_in_input(description.get("input")) or LOCAL_TRIGGER


@contextmanager
def local_records(settings: Settings) -> Iterator[LocalRecords]:
    """The persisted local records, for reading (starts its own moto mock)."""
    from moto import mock_aws

    with mock_aws():
        yield LocalRecords.open(settings, records_path(settings))


def records_path(settings: Settings) -> Path:
    return settings.local_dir / RECORDS_FILE
