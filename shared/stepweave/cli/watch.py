"""``stepweave watch <execution>``: a run's live progress in the terminal, until it ends.

Each block's start, end and failure is printed as ``stepweave run`` prints a local run
(``stepweave.local.progress``), the runs of its sub-workflow blocks indented under it, then
the outcome; the exit code is ``stepweave run``'s (0 succeeded, 1 failed, timed out or
aborted); ``--json`` prints one JSON document at the end instead.

* ``--aws``: a deployed execution, from ``DescribeExecution`` and ``GetExecutionHistory``
  (read backwards down to the last event seen, so a poll reads only what is new). Of a
  redriven execution, the current attempt is shown (from its last ``ExecutionRedriven``).
* locally: a run of the embedded engine in another process (``stepweave serve``, the run
  API, ``stepweave run``), from its live history file (``stepweave.local.live``); a run that
  has ended is shown from its record and block logs.

The workflow files (``--workflows``, default ``workflows/``) give the blocks' names; without
them the states' names are shown.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_OK, UsageError

__all__ = ["add_parser", "cmd_watch"]

_CHILD = re.compile(r'"ExecutionArn"\s*:\s*"(arn:[^"]+:execution:[^"]+)"')
_FINAL_EVENTS = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED",
                 "ExecutionAborted": "ABORTED", "ExecutionTimedOut": "TIMED_OUT"}


@dataclass
class Final:
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    duration_ms: int | None = None
    redrive_count: int = 0


@dataclass
class _Followed:
    arn: str
    poll: Callable[[], tuple[list[dict[str, Any]], Final | None]]
    show: Callable[[dict[str, Any]], None]
    final: Final | None = None
    children: list[str] = field(default_factory=list)


class _Prefixed:
    """A text stream that starts each line with ``prefix``."""

    def __init__(self, out: IO[str], prefix: str) -> None:
        self.out, self.prefix, self._fresh = out, prefix, True

    def write(self, text: str) -> int:
        for part in text.splitlines(keepends=True):
            if self._fresh:
                self.out.write(self.prefix)
            self.out.write(part)
            self._fresh = part.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _printer(compiled: Any, out: Any, enabled: bool) -> Callable[[dict[str, Any]], None]:
    """Events -> progress lines: the workflow's blocks when known, else the states."""
    from stepweave.local.engine import _progress as progress_of

    by_id: dict[Any, dict[str, Any]] = {}
    if compiled is not None:
        from stepweave.local.progress import ProgressPrinter

        printer = ProgressPrinter(compiled, out, enabled=enabled)

        def show(event: dict[str, Any]) -> None:
            by_id[event.get("id")] = event
            step = progress_of(event, by_id)
            if step is not None:
                printer(step)
        return show

    def show_states(event: dict[str, Any]) -> None:
        by_id[event.get("id")] = event
        step = progress_of(event, by_id)
        if step is None or not enabled or step.state == "ExecutionFailed":
            return
        mark = {"started": "▶", "succeeded": "✔", "failed": "✖"}[step.kind]
        out.write(f"  {mark} {step.state}{'  ' + step.detail if step.detail else ''}\n")
        out.flush()
    return show_states


def _final_of_event(event: dict[str, Any], started: Any) -> Final | None:
    status = _FINAL_EVENTS.get(str(event.get("type")))
    if status is None:
        return None
    details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
    output = details.get("output")
    try:
        output = json.loads(output) if isinstance(output, str) else output
    except ValueError:
        pass
    stamp = event.get("timestamp")
    duration = round((stamp - started).total_seconds() * 1000) if hasattr(stamp, "timestamp") and \
        hasattr(started, "timestamp") else None
    return Final(status, output, details.get("error"), details.get("cause"), duration)


def _children(event: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict) and isinstance(details.get("output"), str):
            found += _CHILD.findall(details["output"])
    return found


# -- where events come from ------------------------------------------------------------------------

