"""The api block: its request/response behaviour and its Lambda handler."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import httpx
import pytest
from aws_lambda_powertools.logging import Logger
from stepweave.tools.request import run_api
from stepweave.blocks.entry import run_block
from stepweave.compiler.secrets import plan_secrets
from stepweave.errors import BlockInputError, HttpStatusError, HttpTransportError

from functions.api.handler import lambda_handler

Handler = Callable[[httpx.Request], httpx.Response]
_LOGGER = Logger(service="stepweave-test")


class Recorder:
    """A MockTransport that records requests and answers from a script of handlers."""

    def __init__(self, *answers: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self._answers = list(answers)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        return answer(request)

    def run(self, params: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``params`` as written by a workflow author: compiled (their ``{{NAME}}``
        secrets become templates) and run by the handler's entry with ``env`` set."""
        plan = plan_secrets("api", params)
        event = {**_event(plan.params), "secrets": plan.event_field() or {}}
        with mock.patch.dict(os.environ, env or {}):
            return run_block(_LOGGER, event,
                             lambda p, _s: run_api(p, transport=self.transport,
                                                   sleep=self.sleeps.append),
                             started=lambda _p: {}, finished=lambda _o: {})


def _status(code: int, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(code, **kwargs)


def test_json_body_is_parsed_and_headers_are_lowercase() -> None:
    rec = Recorder(_status(200, json={"id": 7}, headers={"X-Request-Id": "abc"}))
    out = rec.run({"url": "https://api.example.com/items/7"})
    assert out["data"] == {"id": 7}
    assert out["status"] == 200
    assert out["headers"]["x-request-id"] == "abc"
    assert out["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in out["headers"])
    assert rec.requests[0].method == "GET"


def test_text_body_stays_text() -> None:
    rec = Recorder(_status(201, text='{"looks": "json"}', headers={"Content-Type": "text/plain"}))
    out = rec.run({"url": "https://api.example.com/notes", "method": "post", "body": {"a": 1}})
    assert out["data"] == '{"looks": "json"}'
    assert out["status"] == 201


@pytest.mark.parametrize(
    "shape",
    [
        {"q": "term", "page": 2},
        [{"key": "q", "value": "term"}, {"key": "page", "value": 2}, {"key": "", "value": "x"}],
        [
            {"id": "r1", "cells": {"Key": "q", "Value": "term"}},
            {"id": "r2", "cells": {"Key": "page", "Value": "2"}},
            {"id": "r3", "cells": {"Key": "", "Value": ""}},
        ],
    ],
)
def test_query_and_header_shapes(shape: Any) -> None:
    rec = Recorder(_status(200, json={}))
    headers = [{"cells": {"Key": "X-Api-Key", "Value": "k1"}}, {"cells": {"Key": "", "Value": ""}}]
    rec.run({"url": "https://api.example.com/search?lang=en", "params": shape, "headers": headers})
    sent = rec.requests[0]
    assert list(sent.url.params.multi_items()) == [("lang", "en"), ("q", "term"), ("page", "2")]
    assert sent.headers["x-api-key"] == "k1"


def test_body_string_that_looks_like_json_is_sent_as_json() -> None:
    rec = Recorder(_status(200, json={"ok": True}))
    body = '{"name": "{{USER_NAME}}", "tags": ["a"], "n": {{COUNT}}}'
    rec.run(
        {"url": "https://api.example.com/users", "method": "POST", "body": body},
        env={"USER_NAME": "Ann the Admin", "COUNT": "3"},
    )
    sent = rec.requests[0]
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"name": "Ann the Admin", "tags": ["a"], "n": 3}


def test_plain_string_body_is_sent_as_text() -> None:
    rec = Recorder(_status(200, text="ok"))
    rec.run(
        {"url": "https://api.example.com/x", "method": "PUT", "body": "hello {{WHO}}"},
        env={"WHO": "world"},
    )
    assert rec.requests[0].content == b"hello world"
    assert rec.requests[0].headers["content-type"].startswith("text/plain")


def test_env_placeholders_are_substituted_everywhere() -> None:
    rec = Recorder(_status(200, json={}))
    env = {"HOST": "api.example.com", "TOKEN": "s3cr3t", "REGION": "eu"}
    rec.run(
        {
            "url": "https://{{HOST}}/v1",
            "params": {"region": "{{REGION}}", "other": "{{UNSET_NAME}}"},
            "headers": {"Authorization": "Bearer {{ TOKEN }}"},
            "body": {"nested": ["{{REGION}}"]},
            "method": "PATCH",
        },
        env=env,
    )
    sent = rec.requests[0]
    assert sent.url.host == "api.example.com"
    assert sent.url.params["region"] == "eu"
    assert sent.url.params["other"] == "{{UNSET_NAME}}"
    assert sent.headers["authorization"] == "Bearer s3cr3t"
    assert json.loads(sent.content) == {"nested": ["eu"]}


def test_503_then_200_honours_retry_after() -> None:
    rec = Recorder(
        _status(503, headers={"Retry-After": "2"}),
        _status(429, headers={"Retry-After": "120"}),
        _status(200, json={"done": True}),
    )
    out = rec.run({"url": "https://api.example.com/flaky", "retries": 3})
    assert out["data"] == {"done": True}
    assert len(rec.requests) == 3
    assert rec.sleeps == [2.0, 30.0]  # the second hint is capped at retryMaxDelayMs


def test_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    rec = Recorder(_status(503, headers={"Retry-After": when}), _status(200, json={}))
    rec.run({"url": "https://api.example.com/flaky", "retries": 1})
    assert len(rec.sleeps) == 1 and 15 < rec.sleeps[0] <= 20


def test_exponential_backoff_is_capped_and_retries_are_bounded() -> None:
    rec = Recorder(_status(500, text="down"))
    params = {
        "url": "https://api.example.com/down",
        "retries": 4,
        "retryDelayMs": 100,
        "retryMaxDelayMs": 250,
    }
    with pytest.raises(HttpStatusError):
        rec.run(params)
    assert len(rec.requests) == 5
    assert rec.sleeps == [0.1, 0.2, 0.25, 0.25]


def test_post_is_not_retried_by_default() -> None:
    rec = Recorder(_status(503), _status(200, json={}))
    with pytest.raises(HttpStatusError):
        rec.run({"url": "https://api.example.com/orders", "method": "POST", "retries": 3})
    assert len(rec.requests) == 1
    assert rec.sleeps == []


def test_post_is_retried_when_allowed() -> None:
    rec = Recorder(_status(503), _status(200, json={"id": 1}))
    out = rec.run(
        {
            "url": "https://api.example.com/orders",
            "method": "POST",
            "retries": 3,
            "retryNonIdempotent": True,
        }
    )
    assert out["data"] == {"id": 1}
    assert rec.sleeps == [0.5]


def test_client_errors_are_not_retried() -> None:
    rec = Recorder(_status(400, json={"message": "bad"}))
    with pytest.raises(HttpStatusError):
        rec.run({"url": "https://api.example.com/x", "retries": 3})
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error", "hint"),
    [
        (_status(404, json={"error": "No such item"}), "No such item",
         " - The requested resource was not found"),
        (_status(422, json={"message": "Field 'name' is required"}), "Field 'name' is required", ""),
        (_status(500, text="x" * 600), "x" * 500,
         " - Server error, the target server is experiencing issues"),
        (_status(502), "Bad Gateway", " - Server error, the target server is experiencing issues"),
    ],
)
def test_non_2xx_message_format(answer: Handler, error: str, hint: str) -> None:
    rec = Recorder(answer)
    status = answer(httpx.Request("GET", "https://x")).status_code
    reason = httpx.codes.get_reason_phrase(status)
    with pytest.raises(HttpStatusError) as caught:
        rec.run({"url": "https://api.example.com/items", "params": {"page": 2}})
    assert str(caught.value) == (
        f"HTTP Request failed: URL: https://api.example.com/items?page=2 | Method: GET"
        f" | Error: {error} | Status: {status} | Status text: {reason}{hint}"
    )


