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
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SIM_TRIGGER_TYPES", "SIM_WEBHOOK_INTEGRATIONS", "secret_name", "trigger_from_sim",
           "is_sim_trigger"]

SIM_TRIGGER_TYPES = frozenset({"schedule", "generic_webhook", "webhook", "starter"})
#: Sim integration blocks that, in trigger mode, are a webhook of ours.
SIM_WEBHOOK_INTEGRATIONS = frozenset({"github_v2", "github"})
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


def secret_name(workflow: str) -> str:
    """``order-sync`` -> ``ORDER_SYNC_WEBHOOK_SECRET``."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", workflow).strip("_").upper() or "WORKFLOW"
    return f"{stem if stem[0].isalpha() else 'W_' + stem}_WEBHOOK_SECRET"[:128]


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


def trigger_from_sim(block_type: str, sub_blocks: dict[str, Any], workflow: str) -> dict[str, Any] | None:
    """The ``triggers:`` entry of a Sim trigger block (or an integration block in trigger
    mode), or None (not a trigger we deploy)."""
    if block_type in SIM_WEBHOOK_INTEGRATIONS:
        return _github(sub_blocks, workflow)
    if block_type == "starter":
        mode = _value(sub_blocks, "startWorkflow", "manual")
        block_type = {"schedule": "schedule", "webhook": "webhook"}.get(str(mode), "")
    if block_type == "schedule":
        return _schedule(sub_blocks)
    if block_type in ("generic_webhook", "webhook"):
        return _webhook(sub_blocks, workflow)
    return None