class _AwsHistory:
    def __init__(self, sfn: Any, arn: str) -> None:
        self.sfn, self.arn, self.last, self.first = sfn, arn, 0, True
        self.started: Any = None

    def __call__(self) -> tuple[list[dict[str, Any]], Final | None]:
        desc = self.sfn.describe_execution(executionArn=self.arn)
        collected: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.arn, "reverseOrder": True, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            older = [e for e in page["events"] if int(e["id"]) > self.last]
            collected += older
            if len(older) < len(page["events"]) or not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        collected.sort(key=lambda e: int(e["id"]))  # oldest first (whichever order was served)
        if collected:
            self.last = int(collected[-1]["id"])
        if self.first:  # of a redriven execution, the current attempt
            self.first = False
            redriven = [i for i, e in enumerate(collected) if e["type"] == "ExecutionRedriven"]
            if redriven:
                collected = collected[redriven[-1]:]
        for event in collected:
            if event["type"] in ("ExecutionStarted", "ExecutionRedriven"):
                self.started = event["timestamp"]
        if desc["status"] in ("RUNNING", "PENDING_REDRIVE"):
            return collected, None
        output = desc.get("output")
        stop = desc.get("stopDate")
        start = self.started or desc.get("redriveDate") or desc.get("startDate")
        return collected, Final(
            str(desc["status"]), json.loads(output) if output else None, desc.get("error"), desc.get("cause"),
            round((stop - start).total_seconds() * 1000) if stop is not None and start is not None else None,
            int(desc.get("redriveCount") or 0))


class _LocalHistory:
    """A live file while the run goes on; its record once it has ended."""

    def __init__(self, args: argparse.Namespace, folder: Path, arn: str) -> None:
        self.args, self.folder, self.arn = args, folder, arn
        self.offset = 0
        self.started: Any = None
        self.path: Path | None = None

    def __call__(self) -> tuple[list[dict[str, Any]], Final | None]:
        from stepweave.local.live import live_file, read_events

        path = live_file(self.folder, self.arn)
        if path.is_file():
            if self.path != path or path.stat().st_size < self.offset:  # a redrive's file starts over
                self.path, self.offset = path, 0
            events, self.offset = read_events(path, self.offset)
            final = None
            for event in events:
                if event.get("type") in ("ExecutionStarted", "ExecutionRedriven"):
                    self.started = event.get("timestamp")
                final = final or _final_of_event(event, self.started)
            if final is not None or events:
                return events, final
        # no live file, or one that stopped growing (its process may be gone): the record tells
        record = _recorded(self.args, self.arn)
        if record is None or record.status not in ("succeeded", "failed", "timed_out", "aborted"):
            return [], None
        return [], _final_of_record(record)


class _Spliced:
    """A split run's events as the unsplit run's (``stepweave.runtime.stretches``, as ``stepweave
    run`` shows them): each stretch's events, read from its live file, in place of the task
    that ran it, rather than the stretch as a nested run."""

    def __init__(self, poll: Callable[[], tuple[list[dict[str, Any]], Final | None]], added: dict[str, str],
                 folder: Path) -> None:
        from stepweave.runtime.stretches import Splicer

        self.poll, self.folder = poll, folder
        self.offsets: dict[str, int] = {}
        self.splicer = Splicer(added, self._child)

    def _child(self, arn: str, seen: int) -> list[dict[str, Any]]:
        from stepweave.local.live import live_file, read_events

        events, self.offsets[arn] = read_events(live_file(self.folder, arn), self.offsets.get(arn, 0))
        return events

    def __call__(self) -> tuple[list[dict[str, Any]], Final | None]:
        events, final = self.poll()
        self.splicer.feed(events)
        return self.splicer.poll(), final


def _recorded(args: argparse.Namespace, arn: str) -> Any:
    from stepweave.cli.records import execution_detail

    detail = execution_detail(args, arn)
    return None if detail is None else detail.record


