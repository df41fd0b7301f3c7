"""Large block outputs: offloaded to S3 (moto) as stubs, resolved back by handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from stepweave.errors import BlockInputError, BlockResourceError
from stepweave.runtime import payloads
from stepweave.paths import PathError, format_path, parse_path
from stepweave.runtime.payloads import (
    KEEP_LIMIT_BYTES,
    S3Store,
    execution_prefix,
    json_size,
    offload,
    payload_key,
    resolve,
    stub_ref,
)
from stepweave.runtime.settings import Settings, SettingsError

from functions.function.handler import lambda_handler

BUCKET = "payloads-test"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:dev-big:run-1"
WHERE = (EXECUTION, "big")
SETTINGS = Settings(payload_bucket=BUCKET)
MB_ITEMS = [{"id": i, "name": f"item number {i}", "tags": ["a", "b"]} for i in range(20_000)]


class CountingStore:
    """An ``S3Store`` on moto that counts its calls."""

    def __init__(self, s3: Any) -> None:
        self.inner = S3Store(s3)
        self.gets: list[str] = []
        self.puts: list[str] = []

    def get(self, bucket: str, key: str) -> bytes:
        self.gets.append(key)
        return self.inner.get(bucket, key)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.puts.append(key)
        self.inner.put(bucket, key, body)


class NoStore:
    def get(self, bucket: str, key: str) -> bytes:
        raise AssertionError("S3 read")

    def put(self, bucket: str, key: str, body: bytes) -> None:
        raise AssertionError("S3 write")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3: Any) -> CountingStore:
    return CountingStore(s3)


def _objects(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


# --- offload / resolve -------------------------------------------------------------------------

def test_an_output_within_the_budget_is_returned_as_is_without_s3() -> None:
    output = {"result": {"items": MB_ITEMS[:100]}, "stdout": ""}
    assert offload(output, keep=[], where=WHERE, store=NoStore(), settings=SETTINGS) is output
    assert resolve(output, NoStore()) is output


def test_a_megabyte_output_is_stored_once_and_stubbed(s3: Any, store: CountingStore) -> None:
    output = {"result": "x" * 1_000_000, "stdout": "done"}
    inline = offload(output, keep=[], where=WHERE, store=store, settings=SETTINGS)
    (key,) = _objects(s3)
    assert store.puts == [key] and key.startswith("dev-big/run-1/big/") and key.endswith(".json")
    assert inline == {"result": {"$ref": {"bucket": BUCKET, "key": key, "path": "result",
                                          "bytes": 1_000_002}},
                      "stdout": "done"}
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read()) == output
    assert resolve(inline, store) == output


def test_kept_paths_stay_inline_with_the_structure_along_them(store: CountingStore) -> None:
    output = {"result": {"count": 20_000, "items": MB_ITEMS, "meta": {"big": "m" * 50_000,
                                                                      "page": 1}},
              "stdout": ""}
    keep = ["result.count", "result.items[2].name", "result.meta.page", "result.missing", ""]
    inline = offload(output, keep=keep, where=WHERE, store=store, settings=SETTINGS)
    result = inline["result"]
    assert result["count"] == 20_000 and result["meta"]["page"] == 1
    assert stub_ref(result["meta"]["big"])["path"] == "result.meta.big"  # type: ignore[index]
    # elements before the kept one stay in place; the rest of the array is one stub
    assert [item["name"] for item in result["items"][:3]] == [f"item number {i}" for i in range(3)]
    (tail_stub,) = result["items"][3:]
    tail = stub_ref(tail_stub)
    assert tail is not None and (tail["path"], tail["from"]) == ("result.items", 3)
    assert json_size(inline) <= SETTINGS.inline_budget_bytes
    assert store.puts and resolve(inline, store) == output
    assert len(store.gets) == 1  # one stored object, read once for both stubs


def test_kept_values_over_8_kib_are_stubbed_before_those_within(store: CountingStore) -> None:
    small = {name: name * 7000 for name in "abcd"}  # kept: each within 8 KiB
    output = {"result": {**small, "e": "e" * 9000}, "stdout": ""}  # 37 KB in all
    inline = offload(output, keep=[f"result.{n}" for n in "abcde"], where=WHERE, store=store,
                     settings=SETTINGS)
    assert {n: inline["result"][n] for n in "abcd"} == small
    assert stub_ref(inline["result"]["e"]) is not None
    assert resolve(inline, store) == output
    assert KEEP_LIMIT_BYTES == 8192


@pytest.mark.parametrize("budget", [1024, 4096, 32_768])
def test_the_result_is_always_within_the_budget(store: CountingStore, budget: int) -> None:
    settings = Settings(payload_bucket=BUCKET, inline_budget_bytes=budget)
    medium = {f"field{i}": "v" * 700 for i in range(60)}  # many parts, none large
    kept = {f"k{i}": "k" * 6000 for i in range(8)}  # kept values that cannot all fit
    cases = [
        ({"result": medium, "stdout": ""}, []),
        ({"result": kept, "stdout": ""}, [f"result.k{i}" for i in range(8)]),
        ({"result": MB_ITEMS[:3000], "stdout": ""}, ["result[2500].id"]),
        ({f"top{i}": "t" * 200 for i in range(400)}, []),  # only the whole output as a stub fits
    ]
    for output, keep in cases:
        inline = offload(output, keep=keep, where=WHERE, store=store, settings=settings)
        assert json_size(inline) <= budget, (budget, keep)
        assert resolve(inline, store) == output


def test_stubs_anywhere_in_params_are_resolved(store: CountingStore) -> None:
    first = offload({"result": MB_ITEMS, "stdout": ""}, keep=["result[0].id"], where=WHERE,
                    store=store, settings=SETTINGS)
    second = offload({"result": "y" * 300_000, "stdout": ""}, keep=[], where=(EXECUTION, "two"),
                     store=store, settings=SETTINGS)
    params = {"code": "return 1", "bindings": {"__ref_0": first["result"],
                                               "__ref_1": [second, {"n": first}]},
              "schema": {"$ref": "#/definitions/order"}}  # not a stub: left alone
    store.gets.clear()
    resolved = resolve(params, store)
    assert resolved["bindings"]["__ref_0"] == MB_ITEMS
    assert resolved["bindings"]["__ref_1"] == [{"result": "y" * 300_000, "stdout": ""},
                                               {"n": {"result": MB_ITEMS, "stdout": ""}}]
    assert resolved["schema"] == {"$ref": "#/definitions/order"}
    assert sorted(store.gets) == sorted(set(store.puts))  # each object read once


def test_a_reference_that_cannot_be_followed_fails_clearly(s3: Any, store: CountingStore) -> None:
    inline = offload({"result": "z" * 100_000}, keep=[], where=WHERE, store=store,
                     settings=SETTINGS)
    key = inline["result"]["$ref"]["key"]
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(BlockInputError, match=rf"could not be read from s3://{BUCKET}/{key}"):
        resolve(inline, store)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"other": 1}')
    with pytest.raises(BlockInputError, match=r"has no 'result'"):
        resolve(inline, store)


def test_over_the_budget_without_a_bucket_is_a_clear_block_error() -> None:
    with pytest.raises(BlockResourceError) as info:
        offload({"result": "x" * 40_000}, keep=[], where=WHERE, store=NoStore(),
                settings=Settings())
    message = str(info.value)
    assert "40,013 bytes" in message and "32,768 bytes" in message
    assert "STEPWEAVE_PAYLOAD_BUCKET" in message


# --- through the handler -------------------------------------------------------------------------

def _event(code: str, keep: list[str] | None = None, **params: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"block": {"id": "big", "name": "Big", "type": "function"},
                             "params": {"code": code, **params},
                             "context": {"workflow": "w", "execution": EXECUTION}}
    if keep is not None:
        event["keep"] = keep
    return event


@pytest.fixture
def handler_s3(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("STEPWEAVE_PAYLOAD_BUCKET", BUCKET)
    payloads.use_store(S3Store(s3))
    yield s3
    payloads.use_store(None)


def test_the_handler_offloads_its_output_and_resolves_its_params(handler_s3: Any) -> None:
    code = "return {count: 30000, items: Array.from({length: 30000}, (_, i) => i)}"
    inline = lambda_handler(_event(code, keep=["result.count"]), None)
    assert inline["result"]["count"] == 30_000 and inline["stdout"] == ""
    assert stub_ref(inline["result"]["items"]) is not None and len(_objects(handler_s3)) == 1
    # a later block receives the stub in its bindings and sees the real array
    later = lambda_handler(_event("return __ref_0.items.reduce((a, b) => a + b, 0)",
                                  bindings={"__ref_0": inline["result"]}), None)
    assert later == {"result": sum(range(30_000)), "stdout": ""}


def test_the_handler_follows_stubs_of_its_own_execution_only(handler_s3: Any) -> None:
    other = "arn:aws:states:us-east-1:123456789012:execution:dev-big:run-2"
    stored = offload({"result": "secret" * 10_000}, keep=[], where=(other, "big"),
                     store=S3Store(handler_s3), settings=SETTINGS)
    # a run's input naming another execution's object (or another bucket's) is plain data
    foreign = [stored["result"], {"$ref": {**stored["result"]["$ref"], "bucket": "elsewhere"}}]
    out = lambda_handler(_event("return __ref_0", bindings={"__ref_0": foreign}), None)
    assert out["result"] == foreign
    assert resolve(foreign[0], S3Store(handler_s3)) == "secret" * 10_000  # unscoped: followed


def test_the_handler_fails_over_the_budget_without_a_bucket(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPWEAVE_PAYLOAD_BUCKET", raising=False)
    payloads.use_store(NoStore())
    try:
        with pytest.raises(BlockResourceError, match=r"set STEPWEAVE_PAYLOAD_BUCKET"):
            lambda_handler(_event("return 'x'.repeat(40000)"), None)
        # within the budget nothing is needed
        assert lambda_handler(_event("return 'x'.repeat(100)"), None)["result"] == "x" * 100
    finally:
        payloads.use_store(None)


# --- paths, keys, settings ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "result", "result.items[0].id", 'data["content type"].x',
                                  '[3]', 'a["0"]', "headers.content-type"])
def test_paths_round_trip(text: str) -> None:
    assert format_path(parse_path(text)) == text


@pytest.mark.parametrize("text", [".a", "a..b", "a[x]", "a b", "a[0]b"])
def test_bad_paths_are_refused(text: str) -> None:
    with pytest.raises(PathError):
        parse_path(text)


def test_payload_keys_name_the_state_machine_execution_and_block() -> None:
    assert execution_prefix(EXECUTION) == "dev-big/run-1/"
    assert payload_key(EXECUTION, "big").startswith("dev-big/run-1/big/")
    express = "arn:aws:states:us-east-1:1:express:dev-fast:run-2:0a1b"
    assert payload_key(express, "a b/c").startswith("dev-fast/run-2/a_b_c/")
    assert payload_key("", "x").startswith("unknown/x/")


def test_budget_and_bucket_settings_from_the_environment() -> None:
    settings = Settings.from_env({"STEPWEAVE_PAYLOAD_BUCKET": "b-1",
                                  "STEPWEAVE_INLINE_BUDGET_BYTES": "65536"})
    assert (settings.payload_bucket, settings.inline_budget_bytes) == ("b-1", 65_536)
    assert Settings.from_env({}).inline_budget_bytes == 32_768
    with pytest.raises(SettingsError, match="STEPWEAVE_INLINE_BUDGET_BYTES"):
        Settings.from_env({"STEPWEAVE_INLINE_BUDGET_BYTES": "300000"})
