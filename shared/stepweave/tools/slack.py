"""The ``slack`` tool: a message through an incoming webhook or ``chat.postMessage``.

``webhookUrl`` (e.g. ``{{SLACK_WEBHOOK_URL}}``) posts to the channel the webhook belongs
to; ``token`` (e.g. ``{{SLACK_BOT_TOKEN}}``) with ``channel`` calls ``chat.postMessage``.
Slack answers ``{"ok": false, "error": ...}`` with status 200 for API errors: that is a
``ToolError`` too. Params arrive with their secrets substituted (the caller's job); a
placeholder left as written means the secret is unset. When neither is configured and the secrets come from the environment
(a local run), the message is written to the outbox (``<outbox>/slack/*.json``) and the
output says ``"delivery": "outbox"``; when deployed that is an error instead.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pydantic import Field

from stepweave.tools.base import Tool, ToolContext, ToolError, ToolParams, unresolved
from stepweave.tools.transport import RetryPolicy, Unreachable, send

__all__ = ["TOOL", "SlackParams", "SLACK_API"]

SLACK_API = "https://slack.com/api"


class SlackParams(ToolParams):
    text: str = Field(min_length=1, description="the message (Slack mrkdwn)")
    channel: str | None = Field(default=None, description="channel id or name (chat.postMessage)")
    webhookUrl: str | None = Field(default="{{SLACK_WEBHOOK_URL}}",
                                   description="an incoming webhook URL, e.g. {{SLACK_WEBHOOK_URL}}")
    token: str | None = Field(default=None, description="a bot token, e.g. {{SLACK_BOT_TOKEN}}")
    blocks: list[dict[str, Any]] | None = None
    threadTs: str | None = None
    apiUrl: str = Field(default=SLACK_API, description="Slack's Web API base URL")


def run_slack(params: SlackParams, ctx: ToolContext) -> dict[str, Any]:
    token, webhook = params.token, params.webhookUrl
    if token and not unresolved(token):
        if not params.channel:
            raise ToolError("slack tool: 'channel' is required with a bot token")
        return _post_message(params, token, ctx)
    if webhook and not unresolved(webhook):
        return _post_webhook(params, webhook, ctx)
    if ctx.settings.secrets_backend == "env":
        return _to_outbox(params, ctx)
    raise ToolError("slack tool: no webhook URL or bot token is set (webhookUrl / token)")


def _post_message(params: SlackParams, token: str, ctx: ToolContext) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": params.channel, "text": params.text}
    if params.blocks:
        body["blocks"] = params.blocks
    if params.threadTs:
        body["thread_ts"] = params.threadTs
    response = _send(ctx, params.apiUrl.rstrip("/") + "/chat.postMessage", body,
                     {"Authorization": f"Bearer {token}"}, "chat.postMessage")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not answer.get("ok"):
        error = answer.get("error") or f"status {response.status_code}"
        raise ToolError(f"slack tool: chat.postMessage failed: {error}")
    return {"ok": True, "delivery": "api", "channel": answer.get("channel"), "ts": answer.get("ts")}


def _post_webhook(params: SlackParams, url: str, ctx: ToolContext) -> dict[str, Any]:
    body: dict[str, Any] = {"text": params.text}
    if params.blocks:
        body["blocks"] = params.blocks
    response = _send(ctx, url, body, {}, "the webhook")
    if response.status_code != 200:
        raise ToolError(f"slack tool: the webhook answered {response.status_code}: "
                        f"{response.text[:200]}")
    return {"ok": True, "delivery": "webhook", "channel": params.channel, "ts": None}


def _send(ctx: ToolContext, url: str, body: dict[str, Any], headers: dict[str, str],
          what: str) -> Any:
    import httpx

    try:
        with httpx.Client(transport=ctx.transport) as client:
            return send(client, "POST", url, policy=RetryPolicy(retries=2, timeout_s=10),
                        headers=headers, json=body, sleep=ctx.sleep)
    except Unreachable as exc:
        raise ToolError(f"slack tool: no answer from {what} ({exc.kind})") from None


def _to_outbox(params: SlackParams, ctx: ToolContext) -> dict[str, Any]:
    # messages may carry decision links: readable by their owner only
    folder = ctx.settings.outbox / "slack"
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = f"{time.time_ns()}"
    path = folder / f"{stamp}.json"
    message = {"channel": params.channel, "text": params.text, "blocks": params.blocks,
               "note": "not sent: no Slack webhook URL or bot token is configured"}
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                   encoding="utf-8") as file:
        file.write(json.dumps(message, indent=2))
    return {"ok": True, "delivery": "outbox", "channel": params.channel, "ts": stamp,
            "outboxFile": str(path)}


TOOL = Tool(
    name="slack",
    description="Post a message to Slack.",
    params=SlackParams,
    output_schema={"type": "object", "properties": {
        "ok": {"type": "boolean"}, "delivery": {"enum": ["api", "webhook", "outbox"]},
        "channel": {"type": ["string", "null"]}, "ts": {"type": ["string", "null"]},
        "outboxFile": {"type": "string"}}},
    run=run_slack,
    secrets=("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"),
    sim_types=("slack",),
    model_params=("text", "channel", "blocks", "threadTs"),
)
