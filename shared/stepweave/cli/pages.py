"""The decision pages from the command line: served by a waiting ``stepweave run`` (which
holds the embedded engine's run), or by ``stepweave serve`` (``stepweave.cli.serve``) with
the run API, locally or ``--aws`` against the deployed table."""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
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
    """The approver of a run that may wait: ``answers`` (``--approve``/``--reject``) first;
    the decision pages for the rest, served from the start of the run on
    ``STEPWEAVE_PUBLIC_URL``'s port (127.0.0.1) or, when it is taken, the next free one, which
    the emailed and printed links then name. The first approval nobody answered prints where
    to answer it and writes the address down for ``stepweave approvals`` (removed on exit).
    Nothing to serve on, and no answers given: ``CannotServe`` before the run starts."""

    def __init__(self, answers: dict[str, dict[str, Any]], clients_of: Any, settings: Settings,
                 out: TextIO, host: str = "127.0.0.1", serve: bool = True) -> None:
        self.answers, self.clients_of, self.settings, self.out, self.host = (
            answers, clients_of, settings, out, host)
        self.serve = serve
        self.server: Any = None
        self.port = 8787  # the port asked for
        self.failure: Exception | None = None
        self.inner: Approver | None = None
        self._shown = False
        self._exit = ExitStack()

    def __enter__(self) -> PagesWhileWaiting:
        from stepweave.local.approvals import scripted_approver

        if self.serve:
            self._start()
        self.inner = scripted_approver(self.answers, self.settings, self.out)
        return self

    def __call__(self, approval: Approval) -> dict[str, Any] | None:
        assert self.inner is not None, "use PagesWhileWaiting as a context manager"
        answer = self.inner(approval)
        if answer is None and not self._shown:
            self._shown = True
            self._show()
        return answer

    def _start(self) -> None:
        import os

        from stepweave.local.decision_server import CannotServe, is_loopback, serve_decisions

        wanted = urlsplit(self.settings.public_url)
        port = self.port = wanted.port or 8787
        # runs of `stepweave run` have no tenant: the local key answers them (operator)
        settings = self.settings.model_copy(update={"operator_tenant": LOCAL_TENANT})
        local = is_loopback(wanted.hostname)
        try:  # a public URL elsewhere (a tunnel) forwards to its port: only that one will do
            self.server = serve_decisions(self.clients_of(), settings, self.host, port, any_port=local)
        except CannotServe as exc:
            if not self.answers:
                raise CannotServe(f"{exc}; set STEPWEAVE_PUBLIC_URL to a free port, or answer "
                                  "with --approve/--reject") from None
            self.failure = exc
            return
        if local and self.server.port != port:  # the links name where the page really is
            self.settings = self.settings.model_copy(update={"public_url": self.server.url})
            self._exit.callback(_restore_env, "STEPWEAVE_PUBLIC_URL", os.environ.get("STEPWEAVE_PUBLIC_URL"))
            os.environ["STEPWEAVE_PUBLIC_URL"] = self.server.url  # the approval handler's emails

    def _show(self) -> None:
        from stepweave.local.decision_server import announce
        from stepweave.runtime.approvals import ApprovalError

        if self.server is None:
            if self.failure is None:
                return
            raise ApprovalError(f"{self.failure}; answer with --approve/--reject")
        key = self._api_key(self.clients_of())
        note = "" if self.server.port == self.port else f" (port {self.port} is taken)"
        print(f"  decision page served at {self.server.url} while the run waits{note}", file=self.out)
        self._exit.enter_context(announce(self.settings.local_dir, self.server.url, "run", key))
        print("  or, in another shell: stepweave approvals (it finds this run; API key: "
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
        self._exit.close()


def _restore_env(name: str, value: str | None) -> None:
    import os

    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def add_parser(sub: Any) -> None:
    """``stepweave serve`` (``stepweave.cli.serve``) serves the decision pages with the rest of the API."""
    from stepweave.cli.serve import add_parser as add_serve

    add_serve(sub)
