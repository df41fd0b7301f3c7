"""``stepweave approvals``: list pending approvals, approve or reject one.

Without options: against every waiting ``stepweave run`` and local ``stepweave serve`` of
the local state folder (each writes its address and the API key it made under
``<STEPWEAVE_LOCAL_DIR>/servers/``). With ``--url`` (or ``STEPWEAVE_PUBLIC_URL`` when none is
written down): that gateway's ``/v1/approvals`` with a run-API key (``--key`` or
``STEPWEAVE_API_KEY``). With ``--aws``: straight against the deployed records table and Step
Functions with your AWS credentials (every tenant's approvals; decided as
``cli:<your name>``). The same validation and one-winner decision as the emailed page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from stepweave.cli.aws import aws_client

__all__ = ["add_parser", "parse_fields"]

_DEFAULT_URL = "http://127.0.0.1:8787"
_NO_CREDENTIALS = ("--aws needs AWS credentials: set AWS_PROFILE (aws configure, aws sso login) or "
                   "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")


def parse_fields(pairs: list[str], json_text: str | None) -> dict[str, Any]:
    """``name=value`` pairs (values read as JSON when they parse: true, 3, "x", {...};
    else as text) over an optional JSON object."""
    from stepweave.cli.errors import UsageError

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

    from stepweave.cli.errors import UsageError

    responses: list[tuple[str, httpx.Response]] = []
    for base, key in _servers(args):
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                if args.action == "list":
                    response = client.get("/v1/approvals")
                else:
                    response = client.post(f"/v1/approvals/{args.id}/decision",
                                           json={"submission": _submission(args)})
        except httpx.TransportError as exc:
            if args.url:
                raise UsageError(f"cannot reach {base} ({type(exc).__name__}): is `stepweave serve` (or "
                                 "a waiting `stepweave run`) running there? Set --url or "
                                 "STEPWEAVE_PUBLIC_URL") from None
            continue  # a server that just ended
        responses.append((base, response))
        if args.action != "list" and response.status_code != 404:
            break  # the server that holds the approval answered
    if not responses:
        raise UsageError("no waiting `stepweave run` or `stepweave serve` answers any more; pass --url")
    if args.action != "list":
        return _result(args, responses[-1][1])
    approvals: list[Any] = []
    for _, response in responses:
        if response.status_code >= 400:
            return _result(args, response)
        approvals += response.json().get("approvals", [])
    return _show(args, {"approvals": approvals})


def _servers(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Where to ask, with which key: ``--url`` (or ``STEPWEAVE_PUBLIC_URL``) with ``--key`` (or
    ``STEPWEAVE_API_KEY``, or the key the server there wrote down); else every waiting run
    and local ``stepweave serve`` of the local state folder, with the keys they made."""
    from stepweave.cli.errors import UsageError
    from stepweave.local.decision_server import announced
    from stepweave.runtime.settings import Settings

    local_dir = Settings.from_env().local_dir
    found = announced(local_dir)
    given = args.key or os.environ.get("STEPWEAVE_API_KEY")
    url = args.url or (None if found else os.environ.get("STEPWEAVE_PUBLIC_URL"))
    if url or not found:
        base = (url or _DEFAULT_URL).rstrip("/")
        key = given or next((s.key for s in found if s.url.rstrip("/") == base and s.key), None)
        if not key:
            raise UsageError(f"no API key for {base}: pass --key or set STEPWEAVE_API_KEY (stepweave "
                             f"serve prints one; no waiting run or local serve is written down in "
                             f"{local_dir / 'servers'}; or use --aws against a deployment)")
        return [(base, key)]
    servers = []
    for server in found:
        key = server.key or given
        if not key:
            raise UsageError(f"the {server.kind} at {server.url} (process {server.pid}) takes "
                             "$STEPWEAVE_API_KEY: set it or pass --key")
        servers.append((server.url.rstrip("/"), args.key or key))
    return servers


def _result(args: argparse.Namespace, response: Any) -> int:
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
    from botocore.exceptions import NoCredentialsError

    from stepweave.cli.errors import UsageError
    from stepweave.runtime.approvals import ApprovalError, approval_summary, decide, list_pending
    from stepweave.runtime.recorder import Clients
    from stepweave.runtime.settings import Settings

    settings = Settings.from_env()
    table = args.table or settings.table
    if not table:
        raise UsageError("--aws needs the records table: pass --table NAME or set STEPWEAVE_TABLE")
    settings = settings.model_copy(update={"table": table})
    clients = Clients(sfn=aws_client("stepfunctions", args.region), ddb=aws_client("dynamodb", args.region))
    if args.action == "list":
        try:
            pending = list_pending(clients.ddb, settings)
        except NoCredentialsError:
            raise UsageError(_NO_CREDENTIALS) from None
        return _show(args, {"approvals": [approval_summary(a) for a in pending]})
    who = f"cli:{os.environ.get('USER') or 'unknown'}"
    try:
        output = decide(args.id, _submission(args), decided_by=who, clients=clients, settings=settings)
    except ApprovalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        raise UsageError(_NO_CREDENTIALS) from None
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
                   default="list", help="default: list (decide: submit --set/--fields as given)")
    p.add_argument("id", nargs="?", help="the approval id (from the list or the emailed link)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a form field (JSON values: true, 3, \"text\"); repeatable")
    p.add_argument("--fields", help="the form fields as a JSON object")
    p.add_argument("--url", help="the gateway (default: the waiting runs and local serves written "
                                 f"down in the local state folder, else $STEPWEAVE_PUBLIC_URL or {_DEFAULT_URL})")
    p.add_argument("--key", help="a run-API key (default: the one the server wrote down, else "
                                 "$STEPWEAVE_API_KEY)")
    p.add_argument("--aws", action="store_true",
                   help="the deployed table and Step Functions, with your AWS credentials")
    p.add_argument("--table", help="the records table for --aws (default $STEPWEAVE_TABLE)")
    p.add_argument("--region", help="the AWS region for --aws (default $AWS_REGION or your profile's)")
    p.add_argument("--json", dest="json_output", action="store_true", help="print JSON")
    p.set_defaults(func=_checked)


def _checked(args: argparse.Namespace) -> int:
    from stepweave.cli.errors import UsageError

    if args.action != "list" and not args.id:
        raise UsageError(f"approvals {args.action}: which approval? (pass its id)")
    return cmd_approvals(args)
