"""``stepweave run``: a workflow on the embedded engine, with its input, triggers and
approvals answered on the command line; and what the workflow commands share (loading a
workflow, reading an input, the secrets note)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_OK, UsageError

__all__ = ["cmd_run", "read_input", "MAX_RUN_INPUT_BYTES"]


def _load(path: str) -> Any:
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow

    return compile_workflow(load_workflow(path), path)


#: Step Functions' limit on an execution's input (UTF-8 bytes).
MAX_RUN_INPUT_BYTES = 262_144
#: Raw JSON text longer than this is refused unread: no layout makes it fit the limit.
_MAX_JSON_TEXT = 8 * MAX_RUN_INPUT_BYTES


def read_input(value: str | None) -> Any:
    """The run input of ``--input``: a JSON object (the start block's fields) within Step
    Functions' 256 KiB; anything else is a usage error naming --input."""
    if value is None:
        return {}
    data = _read_json(value, "--input")[0]
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(data), "a number")
        raise UsageError(f"--input: the run input must be a JSON object of the start block's "
                         f"fields, like '{{\"amount\": 5}}', not {kind}")
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_RUN_INPUT_BYTES:
        raise UsageError(f"--input: the input is {size:,} bytes; AWS Step Functions takes at most "
                         f"{MAX_RUN_INPUT_BYTES:,} bytes (256 KiB) of execution input")
    return data


def _read_json(value: str, flag: str) -> tuple[Any, str]:
    """Inline JSON or a JSON file (path or @path); with where it came from. The JSON is read
    within bounds (``stepweave.api.strict_json``): finite numbers, bounded nesting."""
    from stepweave.api.strict_json import BadJson
    from stepweave.api.strict_json import loads as strict_loads

    if value.startswith("@") or (not value.lstrip().startswith(("{", "[")) and _is_file(value)):
        path = Path(value.lstrip("@"))
        try:
            if path.stat().st_size > _MAX_JSON_TEXT:
                raise UsageError(f"{flag}: {path} is {path.stat().st_size:,} bytes; AWS Step Functions "
                                 f"takes at most {MAX_RUN_INPUT_BYTES:,} bytes (256 KiB) of input")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{flag}: {path} is not UTF-8 text") from None
        source = str(path)
    elif value.strip().endswith((".json", ".yaml", ".yml")) and not value.lstrip().startswith(("{", "[", '"')):
        raise UsageError(f"{flag}: cannot read {value}: no such file")
    else:
        text, source = value, flag
    label = flag if source == flag else f"{flag} {source}"
    if len(text) > _MAX_JSON_TEXT:
        raise UsageError(f"{label}: {len(text):,} characters of JSON; AWS Step Functions takes at "
                         f"most {MAX_RUN_INPUT_BYTES:,} bytes (256 KiB) of input")
    try:
        return strict_loads(text, what=label), source
    except BadJson as exc:
        message = str(exc)
        prefix = f"{label} is not JSON ("
        if message.startswith(prefix):  # "line 1, column 2: Expecting ..."
            detail = message[len(prefix):-1]
            where = detail.rsplit(" at ", 1)
            message = f"{label}: not valid JSON ({where[-1]}: {where[0]})" if len(where) == 2 \
                else f"{label}: not valid JSON ({detail})"
        raise UsageError(message) from None


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a name too long, a NUL: not a file
        return False


def _trigger_input(args: argparse.Namespace, compiled: Any) -> Any:
    """The run input of ``--trigger``/``--event``: what the deployed schedule or rule would
    give (``stepweave.triggers.fire``; an event needs the engine's moto mock)."""
    from stepweave.triggers.declare import EventTrigger, ScheduleTrigger
    from stepweave.triggers.fire import event_run_input, find_trigger, schedule_run_input

    if args.trigger is not None:
        trigger = find_trigger(args.file, compiled.triggers, args.trigger)
    else:
        found = [t for t in compiled.triggers if isinstance(t, EventTrigger)]
        if len(found) != 1:
            raise UsageError(f"--event: {args.file} has {len(found)} event triggers; name one "
                             "with --trigger NAME")
        trigger = found[0]
    if isinstance(trigger, ScheduleTrigger):
        if args.event is not None:
            raise UsageError(f"--event: trigger {trigger.label!r} is a schedule, not an event trigger")
        return schedule_run_input(compiled.name, trigger)
    assert isinstance(trigger, EventTrigger)
    if args.event is None:
        raise UsageError(f"--trigger {trigger.label}: an event trigger needs the event: --event FILE")
    event, source = _read_json(args.event, "--event")
    return event_run_input(compiled.name, trigger, event, source=source)


