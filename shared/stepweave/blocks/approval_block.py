"""The ``approval`` block: ask people, by email, to answer a form; the run waits meanwhile.

The block's task is a ``lambda:invoke.waitForTaskToken``: this handler stores the approval
request in the records table, sends the email with the decision link and returns; the
task ends when the decision (``stepweave.runtime.approvals.decide``) answers the token.

Items (``stepweave.runtime.approvals``): the request, ``pk = APPROVAL#<id>``, ``sk = META``
(with the task token, which never leaves the server), and a pointer under the execution,
``pk = EXEC#<executionArn>``, ``sk = APPROVAL#<id>``. The id is opaque and unguessable
(``apr_`` + ``secrets.token_urlsafe(32)``). The email goes through SES when ``STEPWEAVE_APPROVAL_SENDER``
is set, else it is written as a ``.eml`` file into the outbox folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepweave.blocks.contract import BlockEvent
from stepweave.errors import BlockError, BlockInputError
from stepweave.runtime.approvals import (
    Approval,
    approval_items,
    approval_links,
    decision_link,
    mark_paused,
    record_notifications,
)
from stepweave.runtime.records import tenant_of
from stepweave.runtime.settings import Settings
from stepweave.values import map_strings

if TYPE_CHECKING:
    import httpx

__all__ = ["request_approval", "display_data", "approvers_of", "outbox_file", "NO_DEADLINE_SECONDS"]

#: Without a timeout the task may wait as long as a Standard run lives: a year.
NO_DEADLINE_SECONDS = 366 * 86_400
#: A lead-in's carried values go back to the run with the decision, within the 256 KiB a
#: task's result may have (the rest for the decision)
MAX_CARRY_BYTES = 240_000
APPROVAL_ID_PREFIX = "apr_"
#: the approval's own links a ``notify`` tool may quote -> their stand-in in the compiled
#: params (``stepweave.compiler.notify``), replaced by ``fill_links``
LINK_TOKENS = {"url": "[[stepweave:url]]", "resumeEndpoint": "[[stepweave:resumeEndpoint]]"}
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
#: What cannot stand in a header value: line breaks (which would end the header or
#: inject another), other control characters and lone surrogates (no UTF-8 form).
_NOT_IN_HEADER = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]+")


def header_text(value: str) -> str:
    """``value`` fit for one email header: each run of line breaks, control characters and
    lone surrogates becomes one space (``"Refund\nfor Ada"`` -> ``"Refund for Ada"``)."""
    return _NOT_IN_HEADER.sub(" ", value).strip()


def display_data(display: Any) -> dict[str, Any]:
    """Sim's builder rows ``[{name, type, value}]`` (or a mapping) -> ``{name: value}``."""
    if isinstance(display, dict):
        return dict(display)
    out: dict[str, Any] = {}
    for row in display or []:
        if isinstance(row, dict) and row.get("name"):
            out[str(row["name"])] = _typed(row.get("type"), row.get("value"))
    return out


def _typed(kind: Any, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind in ("object", "array", "json"):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def approvers_of(value: Any) -> list[str]:
    """Email addresses from a list or a comma/semicolon/space separated string."""
    items = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value or ""))
    emails = [str(item).strip() for item in items if str(item or "").strip()]
    bad = [e for e in emails if not _EMAIL.match(e)]
    if bad:
        raise BlockInputError(f"approvers: not email addresses: {', '.join(bad)}")
    return emails


def fill_links(value: Any, links: dict[str, str]) -> Any:
    """``value`` with the ``LINK_TOKENS`` replaced by the approval's links."""
    def fill(text: str) -> str:
        for field, token in LINK_TOKENS.items():
            text = text.replace(token, links[field])
        return text

    return map_strings(value, fill)


def new_approval_id() -> str:
    """An opaque, unguessable approval id: 256 random bits behind a fixed ``apr_`` prefix.

    The prefix keeps ids from starting with ``-`` (one raw url-safe token in 64 does),
    which command lines would read as an option, and makes them recognisable in logs.
    """
    return APPROVAL_ID_PREFIX + secrets.token_urlsafe(32)