def _final_of_record(record: Any) -> Final:
    output = record.output
    try:
        output = json.loads(output) if output is not None else None
    except ValueError:
        pass
    return Final(record.status.upper(), output, record.error, record.cause, record.duration_ms,
                 record.redrive_count or 0)


# -- the command ---------------------------------------------------------------------------------

def _compiled_for(args: argparse.Namespace, machine: str) -> Any:
    """The workflow of a state machine (``<workflow>-<hex>`` locally, ``<prefix><workflow>``
    deployed), compiled from the workflow files; None when not found."""
    from stepweave.compiler.family import workflow_index

    folder = Path(args.workflows)
    if not folder.is_dir():
        return None
    name = machine.rsplit(":", 1)[-1]
    index = workflow_index(folder)
    match = [w for w in index if name == w or name.endswith("-" + w) or name.startswith(w + "-")
             or name.endswith(w)]
    if not match:
        return None
    from stepweave.cli.run import _load

    try:
        return _load(str(index[max(match, key=len)][0]))
    except Exception:  # noqa: BLE001 - an invalid file: states' names instead
        return None


def _resolve(args: argparse.Namespace) -> tuple[str, Any]:
    """The execution's ARN, and its record when there is one."""
    if args.execution.startswith("arn:") and args.aws:
        return args.execution, None
    from stepweave.cli.records import execution_detail

    detail = execution_detail(args, args.execution)
    if detail is not None:
        return str(detail.record.execution_arn), detail.record
    if not args.aws:
        from stepweave.local.live import find

        live = find(_live_folder(), args.execution)
        if live is not None:
            return str(live[1]["executionArn"]), None
    raise UsageError(f"no execution matches {args.execution!r} (see stepweave executions"
                     f"{' --aws' if args.aws else ''})")


def _live_folder() -> Path:
    from stepweave.local.live import FOLDER
    from stepweave.runtime.settings import Settings

    return Settings.from_env().local_dir / FOLDER


def _machine_of(arn: str) -> str:
    parts = arn.split(":")
    return ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) >= 8 else arn


def cmd_watch(args: argparse.Namespace) -> int:
    if not 0.01 <= args.poll <= 60:
        raise UsageError(f"--poll: {args.poll:g} seconds; give 0.01 to 60")
    arn, record = _resolve(args)
    out = sys.stderr
    show_progress = not args.quiet and not args.json
    sfn = None
    if args.aws:
        from stepweave.cli.aws import aws_client

        sfn = aws_client("stepfunctions", args.region)
    compiled = _compiled_for(args, _machine_of(arn))
    name = arn.rsplit(":", 1)[-1]
    if show_progress:
        print(f"watching {name}" + (f" ({compiled.name})" if compiled is not None else ""), file=out)

    def follow(execution: str, workflow: Any, stream: Any) -> _Followed:
        poll: Callable[[], tuple[list[dict[str, Any]], Final | None]] = (
            _AwsHistory(sfn, execution) if sfn is not None else _LocalHistory(args, _live_folder(), execution))
        return _Followed(execution, poll, _printer(workflow, stream, show_progress))

    if sfn is None and record is not None and record.status in ("succeeded", "failed", "timed_out", "aborted"):
        from stepweave.local.live import live_file

        if not live_file(_live_folder(), arn).is_file():  # it ended a while ago: its record tells
            if show_progress:
                _print_blocks(out, args, arn)
            return _finish(args, arn, name, _final_of_record(record), [])
    root = follow(arn, compiled, out)
    if sfn is None and compiled is not None and compiled.split_states:  # its stretches spliced in
        root.poll = _Spliced(root.poll, dict(compiled.split_states), _live_folder())
    followed = [root]
    by_machine = {} if compiled is None else {c.name: c for c in _family(compiled)}
    while True:
        for item in list(followed):
            if item.final is not None:
                continue
            events, final = item.poll()
            for event in events:
                for child in _children(event):
                    if child not in item.children and all(f.arn != child for f in followed):
                        item.children.append(child)
                        machine = child.split(":")[6] if len(child.split(":")) > 6 else child
                        workflow = next((c for n, c in by_machine.items()
                                         if machine == n or machine.endswith(n) or machine.startswith(n + "-")),
                                        None)
                        label = workflow.name if workflow is not None else machine
                        followed.append(follow(child, workflow, _Prefixed(out, f"    ↳ {label}: ")))
                item.show(event)
            item.final = final
        if root.final is not None:
            _settle(followed)
            break
        time.sleep(args.poll)
    final = root.final
    return _finish(args, arn, name, final, [f.arn for f in followed[1:]])


