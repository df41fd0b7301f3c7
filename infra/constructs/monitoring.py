"""One CloudWatch dashboard and the alarms of a deployment, all notifying one SNS topic.

Dashboard rows: per workflow, its executions (started, succeeded, failed, timed out)
and execution time (p50, p90, p99) from ``AWS/States``; per function, invocations,
errors, throttles and duration from ``AWS/Lambda``; the handlers' Powertools metrics
(namespace ``Stepweave``: ``BlockDuration`` and ``BlockFailures`` by ``BlockType``);
the alarms' states.

Alarms (5-minute periods, missing data is not breaching): per workflow, any failed or
timed-out execution; per function, any error or throttle; any message in a
dead-letter queue. The topic is encrypted with its own KMS key: CloudWatch alarms
cannot publish to a topic encrypted with the AWS-managed ``alias/aws/sns`` key, whose
policy cannot grant them ``kms:GenerateDataKey``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.handlers import METRICS_NAMESPACE

__all__ = ["BLOCK_METRICS", "PERIOD", "Monitoring"]

PERIOD = Duration.minutes(5)
#: Powertools metrics of the handlers: name -> statistic shown. Powertools adds a
#: ``service`` dimension (POWERTOOLS_SERVICE_NAME) to every metric.
BLOCK_METRICS: Mapping[str, str] = {"BlockDuration": "p90", "BlockFailures": "Sum"}
_PERCENTILES = ("p50", "p90", "p99")
_FULL_WIDTH = 24
_HALF_WIDTH = 12


class Monitoring(Construct):
    """Dashboard ``stepweave-<stage>``, alarms and the alarm topic.

    ``workflows`` maps workflow names to state machines, ``functions`` function names to
    functions, ``queues`` dead-letter queue names to queues. ``alarm_email``, if given, is
    subscribed to the topic (the address must confirm the subscription).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        workflows: Mapping[str, sfn.IStateMachine],
        functions: Mapping[str, lambda_.IFunction],
        queues: Mapping[str, sqs.IQueue] | None = None,
        alarm_email: str | None = None,
        metric_alarms: Mapping[str, tuple[str, cw.IMetric]] | None = None,
    ) -> None:
        """``metric_alarms``: more alarms, ``suffix -> (description, metric)``, each firing
        when the metric reaches 1 (e.g. the approvals still waiting past their deadline)."""
        super().__init__(scope, construct_id)
        self.stage = stage
        self.topic = self._topic(alarm_email)
        self.subscription: sns.Subscription | None = None
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            self.subscription = next(
                c for c in self.topic.node.find_all() if isinstance(c, sns.Subscription))
        self.alarms: list[cw.Alarm] = []
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"stepweave-{stage}",
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(cw.TextWidget(
            markdown=f"# Stepweave `{stage}`\nWorkflows, their functions and the block "
                     f"metrics of namespace `{METRICS_NAMESPACE}`.",
            width=_FULL_WIDTH, height=2))

        for name, machine in sorted(workflows.items()):
            self._workflow_row(name, machine)
        for name, fn in sorted(functions.items()):
            self._function_row(name, fn)
        self._block_metrics_row()
        for name, queue in sorted((queues or {}).items()):
            self._queue_row(name, queue)
        for suffix, (description, metric) in sorted((metric_alarms or {}).items()):
            self._alarm(suffix, description, metric)
        if self.alarms:
            self.dashboard.add_widgets(cw.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms), width=_FULL_WIDTH))

    # --- topic ----------------------------------------------------------------------------

    def _topic(self, alarm_email: str | None) -> sns.Topic:
        key = kms.Key(
            self,
            "TopicKey",
            description=f"Stepweave {self.stage}: encrypts the alarm topic",
            enable_key_rotation=True,
            # Only in-flight notifications are encrypted with it: nothing to keep.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        stack = Stack.of(self)
        alarms_of_this_account = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name="*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME)},
        }
        # The key policy statement AWS documents for alarms publishing to an encrypted topic.
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy: this key
        ))
        topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"Stepweave {self.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # The topic policy replaces SNS's default one: allow the alarms of this account.
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=alarms_of_this_account,
        ))
        return topic

    def _alarm(self, suffix: str, description: str, metric: cw.IMetric) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            f"Alarm-{suffix}",
            alarm_name=f"stepweave-{self.stage}-{suffix}",
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    # --- rows -----------------------------------------------------------------------------

    def _workflow_row(self, name: str, machine: sfn.IStateMachine) -> None:
        sums: dict[str, Any] = {"period": PERIOD, "statistic": cw.Stats.SUM}
        started = machine.metric_started(label="Started", **sums)
        succeeded = machine.metric_succeeded(label="Succeeded", **sums)
        failed = machine.metric_failed(label="Failed", **sums)
        timed_out = machine.metric_timed_out(label="TimedOut", **sums)
        self._alarm(f"{name}-failed", f"Workflow '{name}': an execution failed", failed)
        self._alarm(f"{name}-timed-out", f"Workflow '{name}': an execution timed out", timed_out)
        self.dashboard.add_widgets(
            cw.GraphWidget(title=f"Workflow {name}: executions",
                           left=[started, succeeded, failed, timed_out],
                           width=_HALF_WIDTH, stacked=False),
            cw.GraphWidget(title=f"Workflow {name}: execution time (ms)",
                           left=[machine.metric_time(statistic=p, label=p, period=PERIOD)
                                 for p in _PERCENTILES],
                           width=_HALF_WIDTH),
        )

    def _function_row(self, name: str, fn: lambda_.IFunction) -> None:
        errors = fn.metric_errors(period=PERIOD, statistic=cw.Stats.SUM, label="Errors")
        throttles = fn.metric_throttles(period=PERIOD, statistic=cw.Stats.SUM, label="Throttles")
        self._alarm(f"{name}-errors", f"Function '{name}': an invocation failed", errors)
        self._alarm(f"{name}-throttles", f"Function '{name}': an invocation was throttled",
                    throttles)
        self.dashboard.add_widgets(
            cw.GraphWidget(title=f"Function {name}: invocations, errors, throttles",
                           left=[fn.metric_invocations(period=PERIOD, statistic=cw.Stats.SUM,
                                                       label="Invocations"), errors, throttles],
                           width=_HALF_WIDTH),
            cw.GraphWidget(title=f"Function {name}: duration (ms)",
                           left=[fn.metric_duration(statistic=p, label=p, period=PERIOD)
                                 for p in _PERCENTILES],
                           width=_HALF_WIDTH),
        )

    def _block_metrics_row(self) -> None:
        widgets = []
        for metric_name, statistic in BLOCK_METRICS.items():
            search = (f"SEARCH('{{{METRICS_NAMESPACE},BlockType,service}} "
                      f"MetricName=\"{metric_name}\"', '{statistic}', {PERIOD.to_seconds()})")
            widgets.append(cw.GraphWidget(
                title=f"Blocks: {metric_name} by BlockType ({statistic})",
                # an empty label: each series is named by its BlockType and service
                left=[cw.MathExpression(expression=search, using_metrics={}, label="",
                                        period=PERIOD)],
                width=_HALF_WIDTH,
            ))
        self.dashboard.add_widgets(*widgets)

    def _queue_row(self, name: str, queue: sqs.IQueue) -> None:
        visible = queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic=cw.Stats.MAXIMUM, label="Messages")
        self._alarm(f"{_slug(name)}-dead-letters",
                    f"{name}: deliveries that failed after their retries", visible)
        self.dashboard.add_widgets(cw.GraphWidget(
            title=f"{name}: dead letters", left=[visible], width=_FULL_WIDTH))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

