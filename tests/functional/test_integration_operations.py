"""Every integration operation against a fake server speaking its provider's wire format.

One fake server (``tests/fakeapi.py``) serves the whole module; each provider's fixture
(``tests/fixtures/integrations/<provider>.json``) scripts the answers (status codes, pages,
errors, rate limits) and says what each call must send and return. Calls go through the
tool block's handler (``run_tool_block``), as a deployed ``tool`` block runs them: the
credentials are the tool's default ``{{SECRETS}}``, OAuth2 access tokens come from the fake
token endpoint. GIVEN a case THEN the requests are exactly the expected ones (method, path,
query, body; headers as listed), the output is the expected one, and an error is the
expected error class with the provider's message and no secret in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepweave.blocks.tool_block import run_tool_block
from stepweave.errors import BlockError
from stepweave.integrations import oauth
from stepweave.integrations.registry import load_operation, operation_index
from stepweave.runtime.settings import Settings
from tests.authored import authored
from tests.conftest import ROOT
from tests.fakeapi import FakeApi, fake_api

FIXTURES = ROOT / "tests" / "fixtures" / "integrations"


def _cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text(encoding="utf-8"))
        for case in fixture["cases"]:
            out.append((path.stem, fixture, case))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


def _call(server: FakeApi, fixture: dict[str, Any], case: dict[str, Any], tmp_path: Path,
          waits: list[float]) -> dict[str, Any]:
    operation = load_operation(case["tool"])
    params = {**case["params"], "baseUrl": server.url + fixture.get("base_path", "")}
    if operation.provider.auth.type == "oauth2":
        params["tokenUrl"] = server.url + "/token"
    # as a deployed block: only the secrets the compiler lets this block read (its tool's)
    filled, scope = authored("tool", {"tool": case["tool"], "params": params}, fixture["secrets"])
    return run_tool_block(filled, scope, settings=Settings(local_dir=tmp_path),
                          sleep=waits.append)


def _check_requests(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [f"{r['method']} {r['path']}" for r in actual] == [
        f"{r['method']} {r['path']}" for r in expected]
    for got, want in zip(actual, expected, strict=True):
        where = f"{want['method']} {want['path']}"
        assert got["query"] == want.get("query", {}), where
        assert got["body"] == want.get("body"), where
        for name, value in want.get("headers", {}).items():
            assert got["headers"].get(name.lower()) == value, f"{where}: header {name}"


@pytest.mark.parametrize(("provider", "fixture", "case"), CASES,
                         ids=[f"{p}:{c['name']}" for p, _, c in CASES])
def test_an_operation_speaks_its_providers_wire_format(server: FakeApi, provider: str,
                                                       fixture: dict[str, Any],
                                                       case: dict[str, Any],
                                                       tmp_path: Path) -> None:
    oauth.clear_cache()
    server.reset({key: [tuple(r) for r in replies]  # type: ignore[misc]
                  for key, replies in case["replies"].items()})
    waits: list[float] = []
    if "error" in case:
        with pytest.raises(BlockError) as info:
            _call(server, fixture, case, tmp_path, waits)
        message = str(info.value)
        assert type(info.value).__name__ == case["error"]["class"], message
        assert case["error"]["message"] in message
        for secret in fixture["secrets"].values():
            assert secret not in message
    else:
        output = _call(server, fixture, case, tmp_path, waits)
        assert output == case["output"]
        assert not any(s in json.dumps(output) for s in fixture["secrets"].values())
    _check_requests(server.requests, case["requests"])
    if case.get("waits", []) is not None:  # Retry-After hints honoured, nothing else waited
        assert waits == case.get("waits", [])


def test_every_operation_has_a_fake_server_case() -> None:
    covered = {case["tool"] for _, _, case in CASES}
    assert sorted(set(operation_index()) - covered) == []