def request_approval(event: BlockEvent, *, ddb: Any, ses: Any, settings: Settings,
                     now: float | None = None, secrets: Mapping[str, str] | None = None,
                     transport: httpx.BaseTransport | None = None,
                     carry: dict[str, Any] | None = None) -> Approval:
    """Store the request, run the ``notify`` tools (``secrets``: the named secrets they may
    use; ``transport``: an httpx transport, for tests) and keep what they did, then list the
    approval (the run's pointer, the waiting list), mark the run paused and send the email.
    Whoever finds the approval through a listing or the email finds the notifications
    recorded; a decision made from a notification's link while later tools still run has
    the results recorded so far. ``carry``: the variables a lead-in's stretch returned, kept
    with the request for the decision to give back (``stepweave.runtime.lead_in``)."""
    if not event.taskToken:
        raise BlockInputError("approval block invoked without a task token")
    params = event.params
    now = time.time() if now is None else now
    timeout = params.get("timeoutSeconds")
    approval = Approval(
        id=new_approval_id(), execution_arn=event.context.execution,
        workflow=event.context.workflow, block_id=event.block.id, block_name=event.block.name,
        position={k: v for k, v in (("loop", event.context.loop), ("parallel", event.context.parallel))
                  if v is not None},
        display=display_data(params.get("display")), form=list(params.get("form") or []),
        approvers=approvers_of(params.get("approvers")),
        subject=header_text(str(params.get("subject") or "")) or header_text(
            f"Approval needed: {event.block.name}"),
        message=str(params.get("message") or ""), status="pending",
        accept_extra_fields=params.get("acceptExtraFields") is True,
        created_at=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
        deadline=int(now + int(timeout)) if timeout else None,
        expires_at=int(now + int(timeout or NO_DEADLINE_SECONDS) + settings.retention_seconds),
        carry=carry, lead_in=carry is not None)
    if carry is not None and len(json.dumps(carry).encode()) > MAX_CARRY_BYTES:
        raise BlockError(f"the run's values before the approval take more than {MAX_CARRY_BYTES:,} "
                         "bytes, more than the request can keep: keep large outputs out of the "
                         "blocks before it, or set the workflow's split: off")
    if settings.approval_sender and not approval.approvers:
        raise BlockInputError("approvers: no email address to send the approval to")
    table = settings.require_table()
    tenant = tenant_of(ddb, settings, approval.execution_arn)
    if tenant:
        approval = replace(approval, tenant=tenant)
    # the email is built (and serialised) before anything is stored: a value it cannot
    # carry fails the block with nothing left behind
    message = _email(approval, settings)
    bytes(message)
    request, *others = approval_items(approval, task_token=event.taskToken)
    # the request first: from here on its link answers (a notification carries it)
    ddb.put_item(TableName=table, Item=request, ConditionExpression="attribute_not_exists(pk)")
    tools = params.get("notify") or []
    if tools:
        results = notify(approval, tools, settings=settings, secrets=secrets or {}, ses=ses,
                         transport=transport)
        record_notifications(ddb, settings, approval.id, results)
        approval = replace(approval, notifications=results)
    # then the listings (the run's pointer, the waiting list), the run's status and the email
    for item in others:
        ddb.put_item(TableName=table, Item=item)
    mark_paused(ddb, settings, approval.execution_arn)
    if settings.approval_sender:
        ses.send_email(Source=settings.approval_sender,
                       Destination={"ToAddresses": approval.approvers},
                       Message={"Subject": {"Data": approval.subject},
                                "Body": {"Text": {"Data": message.get_content()}}})
    elif settings.approval_delivery == "auto":
        _write_outbox(settings.outbox, approval, message)
    return approval


def notify(approval: Approval, tools: list[Any], *, settings: Settings, secrets: Mapping[str, str],
           ses: Any = None, transport: httpx.BaseTransport | None = None) -> list[dict[str, Any]]:
    """Run each ``notify`` tool with the approval's links in place of ``LINK_TOKENS``. A tool
    that fails is reported in its result and the others still run: the approval waits
    whatever a notification does (the email and the listings still lead to it)."""
    from stepweave.blocks.tool_block import run_tool_block
    from stepweave.errors import BlockError

    links = approval_links(settings, approval.id)
    results: list[dict[str, Any]] = []
    for spec in tools:
        spec = fill_links(spec, links)
        name = str(spec.get("tool") or "")
        try:
            output = run_tool_block(spec, secrets, settings=settings, transport=transport,
                                    clients={"ses": ses} if ses is not None else None)
        except BlockError as exc:
            results.append({"tool": name, "ok": False, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a notification never keeps the approval hidden
            results.append({"tool": name, "ok": False, "error": f"{name} tool: {type(exc).__name__}"})
        else:
            results.append({"tool": name, "ok": True, "output": output})
    return results


def _email(approval: Approval, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_text(approval.subject)
    message["From"] = settings.approval_sender or "stepweave@localhost"
    message["To"] = ", ".join(approval.approvers) or "undisclosed-recipients:;"
    message["X-Stepweave-Approval"] = header_text(approval.block_name)
    lines = [approval.message, ""] if approval.message else []
    lines += [f"{name}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}"
              for name, value in approval.display.items()]
    fields = ", ".join(f"{f.get('name')} ({f.get('type', 'string')})" for f in approval.form)
    lines += ["", f"Answer ({fields or 'no fields'}) here:", decision_link(settings, approval.id)]
    if approval.deadline:
        expires = datetime.fromtimestamp(approval.deadline, timezone.utc).isoformat(timespec="seconds")
        lines.append(f"The link expires at {expires}.")
    message.set_content("\n".join(lines) + "\n")
    return message


def _write_outbox(folder: Path, approval: Approval, message: EmailMessage) -> Path:
    # the email carries the decision link: readable by its owner only
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = approval.created_at.replace(":", "").replace("-", "")[:15]
    path = folder / f"{stamp}-{approval.id[:12]}.eml"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(bytes(message))
    return path


def outbox_file(settings: Settings, approval_id: str) -> Path | None:
    """The ``.eml`` written for an approval, if any."""
    found = sorted(settings.outbox.glob(f"*-{approval_id[:12]}.eml"))
    return found[-1] if found else None
