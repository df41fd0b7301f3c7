"""A stand-in for a company's internal customer and timeline APIs (stdlib only).

    python examples/internal_api.py --port 8765

GET  /customers/{id}  -> the customer, with lifetime value and tier
POST /timeline        -> stores the event, answers 201 {"id": "evt-..."}
GET  /timeline        -> every event posted so far
POST /refunds         -> records the refund, answers 201 {"id": "ref-...", "status": "issued"}
GET  /refunds         -> every refund issued so far
GET  /health          -> {"ok": true}
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CUSTOMERS = {
    "207119551": {"id": 207119551, "name": "Ada Lovelace", "email": "ada@example.com",
                  "lifetime_value": 4210.5, "orders": 37, "tier": "gold"},
    "115310627": {"id": 115310627, "name": "Bob Builder", "email": "bob@example.com",
                  "lifetime_value": 120.0, "orders": 2, "tier": "none"},
}


class _Handler(BaseHTTPRequestHandler):
    server: "InternalApi"

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            self._send(200, {"ok": True})
        elif self.path.startswith("/customers/"):
            customer = CUSTOMERS.get(self.path.rsplit("/", 1)[-1])
            self._send(200, customer) if customer else self._send(404, {"error": "no such customer"})
        elif self.path == "/timeline":
            self._send(200, self.server.events)
        elif self.path == "/refunds":
            self._send(200, self.server.refunds)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path not in ("/timeline", "/refunds"):
            self._send(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        with self.server.lock:
            if self.path == "/timeline":
                item = {"id": f"evt-{len(self.server.events) + 1:04d}", **body}
                self.server.events.append(item)
            else:
                item = {"id": f"ref-{len(self.server.refunds) + 1:04d}", "status": "issued", **body}
                self.server.refunds.append(item)
        self._send(201, {"id": item["id"], **({"status": "issued"} if self.path == "/refunds" else {})})


class InternalApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.events: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "InternalApi":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = InternalApi(args.port)
    print(f"internal API on {server.url}", flush=True)
    server.serve_forever()
