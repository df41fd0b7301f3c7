"""``stepweave rerun <execution>``: start a new run of a recorded execution's workflow with the
same input (or an edited one, ``--input``), locally on the embedded engine or, with
``--aws``, on the deployed state machine.

The new run's input is the recorded one with ``trigger`` set to ``{"type": "rerun", "of":
<the first run's ARN>, "previous": <its trigger, if its input had one>}``, so its record says
what it reruns. A record whose input was too large to keep whole cannot be rerun as is: the
command says so (give ``--input``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_rerun", "state_machine_of"]


def _usage(message: str) -> Exception:
    from stepweave.cli.errors import UsageError

    return UsageError(message)


def state_machine_of(execution_arn: str) -> str:
    """``arn:aws:states:<region>:<account>:(express|execution):<machine>:<name>[:...]`` ->
    the state machine's ARN."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] not in ("execution", "express"):
        raise _usage(f"{execution_arn!r} is not a Step Functions execution ARN")
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def _record(args: argparse.Namespace) -> Any:
    from stepweave.cli.records import execution_detail

    detail = execution_detail(args, args.execution)
    if detail is None:
        raise _usage(f"no recorded execution matches {args.execution!r} (see stepweave executions)")
    return detail.record


def cmd_rerun(args: argparse.Namespace) -> int:
    from stepweave.cli.run import cmd_run, read_input

    from stepweave.runtime.rerun import RerunError, rerun_input

    record = _record(args)
    try:
        payload = rerun_input(record, read_input(args.input) if args.input is not None else None)
    except RerunError as exc:
        raise _usage(f"{exc} (--input)") from None
    if args.aws:
        from stepweave.cli.aws import aws_client

        from stepweave.runtime.arns import alias_arn

        name = f"rerun-{uuid.uuid4().hex[:12]}"
        # through the workflow's `live` alias, as its triggers and the run API start it
        started = aws_client("stepfunctions", args.region).start_execution(
            stateMachineArn=alias_arn(state_machine_of(record.execution_arn)), name=name,
            input=json.dumps(payload))
        result = {"execution": started["executionArn"], "rerunOf": record.execution_arn,
                  "workflow": record.workflow}
        print(json.dumps(result, indent=2) if args.json else
              f"started {name}, a rerun of {record.name} ({record.workflow}): "
              f"stepweave execution {name} --aws")
        return 0
    from stepweave.compiler.family import workflow_index

    folder = Path(args.workflows)
    found = workflow_index(folder).get(record.workflow) if folder.is_dir() else None
    if found is None:
        raise _usage(f"no workflow named {record.workflow!r} in {folder}/ (pass --workflows DIR)")
    print(f"rerun of {record.name} ({record.workflow}) with "
          f"{'the given' if args.input is not None else 'its recorded'} input", file=sys.stderr)
    run_args = argparse.Namespace(
        file=str(found[0]), input=json.dumps(payload), trigger=None, event=None, env=args.env,
        json=args.json, quiet=args.quiet, approve=args.approve, reject=args.reject, debug=args.debug)
    return int(cmd_run(run_args))


def add_parser(sub: Any) -> None:
    from stepweave.cli.run import add_run_options

    p = sub.add_parser("rerun", help="run a recorded execution's workflow again, with its input",
                       description="Start a new run of a recorded execution's workflow with the "
                                   "same input (or --input), locally or with --aws.")
    p.add_argument("execution", help="execution ARN, name, or a unique end of its ARN")
    p.add_argument("--input", help="the input to use instead (inline JSON, or a JSON file)")
    add_run_options(p, "rerun a deployed execution (records table and state machine on AWS)")
    p.set_defaults(func=cmd_rerun)
