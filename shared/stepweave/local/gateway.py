"""A local API Gateway: HTTP on 127.0.0.1 -> REST proxy events -> the same handler code.

A route table maps (method, resource template) to a handler callable taking an API Gateway
(REST, proxy integration) event and returning a proxy response, as the Lambda functions
behind the deployed ``StepweaveApi`` do. Templates are API Gateway's: ``/v1/executions/{id}``
(one segment per parameter, URL-decoded) and ``/webhooks/{proxy+}`` (the rest of the path).
Events carry ``resource``, ``path``, ``httpMethod``, ``headers`` and ``multiValueHeaders``,
``queryStringParameters`` and their multi-value form, ``pathParameters``, the body base64-
encoded (``isBase64Encoded``) and a ``requestContext`` with a fresh ``requestId``.

No route: 404, a route of another method: 405, a body over ``max_body``: 413, a
``Content-Length`` that is not a decimal number: 400, a chunked body (API Gateway's REST
proxy needs a length): 411, a handler that raises: 502 -- each with the API's error body
(``stepweave.api.errors``). The listen queue holds ``LISTEN_BACKLOG`` connections (a burst of
clients waits instead of being reset) and a client that stops sending is dropped after
``READ_TIMEOUT_S``.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from stepweave.api.errors import error_response
from stepweave.api.sim_routes import SIM_ROUTES

__all__ = ["LISTEN_BACKLOG", "MAX_BODY_BYTES", "READ_TIMEOUT_S", "Gateway", "Handler", "Route", "decision_routes", "match", "stepweave_routes",
           "to_event"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]
#: API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Connections waiting to be accepted (the kernel caps it at ``net.core.somaxconn``).
LISTEN_BACKLOG = 1024
#: A connection that sends nothing for this long (a stalled body, an idle keep-alive) is closed.
READ_TIMEOUT_S = 60.0
_LENGTH = re.compile(r"[0-9]{1,19}")


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True  # idle (keep-alive, pre-)connections never block a stop


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    resource: str  # /v1/executions/{id}
    handler: Handler

    def pattern(self) -> re.Pattern[str]:
        parts = []
        for segment in self.resource.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            single = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif single:
                parts.append(f"(?P<{single.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        return re.compile("^/" + "/".join(parts) + "/?$")


def match(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | str:
    """The route and its path parameters, else ``"not_found"`` or ``"method_not_allowed"``."""
    found_path = False
    for route in routes:
        matched = route.pattern().match(path)
        if matched is None:
            continue
        found_path = True
        if route.method in (method, "ANY") or (method == "HEAD" and route.method == "GET"):
            return route, {k: unquote(v) for k, v in matched.groupdict().items()}
    return "method_not_allowed" if found_path else "not_found"


def to_event(method: str, target: str, headers: dict[str, str], body: bytes, *, resource: str,
             path_parameters: dict[str, str] | None, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """An API Gateway (REST, proxy) event for one HTTP request."""
    url = urlsplit(target)
    multi_query = parse_qs(url.query, keep_blank_values=True)
    path = unquote(url.path) if "%2F" not in url.path.upper() else url.path
    now = time.time()
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": dict(headers), "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {
            "resourcePath": resource, "httpMethod": method, "path": f"/local{path}", "stage": "local",
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(now * 1000),
            "protocol": "HTTP/1.1", "accountId": "123456789012", "apiId": "local",
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


class Gateway:
    """``with Gateway(routes, port=0) as gw:`` serves ``gw.url`` until the block ends."""

    def __init__(self, routes: Sequence[Route], host: str = "127.0.0.1", port: int = 8787,
                 log: TextIO | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.routes, self.log, self.max_body = list(routes), log, max_body
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None
        self._busy = 0  # requests being answered: stop lets them finish
        self._idle = threading.Condition()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Gateway:
        self._thread = threading.Thread(target=self._server.serve_forever, name="stepweave-gateway",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop serving; a request being answered (e.g. a decision whose run then ends) still
        gets its response, for up to ``grace_s``."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace_s)
        self._server.server_close()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """The proxy response of one request (what the HTTP server writes back)."""
        found = match(self.routes, method, urlsplit(target).path)
        if found == "not_found":
            return error_response(404, "not_found", f"no route {method} {urlsplit(target).path}")
        if found == "method_not_allowed":
            return error_response(405, "method_not_allowed", f"{method} is not allowed here")
        assert not isinstance(found, str)
        route, params = found
        event = to_event(method, target, headers, body, resource=route.resource, path_parameters=params)
        try:
            return route.handler(event)
        except Exception as exc:
            logger.exception("handler failed", extra={"error": type(exc).__name__})
            return error_response(502, "internal", "the handler failed")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class HttpHandler(BaseHTTPRequestHandler):
            server_version = "stepweave"
            sys_version = ""
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
            timeout = READ_TIMEOUT_S

            def _serve(self) -> None:
                with gateway._idle:
                    gateway._busy += 1
                try:
                    self._answer()
                finally:
                    with gateway._idle:
                        gateway._busy -= 1
                        gateway._idle.notify_all()

            def _refuse(self, status: int, code: str, message: str) -> None:
                self._write(error_response(status, code, message))
                self.close_connection = True  # what follows on the connection is not a request

            def _answer(self) -> None:
                if self.headers.get("Transfer-Encoding"):
                    self._refuse(411, "length_required", "send the body with a Content-Length "
                                                         "(chunked bodies are not accepted)")
                    return
                given = self.headers.get_all("Content-Length") or []
                if len(given) > 1 or (given and not _LENGTH.fullmatch(given[0].strip())):
                    self._refuse(400, "invalid_input", "Content-Length must be one decimal number")
                    return
                length = int(given[0]) if given else 0
                if length > gateway.max_body:
                    self._write(error_response(413, "too_large", f"the request body is over "
                                                                 f"{gateway.max_body} bytes"))
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length > 0 else b""
                self._write(gateway.dispatch(self.command, self.path, dict(self.headers.items()), body))

            def _write(self, response: dict[str, Any]) -> None:
                raw = response.get("body") or ""
                data = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
                self.send_response(int(response["statusCode"]))
                for name, value in (response.get("headers") or {}).items():
                    if name.lower() != "content-length":
                        self.send_header(name, str(value))
                for name, values in (response.get("multiValueHeaders") or {}).items():
                    if name not in (response.get("headers") or {}):
                        for value in values:
                            self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                if gateway.log is not None:
                    print(f"gateway: {format % args}", file=gateway.log)

        return HttpHandler


def stepweave_routes(run_api: Handler, *, ingest: Handler | None = None,
                     decision: Handler | None = None) -> list[Route]:
    """The routes of the deployed ``StepweaveApi`` (``infra/constructs/api.py``)."""
    routes = [
        Route("GET", "/health", run_api),
        Route("POST", "/v1/workflows/{workflow}/executions", run_api),
        Route("POST", "/v1/workflows/{workflow}/run", run_api),
        Route("GET", "/v1/executions", run_api),
        Route("GET", "/v1/executions/{id}", run_api),
        Route("POST", "/v1/executions/{id}/cancel", run_api),
        Route("POST", "/v1/executions/{id}/rerun", run_api),
        Route("POST", "/v1/executions/{id}/retry", run_api),
        *(Route(method, path, run_api) for method, path in SIM_ROUTES),
    ]
    if ingest is not None:
        routes.append(Route("POST", "/webhooks/{workflow}", ingest))
    if decision is not None:
        routes += decision_routes(decision)
    return routes


def decision_routes(decision: Handler) -> list[Route]:
    """The decision function's routes: the pages and ``/v1/approvals``."""
    return [Route("GET", "/approvals/{id}", decision), Route("POST", "/approvals/{id}", decision),
            Route("GET", "/v1/approvals", decision), Route("POST", "/v1/approvals/{id}/decision", decision)]
