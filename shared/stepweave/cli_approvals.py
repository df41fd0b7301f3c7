"""``stepweave approvals``: list pending approvals, approve or reject one.

Against a running gateway (``stepweave serve``, or a waiting ``stepweave run``: both serve
``/v1/approvals`` on ``STEPWEAVE_PUBLIC_URL``) with a run-API key (``--key`` or
``STEPWEAVE_API_KEY``), or with ``--aws`` straight against the deployed records table and
Step Functions with your AWS credentials (every tenant's approvals; decided as
``cli:<your name>``). The same validation and one-winner decision as the emailed page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["add_parser", "parse_fields"]

_DEFAULT_URL = "http://127.0.0.1:8787"


def parse_fields(pairs: list[str], json_text: str | None) -> dict[str, Any]:
    """``name=value`` pairs (values read as JSON when they parse: true, 3, "x", {...};
    else as text) over an optional JSON object."""
    from stepweave.cli import UsageError

    fields: dict[str, Any] = {}
    if json_text:
        try:
            loaded = json.loads(json_text)
        except ValueError as exc:
            raise UsageError(f"--fields: not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError("--fields: expected a JSON object of form fields")
        fields.update(loaded)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {pair!r}: expected NAME=VALUE")
        try:
            fields[name.strip()] = json.loads(text)
        except ValueError:
            fields[name.strip()] = text
    return fields


def _submission(args: argparse.Namespace) -> dict[str, Any]:
    fields = parse_fields(args.set or [], args.fields)
    if args.action in ("approve", "reject"):
        fields.setdefault("approved", args.action == "approve")
    return fields


def cmd_approvals(args: argparse.Namespace) -> int:
    if args.aws:
        return _aws(args)
    return _http(args)


def _http(args: argparse.Namespace) -> int:
    import httpx

    from stepweave.cli import UsageError

    key = args.key or os.environ.get("STEPWEAVE_API_KEY")
    if not key:
        raise UsageError("no API key: pass --key or set STEPWEAVE_API_KEY (stepweave serve prints "
                         "one; or use --aws against a deployment)")
    base = (args.url or os.environ.get("STEPWEAVE_PUBLIC_URL") or _DEFAULT_URL).rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            if args.action == "list":
                response = client.get("/v1/approvals")
            else:
                response = client.post(f"/v1/approvals/{args.id}/decision",
                                       json={"submission": _submission(args)})
    except httpx.TransportError as exc:
        raise UsageError(f"cannot reach {base} ({type(exc).__name__}): is `stepweave serve` (or a "
                         "waiting `stepweave run`) running there? Set --url or STEPWEAVE_PUBLIC_URL")
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:200]}}
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        print(f"error {response.status_code}: {error.get('message', 'request failed')}", file=sys.stderr)
        return 1
    return _show(args, body)


def _aws(args: argparse.Namespace) -> int:
    import boto3

    from stepweave.cli import UsageError
    from stepweave.runtime.approvals import ApprovalError, approval_summary, decide, list_pending
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.settings import Settings

    settings = Settings.from_env()
    table = args.table or settings.table
    if not table:
        raise UsageError("--aws needs the records table: pass --table NAME or set STEPWEAVE_TABLE")
    settings = settings.model_copy(update={"table": table})
    clients = Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"))
    if args.action == "list":
        pending = list_pending(clients.ddb, settings)
        return _show(args, {"approvals": [approval_summary(a) for a in pending]})
    who = f"cli:{os.environ.get('USER') or 'unknown'}"
    try:
        output = decide(args.id, _submission(args), decided_by=who, clients=clients, settings=settings)
    except ApprovalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return _show(args, {"approval": args.id, "output": output})


def _show(args: argparse.Namespace, body: dict[str, Any]) -> int:
    if args.json_output:
        print(json.dumps(body, indent=2))
        return 0
    if args.action != "list":
        output = body.get("output", {})
        fields = {k: v for k, v in output.items() if k not in ("submission", "submittedAt", "decidedBy")}
        print(f"decided {body.get('block') or body.get('approval')}: {json.dumps(fields)} "
              f"by {output.get('decidedBy')} at {output.get('submittedAt')}")
        return 0
    approvals = body.get("approvals", [])
    if not approvals:
        print("no pending approvals")
    for a in approvals:
        form = ", ".join(f"{f.get('name')}:{f.get('type', 'string')}" for f in a.get("form", []))
        deadline = f" (deadline {a['deadline']})" if a.get("deadline") else ""
        print(f"{a['id']}  {a.get('workflow')} / {a.get('block')}{deadline}")
        print(f"    {a.get('subject') or ''}  form: {form or '-'}")
        for name, value in (a.get("display") or {}).items():
            print(f"    {name}: {value if isinstance(value, str) else json.dumps(value)}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("approvals", help="list pending approvals; approve or reject one")
    p.add_argument("action", nargs="?", choices=("list", "approve", "reject", "decide"),
                   default="list", help="default: list (decide: submit --set/--json as given)")
    p.add_argument("id", nargs="?", help="the approval id (from the list or the emailed link)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a form field (JSON values: true, 3, \"text\"); repeatable")
    p.add_argument("--fields", help="the form fields as a JSON object")
    p.add_argument("--url", help=f"the gateway (default $STEPWEAVE_PUBLIC_URL or {_DEFAULT_URL})")
    p.add_argument("--key", help="a run-API key (default $STEPWEAVE_API_KEY)")
    p.add_argument("--aws", action="store_true",
                   help="the deployed table and Step Functions, with your AWS credentials")
    p.add_argument("--table", help="the records table for --aws (default $STEPWEAVE_TABLE)")
    p.add_argument("--json", dest="json_output", action="store_true", help="print JSON")
    p.set_defaults(func=_checked)


def _checked(args: argparse.Namespace) -> int:
    from stepweave.cli import UsageError

    if args.action != "list" and not args.id:
        raise UsageError(f"approvals {args.action}: which approval? (pass its id)")
    return cmd_approvals(args)
