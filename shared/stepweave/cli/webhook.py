"""``stepweave webhook``: send a webhook delivery as its provider would, signed.

    stepweave webhook orders --payload order.json --sign [--url http://127.0.0.1:8787]

``<workflow>`` is a workflow file, or the name of one in ``--workflows`` (default
``workflows/``); its webhook trigger says how to sign. With ``--sign`` the signature is
computed with the trigger's secret read from the environment (``export
STRIPE_WEBHOOK_SECRET=...``) and sent in the provider's header, with the provider's
delivery id header (``--delivery`` to choose it; the same id again is a provider retry).
Prints the status and the answer; exits 0 on a 2xx answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_webhook", "request_headers"]

_ID_HEADERS = {"shopify": "X-Shopify-Webhook-Id", "github": "X-GitHub-Delivery"}


def _usage(message: str) -> Exception:
    from stepweave.cli.errors import UsageError

    return UsageError(message)


def _find(workflow: str, folder: Path) -> Any:
    from stepweave.errors import WorkflowError
    from stepweave.workflow.loader import load_workflow, workflow_files

    if Path(workflow).is_file():
        return load_workflow(workflow)
    if folder.is_dir():
        for path in workflow_files(folder):
            try:
                loaded = load_workflow(path)
            except WorkflowError:
                continue  # not a workflow (a payload file), or another broken one
            if loaded.name == workflow:
                return loaded
    raise _usage(f"no workflow file or workflow named {workflow!r} in {folder}/")


def request_headers(trigger: Any, body: bytes, *, sign: bool, delivery: str | None,
                    env: Any = None, now: float | None = None) -> dict[str, str]:
    """The headers of a delivery of ``body`` to ``trigger`` (a ``WebhookTrigger``)."""
    from stepweave.runtime.secrets import Secrets
    from stepweave.runtime.settings import Settings
    from stepweave.triggers.signatures import sign as signed

    scheme = trigger.signature.scheme
    headers = {"Content-Type": "application/json" if trigger.body == "json" else "text/plain",
               "User-Agent": "stepweave-webhook"}
    header = _ID_HEADERS.get(scheme) or (trigger.dedupHeader if scheme in ("hmac", "none") else None)
    if header:
        headers[header] = delivery or str(uuid.uuid4())
    if sign and scheme != "none":
        secrets = Secrets(Settings(), env=env)  # env None: the process environment
        name = trigger.signature.secret
        secret = secrets.lookup(name)
        if not secret:
            raise _usage(f"--sign: secret '{name}' is not set (export {name}=...)")
        headers.update(signed(trigger.signature, body, secret, now=time.time() if now is None else now))
    return headers


def cmd_webhook(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    from stepweave.runtime.settings import Settings
    from stepweave.triggers.declare import WebhookTrigger

    base = args.url or Settings.from_env().public_url
    workflow = _find(args.workflow, Path(args.workflows))
    trigger = next((t for t in workflow.triggers if isinstance(t, WebhookTrigger)), None)
    if trigger is None:
        raise _usage(f"workflow '{workflow.name}' declares no webhook trigger (triggers: - type: webhook)")
    try:
        body = sys.stdin.buffer.read() if args.payload == "-" else (
            Path(args.payload).read_bytes() if args.payload else b"{}")
    except OSError as exc:
        raise _usage(f"--payload: cannot read {args.payload}: {exc.strerror}") from None
    headers = request_headers(trigger, body, sign=args.sign, delivery=args.delivery)
    url = f"{base.rstrip('/')}/webhooks/{workflow.name}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise _usage(f"cannot reach {base} ({getattr(exc, 'reason', exc)}): is `stepweave serve` "
                     "running?") from None
    text = answer.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(text), indent=2)
    except ValueError:
        pass
    print(f"HTTP {status}", file=sys.stderr)
    print(text)
    return 0 if 200 <= status < 300 else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("webhook", help="send a (signed) webhook delivery to stepweave serve")
    p.add_argument("workflow", help="a workflow file, or the name of one in --workflows")
    p.add_argument("--payload", help="the body: a file, or - for stdin (default {})")
    p.add_argument("--sign", action="store_true",
                   help="sign as the trigger's provider would, with its secret from the environment")
    p.add_argument("--delivery", help="the delivery id header (default: a new one)")
    p.add_argument("--url", help="the gateway (default $STEPWEAVE_PUBLIC_URL or http://127.0.0.1:8787)")
    p.add_argument("--workflows", default="workflows", help="folder of workflow files (default workflows/)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.set_defaults(func=cmd_webhook)
