"""A real HTTP server on 127.0.0.1 for tests: it records each request and answers with what
``respond`` says (status, body, and a delay before answering)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


#: request -> (status, body, seconds to wait before answering)
Respond = Callable[[Request], tuple[int, bytes, float]]


class Loopback(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Respond) -> None:
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                request = Request(self.command, self.path,
                                  self.rfile.read(int(self.headers.get("Content-Length") or 0)),
                                  tuple(self.headers.items()))
                server.requests.append(request)
                status, body, delay = respond(request)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            do_GET = do_POST  # noqa: N815 - http.server's name
            do_PATCH = do_POST  # noqa: N815 - http.server's name

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def loopback(respond: Respond) -> Iterator[Loopback]:
    server = Loopback(respond)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
