"""The decision pages from the command line: served by a waiting ``stepweave run`` (which
holds the embedded engine's run), or by ``stepweave serve`` (``stepweave.cli_serve``) with
the run API, locally or ``--aws`` against the deployed table."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from stepweave.local.approvals import Approver
    from stepweave.runtime.approvals import Approval
    from stepweave.runtime.settings import Settings

__all__ = ["PagesWhileWaiting", "add_parser", "LOCAL_TENANT"]

#: The tenant of the local API key (the same as ``stepweave serve``'s).
LOCAL_TENANT = "local"


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
        from stepweave.local.decision_server import decision_gateway

        port = urlsplit(self.settings.public_url).port or 8787
        clients = self.clients_of()
        key = self._api_key(clients)
        # runs of `stepweave run` have no tenant: the local key answers them (operator)
        settings = self.settings.model_copy(update={"operator_tenant": LOCAL_TENANT})
        try:
            self.server = decision_gateway(clients, settings, self.host, port).start()
        except OSError as exc:
            print(f"  cannot serve the decision page on {self.host}:{port} ({exc.strerror}); "
                  "set STEPWEAVE_PUBLIC_URL to a free port, or answer with --approve/--reject",
                  file=self.out)
            return
        print(f"  decision page served at {self.server.url} while the run waits", file=self.out)
        print(f"  or: stepweave approvals --url {self.server.url} (API key: "
              f"{key or '$STEPWEAVE_API_KEY'})", file=self.out)

    def _api_key(self, clients: Any) -> str | None:
        """Store ``STEPWEAVE_API_KEY`` (or a new key, returned to print) for the local tenant
        in the run's table, so ``stepweave approvals`` can answer through ``/v1/approvals``."""
        import os

        from stepweave.api.keys import create_key, store_key

        given = os.environ.get("STEPWEAVE_API_KEY")
        if given:
            store_key(clients.ddb, self.settings, given, tenant=LOCAL_TENANT, name="cli")
            return None
        key, _ = create_key(clients.ddb, self.settings, tenant=LOCAL_TENANT, name="cli")
        return key

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def add_parser(sub: Any) -> None:
    """``stepweave serve`` (``stepweave.cli_serve``) serves the decision pages with the rest of the API."""
    from stepweave.cli_serve import add_parser as add_serve

    add_serve(sub)