def _finish(args: argparse.Namespace, arn: str, name: str, final: Final, children: list[str]) -> int:
    out = sys.stderr
    if args.json:
        print(json.dumps({"execution": arn, "status": final.status, "output": final.output,
                          "error": final.error, "cause": final.cause, "durationMs": final.duration_ms,
                          "redriveCount": final.redrive_count,
                          "subWorkflowExecutions": children}, indent=2))
    else:
        _summary(out, name, final, args.aws)
        if final.status == "SUCCEEDED" and not args.quiet:
            print(json.dumps(final.output, indent=2))
    return EXIT_OK if final.status == "SUCCEEDED" else EXIT_FAILED


def _settle(followed: list[_Followed]) -> None:
    """The root ended: children that have not reported an end are read once more."""
    for item in followed[1:]:
        if item.final is None:
            events, item.final = item.poll()
            for event in events:
                item.show(event)


def _print_blocks(out: IO[str], args: argparse.Namespace, arn: str) -> None:
    """A recorded run's block logs, as its progress lines would have ended."""
    from stepweave.cli.records import execution_detail

    detail = execution_detail(args, arn)
    for block in detail.blocks if detail is not None else []:
        where = f" [#{(block.iteration if block.iteration is not None else block.branch) + 1}]" \
            if block.iteration is not None or block.branch is not None else ""
        if block.success:
            took = f"  {block.duration_ms} ms" if block.duration_ms is not None else ""
            out.write(f"  ✔ {block.name} ({block.type}){where}{took}\n")
        else:
            out.write(f"  ✖ {block.name} ({block.type}){where}  {block.error or 'failed'}\n")
    out.flush()


def _family(compiled: Any) -> list[Any]:
    found = [compiled]
    for child in compiled.children.values():
        found += _family(child)
    return found


def _summary(out: IO[str], name: str, final: Final, aws: bool) -> None:
    from stepweave.local.failures import describe

    mark = "✔" if final.status == "SUCCEEDED" else "✖"
    took = f" in {final.duration_ms} ms" if final.duration_ms is not None else ""
    out.write(f"{mark} {final.status}{took}\n")
    if final.redrive_count:
        out.write(f"  retried {final.redrive_count} time{'s' if final.redrive_count > 1 else ''}\n")
    if final.error:
        out.write(f"  error: {describe(final.error, final.cause)}\n")
    out.write(f"  block logs: stepweave execution {name}{' --aws' if aws else ''}\n")
    out.flush()


def add_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow a run's progress until it ends",
                       description="Show a run's progress (its blocks, its sub-workflows' runs) until it "
                                   "ends, as stepweave run shows a local one; exit 0 when it succeeds, 1 "
                                   "otherwise. A local run (stepweave serve, the run API, stepweave run in "
                                   "another shell), or a deployed one with --aws.")
    p.add_argument("execution", help="execution ARN, name, or a unique end of its ARN")
    p.add_argument("--workflows", default="workflows",
                   help="folder of workflow files, for the blocks' names (default workflows/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the outcome")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout when the run ends")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between reads (default 0.5)")
    p.add_argument("--aws", action="store_true", help="a deployed execution")
    p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")
    p.add_argument("--region", help="the AWS region for --aws")
    p.set_defaults(func=cmd_watch)
