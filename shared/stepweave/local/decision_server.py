"""The decision function's routes alone on the local gateway: the pages (``/approvals/{id}``)
and ``/v1/approvals`` for programs, served by ``stepweave.runtime.decision_api.handle_decision``,
the code the deployed decision function runs.

``stepweave run`` starts one while it waits for an answer nobody gave on the command line
(only that process holds the embedded engine's run). Bodies over the pages' 64 KiB are
refused before the handler sees them.
"""

from __future__ import annotations

from typing import TextIO

from stepweave.local.gateway import Gateway, decision_routes
from stepweave.runtime.decision_api import handle_decision
from stepweave.runtime.decision_pages import MAX_BODY_BYTES
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["decision_gateway"]


def decision_gateway(clients: Clients, settings: Settings, host: str = "127.0.0.1",
                     port: int = 8787, log: TextIO | None = None) -> Gateway:
    """``with decision_gateway(clients, settings, port=8787) as server:`` serves until the block ends."""
    return Gateway(decision_routes(lambda event: handle_decision(event, clients=clients, settings=settings)),
                   host, port, log, max_body=MAX_BODY_BYTES)