def _secrets_note(compiled: Any, *, unset_only: bool = False) -> str:
    """``secrets: A, B (A not set: pass --env A=... or export it)``: the secrets the workflow
    (and its sub-workflows) may read, and which of those its author wrote are not set here;
    the defaults of tools and model providers (a Slack webhook, a provider's key) are listed,
    not required. Empty when there are none (with ``unset_only``: when no written one is
    missing)."""
    names = sorted(set().union(*compiled.secrets_by_handler().values()))
    written = compiled.secrets_written()
    unset = [name for name in names if name in written and not os.environ.get(name)]
    if not names or (unset_only and not unset):
        return ""
    defaults = [name for name in names if name not in written]
    note = "secrets: " + ", ".join(n for n in names if n in written)
    if defaults:
        note += (", " if len(defaults) < len(names) else "") + ", ".join(
            f"{name} (a tool's or provider's default)" for name in defaults)
    if unset:
        how = " ".join(f"--env {name}=..." for name in unset)
        note += (f"; not set: {', '.join(unset)} (pass {how} or export "
                 f"{'it' if len(unset) == 1 else 'them'})")
    return note


def _apply_env(pairs: list[str]) -> None:
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--env expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        os.environ[name] = value


def cmd_run(args: argparse.Namespace) -> int:
    from stepweave.cli.pages import PagesWhileWaiting
    from stepweave.local.approvals import parse_answers
    from stepweave.local.engine import LocalEngine
    from stepweave.local.progress import ProgressPrinter
    from stepweave.local.records import records_path
    from stepweave.local.stopping import Terminated, record_stopped, terminate_as_interrupt
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.settings import Settings

    fired = args.trigger is not None or args.event is not None
    if fired and args.input is not None:
        raise UsageError("--input and --trigger/--event exclude each other: a trigger makes the input")
    payload = None if fired else read_input(args.input)
    _apply_env(args.env or [])
    # handler logs (JSON, for CloudWatch; on stderr here) would drown the progress lines,
    # which show every block's failure already; --debug shows them
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.debug else "ERROR")
    # CloudWatch metrics (EMF) are for AWS; locally they would only print JSON lines
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false" if args.debug else "true")
    compiled = _load(args.file)
    if note := _secrets_note(compiled, unset_only=True):
        print(f"{args.file}: {note}", file=sys.stderr)
    printer = ProgressPrinter(compiled, sys.stderr, enabled=not args.quiet)
    settings = Settings.from_env()
    answers = parse_answers(args.approve or [], args.reject or [])
    waits = "approval" in compiled.handlers  # a run with approvals waits for its answers
    with LocalEngine(records_file=records_path(settings), settings=settings) as engine, \
            PagesWhileWaiting(answers, lambda: Clients(sfn=engine.sfn, ddb=engine.records.ddb),
                              engine.records.settings, sys.stderr, serve=waits) as pages, \
            terminate_as_interrupt():
        if fired:
            payload = _trigger_input(args, compiled)
            if not args.quiet:
                print(f"trigger {payload['trigger']['name']!r} ({payload['trigger']['type']}) "
                      f"gives the input {json.dumps(payload, ensure_ascii=False)}", file=sys.stderr)
        try:
            result = engine.run(compiled, payload, on_progress=printer,
                                timeout_s=float("inf") if waits else 600.0,
                                approver=pages if waits else None, poll_s=2.0)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the run is stopped, and recorded
            for arn in record_stopped(engine)[-1:]:  # the run (its sub-workflows come first)
                print(f"\nstopped: recorded as aborted (stepweave execution {arn.rsplit(':', 1)[-1]})",
                      file=sys.stderr)
            if isinstance(exc, Terminated):
                return 128 + 15
            raise
    return report_outcome(args, printer, result, compiled)


def report_outcome(args: argparse.Namespace, printer: Any, result: Any, compiled: Any,
                   **extra: Any) -> int:
    """What ``run``, ``rerun`` and ``retry`` print once an embedded-engine run ends (``--json``:
    one document with ``extra`` in it), and their exit code."""
    summary = {
        "execution": result.execution_arn, "status": result.status, "output": result.output, "error": result.error,
        "cause": result.cause, **extra, "durationMs": round(result.duration_s * 1000),
        "stateTransitions": result.transitions, "lambdaInvocations": result.lambda_invocations,
        "workflowType": compiled.workflow_type,
    }
    from stepweave.local.progress import children_bill

    # what the run's distributed Maps' child executions are billed (zeros without any)
    summary["childExecutions"] = children_bill(getattr(result, "children", ())).as_json()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        printer.summary(result)
        if result.status == "SUCCEEDED":
            print(json.dumps(result.output, indent=2))
    return EXIT_OK if result.status == "SUCCEEDED" else EXIT_FAILED


def add_run_options(p: argparse.ArgumentParser, aws_help: str) -> None:
    """The options ``rerun`` and ``retry`` share with ``run`` (and ``--aws`` with its table and region)."""
    p.add_argument("--workflows", default="workflows", help="folder of workflow files (default workflows/)")
    p.add_argument("--env", action="append", metavar="NAME=VALUE", help="as for run")
    p.add_argument("--approve", action="append", metavar="NAME=JSON", help="as for run")
    p.add_argument("--reject", action="append", metavar="NAME", help="as for run")
    p.add_argument("-q", "--quiet", action="store_true", help="no live progress")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("--aws", action="store_true", help=aws_help)
    p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")
    p.add_argument("--region", help="the AWS region for --aws")