def test_error_messages_never_show_secrets() -> None:
    rec = Recorder(_status(401, json={"error": "token s3cr3t is revoked"}))
    with pytest.raises(HttpStatusError) as caught:
        rec.run({"url": "https://api.example.com/me?key={{TOKEN}}"}, env={"TOKEN": "s3cr3t"})
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert "URL: https://api.example.com/me?key=*** |" in message
    assert "Error: token *** is revoked" in message


def test_empty_url_makes_no_request() -> None:
    rec = Recorder(_status(500))
    assert rec.run({"url": "", "method": "POST"}) == {"data": None, "status": 200, "headers": {}}
    assert rec.requests == []


def test_timeout_becomes_transport_error_after_retries() -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    rec = Recorder(too_slow)
    with pytest.raises(HttpTransportError) as caught:
        rec.run({"url": "https://api.example.com/slow", "retries": 2, "retryDelayMs": 10})
    assert len(rec.requests) == 3
    assert rec.sleeps == [0.01, 0.02]
    assert str(caught.value) == (
        "HTTP Request failed: URL: https://api.example.com/slow | Method: GET"
        " | Error: ReadTimeout: timed out"
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"url": "ftp://example.com/file"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://[::1/broken"}, "url"),
        ({"url": "https://example.com", "method": "FETCH"}, "method"),
        ({"url": "https://example.com", "timeout": 600_001}, "timeout"),
        ({"url": "https://example.com", "retries": 11}, "retries"),
        ({"url": "https://example.com", "headers": "X-A: 1"}, "headers"),
    ],
)
def test_bad_params_are_input_errors(params: dict[str, Any], name: str) -> None:
    rec = Recorder(_status(200))
    with pytest.raises(BlockInputError, match=f"'{name}'"):
        rec.run(params)
    assert rec.requests == []


