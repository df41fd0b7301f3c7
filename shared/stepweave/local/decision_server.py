"""The decision function's routes on a local HTTP server (``http.server``, one thread per
request): the pages (``/approvals/{id}``) and ``/v1/approvals`` for programs.

Each request becomes an API Gateway proxy event for
``stepweave.runtime.decision_api.handle_decision``, the code the deployed decision function runs. ``stepweave run`` starts one while it waits for an
answer nobody gave on the command line (only that process holds the embedded engine's run);
``stepweave serve --aws`` starts one against the deployed table.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from stepweave.runtime.decision_api import handle_decision
from stepweave.runtime.decision_pages import MAX_BODY_BYTES
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["DecisionServer", "to_event"]


def to_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event for one HTTP request."""
    url = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    parts = url.path.strip("/").split("/")
    params = {"id": parts[1]} if len(parts) == 2 and parts[0] == "approvals" else None
    return {"httpMethod": method, "path": url.path, "resource": "/approvals/{id}",
            "pathParameters": params, "queryStringParameters": query or None,
            "headers": headers, "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body)}


class DecisionServer:
    """``with DecisionServer(clients, settings, port=8787) as server:`` serves until the block ends."""

    def __init__(self, clients: Clients, settings: Settings, host: str = "127.0.0.1",
                 port: int = 8787, log: TextIO | None = None) -> None:
        self.clients, self.settings, self.log = clients, settings, log
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True  # idle (pre)connections never block a stop
        self._thread: threading.Thread | None = None
        self._busy = 0  # requests being answered (stop lets them finish)
        self._idle = threading.Condition()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> DecisionServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="stepweave-pages",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop serving; a request being answered (a decision whose run then ends) still gets
        its page, for up to ``grace_s``."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace_s)
        self._server.server_close()

    def __enter__(self) -> DecisionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "stepweave"
            sys_version = ""

            def _serve(self) -> None:
                with server._idle:
                    server._busy += 1
                try:
                    self._answer()
                finally:
                    with server._idle:
                        server._busy -= 1
                        server._idle.notify_all()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self.send_error(413, "request too large")
                    return
                body = self.rfile.read(length) if length > 0 else b""
                event = to_event(self.command, self.path, dict(self.headers.items()), body)
                response = handle_decision(event, clients=server.clients, settings=server.settings)
                data = str(response.get("body") or "").encode("utf-8")
                self.send_response(int(response["statusCode"]))
                for name, value in (response.get("headers") or {}).items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                if server.log is not None:
                    print(f"pages: {format % args}", file=server.log)

        return Handler
