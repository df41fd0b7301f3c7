"""A fake provider API on 127.0.0.1 for the integration tests: it records every request
(method, path, query, headers, JSON or form body) and answers each ``METHOD /path`` from a
script of replies, in order (the last one repeats); a reply may also be a function of the
request (a fake model answering what it is asked). ``{server}`` in a reply's headers or
body is the server's own URL (a GitHub ``Link`` header naming the next page)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

#: (status, headers, body: JSON-able, str sent as text, or bytes sent as they are), or a
#: function of the recorded request returning one
Reply = Any


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[Reply]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                kind = self.headers.get("content-type") or ""
                body: Any = None
                if raw and "json" in kind:
                    body = json.loads(raw)
                elif raw:
                    body = dict(parse_qsl(raw.decode()))
                request = {
                    "method": self.command, "path": path,
                    "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                    "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                fake.requests.append(request)
                queue = fake.script.get(f"{self.command} {path}") or [
                    (599, {}, {"error": f"unscripted {self.command} {path}"})]
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                status, headers, answer = reply(request) if callable(reply) else reply
                if isinstance(answer, bytes):  # a file, sent as it is
                    data, kind = answer, "application/octet-stream"
                else:
                    text = answer if isinstance(answer, str) else json.dumps(answer)
                    data = text.replace("{server}", fake.url).encode()
                    kind = "text/plain" if isinstance(answer, str) else "application/json"
                self.send_response(status)
                if not any(k.lower() == "content-type" for k in headers):
                    self.send_header("content-type", kind)
                for key, value in headers.items():
                    self.send_header(key, value.replace("{server}", fake.url))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reset(self, script: dict[str, list[Reply]] | None = None) -> None:
        self.requests.clear()
        self.script = {k: list(v) for k, v in (script or {}).items()}


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    fake = FakeApi()
    threading.Thread(target=fake.httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()
