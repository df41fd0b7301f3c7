"""The poller of the workflows' ``poll`` triggers: one function, one schedule per trigger.

* **function** (``functions/poller/`` plus a generated ``polls.json``:
  ``stepweave.triggers.poll.polls_document``): it may ``states:StartExecution`` only the
  ``live`` alias of the workflows that poll, get/put/update/delete single items of the
  records table (the seen items' claims, snapshots and execution records), and read
  exactly the SSM parameters the triggers name as credentials. Lambda does not retry a
  failed poll (``retry_attempts=0``): the next scheduled poll is the retry.
* **schedules**: an EventBridge Scheduler schedule per poll trigger, ``rate(...)`` of the
  trigger, invoking the function with ``{"workflow", "trigger"}``; its own role may invoke
  that one function only; failed invocations land in the triggers' dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from stepweave.runtime.arns import LIVE_ALIAS
from stepweave.triggers.declare import PollTrigger
from stepweave.triggers.poll import POLLS_FILE, polls_document
from stepweave.triggers.pollers import secret_names
from stepweave.triggers.rules import poll_expression, poll_input

from infra.constructs.handlers import (
    HandlerSettings,
    python_function,
    secrets_environment,
    secrets_read_statement,
)
from infra.constructs.layer import locally_bundled_code
from infra.constructs.recorder import RecorderBundler
from infra.constructs.workflow import WorkflowStateMachine

__all__ = ["POLLER_FOLDER", "POLLER_SETTINGS", "POLLER_TABLE_ACTIONS", "Pollers", "poll_triggers"]

POLLER_FOLDER = "poller"
#: A poll reads one feed or API listing (and the new items): well within a minute.
POLLER_SETTINGS = HandlerSettings(memory_mb=256, timeout_seconds=60)
POLLER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem")


def poll_triggers(workflow: WorkflowStateMachine) -> list[PollTrigger]:
    return [t for t in getattr(workflow.compiled, "triggers", ()) if isinstance(t, PollTrigger)]


class Pollers(Construct):
    """The poller function and one schedule per poll trigger (only when a workflow polls)."""

    def __init__(self, scope: Construct, construct_id: str, *,
                 workflows: Mapping[str, WorkflowStateMachine], table: dynamodb.ITable,
                 layer: lambda_.ILayerVersion, functions_dir: Path, secrets_prefix: str,
                 record_retention_days: int, log_retention: logs.RetentionDays, log_level: str,
                 dead_letter_queue: sqs.IQueue, retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.workflows = {n: w for n, w in workflows.items() if poll_triggers(w)}
        #: the credentials the polls name: what the poller may read, exactly
        self.credentials = sorted({name for w in self.workflows.values()
                                   for t in poll_triggers(w) for name in secret_names(t)})
        code_dir = functions_dir / POLLER_FOLDER
        document = polls_document([w.compiled for w in self.workflows.values()],
                                  lambda n: f"{self.workflows[n].state_machine_name}:{LIVE_ALIAS}")
        bundler = RecorderBundler(code_dir, {
            POLLS_FILE: (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()})
        self.function = python_function(
            self, POLLER_FOLDER,
            description="Stepweave poller: starts one run per new feed or mailbox item",
            code=locally_bundled_code(code_dir, bundler, bundler.content_hash),
            layer=layer, settings=POLLER_SETTINGS, log_retention=log_retention, log_level=log_level,
            environment={"STEPWEAVE_TABLE": table.table_name,
                         "STEPWEAVE_RETENTION_DAYS": str(record_retention_days),
                         **secrets_environment(secrets_prefix)},
            retry_attempts=0)
        for workflow in self.workflows.values():
            workflow.grant_start(self.function)
        self.function.add_to_role_policy(iam.PolicyStatement(actions=list(POLLER_TABLE_ACTIONS),
                                                             resources=[table.table_arn]))
        grant = secrets_read_statement(self, secrets_prefix, self.credentials)
        if grant is not None:
            self.function.add_to_role_policy(grant)
        account = Stack.of(self).account
        self.role = iam.Role(self, "schedules-role", assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": account}}),
            description="Invokes the Stepweave poller (poll triggers' schedules)")
        self.role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                    resources=[self.function.function_arn]))
        dead_letter_queue.grant_send_messages(self.role)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for name in sorted(self.workflows):
            for trigger in poll_triggers(self.workflows[name]):
                key = f"Poll-{name}-{trigger.label}"
                self.schedules[key] = scheduler.CfnSchedule(
                    self, key,
                    description=f"Polls {trigger.provider} for workflow '{name}' (trigger '{trigger.label}')",
                    schedule_expression=poll_expression(trigger),
                    flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                    state="ENABLED" if trigger.enabled else "DISABLED",
                    target=scheduler.CfnSchedule.TargetProperty(
                        arn=self.function.function_arn, role_arn=self.role.role_arn,
                        input=poll_input(name, trigger),
                        dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                            arn=dead_letter_queue.queue_arn),
                        retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                            maximum_event_age_in_seconds=int(max_event_age.to_seconds()),
                            maximum_retry_attempts=retry_attempts)))
