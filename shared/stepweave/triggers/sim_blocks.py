"""Sim's trigger blocks as ``triggers:`` entries (used by ``stepweave.workflow.sim``).

- ``schedule`` (and a legacy ``starter`` with ``startWorkflow: schedule``): Sim's
  frequency settings become a ``cron`` (or a ``rate`` for "every N minutes") in the
  block's ``timezone``.
- ``generic_webhook`` / ``webhook`` (and a legacy ``starter`` with ``startWorkflow:
  webhook``): a webhook trigger. Sim's token check is replaced by a signature: the
  provider's scheme for ``github``/``stripe``/``shopify``, generic HMAC-SHA256 otherwise,
  keyed by the secret ``<WORKFLOW>_WEBHOOK_SECRET`` (set it before deploying).
- ``github_v2`` / ``github`` in trigger mode: a GitHub-signed webhook whose ``when`` keeps
  Sim's event (``selectedTriggerId``: ``github_pr_opened`` takes ``pull_request`` events
  with action ``opened``...); the run input is the event's JSON body, as Sim's trigger
  outputs it (``<githubtrigger.pull_request.title>``).
- ``slack`` / ``slack_v2`` in trigger mode: a Slack-signed webhook (``when`` keeps Sim's
  ``eventType``); the run input's ``event`` is Sim's (``<slack.event.text>``).
- ``stripe`` in trigger mode: a Stripe-signed webhook whose ``when`` keeps Sim's
  ``eventTypes``; the run input is the event (``<stripe.data.object.id>``).
- ``rss``, ``gmail``/``gmail_v2``, ``google_sheets``/``google_sheets_v2``, ``outlook``,
  ``imap`` in trigger mode: a ``poll`` trigger checking every minute (as Sim does), with Sim's
  settings (feed URL; labels, search query, mark as read; spreadsheet and sheet; folder; host,
  port, TLS, user, mailboxes, search criteria). Gmail and Sheets read the Google
  integration's secrets (``GOOGLE_REFRESH_TOKEN``...), as the workflow's Google blocks do;
  Outlook's OAuth grant and IMAP's password are the secret ``<WORKFLOW>_<PROVIDER>_CREDENTIAL``. The run input has Sim's
  outputs (``<rss.item.title>``, ``<gmail1.email.subject>``, ``<sheets.row.Email>``).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["SIM_POLL_INTEGRATIONS", "SIM_TRIGGER_TYPES", "SIM_WEBHOOK_INTEGRATIONS", "secret_name",
           "trigger_from_sim", "is_sim_trigger"]

SIM_TRIGGER_TYPES = frozenset({"schedule", "generic_webhook", "webhook", "starter"})
#: Sim integration blocks that, in trigger mode, are a webhook of ours.
SIM_WEBHOOK_INTEGRATIONS = frozenset({"github_v2", "github", "slack", "slack_v2", "stripe"})
#: Sim integration blocks that, in trigger mode, are a poll of ours (block type -> provider).
SIM_POLL_INTEGRATIONS = {"rss": "rss", "gmail": "gmail", "gmail_v2": "gmail",
                         "google_sheets": "google_sheets", "google_sheets_v2": "google_sheets",
                         "outlook": "outlook", "imap": "imap"}
#: Sim polls every minute.
SIM_POLL_RATE = "1 minute"
#: Sim's Slack event ids that are a message subtype rather than an event type.
_SLACK_SUBTYPES = {"message_edited": "message_changed", "message_deleted": "message_deleted"}
_EVENT = "headers.X-GitHub-Event"
#: Sim's GitHub trigger ids -> what the delivery must be (Sim's ``isGitHubEventMatch``).
_GITHUB_EVENTS: dict[str, dict[str, list[Any]]] = {
    "github_issue_opened": {_EVENT: ["issues"], "body.action": ["opened"]},
    "github_issue_closed": {_EVENT: ["issues"], "body.action": ["closed"]},
    "github_issue_comment": {_EVENT: ["issue_comment"], "body.issue.pull_request": [None]},
    "github_pr_opened": {_EVENT: ["pull_request"], "body.action": ["opened"]},
    "github_pr_closed": {_EVENT: ["pull_request"], "body.action": ["closed"],
                         "body.pull_request.merged": [False]},
    "github_pr_merged": {_EVENT: ["pull_request"], "body.action": ["closed"],
                         "body.pull_request.merged": [True]},
    "github_pr_comment": {_EVENT: ["issue_comment"]},
    "github_pr_reviewed": {_EVENT: ["pull_request_review"], "body.action": ["submitted"]},
    "github_push": {_EVENT: ["push"]},
    "github_release_published": {_EVENT: ["release"], "body.action": ["published"]},
    "github_workflow_run": {_EVENT: ["workflow_run"]},
}
_PROVIDER_SCHEMES = {"github": "github", "stripe": "stripe", "shopify": "shopify"}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})")


def secret_name(workflow: str, suffix: str = "WEBHOOK_SECRET") -> str:
    """``order-sync`` -> ``ORDER_SYNC_WEBHOOK_SECRET`` (``ORDER_SYNC_<suffix>``)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", workflow).strip("_").upper() or "WORKFLOW"
    return f"{stem if stem[0].isalpha() else 'W_' + stem}_{suffix}"[:128]


