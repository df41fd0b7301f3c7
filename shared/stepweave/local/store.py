"""The local records table: SQLite, one row per item, DynamoDB's operations on it.

``SqliteTable`` answers the DynamoDB requests the runtime makes of its records table
(``GetItem``, ``PutItem``, ``UpdateItem``, ``DeleteItem``, ``Query``, ``Scan``,
``BatchWriteItem``, ``BatchGetItem``), given and answered in DynamoDB's JSON wire shapes, so
the code that runs on AWS runs unchanged on it (``stepweave.local.records`` routes a boto3
client's calls here). Every read goes to the database; every write is one ``BEGIN
IMMEDIATE`` transaction that reads the item, checks the condition and writes, so writers in
several processes (``stepweave run``, ``serve``, ``keys``) serialise on SQLite's lock and
none loses another's update. The database is in WAL mode (readers never wait for a writer)
with a busy timeout.

Rows: ``pk``, ``sk`` (the key), ``gsi1pk``/``gsi1sk`` (index ``byWorkflow``),
``gsi2pk``/``gsi2sk`` (``byTenant``) when the item has both (sparse, as DynamoDB's indexes),
``expires_at`` (``expiresAt``, the TTL) and ``item``: the item's typed attribute values as
JSON. Items past ``expiresAt`` are deleted when a store opens, as DynamoDB's TTL would.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stepweave.local.expressions import (
    ExpressionError,
    Placeholders,
    compile_condition,
    compile_key_condition,
    compile_projection,
    compile_update,
    necessary_key_terms,
    project,
)

__all__ = ["INDEXES", "SCHEMA_VERSION", "SqliteTable", "TableError"]

Item = dict[str, Any]
#: Index name -> its (hash, range) attributes, as ``create_table`` declares them.
INDEXES = {"byWorkflow": ("gsi1pk", "gsi1sk"), "byTenant": ("gsi2pk", "gsi2sk")}
KEYS = ("pk", "sk")
TTL_ATTRIBUTE = "expiresAt"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
MAX_BATCH_WRITE = 25
MAX_BATCH_GET = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL, sk TEXT NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT,
    expires_at INTEGER,
    item TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_workflow ON items (gsi1pk, gsi1sk);
CREATE INDEX IF NOT EXISTS items_by_tenant ON items (gsi2pk, gsi2sk);
CREATE INDEX IF NOT EXISTS items_by_expiry ON items (expires_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class TableError(Exception):
    """A request the table refuses, with DynamoDB's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _validation(message: str) -> TableError:
    return TableError("ValidationException", message)


