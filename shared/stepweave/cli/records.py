"""``stepweave executions`` and ``stepweave execution``: reading execution records.

Local by default (the records ``stepweave run`` keeps in ``.stepweave/records.db``, read
through the same query code as the deployed table); ``--aws`` reads the deployed table with
the caller's credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stepweave.cli.aws import records_table
from stepweave.runtime.pricing import record_bill
from stepweave.runtime.records import BlockLog, ExecutionRecord

__all__ = ["add_parsers", "cmd_executions", "cmd_execution", "execution_detail"]

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "aborted", "paused")


def _usage(message: str) -> Exception:
    from stepweave.cli.errors import UsageError

    return UsageError(message)


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] if iso else "-"


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m {seconds:02d}s"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines) + "\n"


def _dump(model: ExecutionRecord | BlockLog) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def cmd_executions(args: argparse.Namespace) -> int:
    from stepweave.runtime.query import CursorError, list_executions

    status = args.status.lower() if args.status else None
    if status is not None and status not in STATUSES:
        raise _usage(f"--status must be one of {', '.join(STATUSES)}")
    if args.limit < 1:
        raise _usage("--limit must be at least 1")
    with records_table(args) as (ddb, settings):
        try:
            page = list_executions(ddb, settings, workflow=args.workflow, status=status,
                                   limit=args.limit, cursor=args.cursor)
        except CursorError as exc:
            raise _usage(f"--cursor: {exc}") from None
    if args.json:
        print(json.dumps({"items": [_dump(r) for r in page.items], "cursor": page.cursor}, indent=2))
        return 0
    if not page.items:
        print("no executions recorded" + ("" if args.aws else " here yet (stepweave run records them)"))
        return 0
    rows = [[r.name, r.workflow, r.status, _when(r.started_at), _duration(r.duration_ms)] for r in page.items]
    sys.stdout.write(_table(["NAME", "WORKFLOW", "STATUS", "STARTED (UTC)", "DURATION"], rows))
    if page.cursor:
        print(f"more: --cursor {page.cursor}")
    return 0


def _where(log: BlockLog, names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(c, c)} #{i + 1}" for c, i in log.where.items()) or "-"


def _print_execution(record: ExecutionRecord, blocks: list[BlockLog]) -> None:
    print(f"{record.name}  {record.workflow}  {record.status}")
    print(f"  execution: {record.execution_arn}")
    print(f"  started:   {_when(record.started_at)} UTC   duration: {_duration(record.duration_ms)}   "
          f"trigger: {record.trigger.get('type', '-')}")
    if record.redrive_count:
        print(f"  retried:   {record.redrive_count} time{'s' if record.redrive_count > 1 else ''} "
              f"(redriven from where it stopped), last at {_when(str(record.redriven_at))} UTC")
    bill = record_bill(record)
    if bill is not None:  # in the words of `stepweave run`
        print(f"  AWS would bill: {bill.text()}")
    elif record.transitions is not None:  # recorded without its workflow type: its own figures
        print(f"  billed:    {record.transitions} state transitions, "
              f"{record.lambda_invocations or 0} Lambda invocations")
    if record.error or record.cause:
        print(f"  error:     {record.error}: {record.cause}")
    if record.unlogged_items:
        print(f"  unlogged:  {record.unlogged_items} item(s) of distributed parallels or loops: "
              "their blocks have no block logs (the recorder reads the first and the failed ones)")
    if record.output is not None:
        cut = " (preview)" if record.output_truncated else ""
        print(f"  output{cut}: {record.output[:200]}{'...' if len(record.output) > 200 else ''}")
    if not blocks:
        print("  no block logs")
        return
    names = {b.block_id: b.name for b in blocks}
    rows = [[b.name, b.type, _where(b, names), "ok" if b.success else "failed", _duration(b.duration_ms),
             (b.error or "").replace("\n", " ")[:120]] for b in blocks]
    sys.stdout.write("\n" + _table(["BLOCK", "TYPE", "WHERE", "STATUS", "DURATION", "ERROR"], rows))


def execution_detail(args: argparse.Namespace, ident: str) -> Any:
    """The recorded execution ``ident`` names (ARN, name, or a unique end of its ARN) with
    its block logs, or None; a usage error when it names several."""
    from stepweave.runtime.query import find_execution, get_execution

    with records_table(args) as (ddb, settings):
        matches = find_execution(ddb, settings, ident)
        if len(matches) > 1:
            raise _usage(f"{ident!r} matches {len(matches)} executions: " + ", ".join(matches[:5]))
        return get_execution(ddb, settings, matches[0]) if matches else None


def cmd_execution(args: argparse.Namespace) -> int:
    from stepweave.runtime.approvals import approval_summary

    detail = execution_detail(args, args.id)
    if detail is None:
        print(f"stepweave: no execution matches {args.id!r}", file=sys.stderr)
        return 1
    waiting = [approval_summary(a) for a in detail.approvals]
    if args.json:
        bill = record_bill(detail.record)
        print(json.dumps({"execution": _dump(detail.record), "blocks": [_dump(b) for b in detail.blocks],
                          "waitingFor": waiting, "bill": None if bill is None else bill.as_json()},
                         indent=2))
    else:
        _print_execution(detail.record, detail.blocks)
        for a in waiting:
            where = "".join(f" {k} {v.get('index')}" for k, v in a["position"].items())
            print(f"  waiting for approval '{a['block']}'{where} since {_when(a['createdAt'])} UTC: "
                  f"stepweave approvals approve {a['id']}")
    return 0


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--aws", action="store_true",
                   help="read the deployed records table (your AWS credentials)")
    p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("executions", help="list recorded executions, newest first")
    p.add_argument("--workflow", help="only this workflow's executions")
    p.add_argument("--status", help=f"only this status ({', '.join(STATUSES)})")
    p.add_argument("--limit", type=int, default=20, help="page size (default 20)")
    p.add_argument("--cursor", help="the cursor printed by the previous page")
    _source_options(p)
    p.set_defaults(func=cmd_executions)
    p = sub.add_parser("execution", help="one execution and its block logs")
    p.add_argument("id", help="execution ARN, name, or a unique end of its ARN")
    _source_options(p)
    p.set_defaults(func=cmd_execution)
