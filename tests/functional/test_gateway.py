"""The local API Gateway: HTTP requests become REST proxy events; proxy responses go back."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stepweave.local.gateway import Gateway, Route


def _echo(event: dict[str, Any]) -> dict[str, Any]:
    body = base64.b64decode(event["body"]).decode() if event["isBase64Encoded"] else event["body"]
    seen = {k: event[k] for k in ("resource", "path", "httpMethod", "pathParameters",
                                  "queryStringParameters", "multiValueQueryStringParameters")}
    seen.update(body=body, requestId=event["requestContext"]["requestId"],
                header=event["headers"].get("X-Test"))
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Answer": "yes"},
            "body": json.dumps(seen)}


def _boom(event: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("handler bug")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    routes = [Route("GET", "/v1/executions/{id}", _echo), Route("POST", "/hooks/{proxy+}", _echo),
              Route("GET", "/boom", _boom)]
    with Gateway(routes, port=0, max_body=1024) as gateway:
        yield gateway.url


def test_a_request_becomes_a_rest_proxy_event(url: str) -> None:
    response = httpx.get(f"{url}/v1/executions/arn:aws:states:x:1:execution:a%20b?x=1&x=2&y=",
                         headers={"X-Test": "t"})
    assert response.status_code == 200 and response.headers["x-answer"] == "yes"
    seen = response.json()
    assert seen["resource"] == "/v1/executions/{id}" and seen["httpMethod"] == "GET"
    assert seen["pathParameters"] == {"id": "arn:aws:states:x:1:execution:a b"}
    assert seen["queryStringParameters"] == {"x": "2", "y": ""}
    assert seen["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert seen["header"] == "t" and seen["body"] is None and seen["requestId"]


def test_bodies_arrive_base64_encoded_byte_for_byte(url: str) -> None:
    seen = httpx.post(f"{url}/hooks/a/b", content='{"é": 1}'.encode()).json()
    assert seen["pathParameters"] == {"proxy": "a/b"} and seen["body"] == '{"é": 1}'


def test_gateway_errors_use_the_api_error_shape(url: str) -> None:
    for response, status, code in (
            (httpx.get(f"{url}/nowhere"), 404, "not_found"),
            (httpx.delete(f"{url}/v1/executions/x"), 405, "method_not_allowed"),
            (httpx.post(f"{url}/hooks/x", content=b"x" * 2048), 413, "too_large"),
            (httpx.get(f"{url}/boom"), 502, "internal")):
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