def _value(sub_blocks: dict[str, Any], key: str, default: Any = None) -> Any:
    value = (sub_blocks.get(key) or {}).get("value")
    return default if value in (None, "") else value


def _time(text: Any) -> tuple[int, int]:
    match = _TIME.match(str(text or ""))
    return (int(match[1]), int(match[2])) if match else (9, 0)


def _schedule(sub_blocks: dict[str, Any]) -> dict[str, Any]:
    kind = str(_value(sub_blocks, "scheduleType", "daily"))
    trigger: dict[str, Any] = {"type": "schedule",
                               "timezone": str(_value(sub_blocks, "timezone", "UTC"))}
    if kind == "minutes":
        minutes = max(1, int(str(_value(sub_blocks, "minutesInterval", 15)).strip() or 15))
        trigger["rate"] = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return trigger
    if kind == "hourly":
        trigger["cron"] = f"{int(str(_value(sub_blocks, 'hourlyMinute', 0)))} * * * *"
    elif kind == "weekly":
        hour, minute = _time(_value(sub_blocks, "weeklyDayTime"))
        trigger["cron"] = f"{minute} {hour} * * {_value(sub_blocks, 'weeklyDay', 'MON')}"
    elif kind == "monthly":
        hour, minute = _time(_value(sub_blocks, "monthlyTime"))
        trigger["cron"] = f"{minute} {hour} {int(str(_value(sub_blocks, 'monthlyDay', 1)))} * *"
    elif kind == "custom":
        trigger["cron"] = str(_value(sub_blocks, "cronExpression", "0 9 * * *"))
    else:  # daily
        hour, minute = _time(_value(sub_blocks, "dailyTime"))
        trigger["cron"] = f"{minute} {hour} * * *"
    return trigger


def _webhook(sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any]:
    provider = str(_value(sub_blocks, "webhookProvider", "generic")).lower()
    scheme = _PROVIDER_SCHEMES.get(provider, "hmac")
    return {"type": "webhook", "signature": {"scheme": scheme, "secret": secret_name(workflow)}}


def is_sim_trigger(raw: dict[str, Any]) -> bool:
    """A Sim block that starts the workflow: a trigger block, or an integration block in
    trigger mode."""
    return raw.get("type") in SIM_TRIGGER_TYPES or raw.get("triggerMode") is True


def _github(sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any]:
    trigger = {"type": "webhook", "signature": {"scheme": "github", "secret": secret_name(workflow)}}
    when = _GITHUB_EVENTS.get(str(_value(sub_blocks, "selectedTriggerId", "")))
    if when is not None:
        trigger["when"] = when
    return trigger


