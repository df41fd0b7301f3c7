"""Redriving a failed local run: ``RedriveExecution`` on the embedded engine, across processes.

moto has no redrive; ``stepweave.local.moto_redrive`` gives it one (the execution's program
again, the states that completed replayed from its journal). An execution lives only as long
as its engine, so when a Standard run ends failed, timed out or aborted, the engine keeps
what a redrive needs (:func:`keep`): its history, its journal, its description and the hash
of the workflow it ran, in ``<records folder>/redrive/<hash of the ARN>.json`` (readable by
its owner only: like the history, it holds the blocks' outputs). A redrive in another
process (``stepweave retry``, ``stepweave serve`` started again) puts the execution back
(:func:`restore`) on a state machine of the same name and definition, and redrives it in
place: the same execution ARN, ``redriveCount`` one more. The file is removed when the run
ends succeeded, and is not kept past AWS's 14 days.

What cannot be redriven, as on AWS: an Express run, a run that succeeded or still runs, a run
that stopped more than 14 days ago; and, here, a run whose workflow changed since (AWS
redrives the definition the run started with, which the embedded engine no longer has when
the file changed: ``stepweave rerun`` runs the changed workflow).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepweave.errors import StepweaveError

if TYPE_CHECKING:
    from stepweave.compiler import CompiledWorkflow
    from stepweave.local.approvals import Approver

#: ``stepweave.local.engine.LocalEngine`` (which imports this module: named here, not imported)
LocalEngine = Any

__all__ = ["NotRedrivable", "definition_hash", "keep", "load", "redrive", "restore", "saved_file",
           "child_history", "KEPT_HISTORIES", "release"]

#: AWS redrives an execution up to 14 days after it stopped.
REDRIVE_DAYS = 14


class NotRedrivable(StepweaveError):
    """The execution cannot be redriven (the message says why)."""


def definition_hash(compiled: CompiledWorkflow) -> str:
    """The workflow's compiled definition (its sub-workflows' included), hashed."""
    digest = hashlib.sha256(compiled.definition_string().encode("utf-8"))
    for ref in sorted(compiled.children):
        digest.update(f"\0{ref}\0{definition_hash(compiled.children[ref])}".encode())
    for ref in sorted(compiled.stretches):  # a split workflow's Express stretches
        digest.update(f"\0{ref}\0{definition_hash(compiled.stretches[ref])}".encode())
    return digest.hexdigest()


def saved_file(folder: Path, execution_arn: str) -> Path:
    return folder / (hashlib.sha256(execution_arn.encode("utf-8")).hexdigest()[:32] + ".json")


def keep(engine: LocalEngine, execution_arn: str) -> Path | None:
    """Save a redrivable ended execution of ``engine`` (or forget one that is not); the file."""
    from stepweave.local.moto_redrive import saved_state

    folder = engine.redrive_dir
    if folder is None:
        return None
    path = saved_file(folder, execution_arn)
    saved = saved_state(execution_arn)
    if saved is None:
        path.unlink(missing_ok=True)
        return None
    compiled = engine.machines.get(str(saved["stateMachineArn"]))
    if compiled is None:
        return None
    saved["workflow"] = compiled.name
    saved["definitionHash"] = definition_hash(compiled)
    saved["checkpoints"] = _checkpoints(engine, compiled, execution_arn)
    saved["stretchHistories"] = _stretch_histories(engine, compiled, execution_arn)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(saved, out, separators=(",", ":"), default=str)
    os.replace(temporary, path)
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    """Files of runs that stopped longer ago than AWS would redrive them."""
    cutoff = time.time() - REDRIVE_DAYS * 86_400
    for old in folder.glob("*.json"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def load(folder: Path | None, execution_arn: str) -> dict[str, Any] | None:
    if folder is None:
        return None
    try:
        data = json.loads(saved_file(folder, execution_arn).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("executionArn") == execution_arn else None


def in_engine(engine: LocalEngine, execution_arn: str) -> bool:
    try:
        engine.sfn.describe_execution(executionArn=execution_arn)
    except Exception:  # noqa: BLE001 - ExecutionDoesNotExist
        return False
    return True


def restore(engine: LocalEngine, compiled: CompiledWorkflow, execution_arn: str) -> str:
    """Put the saved execution back into ``engine`` (unless it is there already), on a state
    machine named as its own, made from ``compiled``; its state machine's ARN. Raises
    ``NotRedrivable`` when nothing was saved or the workflow changed."""
    if in_engine(engine, execution_arn):
        return str(engine.machine_of(execution_arn))
    saved = load(engine.redrive_dir, execution_arn)
    if saved is None:
        raise NotRedrivable(
            f"{_name(execution_arn)}: nothing was kept to redrive it (only a failed, timed-out or "
            "aborted Standard run of the embedded engine is kept, for 14 days)")
    stopped = saved.get("stopDate")
    if stopped and datetime.now(UTC) - datetime.fromisoformat(stopped) > timedelta(days=REDRIVE_DAYS):
        raise NotRedrivable(f"{_name(execution_arn)} stopped more than {REDRIVE_DAYS} days ago: "
                            "AWS redrives an execution within 14 days of its stop")
    if saved.get("definitionHash") != definition_hash(compiled):
        raise NotRedrivable(
            f"{_name(execution_arn)}: workflow {compiled.name!r} changed since this run (its compiled "
            "definition differs). A redrive runs the definition the run started with; to run the "
            "changed workflow, use stepweave rerun")
    machine = str(saved["stateMachineArn"])
    if machine not in engine.machines:  # another run of it was put back already: the same machine
        machine = engine.create(compiled, name=machine.rsplit(":", 1)[-1])
    from stepweave.local.moto_redrive import restore as put_back

    put_back(saved)
    children = saved.get("stretchHistories") or {}
    for child, events in children.items():
        KEPT_HISTORIES[child] = [{**e, "timestamp": datetime.fromisoformat(e["timestamp"])} for e in events]
    _RESTORED[execution_arn] = list(children)
    checkpoints = saved.get("checkpoints") or {}
    if checkpoints and engine.s3 is not None:
        from stepweave.runtime.settings import LOCAL_PAYLOAD_BUCKET

        for key, body in checkpoints.items():
            engine.s3.put_object(Bucket=LOCAL_PAYLOAD_BUCKET, Key=key, Body=body.encode("utf-8"))
    return str(machine)


#: the histories of split runs' stretch executions ran by another process (put back with
#: their run by :func:`restore`, until that run has ended again, been recorded and, if it
#: failed again, kept again: :func:`release`): child execution ARN -> its events
KEPT_HISTORIES: dict[str, list[dict[str, Any]]] = {}
#: run put back -> the stretch executions whose histories came back with it
_RESTORED: dict[str, list[str]] = {}


def release(execution_arn: str | None = None) -> None:
    """Forget the stretch histories put back with a run (every run's: ``None``), once they
    are no longer read: its redrive has ended (the record and, if it failed again, the file
    kept on disk hold them), or the engine that ran it has closed."""
    runs = list(_RESTORED) if execution_arn is None else [execution_arn]
    for run in runs:
        for child in _RESTORED.pop(run, []):
            KEPT_HISTORIES.pop(child, None)


def child_history(sfn: Any, execution_arn: str, since: int = 0) -> list[dict[str, Any]]:
    """A stretch execution's history after its first ``since`` events: from the engine, or
    kept with a run put back."""
    from stepweave.local.moto_history import events_since

    try:
        return events_since(sfn, execution_arn, since)
    except Exception:
        if execution_arn in KEPT_HISTORIES:
            return KEPT_HISTORIES[execution_arn][since:]
        raise


def _stretch_histories(engine: LocalEngine, compiled: CompiledWorkflow,
                       execution_arn: str) -> dict[str, list[dict[str, Any]]]:
    """The history of each stretch execution a split run started (every attempt's: its
    block logs are derived from them again when the redriven run ends), timestamps as text."""
    if not compiled.stretches:
        return {}
    from stepweave.runtime.recorder import fetch_history
    from stepweave.runtime.stretches import child_executions

    out: dict[str, list[dict[str, Any]]] = {}
    for child in child_executions(fetch_history(engine.sfn, execution_arn), compiled.split_states):
        try:
            events = child_history(engine.sfn, child)
        except Exception:  # noqa: BLE001 - gone: its blocks are missing from the logs, as deployed when late
            continue
        out[child] = [{**e, "timestamp": e["timestamp"].isoformat()} for e in events]
    return out


def _checkpoints(engine: LocalEngine, compiled: CompiledWorkflow, execution_arn: str) -> dict[str, str]:
    """The checkpoints a split run's failed stretch kept in the payload bucket
    (``stepweave.compiler.split``), which its redrive resumes from: key -> body."""
    if not compiled.stretches or engine.s3 is None:
        return {}
    from stepweave.compiler.split import checkpoint_folder
    from stepweave.runtime.settings import LOCAL_PAYLOAD_BUCKET

    folder = f"{checkpoint_folder(compiled.name)}/{execution_arn.rsplit(':', 1)[-1]}/"
    out: dict[str, str] = {}
    for page in engine.s3.get_paginator("list_objects_v2").paginate(Bucket=LOCAL_PAYLOAD_BUCKET, Prefix=folder):
        for item in page.get("Contents", []):
            body = engine.s3.get_object(Bucket=LOCAL_PAYLOAD_BUCKET, Key=item["Key"])["Body"].read()
            out[item["Key"]] = body.decode("utf-8")
    return out


def redrive(engine: LocalEngine, compiled: CompiledWorkflow, execution_arn: str, *,
            on_progress: Callable[[Any], None] | None = None, timeout_s: float = 600.0,
            approver: Approver | None = None, poll_s: float = 0.2) -> Any:
    """Redrive the execution (put back first if need be) and wait for it to end, as
    ``LocalEngine.run`` does (its ``RunResult``); its records are written and it is kept again
    if it fails."""
    restore(engine, compiled, execution_arn)
    since = _event_count(engine, execution_arn)  # the attempts before: not shown again
    started = time.monotonic()
    try:
        engine.sfn.redrive_execution(executionArn=execution_arn)
    except Exception as exc:
        from stepweave.errors import aws_error_code

        if aws_error_code(exc) == "ExecutionNotRedrivable":
            raise NotRedrivable(f"{_name(execution_arn)}: {_message(exc)}") from None
        raise
    engine.records.record_start(engine.sfn, execution_arn, compiled.manifest())  # running again
    result = engine.follow(compiled, execution_arn, started, since=since, on_progress=on_progress,
                           timeout_s=timeout_s, approver=approver, poll_s=poll_s)
    if result.status != "RUNNING":  # recorded (and kept again if it failed): read no more
        release(execution_arn)
    return result


def _event_count(engine: LocalEngine, execution_arn: str) -> int:
    from stepweave.local.moto_history import events_since

    return len(events_since(engine.sfn, execution_arn, 0))


def _message(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def _name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]
