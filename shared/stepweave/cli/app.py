"""The ``stepweave`` command: validate, compile and run workflows locally; read execution records."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, UsageError
from stepweave.errors import StepweaveError, WorkflowError

__all__ = ["main"]


def _load(path: str) -> Any:
    from stepweave.compiler import compile_workflow
    from stepweave.workflow.loader import load_workflow

    return compile_workflow(load_workflow(path), path)


#: Step Functions' limit on an execution's input (UTF-8 bytes).
MAX_RUN_INPUT_BYTES = 262_144
#: Raw JSON text longer than this is refused unread: no layout makes it fit the limit.
_MAX_JSON_TEXT = 8 * MAX_RUN_INPUT_BYTES


def _read_input(value: str | None) -> Any:
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


def cmd_validate(args: argparse.Namespace) -> int:
    from stepweave.compiler.unsupported import UnsupportedBlocks
    from stepweave.workflow.loader import TEST_SUFFIXES

    status = EXIT_OK
    for path in args.files:
        if path.lower().endswith(TEST_SUFFIXES):  # a workflow's tests: checked as such
            status = max(status, _validate_tests(path, args))
            continue
        try:
            compiled = _load(path)
        except UnsupportedBlocks as exc:  # valid, but `run`/`compile`/deploy refuse it
            print(f"{path}: valid; {exc.report()}")
            continue
        except WorkflowError as exc:
            if args.debug:
                raise
            print(exc.report(), file=sys.stderr)
            status = EXIT_INVALID
            continue
        note = _secrets_note(compiled)
        print(f"{path}: ok ({len(compiled.blocks)} blocks, {compiled.workflow_type.lower()} workflow)"
              + (f"; {note}" if note else ""))
    return status


def _validate_tests(path: str, args: argparse.Namespace) -> int:
    from stepweave.local.workflow_tests import load_test_file

    try:
        loaded = load_test_file(Path(path))
    except WorkflowError as exc:
        if args.debug:
            raise
        print(exc.report(), file=sys.stderr)
        return EXIT_INVALID
    print(f"{path}: ok ({len(loaded.spec.tests)} tests of {loaded.workflow_path.name}; "
          "run them with `stepweave test`)")
    return EXIT_OK


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


def _emit(text: str, output: str | None, note: str = "") -> int:
    """Write ``text`` to the ``-o`` file (saying so on stderr) or to stdout."""
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}{note}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _warn(compiled: Any) -> None:
    """What will fail on AWS for inputs the compiler can predict, on stderr."""
    for problem in compiled.warnings:
        print(f"warning: {problem}", file=sys.stderr)


def cmd_compile(args: argparse.Namespace) -> int:
    compiled = _load(args.file)
    _warn(compiled)
    text = compiled.definition_json()
    return _emit(text, args.output, f" ({len(text.encode())} bytes, {compiled.workflow_type})")


def cmd_import(args: argparse.Namespace) -> int:
    from stepweave.workflow.convert import convert_export

    text, fidelity = convert_export(args.file, args.output)
    _emit(text, args.output)
    print(fidelity.line(), file=sys.stderr)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from stepweave.workflow.diagram import mermaid
    from stepweave.workflow.loader import load_workflow

    return _emit(mermaid(load_workflow(args.file)), args.output)


def cmd_schema(args: argparse.Namespace) -> int:
    from stepweave.workflow.schema import workflow_schema

    return _emit(json.dumps(workflow_schema(), indent=2) + "\n", args.output)


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
    payload = None if fired else _read_input(args.input)
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
    summary = {
        "execution": result.execution_arn, "status": result.status, "output": result.output, "error": result.error,
        "cause": result.cause, "durationMs": round(result.duration_s * 1000),
        "stateTransitions": result.transitions, "lambdaInvocations": result.lambda_invocations,
        "workflowType": compiled.workflow_type,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        printer.summary(result)
        if result.status == "SUCCEEDED":
            print(json.dumps(result.output, indent=2))
    return EXIT_OK if result.status == "SUCCEEDED" else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepweave", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check workflow files and report every problem")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)
    for name, func, text in (
            ("compile", cmd_compile, "print the Step Functions definition (ASL)"),
            ("import", cmd_import, "convert a Sim export to Stepweave's YAML format"),
            ("graph", cmd_graph, "draw the workflow (Mermaid flowchart text)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("file")
        p.add_argument("-o", "--output")
        p.set_defaults(func=func)
    p = sub.add_parser("run", help="run a workflow on the embedded engine")
    p.add_argument("file")
    p.add_argument("--input", help="inline JSON, or a JSON file (path or @path)")
    p.add_argument("--trigger", metavar="NAME",
                   help="start as the workflow's schedule or event trigger NAME would when deployed")
    p.add_argument("--event", metavar="FILE",
                   help="the EventBridge event for an event trigger (JSON file or inline)")
    p.add_argument("--env", action="append", metavar="NAME=VALUE",
                   help="environment for {{NAME}} references (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no live progress")
    p.add_argument("--approve", action="append", metavar="NAME=JSON",
                   help="answer the approval block NAME with these form fields (repeatable)")
    p.add_argument("--reject", action="append", metavar="NAME",
                   help='answer the approval block NAME with {"approved": false} (repeatable)')
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("schema", help="print the JSON Schema of workflow files")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_schema)
    from stepweave.cli.pages import add_parser
    from stepweave.cli.records import add_parsers

    add_parsers(sub)
    add_parser(sub)
    from stepweave.cli.keys import add_parser as add_keys; add_keys(sub)  # noqa: E702
    from stepweave.cli.webhook import add_parser as add_webhook; add_webhook(sub)  # noqa: E702
    from stepweave.cli.approvals import add_parser as add_approvals; add_approvals(sub)  # noqa: E702
    from stepweave.cli.verify import add_parser as add_verify; add_verify(sub)  # noqa: E702
    from stepweave.cli.test import add_parser as add_test; add_test(sub)  # noqa: E702
    from stepweave.cli.schedules import add_parser as add_schedules; add_schedules(sub)  # noqa: E702
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's exit
        return code
    except WorkflowError as exc:
        if args.debug:
            raise
        print(exc.report(), file=sys.stderr)
        return EXIT_INVALID
    except (UsageError, StepweaveError) as exc:
        print(f"stepweave: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `stepweave ... | head`: the reader is gone; stop quietly, as Unix tools do
        _drop_stdout()
        return 128 + 13  # what a shell reports for a process ended by SIGPIPE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if args.debug:
            raise
        print(f"stepweave: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        # V8 contexts are closed here, while the interpreter is whole: one left for the
        # garbage collector at shutdown can hang the process (see stepweave.v8).
        from stepweave import v8

        v8.close()


def _drop_stdout() -> None:
    """Point stdout at the null device: the interpreter's flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (captured output): nothing to flush there
        pass


