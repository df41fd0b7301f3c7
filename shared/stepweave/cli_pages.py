"""The decision pages from the command line: served by a waiting ``stepweave run`` (which
holds the embedded engine's run), or by ``stepweave serve --aws`` against the deployed table."""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from stepweave.local.approvals import Approver
    from stepweave.runtime.approvals import Approval
    from stepweave.runtime.settings import Settings

__all__ = ["PagesWhileWaiting", "add_parser"]


class PagesWhileWaiting(AbstractContextManager["PagesWhileWaiting"]):
    """Wraps a run's approver: the first approval nobody answered on the command line starts
    the decision pages on ``STEPWEAVE_PUBLIC_URL``'s port (127.0.0.1), until the run ends."""

    def __init__(self, approver: Approver, clients_of: Any, settings: Settings,
                 out: TextIO, host: str = "127.0.0.1") -> None:
        self.inner, self.clients_of, self.settings, self.out, self.host = (
            approver, clients_of, settings, out, host)
        self.server: Any = None
        self._tried = False

    def __call__(self, approval: Approval) -> dict[str, Any] | None:
        answer = self.inner(approval)
        if answer is None and not self._tried:
            self._tried = True
            self._start()
        return answer

    def _start(self) -> None:
        from stepweave.local.decision_server import DecisionServer

        port = urlsplit(self.settings.public_url).port or 8787
        try:
            self.server = DecisionServer(self.clients_of(), self.settings, self.host, port).start()
        except OSError as exc:
            print(f"  cannot serve the decision page on {self.host}:{port} ({exc.strerror}); "
                  "set STEPWEAVE_PUBLIC_URL to a free port, or answer with --approve/--reject",
                  file=self.out)
            return
        print(f"  decision page served at {self.server.url} while the run waits", file=self.out)

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def cmd_serve(args: argparse.Namespace) -> int:
    from stepweave.cli import UsageError
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.settings import Settings

    if not args.aws:
        raise UsageError(
            "locally the decision pages are served by the waiting `stepweave run` itself (only "
            "that process holds the run): open the link it prints. `stepweave serve --aws` "
            "serves them for the deployed table.")
    settings = Settings.from_env()
    table = args.table or settings.table
    if not table:
        raise UsageError("--aws needs the records table: pass --table NAME or set STEPWEAVE_TABLE")
    import boto3

    from stepweave.local.decision_server import DecisionServer

    clients = Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"))
    server = DecisionServer(clients, settings.model_copy(update={"table": table}), args.host,
                            args.port, log=sys.stderr)
    print(f"decision pages at {server.url}/approvals/<id> (table {table}); Ctrl-C to stop",
          file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the approval decision pages (see --aws)")
    p.add_argument("--port", type=int, default=8787, help="default 8787")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--aws", action="store_true",
                   help="decide approvals of the deployed table (your AWS credentials)")
    p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")
    p.set_defaults(func=cmd_serve)
