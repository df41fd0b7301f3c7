"""The ``stepweave`` command's parser and the workflow commands (validate, compile, import,
graph, schema; ``run`` is ``stepweave.cli.run``); the other command groups add their own."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, UsageError
from stepweave.cli.run import _load, _secrets_note, cmd_run
from stepweave.errors import StepweaveError, WorkflowError

__all__ = ["main"]


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
    code = _emit(text, args.output, f" ({len(text.encode())} bytes, {compiled.workflow_type})")
    for ref, stretch in compiled.stretches.items():  # split: auto (stepweave.compiler.split)
        if args.output:
            path = Path(args.output)
            _emit(stretch.definition_json(), str(path.with_name(f"{path.stem}.express-{ref[1:]}{path.suffix}")),
                  f" (Express stretch {ref[1:]}, which the definition starts as ${{StateMachine__{ref[1:]}}})")
        else:
            print(f"note: Express stretch {ref[1:]} (${{StateMachine__{ref[1:]}}}) is another definition; "
                  "-o FILE writes it beside FILE", file=sys.stderr)
    return code


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
    from stepweave.cli.rerun import add_parser as add_rerun; add_rerun(sub)  # noqa: E702
    from stepweave.cli.versions import add_parser as add_versions; add_versions(sub)  # noqa: E702
    from stepweave.cli.diff import add_parser as add_diff; add_diff(sub)  # noqa: E702
    from stepweave.cli.retry import add_parser as add_retry; add_retry(sub)  # noqa: E702
    from stepweave.cli.watch import add_parser as add_watch; add_watch(sub)  # noqa: E702
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