class _LocalApi(BaseHTTPRequestHandler):
    """Echoes the request as JSON; ``/slow`` answers late."""

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")})
        payload = body.encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("X-Served-By", "Local")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture()
def local_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LocalApi)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _event(params: dict[str, Any], secrets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "block": {"id": "enrich", "name": "Enrich", "type": "api"},
        "params": params,
        "context": {"workflow": "support-timeline", "execution": "arn:aws:states:x:run-1"},
        **({"secrets": secrets} if secrets else {}),
    }


def test_real_request_through_the_lambda_handler(
    local_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPWEAVE_TEST_TOKEN", "tok-123")
    out = lambda_handler(
        _event(
            {
                "url": f"{local_api}/tickets",
                "params": [{"key": "id", "value": "42"}],
                "headers": {"Authorization": ["Bearer ", "STEPWEAVE_TEST_TOKEN", ""]},
            },
            {"names": ["STEPWEAVE_TEST_TOKEN"], "at": [["headers", "Authorization"]]},
        ),
        None,
    )
    assert out["status"] == 200
    assert out["data"] == {"path": "/tickets?id=42", "auth": "Bearer tok-123"}
    assert out["headers"]["x-served-by"] == "Local"


def test_real_timeout_through_the_lambda_handler(local_api: str) -> None:
    with pytest.raises(HttpTransportError, match=r"Error: ReadTimeout"):
        lambda_handler(_event({"url": f"{local_api}/slow", "timeout": 100}), None)


def test_invalid_event_is_a_clear_block_input_error() -> None:
    with pytest.raises(BlockInputError, match=r"^Invalid block event: .*params"):
        lambda_handler({**_event({}), "params": "not an object"}, None)


def test_every_encoding_of_a_secret_is_masked_in_errors() -> None:
    """A service echoing what it got (URL-encoded, base64, JSON-escaped) shows no secret."""
    import base64

    secret = 'p@ss/w"rd+1'

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={
            "error": f"bad key {request.url.raw_path.decode()} "
                     f"b64={base64.b64encode(secret.encode()).decode()} "
                     f"json={json.dumps(secret)} form={request.url.params['k']}"})

    rec = Recorder(echo)
    with pytest.raises(HttpStatusError) as caught:
        rec.run({"url": "https://api.example.com/keys/{{KEY}}", "params": {"k": "{{KEY}}"}},
                env={"KEY": secret})
    message = str(caught.value)
    for form in (secret, "p%40ss%2Fw%22rd%2B1", base64.b64encode(secret.encode()).decode(),
                 json.dumps(secret)[1:-1]):
        assert form not in message, form
    assert message.count("***") >= 4


def test_data_is_never_scanned_for_placeholders_even_for_declared_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the templates the compiler listed are filled: a declared secret's name arriving
    as a value (here the body a reference resolved to) stays as written."""
    monkeypatch.setenv("KEY", "k-123456")
    rec = Recorder(_status(200, json={}))
    event = {**_event({"url": ["https://api.example.com/", "KEY", ""], "method": "POST",
                       "body": {"note": "{{KEY}}"}}),
             "secrets": {"names": ["KEY"], "at": [["url"]]}}
    run_block(_LOGGER, event, lambda p, _s: run_api(p, transport=rec.transport),
              started=lambda _p: {}, finished=lambda _o: {})
    sent = rec.requests[0]
    assert str(sent.url) == "https://api.example.com/k-123456"
    assert json.loads(sent.content) == {"note": "{{KEY}}"}
