"""What starts the deployed workflows from outside: the webhook ingest, schedules, event rules.

From each workflow's ``triggers:`` (``stepweave.triggers.declare``):

* **webhook**: one ingest function for all of them (``functions/ingest/`` plus a generated
  ``webhooks.json``: ``stepweave.triggers.targets``), put behind ``POST /webhooks/{workflow}``
  by the API construct (``ingest_function``). It may ``states:StartExecution`` only the
  state machines of workflows with a webhook trigger, read and write single items of the
  records table (delivery claims and execution records), and read the SSM parameters
  under ``/stepweave/<stage>/`` (signing secrets).
* **schedule**: an EventBridge Scheduler schedule (flexible time window off, in the
  trigger's time zone) whose target is the state machine, with a defined input, its own
  role (allowed to start that state machine and nothing else), a retry policy and the
  dead-letter queue.
* **poll**: the poller function and a schedule per poll trigger (``infra.constructs.pollers``).
* **event**: a rule on the default event bus with the trigger's pattern and an input
  transformer; its own role (start that one state machine); a retry policy and the
  dead-letter queue. Delivery to Step Functions is asynchronous: a failing workflow never
  reaches the source of the event.

Starts that fail after their retries (throttling, a deleted state machine) land in one
SQS dead-letter queue, watched by the monitoring's alarms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from stepweave.runtime.arns import LIVE_ALIAS
from stepweave.triggers.declare import EventTrigger, PollTrigger, ScheduleTrigger, WebhookTrigger
from stepweave.triggers.rules import event_input, event_pattern, schedule_expression, schedule_input
from stepweave.triggers.targets import TARGETS_FILE, targets_document

from infra.constructs.handlers import (
    HandlerSettings,
    python_function,
    secrets_environment,
    secrets_read_statement,
)
from infra.constructs.layer import locally_bundled_code
from infra.constructs.pollers import Pollers
from infra.constructs.recorder import RecorderBundler
from infra.constructs.workflow import WorkflowStateMachine

__all__ = [
    "INGEST_FOLDER",
    "INGEST_SETTINGS",
    "INGEST_TABLE_ACTIONS",
    "MAX_EVENT_AGE",
    "RETRY_ATTEMPTS",
    "Triggers",
]

#: ``functions/<INGEST_FOLDER>/handler.py`` is the ingest's entry point.
INGEST_FOLDER = "ingest"
#: API Gateway waits 29 s at most; the ingest answers in well under a second.
INGEST_SETTINGS = HandlerSettings(memory_mb=256, timeout_seconds=15)
#: Single-item calls on the table itself (``stepweave.triggers.deliveries`` and the record).
INGEST_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem")
#: Retries of a failed start by Scheduler / EventBridge before the dead-letter queue.
RETRY_ATTEMPTS = 10
MAX_EVENT_AGE = Duration.hours(6)


def _of_type(workflow: WorkflowStateMachine, kind: type) -> list:  # type: ignore[type-arg]
    return [t for t in getattr(workflow.compiled, "triggers", ()) if isinstance(t, kind)]


class Triggers(Construct):
    """The ingest function (when a workflow takes webhooks), schedules and event rules."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        workflows: Mapping[str, WorkflowStateMachine],
        table: dynamodb.ITable,
        layer: lambda_.ILayerVersion,
        functions_dir: Path,
        secrets_prefix: str,
        record_retention_days: int,
        log_retention: logs.RetentionDays,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.secrets_prefix = secrets_prefix
        self.webhook_workflows = {n: w for n, w in workflows.items() if _of_type(w, WebhookTrigger)}
        #: the signing secrets the webhooks name: what the ingest may read, exactly
        self.signing_secrets = sorted({t.signature.secret for w in self.webhook_workflows.values()
                                       for t in _of_type(w, WebhookTrigger)
                                       if t.signature is not None and t.signature.secret})
        self.ingest_function: lambda_.Function | None = None
        if self.webhook_workflows:
            self.ingest_function = self._ingest(functions_dir, table, layer, record_retention_days,
                                                log_retention, log_level)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        self.rules: dict[str, events.CfnRule] = {}
        self.roles: dict[str, iam.Role] = {}
        wanted = any(_of_type(w, ScheduleTrigger) or _of_type(w, EventTrigger)
                     or _of_type(w, PollTrigger) for w in workflows.values())
        self.dead_letter_queue: sqs.Queue | None = sqs.Queue(
            self, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14)) if wanted else None
        for name in sorted(workflows):
            for trigger in _of_type(workflows[name], ScheduleTrigger):
                self._schedule(name, workflows[name], trigger)
            for trigger in _of_type(workflows[name], EventTrigger):
                self._rule(name, workflows[name], trigger)
        #: the poll triggers' poller and schedules (``infra.constructs.pollers``)
        self.pollers: Pollers | None = None
        if any(_of_type(w, PollTrigger) for w in workflows.values()):
            assert self.dead_letter_queue is not None
            self.pollers = Pollers(
                self, "Pollers", workflows=workflows, table=table, layer=layer,
                functions_dir=functions_dir, secrets_prefix=secrets_prefix,
                record_retention_days=record_retention_days, log_retention=log_retention,
                log_level=log_level, dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)

    def _ingest(self, functions_dir: Path, table: dynamodb.ITable, layer: lambda_.ILayerVersion,
                record_retention_days: int, log_retention: logs.RetentionDays,
                log_level: str) -> lambda_.Function:
        code_dir = functions_dir / INGEST_FOLDER
        # the ingest starts each workflow's `live` alias: <stage>-<workflow>:live
        document = targets_document([w.compiled for w in self.webhook_workflows.values()],
                                    lambda n: f"{self.webhook_workflows[n].state_machine_name}:{LIVE_ALIAS}")
        bundler = RecorderBundler(code_dir, {
            TARGETS_FILE: (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()})
        fn = python_function(
            self, INGEST_FOLDER,
            description="Stepweave webhook ingest: verifies, deduplicates and starts workflows",
            code=locally_bundled_code(code_dir, bundler, bundler.content_hash),
            layer=layer, settings=INGEST_SETTINGS, log_retention=log_retention,
            log_level=log_level,
            environment={"STEPWEAVE_TABLE": table.table_name,
                         "STEPWEAVE_RETENTION_DAYS": str(record_retention_days),
                         **secrets_environment(self.secrets_prefix)})
        for workflow in self.webhook_workflows.values():
            workflow.grant_start(fn)
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(INGEST_TABLE_ACTIONS),
                                                  resources=[table.table_arn]))
        grant = secrets_read_statement(self, self.secrets_prefix, self.signing_secrets)
        if grant is not None:
            fn.add_to_role_policy(grant)
        return fn

    def _role(self, key: str, service: str, workflow: WorkflowStateMachine) -> iam.Role:
        """A role ``service`` assumes for this account only, to start this one workflow
        (through its ``live`` alias)."""
        account = Stack.of(self).account
        role = iam.Role(self, f"{key}-role", assumed_by=iam.ServicePrincipal(
            service, conditions={"StringEquals": {"aws:SourceAccount": account}}),
            description=f"Starts state machine {workflow.state_machine_name} ({key})")
        workflow.grant_start(role)
        self.roles[key] = role
        return role

    def _schedule(self, name: str, workflow: WorkflowStateMachine, trigger: ScheduleTrigger) -> None:
        assert self.dead_letter_queue is not None
        key = f"Schedule-{name}-{trigger.label}"
        role = self._role(key, "scheduler.amazonaws.com", workflow)
        self.dead_letter_queue.grant_send_messages(role)
        self.schedules[key] = scheduler.CfnSchedule(
            self, key,
            description=f"Starts workflow '{name}' (trigger '{trigger.label}')",
            schedule_expression=schedule_expression(trigger),
            schedule_expression_timezone=trigger.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED" if trigger.enabled else "DISABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=workflow.alias.attr_arn,
                role_arn=role.role_arn,
                input=schedule_input(name, trigger),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=RETRY_ATTEMPTS),
            ),
        )

    def _rule(self, name: str, workflow: WorkflowStateMachine, trigger: EventTrigger) -> None:
        queue = self.dead_letter_queue
        assert queue is not None
        key = f"Event-{name}-{trigger.label}"
        role = self._role(key, "events.amazonaws.com", workflow)
        paths, template = event_input(name, trigger)
        rule = events.CfnRule(
            self, key,
            description=f"Starts workflow '{name}' (trigger '{trigger.label}')",
            event_pattern=event_pattern(trigger),
            state="ENABLED",
            targets=[events.CfnRule.TargetProperty(
                id="Workflow",
                arn=workflow.alias.attr_arn,
                role_arn=role.role_arn,
                input_transformer=events.CfnRule.InputTransformerProperty(
                    input_paths_map=paths, input_template=template),
                dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=queue.queue_arn),
                retry_policy=events.CfnRule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=RETRY_ATTEMPTS),
            )],
        )
        # EventBridge writes to a rule's dead-letter queue with the queue's policy, not the role.
        queue.add_to_resource_policy(iam.PolicyStatement(
            actions=["sqs:SendMessage"], resources=[queue.queue_arn],
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            conditions={"ArnEquals": {"aws:SourceArn": rule.attr_arn}}))
        self.rules[key] = rule
