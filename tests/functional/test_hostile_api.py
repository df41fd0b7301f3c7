"""The run API, the approvals API, the decision pages and the local gateway against hostile
input, over real HTTP.

GIVEN workflows served by ``LocalApi`` behind ``Gateway`` on 127.0.0.1 (the embedded engine),
WHEN a client sends forged cursors, bodies that break parsers, non-finite numbers, a
malformed ``Content-Length`` or a burst of connections, THEN each gets a 4xx JSON answer (or
its real answer), never a 500 or a reset; and a synchronous run whose output was stored in
the payload bucket answers with the data itself.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.gateway import Gateway, Route
from tests.engine.helpers import compile_text

ECHO = """
name: echo
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: r, name: Respond, type: response, params: {data: {n: "<start.n>"}, status: 200}}
edges: [start -> r]
"""
BIG = """
name: big
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: size, type: number}]}}
  - {id: make, name: Make, type: function, params: {code: "return 'x'.repeat(<start.size>)"}}
  - {id: r, name: Respond, type: response, params: {data: {text: "<make.result>"}, status: 201}}
edges: [start -> make, make -> r]
"""
REFUND = """
name: refund
blocks:
  - {id: start, type: start}
  - {id: ask, name: Approval, type: approval,
     params: {approvers: [lead@example.com], subject: "Refund?",
              form: [{name: approved, type: boolean, required: true}, {name: amount, type: number},
                     {name: extra, type: object}]}}
  - {id: done, name: Done, type: function, params: {code: "return <approval.amount>"}}
