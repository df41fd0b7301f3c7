"""The decision function's routes alone on the local gateway: the pages (``/approvals/{id}``)
and ``/v1/approvals`` for programs, served by ``stepweave.api.decisions.handle_decision``,
the code the deployed decision function runs.

``stepweave run`` starts one while it waits for an answer nobody gave on the command line
(only that process holds the embedded engine's run). Bodies over the pages' 64 KiB are
refused before the handler sees them.

``serve_decisions`` listens on the port asked for or, when it is taken, on one of the next
``PORT_TRIES - 1`` or any free one. A local server says where it is in the local state
folder (``announce``: ``<STEPWEAVE_LOCAL_DIR>/servers/<pid>.json``, the URL, the process
and the API key it made, readable by its user alone, removed on exit), so that
``stepweave approvals`` in another shell finds it (``announced``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stepweave.api.decision_pages import MAX_BODY_BYTES
from stepweave.api.decisions import handle_decision
from stepweave.api.errors import error_response
from stepweave.errors import StepweaveError
from stepweave.local.gateway import Gateway, Handler, decision_routes
from stepweave.runtime.approvals import get_approval
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["PORT_TRIES", "SERVERS_DIR", "Announced", "CannotServe", "announce", "announced",
           "decision_gateway", "held_here", "is_loopback", "serve_decisions"]

#: Ports tried from the one asked for (8787, 8788, ...) before any free port.
PORT_TRIES = 10
#: Under the local state folder: one file per running local server.
SERVERS_DIR = "servers"


class CannotServe(StepweaveError):
    """No port could be listened on."""


def decision_gateway(clients: Clients, settings: Settings, host: str = "127.0.0.1",
                     port: int = 8787, log: TextIO | None = None) -> Gateway:
    """``with decision_gateway(clients, settings, port=8787) as server:`` serves until the block ends."""
    return Gateway(decision_routes(held_here(clients, settings)), host, port, log, max_body=MAX_BODY_BYTES)


def held_here(clients: Clients, settings: Settings) -> Handler:
    """The decision routes of one embedded engine. The local records table is shared by
    every ``stepweave`` process of the folder, but a run waits in the engine of the process
    that started it, so approvals of runs another process holds are neither listed nor
    found here (deciding one here would mark it lapsed while its run still waits)."""
    def held(execution_arn: object) -> bool:
        try:
            clients.sfn.describe_execution(executionArn=str(execution_arn))
        except clients.sfn.exceptions.ExecutionDoesNotExist:
            return False
        except clients.sfn.exceptions.InvalidArn:
            return False
        return True

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        approval_id = (event.get("pathParameters") or {}).get("id")
        if approval_id:
            approval = get_approval(clients.ddb, settings, str(approval_id))
            if approval is not None and not held(approval.execution_arn):
                return error_response(404, "not_found", "unknown approval")
        response = handle_decision(event, clients=clients, settings=settings)
        if event.get("resource") == "/v1/approvals" and response.get("statusCode") == 200:
            body = json.loads(response["body"])
            body["approvals"] = [a for a in body.get("approvals", []) if held(a.get("executionId"))]
            response = {**response, "body": json.dumps(body, allow_nan=False)}
        return response

    return handle


def serve_decisions(clients: Clients, settings: Settings, host: str = "127.0.0.1", port: int = 8787,
                    *, any_port: bool = True, log: TextIO | None = None) -> Gateway:
    """A started decision gateway on ``port``, else (``any_port``) the next free one of
    ``PORT_TRIES``, else one the system picks; ``CannotServe`` says what was tried."""
    candidates = [port] if not any_port or port == 0 else [
        *range(port, min(port + PORT_TRIES, 65536)), 0]
    reasons: list[str] = []
    for candidate in candidates:
        try:
            return decision_gateway(clients, settings, host, candidate, log).start()
        except OSError as exc:
            reasons.append(f"{candidate or 'any port'}: {exc.strerror or exc}")
    tried = f"ports {candidates[0]}-{candidates[-2]} and any free port" if len(candidates) > 1 \
        else f"port {candidates[0]}"
    raise CannotServe(f"cannot serve the decision page on {host} ({tried}; {reasons[-1]})")


def is_loopback(url_host: str | None) -> bool:
    """Whether a URL's host is this machine (``127.0.0.1``, ``localhost``, ``::1``)."""
    if not url_host or url_host == "localhost":
        return url_host == "localhost"
    try:
        return ipaddress.ip_address(url_host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Announced:
    """A local server another ``stepweave`` process wrote down."""
    url: str
    pid: int
    kind: str  # "run" | "serve"
    key: str | None  # the API key it made; None: it takes $STEPWEAVE_API_KEY
    path: Path


@contextlib.contextmanager
def announce(local_dir: Path, url: str, kind: str, key: str | None) -> Iterator[Path]:
    """Write ``<local_dir>/servers/<pid>.json`` for the block's duration (mode 0600: it may
    hold the API key the server made)."""
    folder = local_dir / SERVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.json"
    text = json.dumps({"url": url, "pid": os.getpid(), "kind": kind, "key": key})
    # written beside it, then renamed: a reader never sees a half-written file
    partial = folder / f".{os.getpid()}.json.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    os.replace(partial, path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def announced(local_dir: Path) -> list[Announced]:
    """The local servers written down under ``local_dir`` whose process still runs (the
    files of processes that ended without removing theirs are removed), oldest first."""
    folder = local_dir / SERVERS_DIR
    found: list[tuple[float, Announced]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            server = Announced(str(data["url"]), int(data["pid"]), str(data.get("kind", "run")),
                               data.get("key") if isinstance(data.get("key"), str) else None, path)
            modified = path.stat().st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours
        if not _alive(server.pid):
            path.unlink(missing_ok=True)
            continue
        found.append((modified, server))
    return [server for _, server in sorted(found, key=lambda item: item[0])]


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: trust the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
