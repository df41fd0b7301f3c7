"""``stepweave retry <execution>``: resume a failed Standard run from the state that failed,
with Step Functions' ``RedriveExecution``: the same execution goes on, the blocks that
succeeded are not run again.

Locally the embedded engine redrives it (``stepweave.local.redrive``: the run's history and
the results of what completed were kept when it failed) and the command shows its progress
as ``stepweave run`` does, with the same exit codes; ``--aws`` redrives a deployed execution
and returns (``stepweave watch <execution> --aws`` follows it). What cannot be redriven (an
Express run, a run that succeeded or still runs, one that stopped more than 14 days ago, and
locally a run whose workflow changed since) is said, with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_OK, UsageError

__all__ = ["add_parser", "cmd_retry", "not_retriable"]

_RETRIABLE = ("failed", "timed_out", "aborted")


def not_retriable(status: str, execution_arn: str) -> str | None:
    """Why a recorded run cannot be retried, from its record alone (None: try)."""
    if ":express:" in execution_arn:
        return "an Express workflow's run cannot be redriven (Step Functions redrives Standard runs only)"
    if status == "succeeded":
        return "it succeeded: only a failed, timed-out or aborted run can be retried (stepweave rerun runs it again)"
    if status not in _RETRIABLE:
        return f"it is {status}: only a run that ended failed, timed out or aborted can be retried"
    return None


def _record(args: argparse.Namespace) -> Any:
    from stepweave.cli.records import execution_detail

    detail = execution_detail(args, args.execution)
    if detail is None:
        raise UsageError(f"no recorded execution matches {args.execution!r} (see stepweave executions)")
    return detail.record


def _refuse(name: str, why: str) -> Exception:
    from stepweave.local.redrive import NotRedrivable

    return NotRedrivable(f"cannot retry {name}: {why}")


def cmd_retry(args: argparse.Namespace) -> int:
    if args.aws:
        return _retry_aws(args)
    record = _record(args)
    why = not_retriable(record.status, record.execution_arn)
    if why is not None:
        raise _refuse(record.name, why)
    from stepweave.compiler.family import workflow_index

    folder = Path(args.workflows)
    found = workflow_index(folder).get(record.workflow) if folder.is_dir() else None
    if found is None:
        raise UsageError(f"no workflow named {record.workflow!r} in {folder}/ (pass --workflows DIR)")
    return _retry_local(args, record, str(found[0]))


def _retry_local(args: argparse.Namespace, record: Any, path: str) -> int:
    from stepweave.cli.pages import PagesWhileWaiting
    from stepweave.cli.run import _apply_env, _load, report_outcome
    from stepweave.local.approvals import parse_answers
    from stepweave.local.engine import LocalEngine
    from stepweave.local.progress import ProgressPrinter
    from stepweave.local.records import records_path
    from stepweave.local.redrive import redrive
    from stepweave.local.stopping import Terminated, record_stopped, terminate_as_interrupt
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.settings import Settings

    _apply_env(args.env or [])
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if args.debug else "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false" if args.debug else "true")
    compiled = _load(path)
    if compiled.workflow_type == "EXPRESS":
        raise _refuse(record.name, str(not_retriable("failed", ":express:")))
    printer = ProgressPrinter(compiled, sys.stderr, enabled=not args.quiet)
    settings = Settings.from_env()
    answers = parse_answers(args.approve or [], args.reject or [])
    waits = "approval" in compiled.handlers
    if not args.quiet:
        print(f"retry of {record.name} ({record.workflow}) from where it stopped", file=sys.stderr)
    with LocalEngine(records_file=records_path(settings), settings=settings) as engine, \
            PagesWhileWaiting(answers, lambda: Clients(sfn=engine.sfn, ddb=engine.records.ddb),
                              engine.records.settings, sys.stderr, serve=waits) as pages, \
            terminate_as_interrupt():
        try:
            result = redrive(engine, compiled, record.execution_arn, on_progress=printer,
                             timeout_s=float("inf") if waits else 600.0,
                             approver=pages if waits else None, poll_s=2.0)
        except KeyboardInterrupt as exc:
            for arn in record_stopped(engine)[-1:]:
                print(f"\nstopped: recorded as aborted (stepweave execution {arn.rsplit(':', 1)[-1]})",
                      file=sys.stderr)
            if isinstance(exc, Terminated):
                return 128 + 15
            raise
        count = engine.sfn.describe_execution(executionArn=record.execution_arn).get("redriveCount", 0)
    return report_outcome(args, printer, result, compiled, redriveCount=count)


def _retry_aws(args: argparse.Namespace) -> int:
    from stepweave.cli.aws import aws_client
    from stepweave.errors import aws_error_code

    if args.execution.startswith("arn:"):
        arn, name = args.execution, args.execution.rsplit(":", 1)[-1]
        if ":express:" in arn:
            raise _refuse(name, str(not_retriable("failed", arn)))
    else:
        record = _record(args)
        arn, name = record.execution_arn, record.name
        why = not_retriable(record.status, arn)
        if why is not None:
            raise _refuse(name, why)
    sfn = aws_client("stepfunctions", args.region)
    try:
        answer = sfn.redrive_execution(executionArn=arn)
    except Exception as exc:
        code = aws_error_code(exc)
        if code is None:
            raise
        message = str(exc).split(": ", 1)[-1]
        if code == "ExecutionNotRedrivable":
            raise _refuse(name, message) from None
        raise UsageError(f"cannot retry {name}: {code}: {message}") from None
    count = sfn.describe_execution(executionArn=arn).get("redriveCount")
    result = {"execution": arn, "status": "RUNNING", "redriveCount": count,
              "redriveDate": answer["redriveDate"].isoformat() if hasattr(answer.get("redriveDate"), "isoformat")
              else answer.get("redriveDate")}
    print(json.dumps(result, indent=2) if args.json else
          f"redriven {name} (redrive {count}): follow it with stepweave watch {name} --aws")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    from stepweave.cli.run import add_run_options

    p = sub.add_parser("retry", help="resume a failed run from the block that failed (redrive)",
                       description="Resume a failed, timed-out or aborted Standard run from where it "
                                   "stopped, with Step Functions' RedriveExecution: the same execution "
                                   "goes on, the blocks that succeeded are not run again. Locally on the "
                                   "embedded engine, or with --aws on the deployed state machine.")
    p.add_argument("execution", help="execution ARN, name, or a unique end of its ARN")
    add_run_options(p, "redrive a deployed execution (then: stepweave watch <execution> --aws)")
    p.set_defaults(func=cmd_retry)
