"""Human approval, deployed: the notifier, the decision function, the sweep and its alarm.

- **notifier** (``functions/approval``): the ``approval`` block's handler, invoked by the
  workflows' ``lambda:invoke.waitForTaskToken`` tasks. Writes the approval items and marks
  the run paused (records table), reads large display values (payload bucket), sends the
  email through SES from the sender identity (when one is configured).
- **decision** (``functions/decision``): behind API Gateway (``GET|POST /approvals/{id}``,
  ``/v1/approvals...``). Answers the workflows' task tokens (``states:SendTaskSuccess``/
  ``SendTaskFailure`` on the state machines with approvals). Its CSRF key is a generated
  Secrets Manager secret it alone reads. The notifier answers them too, on the state
  machines whose approvals run the stretch before them (lead-ins,
  ``stepweave.runtime.lead_in``): when that stretch failed or ended the run; it may start
  those stretches (``states:StartSyncExecution``) and runs up to ``LEAD_IN_TIMEOUT_SECONDS``.
- **sweeper** (``functions/sweeper``): every 15 minutes, lapses overdue approvals whose run
  stopped waiting and publishes ``ApprovalsStuck`` (runs still waiting past the deadline):
  ``stuck_metric``, which the monitoring alarms on.

The email sender is an SES email identity created here (SES sends it a verification
email on deployment). Without a sender no email is sent: approvers answer through the
run API (``/v1/approvals``) or ``stepweave approvals --aws``; the synth says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from aws_cdk import Annotations, ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from infra import ROOT
from infra.constructs.handlers import (
    HandlerSettings,
    python_function,
    secrets_environment,
    secrets_read_statement,
)
from infra.constructs.layer import locally_bundled_code
from infra.constructs.recorder import MANIFESTS_DIR, RecorderBundler, grant_map_runs
from infra.constructs.workflow import WorkflowStateMachine
from infra.memory import HANDLER_MEMORY_MB
from stepweave.runtime.stretches import checkpoint_folder, lead_ins
from stepweave.tools import tool_permissions

__all__ = ["APPROVAL_FUNCTIONS", "Approvals", "SWEEP_MINUTES", "STUCK_METRIC"]

#: The service functions of this construct (folders of ``functions/``).
APPROVAL_FUNCTIONS = ("approval", "decision", "sweeper")
SWEEP_MINUTES = 15
STUCK_METRIC = "ApprovalsStuck"
#: The notifier's memory is the ``approval`` handler's (``infra.memory``; the context may
#: change it); the decision function and the sweeper keep theirs.
_SIZES = {"approval": HandlerSettings(memory_mb=HANDLER_MEMORY_MB["approval"], timeout_seconds=30),
          "decision": HandlerSettings(memory_mb=256, timeout_seconds=15),
          "sweeper": HandlerSettings(memory_mb=256, timeout_seconds=300)}
#: The notifier when approval blocks notify with tools (HTTP calls with their retries).
_NOTIFYING = HandlerSettings(memory_mb=HANDLER_MEMORY_MB["approval"], timeout_seconds=300)
#: The notifier when an approval runs the stretch before it: an Express execution's 5
#: minutes, then the request (and its notify tools)
LEAD_IN_TIMEOUT_SECONDS = 660
_DESCRIPTIONS = {
    "approval": "Stepweave approval notifier: stores approval requests and emails approvers",
    "decision": "Stepweave approval decisions: decision pages and /v1/approvals",
    "sweeper": "Stepweave approval sweep: lapses overdue approvals, reports stuck ones",
}


class Approvals(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        payload_bucket: s3.IBucket,
        layer: lambda_.ILayerVersion,
        log_retention: logs.RetentionDays,
        log_level: str,
        record_retention_days: int,
        sender: str | None,
        metrics_namespace: str,
        manifests: Mapping[str, bytes],
        functions_dir: str = str(ROOT / "functions"),
        notify_tools: Collection[str] = (),
        secrets_prefix: str | None = None,
        secret_names: Collection[str] = (),
        notifier_memory_mb: int | None = None,
        lead_ins: bool = False,
    ) -> None:
        """``manifests``: the generated manifest files (``recorder.manifest_files``) bundled
        beside the notifier, which records the run's block logs at a pause. ``notify_tools``:
        the registry tools approval blocks notify with; the notifier then reads exactly the
        secrets ``secret_names`` (under ``secrets_prefix``) and gets what those tools need.
        ``notifier_memory_mb``: the notifier's memory, when not the ``approval`` handler's.
        ``lead_ins``: some approval runs the stretch before it (``allow_lead_ins``)."""
        super().__init__(scope, construct_id)
        self.table = table
        self.sender = sender
        common = {"STEPWEAVE_TABLE": table.table_name,
                  "STEPWEAVE_RETENTION_DAYS": str(record_retention_days)}
        self.csrf_secret = secretsmanager.Secret(
            self, "CsrfKey", description="Key of the approval decision pages' CSRF tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True))
        notifier_env = {**common, "STEPWEAVE_PAYLOAD_BUCKET": payload_bucket.bucket_name,
                        "STEPWEAVE_MANIFESTS_DIR": MANIFESTS_DIR}
        notifier_env.update({"STEPWEAVE_APPROVAL_SENDER": sender} if sender
                            else {"STEPWEAVE_APPROVAL_DELIVERY": "none"})
        if secret_names and secrets_prefix:
            notifier_env.update(secrets_environment(secrets_prefix))
        self.functions: dict[str, lambda_.Function] = {}
        for name, environment in (
            ("approval", notifier_env),
            ("decision", {**common, "STEPWEAVE_CSRF_SECRET_ARN": self.csrf_secret.secret_arn}),
            ("sweeper", common),
        ):
            if name == "approval":
                bundler = RecorderBundler(Path(functions_dir) / name, manifests)
                code = locally_bundled_code(Path(functions_dir) / name, bundler, bundler.content_hash)
            else:
                code = lambda_.Code.from_asset(f"{functions_dir}/{name}", exclude=["__pycache__", "*.pyc"])
            settings = _NOTIFYING if name == "approval" and notify_tools else _SIZES[name]
            if name == "approval" and lead_ins:
                settings = HandlerSettings(settings.memory_mb, LEAD_IN_TIMEOUT_SECONDS)
            if name == "approval" and notifier_memory_mb is not None:
                settings = HandlerSettings(notifier_memory_mb, settings.timeout_seconds)
            self.functions[name] = python_function(
                self, name, description=_DESCRIPTIONS[name],
                code=code,
                layer=layer, settings=settings,
                log_retention=log_retention,
                log_level=log_level, environment=environment)
        self.notifier, self.decision, self.sweeper = (self.functions[n] for n in APPROVAL_FUNCTIONS)
        self.payload_bucket = payload_bucket
        #: the state machine names of the workflows with approvals (``allow_decisions``)
        self.state_machine_names: list[str] = []
        #: the workflows whose approvals run the stretch before them (``allow_lead_ins``)
        self.lead_in_workflows: list[str] = []
        #: the workflows whose distributed Maps' items the pause snapshot reads (by name)
        self.map_run_workflows: dict[str, WorkflowStateMachine] = {}
        self._grant_records()
        # display data may quote large outputs of earlier blocks (stored objects)
        self.notifier.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[payload_bucket.arn_for_objects("*")]))
        self.csrf_secret.grant_read(self.decision)
        self.notify_tools = sorted(notify_tools)
        self.secrets_prefix = secrets_prefix
        self.secret_names = sorted(set(secret_names))
        if notify_tools:
            self._grant_notify_tools(secrets_prefix)
        if sender:
            self.identity = ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(sender))
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[Stack.of(self).format_arn(service="ses", resource="identity",
                                                     resource_name=sender)]))
        else:
            Annotations.of(self).add_warning_v2(
                "stepweave:approvals:no-sender",
                "No approverEmailSender: approval emails are not sent; approvers answer through "
                "the run API (/v1/approvals) or `stepweave approvals --aws`.")
        events.Rule(self, "Sweep", description="Sweep overdue Stepweave approvals",
                    schedule=events.Schedule.rate(Duration.minutes(SWEEP_MINUTES)),
                    targets=[targets.LambdaFunction(self.sweeper, retry_attempts=2)])
        self.stuck_metric = cloudwatch.Metric(
            namespace=metrics_namespace, metric_name=STUCK_METRIC,
            dimensions_map={"service": "stepweave-sweeper"},
            statistic="Maximum", period=Duration.minutes(SWEEP_MINUTES))

    def _grant_notify_tools(self, secrets_prefix: str | None) -> None:
        """The ``notify`` tools run in the notifier: the secrets the workflows name for them
        (exact parameters) and their actions (``stepweave.tools.tool_permissions``: the email
        tool sends through SES)."""
        if secrets_prefix is None:
            raise ValueError("approval blocks notify with tools: the notifier needs the secrets prefix")
        grant = secrets_read_statement(self, secrets_prefix, self.secret_names)
        if grant is not None:
            self.notifier.add_to_role_policy(grant)
        actions = tool_permissions(self.notify_tools)
        if actions:
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=actions, resources=[Stack.of(self).format_arn(
                    service="ses", resource="identity", resource_name="*")]))

    def _grant_records(self) -> None:
        """Item-level actions on the table itself (no index): the notifier writes approval
        items and the run's status, the decision reads and updates them, the sweeper reads
        the waiting list and lapses."""
        for fn, actions in ((self.notifier, ("dynamodb:PutItem", "dynamodb:UpdateItem",
                                             "dynamodb:GetItem", "dynamodb:BatchWriteItem")),
                            (self.decision, ("dynamodb:GetItem", "dynamodb:Query",
                                             "dynamodb:UpdateItem", "dynamodb:DeleteItem")),
                            (self.sweeper, ("dynamodb:GetItem", "dynamodb:Query",
                                            "dynamodb:UpdateItem", "dynamodb:DeleteItem"))):
            fn.add_to_role_policy(iam.PolicyStatement(actions=list(actions),
                                                      resources=[self.table.table_arn]))

    def allow_decisions(self, state_machines: Mapping[str, sfn.StateMachine]) -> None:
        """The decision function answers (and the sweeper inspects) the task tokens of these
        state machines (by name): the workflows that use approvals."""
        for name, machine in state_machines.items():
            self.state_machine_names.append(name)
            machine.grant_task_response(self.decision)
            self.sweeper.add_to_role_policy(iam.PolicyStatement(
                actions=["states:DescribeExecution"], resources=[_executions_of(self, name)]))
            # the block logs of the run so far, written at a pause
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=["states:GetExecutionHistory"], resources=[_executions_of(self, name)]))

    def allow_stretch_logs(self, machines: list[sfn.StateMachine], log_groups: list[logs.ILogGroup]) -> None:
        """The notifier reads the Express stretches of split workflows that use approvals
        from their logs (the blocks before a pause): ``logs:FilterLogEvents`` on those log
        groups and ``states:DescribeStateMachine`` on those stretches (to name the group)."""
        if not machines:
            return
        self.notifier.add_to_role_policy(iam.PolicyStatement(
            actions=["states:DescribeStateMachine"], resources=[m.state_machine_arn for m in machines]))
        self.notifier.add_to_role_policy(iam.PolicyStatement(
            actions=["logs:FilterLogEvents"], resources=[g.log_group_arn for g in log_groups]))

    def allow_map_runs(self, workflows: Mapping[str, WorkflowStateMachine]) -> None:
        """The notifier's pause snapshot reads the items of these workflows' distributed
        Maps that ran before the pause (``stepweave.runtime.map_runs``), as the recorder does:
        ``infra.constructs.recorder.grant_map_runs``."""
        self.map_run_workflows = dict(workflows)
        if self.notifier.role is not None:
            grant_map_runs(self.notifier.role, workflows)

    def allow_lead_ins(self, workflows: Mapping[str, WorkflowStateMachine]) -> None:
        """These workflows' approvals run the stretch before them (``lead:`` in their
        manifests' ``split``): the notifier starts those stretches' versions
        (``states:StartSyncExecution``, authorized on the unqualified state machines) and
        answers those workflows' task tokens when a stretch failed or ended the run, and keeps
        what a stretch did beside those workflows' checkpoints when the request then failed."""
        for workflow in workflows.values():
            refs = set(lead_ins(workflow.compiled.split_states).values())
            machines = [m for ref, (_, m, _) in workflow.stretches.items() if ref in refs]
            if not machines:
                continue
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=["states:StartSyncExecution"],
                resources=[m.state_machine_arn for m in machines]))
            # by name: the state machine invokes the notifier, a reference would be a cycle
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[Stack.of(self).format_arn(
                    service="states", resource="stateMachine", resource_name=workflow.state_machine_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME)]))
            self.lead_in_workflows.append(workflow.compiled.name)
            # what the stretch did, kept for a redrive when the request then failed
            self.notifier.add_to_role_policy(iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[self.payload_bucket.arn_for_objects(
                    f"{checkpoint_folder(workflow.compiled.name)}/*")]))

    def set_public_url(self, url: str) -> None:
        """Where decision links point (the API's URL, or a custom domain)."""
        self.notifier.add_environment("STEPWEAVE_PUBLIC_URL", url)


def _executions_of(scope: Construct, state_machine_name: str) -> str:
    """``arn:...:execution:<state machine name>:*``."""
    return Stack.of(scope).format_arn(service="states", resource="execution",
                                      resource_name=f"{state_machine_name}:*",
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
