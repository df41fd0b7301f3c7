"""What starts a workflow from outside: signed webhooks, schedules and events.

``stepweave.triggers.declare`` holds the ``triggers:`` models of workflow files (imported
by the workflow model, so this package imports nothing heavy at its top). The webhook
ingest is ``stepweave.triggers.webhook.handle_webhook``; schedules and event rules are
deployed by ``infra/constructs/triggers.py`` from ``stepweave.triggers.rules``; polls
(``type: poll``) by a poller function (``stepweave.triggers.poll``) on a schedule.
"""

from __future__ import annotations

from stepweave.triggers.declare import (
    EventTrigger,
    PollTrigger,
    ScheduleTrigger,
    Signature,
    Trigger,
    WebhookTrigger,
)

__all__ = ["EventTrigger", "PollTrigger", "ScheduleTrigger", "Signature", "Trigger", "WebhookTrigger"]
