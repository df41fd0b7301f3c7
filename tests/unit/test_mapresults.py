"""A distributed parallel's results read back from the payload bucket, in item order.

GIVEN a Map Run's manifest and result files as AWS writes them (children in any order,
``Input``/``Output`` as JSON text, failed children in FAILED files) WHEN the collect
handler reads them THEN it returns iteration 0's and the last iteration's exports, each
iteration's results by index (null for a failed one) and the count; and appending a loop
chunk's results extends the list.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepweave.errors import BlockInputError
from stepweave.runtime.mapresults import collect


class Store:
    def __init__(self, objects: dict[str, Any]) -> None:
        self.objects = {k: json.dumps(v).encode() for k, v in objects.items()}

    def get(self, bucket: str, key: str) -> bytes:
        return self.objects[f"{bucket}/{key}"]

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[f"{bucket}/{key}"] = body


def _row(index: int, output: Any = None, status: str = "SUCCEEDED") -> dict[str, Any]:
    row: dict[str, Any] = {"Input": json.dumps({"index": index, "item": index}), "Status": status}
    if status == "SUCCEEDED":
        row["Output"] = json.dumps(output)
    else:
        row.update(Error="Stepweave.BlockFailed", Cause="boom")
    return row


def _export(index: int) -> dict[str, Any]:
    head = {"b": {"x": {"v": index}} if index == 0 else {}, "w": {"total": index}}
    return {**head, "entries": [{"v": index}]}


def test_results_come_back_in_item_order_with_branch_zeros_exports() -> None:
    store = Store({
        "bkt/p/run/manifest.json": {"DestinationBucket": "bkt", "ResultFiles": {
            "SUCCEEDED": [{"Key": "p/run/SUCCEEDED_0.json"}, {"Key": "p/run/SUCCEEDED_1.json"}],
            "FAILED": [{"Key": "p/run/FAILED_0.json"}], "PENDING": []}},
        "bkt/p/run/SUCCEEDED_0.json": [_row(3, _export(3)), _row(0, _export(0))],
        "bkt/p/run/SUCCEEDED_1.json": [_row(1, _export(1))],
        "bkt/p/run/FAILED_0.json": [_row(2, status="FAILED")],
    })
    out = collect({"op": "parallel", "bucket": "bkt", "key": "p/run/manifest.json"}, store)
    assert out["count"] == 4
    assert out["results"] == [[{"v": 0}], [{"v": 1}], None, [{"v": 3}]]
    assert out["heads"] == [{"b": {"x": {"v": 0}}, "w": {"total": 0}}, {"b": {}, "w": {"total": 3}}]


def test_no_items_no_results() -> None:
    store = Store({"b/m.json": {"ResultFiles": {"SUCCEEDED": [], "FAILED": [], "PENDING": []}}})
    assert collect({"op": "parallel", "bucket": "b", "key": "m.json"}, store) == \
        {"heads": [], "results": [], "count": 0}


def test_a_chunks_results_are_appended() -> None:
    assert collect({"op": "append", "acc": [[1]], "add": [[2], [3]]}) == {"results": [[1], [2], [3]]}
    assert collect({"op": "append", "acc": None, "add": [[2]]}) == {"results": [[2]]}


def test_a_missing_manifest_and_an_unknown_op_are_clear_errors() -> None:
    with pytest.raises(BlockInputError, match="could not be read from s3://b/nope.json"):
        collect({"op": "parallel", "bucket": "b", "key": "nope.json"}, Store({}))
    with pytest.raises(BlockInputError, match="unknown op 'merge'"):
        collect({"op": "merge"})


MAP_ERROR = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "threshold exceeded"}


@pytest.mark.parametrize("record, expected", [
    # a block failed in the child: its error, named after that block (as inline)
    ({"Error": "Stepweave.BlockFailed",
      "Cause": json.dumps({"block": "Each", "Error": "BlockError", "Cause": "bad item"})},
     {"block": "Each", "Error": "BlockError", "Cause": "bad item"}),
    # another error of the child: named after the container
    ({"Error": "States.QueryEvaluationError", "Cause": "no such field"},
     {"block": "Fan", "Error": "States.QueryEvaluationError", "Cause": "no such field"}),
    # no record (an item timed out): the Map's own error, named after the container
    (None, {"block": "Fan", **MAP_ERROR}),
])
def test_a_failed_maps_error_is_its_first_failed_items(record: Any, expected: dict[str, Any]) -> None:
    store = Store({} if record is None else {"b/failed/run/par.json": record})
    params = {"op": "failed", "bucket": "b", "key": "failed/run/par.json", "container": "Fan",
              "error": MAP_ERROR}
    assert collect(params, store) == expected