edges: [start -> ask, ask -> done]
"""


@dataclass
class Api:
    url: str
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    workflows = {w.name: w for w in map(compile_text, (ECHO, BIG, REFUND))}
    with LocalEngine() as engine, LocalApi(engine, workflows, sync_timeout_s=20.0, poll_s=0.02) as local, \
            Gateway(local.routes, port=0) as gateway:
        yield Api(gateway.url, local.api_key(tenant="acme"))


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    return error


# --- forged cursors -------------------------------------------------------------------------------

SCOPE = {"t": "acme", "w": None, "s": None, "from": None, "to": None}


@pytest.mark.parametrize("cursor", [
    "not-base64!!",
    "AAAA",
    _cursor([1, 2]),
    _cursor({**SCOPE, "after": {"pk": {"S": "x"}, "sk": 1, "gsi2pk": [], "gsi2sk": None}}),
    _cursor({**SCOPE, "after": {"pk": "EXEC#x"}}),
    _cursor({**SCOPE, "after": {"pk": "", "sk": "", "gsi2pk": "", "gsi2sk": ""}}),
    _cursor({**SCOPE, "after": {"pk": "EXEC#x", "sk": "META", "gsi2pk": "TENANT#globex", "gsi2sk": "2025"}}),
    _cursor({**SCOPE, "after": "2025-01-01"}),
    base64.urlsafe_b64encode(b"[" * 1500).decode(),
])
def test_forged_cursors_are_a_400(api: Api, cursor: str) -> None:
    error = _error(api.call("GET", "/v1/executions", params={"cursor": cursor}), 400)
    assert error["code"] == "invalid_input" and "cursor" in error["message"]


def test_a_real_cursor_still_pages(api: Api) -> None:
    for n in range(3):
        assert api.call("POST", "/v1/workflows/echo/executions", json={"input": {"n": n}}).status_code == 202
    first = api.call("GET", "/v1/executions", params={"limit": 1}).json()
    assert first["nextCursor"]
    second = api.call("GET", "/v1/executions", params={"limit": 1, "cursor": first["nextCursor"]})
    assert second.status_code == 200 and second.json()["items"][0] != first["items"][0]


def test_the_approvals_list_takes_no_cursor_and_never_fails_on_one(api: Api) -> None:
    response = api.call("GET", "/v1/approvals", params={"cursor": "not-base64!!"})
    assert response.status_code == 200, response.text


# --- bodies that break parsers ----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    (b'{"input": {"n": 1e400}}', "input.n: not a finite number"),
    (b'{"input": {"n": NaN}}', "input.n: not a finite number"),
    (b'{"input": {"n": ' + b"9" * 5000 + b"}}", "input.n: not a finite number"),
    (b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than"),
])
def test_run_api_bodies_out_of_bounds_are_a_400(api: Api, body: bytes, message: str) -> None:
    for route in ("executions", "run"):
        error = _error(api.call("POST", f"/v1/workflows/echo/{route}", content=body), 400)
        assert error["code"] == "invalid_input" and message in error["message"]


# --- synchronous runs with stored output ------------------------------------------------------------

def test_run_answers_with_the_data_of_an_output_stored_in_the_payload_bucket(api: Api) -> None:
    response = api.call("POST", "/v1/workflows/big/run", json={"input": {"size": 100_000}})
    assert response.status_code == 201, response.text[:500]
    assert response.json() == {"text": "x" * 100_000}


def test_run_over_the_response_size_limit_fails_clearly(api: Api) -> None:
    response = api.call("POST", "/v1/workflows/big/run", json={"input": {"size": 6_500_000}})
    error = _error(response, 502)
    assert error["code"] == "output_unavailable" and "over" in error["message"]
    assert error["executionId"].startswith("arn:aws:states:")


# --- approval decisions ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pending(api: Api) -> dict[str, Any]:
    assert api.call("POST", "/v1/workflows/refund/executions", json={"input": {}}).status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        approvals = api.call("GET", "/v1/approvals").json()["approvals"]
        if approvals:
            found: dict[str, Any] = approvals[0]
            return found
        time.sleep(0.1)
    raise AssertionError("the approval never showed up")


@pytest.mark.parametrize(("submission", "field"), [
    ('{"approved": true, "amount": 1e400}', "amount"),
    ('{"approved": true, "amount": NaN}', "amount"),
    ('{"approved": true, "amount": -Infinity}', "amount"),
    ('{"approved": true, "extra": {"deep": [1, NaN]}}', "extra"),
])
def test_decisions_with_non_finite_numbers_are_a_400_naming_the_field(
        api: Api, pending: dict[str, Any], submission: str, field: str) -> None:
    response = api.call("POST", f"/v1/approvals/{pending['id']}/decision",
                        content=f'{{"submission": {submission}}}'.encode())
    error = _error(response, 400)
    assert field in error["message"], error


def test_the_form_refuses_non_finite_numbers_and_nested_json(api: Api, pending: dict[str, Any]) -> None:
    page = httpx.get(f"{api.url}/approvals/{pending['id']}", timeout=30)
    token = re.search(r'name="csrfToken" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    for field, value, expected in (("amount", "1e400", "'amount' must be a finite number"),
                                   ("amount", "nan", "'amount' must be a finite number"),
                                   ("extra", "[" * 15_000, "nested deeper than")):
        form = {"csrfToken": token.group(1), "approved": "true", field: value}
        response = httpx.post(f"{api.url}/approvals/{pending['id']}", data=form, timeout=30)
        assert response.status_code == 400, response.text[:500]
        assert expected in response.text.replace("&#x27;", "'")


def test_a_finite_decision_still_decides(api: Api, pending: dict[str, Any]) -> None:
    response = api.call("POST", f"/v1/approvals/{pending['id']}/decision",
                        json={"submission": {"approved": True, "amount": 12.5}})
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["output"]["amount"] == 12.5


# --- the local gateway ----------------------------------------------------------------------------

def _ok(event: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Gateway([Route("GET", "/ok", _ok), Route("POST", "/ok", _ok)], port=0) as served:
        yield served


def _raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b"\xd9\xa1", b"5, 5"])
def test_a_malformed_content_length_is_answered_400(gateway: Gateway, length: bytes) -> None:
    answer = _raw(gateway.port, b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\nhello")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"invalid_input"' in answer


def test_a_chunked_body_is_answered_411(gateway: Gateway) -> None:
    answer = _raw(gateway.port, b"POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411"), answer[:200]


def test_two_hundred_concurrent_clients_are_all_answered(gateway: Gateway) -> None:
    clients = 200
    barrier = threading.Barrier(clients)
    results: list[str] = []

    def client() -> None:
        barrier.wait()
        try:
            answer = _raw(gateway.port, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
            results.append(answer[:12].decode())
        except OSError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(results) == {"HTTP/1.1 200": clients}