def _strings(value: Any) -> list[str]:
    """A Sim multi-select (a list, or one value, or comma-separated text) as strings."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    return [str(v) for v in value if str(v).strip()] if isinstance(value, list) else []


def _slack(sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "webhook",
                               "signature": {"scheme": "slack", "secret": secret_name(workflow)}}
    event = str(_value(sub_blocks, "eventType", ""))
    when: dict[str, list[Any]] = {}
    if event in _SLACK_SUBTYPES:
        when = {"body.event.type": ["message"], "body.event.subtype": [_SLACK_SUBTYPES[event]]}
    elif re.fullmatch(r"[a-z_]{1,64}", event):
        when = {"body.event.type": [event]}
    channels = _strings(_value(sub_blocks, "channelFilter") or _value(sub_blocks, "manualChannelFilter"))
    if channels and when:
        when["body.event.channel"] = channels[:50]
    if when:
        trigger["when"] = when
    return trigger


def _stripe(sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "webhook",
                               "signature": {"scheme": "stripe", "secret": secret_name(workflow)}}
    events = _strings(_value(sub_blocks, "eventTypes"))
    if events:
        trigger["when"] = {"body.type": events[:50]}
    return trigger


def _poll(provider: str, sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "poll", "provider": provider, "rate": SIM_POLL_RATE}
    if provider == "rss":
        if (url := _value(sub_blocks, "feedUrl")) is not None:
            trigger["feedUrl"] = str(url).strip()
        return trigger
    if provider in ("outlook", "imap"):  # Google's: the integration's GOOGLE_* secrets
        trigger["credential"] = secret_name(workflow, f"{provider.upper()}_CREDENTIAL")
    if _value(sub_blocks, "markAsRead") is True and provider in ("gmail", "outlook"):
        trigger["markAsRead"] = True
    if provider == "gmail":
        trigger["labelIds"] = _strings(_value(sub_blocks, "labelIds"))[:20]
        trigger["labelFilterBehavior"] = "EXCLUDE" if _value(
            sub_blocks, "labelFilterBehavior") == "EXCLUDE" else "INCLUDE"
        if (query := _value(sub_blocks, "searchQuery")) is not None:
            trigger["searchQuery"] = str(query)
    elif provider == "google_sheets":
        for ours, keys in (("spreadsheetId", ("spreadsheetId", "manualSpreadsheetId")),
                           ("sheetName", ("sheetName", "manualSheetName"))):
            found = next((_value(sub_blocks, k) for k in keys if _value(sub_blocks, k)), None)
            if found is not None:
                trigger[ours] = str(found)
        for option in ("valueRenderOption", "dateTimeRenderOption"):
            if (value := _value(sub_blocks, option)) is not None:
                trigger[option] = value
    elif provider == "imap":
        _imap(sub_blocks, trigger)
    elif provider == "outlook":
        folders = _strings(_value(sub_blocks, "folderIds"))
        if folders and _value(sub_blocks, "folderFilterBehavior") != "EXCLUDE":
            trigger["folder"] = folders[0]
    return trigger


def _imap(sub_blocks: dict[str, Any], trigger: dict[str, Any]) -> None:
    """Sim's IMAP settings onto ``trigger`` (left out when empty, so a missing host or user
    is reported by the trigger's validation)."""
    for key in ("host", "username"):
        if (value := _value(sub_blocks, key)) is not None:
            trigger[key] = str(value).strip()
    port = str(_value(sub_blocks, "port", "993")).strip()
    trigger["port"] = int(port) if port.isdigit() else port
    trigger["secure"] = _value(sub_blocks, "secure", True) is not False
    trigger["markAsRead"] = _value(sub_blocks, "markAsRead", True) is not False  # Sim: on
    boxes = _strings(_value(sub_blocks, "mailbox"))
    if boxes:
        trigger["mailboxes"] = boxes[:10]
    criteria = _value(sub_blocks, "searchCriteria")
    if isinstance(criteria, str):
        try:
            criteria = json.loads(criteria)
        except ValueError:
            pass  # an IMAP search as text, or reported by the trigger's validation
    if criteria is not None:
        trigger["searchCriteria"] = criteria


def trigger_from_sim(block_type: str, sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any] | None:
    """The ``triggers:`` entry of a Sim trigger block (or an integration block in trigger
    mode), or None (not a trigger we deploy)."""
    if block_type in ("slack", "slack_v2"):
        return _slack(sub_blocks, workflow)
    if block_type == "stripe":
        return _stripe(sub_blocks, workflow)
    if block_type in SIM_WEBHOOK_INTEGRATIONS:
        return _github(sub_blocks, workflow)
    if block_type in SIM_POLL_INTEGRATIONS:
        return _poll(SIM_POLL_INTEGRATIONS[block_type], sub_blocks, workflow)
    if block_type == "starter":
        mode = _value(sub_blocks, "startWorkflow", "manual")
        block_type = {"schedule": "schedule", "webhook": "webhook"}.get(str(mode), "")
    if block_type == "schedule":
        return _schedule(sub_blocks)
    if block_type in ("generic_webhook", "webhook"):
        return _webhook(sub_blocks, workflow)
    return None
