"""The ``email`` tool: a plain-text (and optional HTML) email through Amazon SES.

The sender is ``from`` or, by default, ``STEPWEAVE_APPROVAL_SENDER`` (an SES-verified
identity). Without a sender in a local run (secrets from the environment) the email is
written as an ``.eml`` file into the outbox (``<outbox>/email/``) and the output says
``"delivery": "outbox"``; when deployed a missing sender is an error.
"""

from __future__ import annotations

import os
import re
import time
from email.message import EmailMessage
from typing import Any

from pydantic import Field, field_validator

from stepweave.tools.base import Tool, ToolContext, ToolError, ToolParams

__all__ = ["TOOL", "EmailParams"]

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class EmailParams(ToolParams):
    to: list[str] = Field(min_length=1, description="recipient addresses")
    subject: str = Field(min_length=1)
    body: str = Field(description="plain text")
    html: str | None = None
    cc: list[str] = Field(default_factory=list)
    replyTo: list[str] = Field(default_factory=list)
    sender: str | None = Field(default=None, alias="from",
                               description="an SES-verified address; default the deployment's")

    @field_validator("to", "cc", "replyTo", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in re.split(r"[,;\s]+", value) if part]
        if isinstance(value, list):
            bad = [str(v) for v in value if not _EMAIL.match(str(v))]
            if bad:
                raise ValueError(f"not email addresses: {', '.join(bad)}")
        return value


def run_email(params: EmailParams, ctx: ToolContext) -> dict[str, Any]:
    sender = params.sender or ctx.settings.approval_sender
    if not sender:
        if ctx.settings.secrets_backend != "env":
            raise ToolError("email tool: no sender: set 'from' or STEPWEAVE_APPROVAL_SENDER")
        return _to_outbox(params, ctx)
    body: dict[str, Any] = {"Text": {"Data": params.body, "Charset": "UTF-8"}}
    if params.html:
        body["Html"] = {"Data": params.html, "Charset": "UTF-8"}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = ctx.client("ses").send_email(
            Source=sender,
            Destination={"ToAddresses": params.to, "CcAddresses": params.cc},
            Message={"Subject": {"Data": params.subject, "Charset": "UTF-8"}, "Body": body},
            ReplyToAddresses=params.replyTo)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise ToolError(f"email tool: SES refused the email ({code})") from None
    except BotoCoreError as exc:
        raise ToolError(f"email tool: SES could not be reached ({type(exc).__name__})") from None
    return {"ok": True, "delivery": "ses", "messageId": answer.get("MessageId")}


def _to_outbox(params: EmailParams, ctx: ToolContext) -> dict[str, Any]:
    message = EmailMessage()
    message["From"] = "stepweave@localhost"
    message["To"] = ", ".join(params.to)
    if params.cc:
        message["Cc"] = ", ".join(params.cc)
    message["Subject"] = params.subject
    message["X-Stepweave-Note"] = "not sent: no SES sender is configured"
    message.set_content(params.body)
    if params.html:
        message.add_alternative(params.html, subtype="html")
    # outbox messages may carry decision links: readable by their owner only
    folder = ctx.settings.outbox / "email"
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = f"{time.time_ns()}"
    path = folder / f"{stamp}.eml"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(bytes(message))
    return {"ok": True, "delivery": "outbox", "messageId": stamp, "outboxFile": str(path)}


TOOL = Tool(
    name="email",
    description="Send an email.",
    params=EmailParams,
    output_schema={"type": "object", "properties": {
        "ok": {"type": "boolean"}, "delivery": {"enum": ["ses", "outbox"]},
        "messageId": {"type": ["string", "null"]}, "outboxFile": {"type": "string"}}},
    run=run_email,
    permissions=("ses:SendEmail",),
    sim_types=("mail", "ses", "send_email"),
    model_params=("to", "subject", "body", "html", "cc", "replyTo"),
)