class SqliteTable:
    """One records table in an SQLite file (or in memory when ``path`` is None)."""

    def __init__(self, path: Path | None, *, on_create: Callable[[SqliteTable], None] | None = None) -> None:
        self.path = path
        if path is not None:
            _private_file(path)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), timeout=BUSY_TIMEOUT_S,
                                   isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()  # one connection, shared by this process's threads
        with self._lock:
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if path is not None:
                # switching to WAL takes the database for itself: another process creating or
                # writing the same new file makes it fail at once (busy_timeout does not wait
                # for it), so it is retried within the busy timeout
                _until_unlocked(lambda: self._db.execute("PRAGMA journal_mode = WAL"))
                self._db.execute("PRAGMA synchronous = NORMAL")
            with self.transaction():
                created = self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None
                if created:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                    if on_create is not None:
                        on_create(self)
                else:
                    version = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                    if version is None or int(version[0]) > SCHEMA_VERSION:
                        raise sqlite3.DatabaseError("unknown records schema")
            self._db.execute("DELETE FROM items WHERE expires_at <= ?", (int(time.time()),))

    def close(self) -> None:
        with self._lock:
            self._db.close()


    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its start."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- rows ---------------------------------------------------------------------------------

    def _get(self, key: Mapping[str, str]) -> Item | None:
        row = self._db.execute("SELECT item FROM items WHERE pk = ? AND sk = ?",
                               (key["pk"], key["sk"])).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _write(self, item: Item) -> None:
        columns = [_key_string(item, name) for name in KEYS]
        for hash_name, range_name in INDEXES.values():
            both = hash_name in item and range_name in item
            columns += [_key_string(item, hash_name) if both else None,
                        _key_string(item, range_name) if both else None]
        expiry = item.get(TTL_ATTRIBUTE)
        expires = int(float(expiry["N"])) if isinstance(expiry, dict) and "N" in expiry else None
        self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (*columns, expires, json.dumps(item, separators=(",", ":"), ensure_ascii=False)))

    def _delete(self, key: Mapping[str, str]) -> None:
        self._db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (key["pk"], key["sk"]))

    def put_items(self, items: list[Item]) -> None:
        """Write items as they are (an import), in the caller's transaction."""
        for item in items:
            self._write(item)

    # -- operations ---------------------------------------------------------------------------

    def handle(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one DynamoDB request (wire JSON) with its response, or raise ``TableError``."""
        method = _OPERATIONS.get(operation)
        if method is None:
            raise TableError("UnknownOperationException",
                             f"the local records store does not implement {operation}")
        try:
            return method(self, request)
        except ExpressionError as exc:
            raise _validation(str(exc)) from None

    def get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        placeholders = _placeholders(request)
        projection = _projection(request, placeholders)
        placeholders.check_all_used()
        with self._lock:
            item = self._get(_key(request["Key"]))
        if item is None:
            return {}
        return {"Item": project(item, projection) if projection else item}

    def put_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        item = dict(request["Item"])
        key = _key(item)
        placeholders = _placeholders(request)
        condition = _condition(request, placeholders)
        placeholders.check_all_used()
        with self.transaction():
            old = self._get(key)
            _check(condition, old)
            self._write(item)
        return _returned(request, old, item, [])

    def update_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        key = _key(request["Key"])
        placeholders = _placeholders(request)
        condition = _condition(request, placeholders)
        if "UpdateExpression" not in request:
            raise _validation("the local records store needs an UpdateExpression")
        update = compile_update(request["UpdateExpression"], placeholders)
        placeholders.check_all_used()
        for path in update.paths:
            if path[0] in KEYS:
                raise _validation(f"Cannot update attribute {path[0]}. This attribute is part of the key")
        with self.transaction():
            old = self._get(key)
            _check(condition, old)
            new = update.apply(old or dict(request["Key"]))
            self._write(new)
        return _returned(request, old, new, [p[0] for p in update.paths])

    def delete_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        key = _key(request["Key"])
        placeholders = _placeholders(request)
        condition = _condition(request, placeholders)
        placeholders.check_all_used()
        with self.transaction():
            old = self._get(key)
            _check(condition, old)
            if old is not None:
                self._delete(key)
        return _returned(request, old, None, [])

    def batch_write_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        writes = [w for requests in request["RequestItems"].values() for w in requests]
        if len(writes) > MAX_BATCH_WRITE:
            raise _validation("Too many items requested for the BatchWriteItem call")
        with self.transaction():
            for write in writes:
                if "PutRequest" in write:
                    item = dict(write["PutRequest"]["Item"])
                    _key(item)
                    self._write(item)
                else:
                    self._delete(_key(write["DeleteRequest"]["Key"]))
        return {"UnprocessedItems": {}}

    def batch_get_item(self, request: Mapping[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[Item]] = {}
        with self._lock:
            for table, wanted in request["RequestItems"].items():
                if len(wanted["Keys"]) > MAX_BATCH_GET:
                    raise _validation("Too many items requested for the BatchGetItem call")
                found = [self._get(_key(k)) for k in wanted["Keys"]]
                responses[table] = [i for i in found if i is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        placeholders = _placeholders(request)
        index = request.get("IndexName")
        if index is not None and index not in INDEXES:
            raise _validation(f"The table does not have the specified index: {index}")
        hash_name, range_name = INDEXES[index] if index else KEYS
        key = compile_key_condition(request["KeyConditionExpression"], placeholders, hash_name, range_name)
        filters = _compiled(request, "FilterExpression", placeholders)
        projection = _projection(request, placeholders)
        placeholders.check_all_used()
        hash_col, range_col = _column(hash_name), _column(range_name)
        where = [f"{hash_col} = ?"]
        args: list[Any] = [_string(key.hash_value, hash_name)]
        if key.range_op is not None:
            values: list[Any] = [_string(v, range_name) for v in key.range_values]
            if key.range_op == "BETWEEN":
                where.append(f"{range_col} BETWEEN ? AND ?")
            elif key.range_op == "begins_with":
                where.append(f"substr({range_col}, 1, ?) = ?")
                values = [len(values[0]), values[0]]
            else:
                where.append(f"{range_col} {key.range_op} ?")
            args += values
        order = [range_col] if index is None else [range_col, "pk", "sk"]
        forward = request.get("ScanIndexForward", True)
        return self._page(request, where, args, order, forward, filters, projection,
                          list(dict.fromkeys([*KEYS, hash_name, range_name])))

    def scan(self, request: Mapping[str, Any]) -> dict[str, Any]:
        placeholders = _placeholders(request)
        if request.get("IndexName") is not None:
            raise _validation("the local records store scans the table, not an index")
        filters = _compiled(request, "FilterExpression", placeholders)
        projection = _projection(request, placeholders)
        placeholders.check_all_used()
        # rows the filter rejects on their key alone are not read (the filter still decides);
        # with a Limit, DynamoDB counts every item it evaluates, so then all are evaluated
        where: list[str] = []
        args: list[Any] = []
        if filters is not None and request.get("Limit") is None:
            for name, op, value in necessary_key_terms(request["FilterExpression"], placeholders, KEYS):
                if isinstance(value, Mapping) and set(value) == {"S"}:
                    where.append(f"{name} = ?" if op == "=" else f"substr({name}, 1, ?) = ?")
                    args += [value["S"]] if op == "=" else [len(value["S"]), value["S"]]
        response = self._page(request, where, args, ["pk", "sk"], True, filters, projection, list(KEYS))
        if where:  # DynamoDB's ScannedCount: every item the scan went over
            start = request.get("ExclusiveStartKey")
            after = "" if start is None else "WHERE (pk, sk) > (?, ?)"
            bound = [] if start is None else [_string(start.get(k), k) for k in KEYS]
            with self._lock:
                response["ScannedCount"] = self._db.execute(f"SELECT COUNT(*) FROM items {after}",
                                                            bound).fetchone()[0]
        return response

    def _page(self, request: Mapping[str, Any], where: list[str], args: list[Any], order: list[str],
              forward: bool, filters: Callable[[Item], bool] | None, projection: list[Any],
              key_names: list[str]) -> dict[str, Any]:
        start = request.get("ExclusiveStartKey")
        if start is not None:
            columns = [_column(n) for n in order]
            marks = ", ".join("?" for _ in columns)
            where = [*where, f"({', '.join(columns)}) {'>' if forward else '<'} ({marks})"]
            args = [*args, *(_string(start.get(n), n) for n in _names(order))]
        limit = request.get("Limit")
        if limit is not None and int(limit) < 1:
            raise _validation("Limit must be at least 1")
        direction = "ASC" if forward else "DESC"
        sql = (f"SELECT item FROM items {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY {', '.join(f'{c} {direction}' for c in order)}")
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        with self._lock:
            rows = [json.loads(r[0]) for r in self._db.execute(sql, args)]
        evaluated = rows if limit is None else rows[:int(limit)]
        items = [i for i in evaluated if filters is None or filters(i)]
        response: dict[str, Any] = {
            "Items": [project(i, projection) if projection else i for i in items],
            "Count": len(items), "ScannedCount": len(evaluated)}
        if limit is not None and len(rows) > int(limit):
            last = evaluated[-1]
            response["LastEvaluatedKey"] = {n: last[n] for n in key_names if n in last}
        return response


_OPERATIONS: dict[str, Callable[[SqliteTable, Mapping[str, Any]], dict[str, Any]]] = {
    "GetItem": SqliteTable.get_item, "PutItem": SqliteTable.put_item,
    "UpdateItem": SqliteTable.update_item, "DeleteItem": SqliteTable.delete_item,
    "BatchWriteItem": SqliteTable.batch_write_item, "BatchGetItem": SqliteTable.batch_get_item,
    "Query": SqliteTable.query, "Scan": SqliteTable.scan,
}

_COLUMNS = {"pk": "pk", "sk": "sk", "gsi1pk": "gsi1pk", "gsi1sk": "gsi1sk", "gsi2pk": "gsi2pk",
            "gsi2sk": "gsi2sk"}


def _column(name: str) -> str:
    return _COLUMNS[name]


def _names(columns: list[str]) -> list[str]:
    return [next(n for n, c in _COLUMNS.items() if c == column) for column in columns]


def _string(value: Any, name: str) -> str:
    if not isinstance(value, Mapping) or set(value) != {"S"}:
        raise _validation(f"One or more parameter values were invalid: Type mismatch for key {name}: "
                          "expected S")
    return str(value["S"])


def _key_string(item: Mapping[str, Any], name: str) -> str | None:
    return _string(item[name], name) if name in item else None


def _key(item: Mapping[str, Any]) -> dict[str, str]:
    missing = [k for k in KEYS if k not in item]
    if missing:
        raise _validation(f"One or more parameter values were invalid: Missing the key {missing[0]} in the item")
    return {k: _string(item[k], k) for k in KEYS}


def _placeholders(request: Mapping[str, Any]) -> Placeholders:
    return Placeholders(dict(request.get("ExpressionAttributeNames") or {}),
                        dict(request.get("ExpressionAttributeValues") or {}))


def _compiled(request: Mapping[str, Any], name: str, placeholders: Placeholders) -> Callable[[Item], bool] | None:
    text = request.get(name)
    return None if text is None else compile_condition(text, placeholders)


def _condition(request: Mapping[str, Any], placeholders: Placeholders) -> Callable[[Item], bool] | None:
    return _compiled(request, "ConditionExpression", placeholders)


def _projection(request: Mapping[str, Any], placeholders: Placeholders) -> list[Any]:
    text = request.get("ProjectionExpression")
    return [] if text is None else compile_projection(text, placeholders)


def _check(condition: Callable[[Item], bool] | None, old: Item | None) -> None:
    if condition is not None and not condition(old or {}):
        raise TableError("ConditionalCheckFailedException", "The conditional request failed")


def _returned(request: Mapping[str, Any], old: Item | None, new: Item | None,
              updated: list[Any]) -> dict[str, Any]:
    wanted = request.get("ReturnValues") or "NONE"
    if wanted == "ALL_OLD" and old is not None:
        return {"Attributes": old}
    if wanted == "ALL_NEW" and new is not None:
        return {"Attributes": new}
    if wanted == "UPDATED_OLD" and old is not None:
        return {"Attributes": {k: v for k, v in old.items() if k in updated}}
    if wanted == "UPDATED_NEW" and new is not None:
        return {"Attributes": {k: v for k, v in new.items() if k in updated}}
    return {}


def _private_file(path: Path) -> None:
    """``path``'s folder (0700) and the file itself (0600), created so from the start."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:  # made by an older version, or by hand
            os.fchmod(fd, 0o600)
    except OSError:
        pass  # another user's file: SQLite reads it or says why not
    finally:
        os.close(fd)


def _until_unlocked(step: Callable[[], object]) -> None:
    """``step``, again while SQLite answers "database is locked", up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
