"""Local executions' history as it grows, for ``stepweave watch`` in another process.

The embedded engine's executions live in the memory of the process that runs them
(``stepweave run``, ``stepweave serve``), so another process cannot call
``GetExecutionHistory`` on them. While an engine with a records folder runs, each execution
appends its history events, as they are added, to ``<records folder>/live/<hash of its
ARN>.jsonl``: a first line ``{"executionArn", "name", "stateMachineArn"}``, then one event a
line, with the members ``GetExecutionHistory`` gives (the timestamp as an ISO string). A
file is opened with the execution's first event and closed when it ends; once the run is
recorded (then the records have it all) it stays ``KEEP_SECONDS`` for the watchers still
reading it, then goes. A redriven execution starts its file again with its
``ExecutionRedriven`` event.

:func:`find` names the live file of an execution (ARN, name, or a unique end of its ARN);
:func:`read_events` reads what was added since an offset.
"""

# ruff: noqa: E402 - moto is imported once its Batch backend is deferred
from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from stepweave.local.moto_imports import defer_batch

defer_batch()

from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

__all__ = ["FOLDER", "find", "finish", "install", "live_file", "read_events", "use", "PATCHED_ATTRIBUTES"]

FOLDER = "live"
_folders: list[Path] = []  # the live folders of the engines running here (the last one is used)
_lock = threading.Lock()


def use(folder: Path | None) -> None:
    """Executions started from now on write their live files in ``folder`` (None: stop)."""
    with _lock:
        if folder is None:
            if _folders:
                _folders.pop()
        else:
            _folders.append(folder)


def live_file(folder: Path, execution_arn: str) -> Path:
    return folder / (hashlib.sha256(execution_arn.encode("utf-8")).hexdigest()[:32] + ".jsonl")


#: How long a live file stays once its run is recorded (a watcher may still be reading it).
KEEP_SECONDS = 600


def finish(folder: Path | None, execution_arn: str) -> None:
    """The execution is recorded: live files of runs recorded over ``KEEP_SECONDS`` ago go
    (this one stays a while: a watcher may be reading its last events)."""
    if folder is None or not folder.is_dir():
        return
    import time

    mark = live_file(folder, execution_arn).with_suffix(".done")
    try:
        os.close(os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    except OSError:
        return
    cutoff = time.time() - KEEP_SECONDS
    for done in folder.glob("*.done"):
        try:
            if done.stat().st_mtime < cutoff:
                done.with_suffix(".jsonl").unlink(missing_ok=True)
                done.unlink()
        except OSError:
            pass


_moto_environment = ExecutionWorker._get_evaluation_environment


def _environment(self: Any) -> Any:
    env = _moto_environment(self)
    with _lock:
        folder = _folders[-1] if _folders else None
    if folder is not None:
        details = self._evaluation_details  # noqa: SLF001
        manager: Any = env.event_manager
        manager.stepweave_live_to = (folder, details.execution_details.arn, details.execution_details.name,
                                     details.state_machine_details.arn)
    return env


_moto_publish = EventManager._publish_history_event


def _open(manager: Any) -> IO[str] | None:
    folder, arn, name, machine = getattr(manager, "stepweave_live_to")  # noqa: B009 - our attribute
    manager.stepweave_live_to = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        live_file(folder, arn).with_suffix(".done").unlink(missing_ok=True)  # running (again)
        # readable by its owner only: like the records, a history holds the blocks' inputs and outputs
        fd = os.open(live_file(folder, arn), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = os.fdopen(fd, "w", encoding="utf-8")
        out.write(json.dumps({"executionArn": arn, "name": name, "stateMachineArn": machine}) + "\n")
    except OSError:
        return None
    return out


def _publish(self: Any, *args: Any, **kwargs: Any) -> None:
    _moto_publish(self, *args, **kwargs)
    out = getattr(self, "stepweave_live", None)
    if out is None and getattr(self, "stepweave_live_to", None) is not None:
        out = self.stepweave_live = _open(self)
    if out is None:
        return
    event = self._history_event_list[-1]  # noqa: SLF001 - the one just added (under the manager's lock)
    try:
        out.write(json.dumps(event, default=str, separators=(",", ":")) + "\n")
        out.flush()
        if str(event.get("type", "")).startswith("Execution") and str(event.get("type")) not in (
                "ExecutionStarted", "ExecutionRedriven"):
            out.close()
            self.stepweave_live = None
    except (OSError, ValueError):
        self.stepweave_live = None


def find(folder: Path, ident: str) -> tuple[Path, dict[str, Any]] | None:
    """The live file of the execution ``ident`` names, with its first line."""
    found = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            with open(path, encoding="utf-8") as f:
                head = json.loads(f.readline())
        except (OSError, ValueError):
            continue
        arn = str(head.get("executionArn", ""))
        if ident in (arn, head.get("name")) or arn.endswith(ident) or str(head.get("name", "")).endswith(
                "." + ident):
            found.append((path, head))
    return found[0] if len(found) == 1 else None


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The events added to a live file after byte ``offset`` (whole lines only), with the
    offset after them; timestamps as datetimes."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    if offset == 0:
        first = data.find(b"\n")
        if first < 0:
            return [], 0
        offset, data = first + 1, data[first + 1:]
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    events = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        stamp = event.get("timestamp")
        if isinstance(stamp, str):
            try:
                event["timestamp"] = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                pass
        events.append(event)
    return events, offset + end + 1


_installed = False


def install() -> None:
    """Apply the patches (idempotent); after ``moto_adapter``'s, whose event hook this wraps."""
    global _installed, _moto_publish
    with _lock:
        if _installed:
            return
        _moto_publish = EventManager._publish_history_event
        ExecutionWorker._get_evaluation_environment = _environment  # type: ignore[method-assign]
        EventManager._publish_history_event = _publish  # type: ignore[method-assign]
        _installed = True


PATCHED_ATTRIBUTES: tuple[tuple[Any, str], ...] = (
    (ExecutionWorker, "_get_evaluation_environment"),
    (EventManager, "_publish_history_event"),
)
