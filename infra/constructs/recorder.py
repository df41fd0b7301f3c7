"""The recorder: writes every execution of the deployed workflows to the records table.

Its code asset is ``functions/recorder/`` plus a ``manifests/`` folder generated at
synth: ``<workflow>.json`` (``CompiledWorkflow.manifest()``: the block behind each
state) and ``index.json`` (state machine name -> workflow name). The asset is
assembled by a local bundler in CDK's own staging directory (``cdk.out``), so nothing
is written to ``functions/``.

What triggers it depends on the workflow type, because only Standard workflows send
events to EventBridge:

* **Standard**: an EventBridge rule on ``Step Functions Execution Status Change``
  events of exactly these state machines. The recorder may call
  ``states:DescribeExecution`` and ``states:GetExecutionHistory`` on their executions
  (nothing else) to record each block. A split workflow's blocks also run in its Express
  stretches, whose events the recorder reads from their log groups: ``logs:FilterLogEvents``
  on those log groups and ``states:DescribeStateMachine`` on those stretches (to name the
  group), nothing else. The blocks of distributed parallels and chunked loops run in the
  child executions of their Map Runs (``stepweave.runtime.map_runs``): the recorder lists
  them (``states:ListExecutions`` and ``states:DescribeMapRun`` on the Map Runs of each
  distributed Map, named by its ``Label``), reads a Standard child's history (``states:GetExecutionHistory`` on that
  Map's child executions) and an Express child's events in the parent's log group
  (``logs:FilterLogEvents`` on it, ``states:DescribeStateMachine`` on the parent).
* **Express**: Express executions send no EventBridge events and have no
  ``DescribeExecution`` or ``GetExecutionHistory``. A CloudWatch Logs subscription on
  the state machine's log group delivers the execution-level events
  (``ExecutionStarted``, ``ExecutionSucceeded``, ...) to the recorder, to record the
  status only; block-level logs of Express executions stay in that log group. They
  arrive as CloudWatch Logs subscription payloads, ``{"awslogs": {"data": ...}}``
  (base64 of gzipped JSON whose ``logEvents[].message`` are Step Functions log events:
  ``type``, ``execution_arn``, ``event_timestamp``, ``details``).

Deliveries that fail after their retries land in one dead-letter queue (SQS).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, ILocalBundling, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from stepweave.compiler.compile import CompiledWorkflow
from stepweave.compiler.distributed import distributed_maps

from infra.constructs.handlers import HANDLER_MODULE, HandlerSettings, python_function
from infra.constructs.layer import locally_bundled_code
from infra.constructs.workflow import WorkflowStateMachine

__all__ = [
    "EXECUTION_HISTORY_ACTIONS",
    "EXPRESS_LOG_EVENTS",
    "MANIFESTS_DIR",
    "RECORDER_FOLDER",
    "RECORDER_SETTINGS",
    "STRETCH_LOG_ACTIONS",
    "TABLE_ACTIONS",
    "MAP_RUN_ACTIONS",
    "MAP_CHILD_ACTIONS",
    "Recorder",
    "RecorderBundler",
    "execution_arn_pattern",
    "grant_map_runs",
    "manifest_files",
    "NamedWorkflow",
    "recorder_code_dir",
]

#: ``functions/<RECORDER_FOLDER>/handler.py`` defines the recorder's ``lambda_handler``.
RECORDER_FOLDER = "recorder"
#: Folder of the generated manifests inside the code asset (``STEPWEAVE_MANIFESTS_DIR``).
MANIFESTS_DIR = "manifests"
#: One history page per call; a long Standard execution takes a few calls.
RECORDER_SETTINGS = HandlerSettings(memory_mb=256, timeout_seconds=120)
#: On the executions of the Standard state machines only.
EXECUTION_HISTORY_ACTIONS = ("states:DescribeExecution", "states:GetExecutionHistory")
#: On the log groups of split workflows' Express stretches only (``log_group_arn``, which
#: ends with ``:*``: the group's streams), to read a stretch execution's events back.
STRETCH_LOG_ACTIONS = ("logs:FilterLogEvents",)
#: On the Map Runs of the workflows' distributed Maps only: to list and count their child
#: executions.
MAP_RUN_ACTIONS = ("states:DescribeMapRun", "states:ListExecutions")
#: On the Standard child executions of those Map Runs only: their events.
MAP_CHILD_ACTIONS = ("states:GetExecutionHistory",)
#: On the records table only, not its index (writes maintain it). What
#: ``stepweave.runtime.records`` calls: conditional UpdateItem for the execution record,
#: BatchWriteItem for block logs. The recorder reads nothing back.
TABLE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:UpdateItem")
#: Execution-level events of an Express state machine's log, delivered to the recorder.
EXPRESS_LOG_EVENTS = (
    "ExecutionStarted",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionAborted",
    "ExecutionTimedOut",
)
#: EventBridge's retries of a delivery to the function (throttling, service errors).
_TARGET_RETRY_ATTEMPTS = 10
_TARGET_MAX_EVENT_AGE = Duration.hours(6)
#: Bump to rebuild the asset when its layout changes.
_BUNDLE_FORMAT = "1"


def recorder_code_dir(functions_dir: Path) -> Path | None:
    """``functions/recorder/`` when it holds a ``handler.py``; else ``None`` (no recorder)."""
    folder = functions_dir / RECORDER_FOLDER
    return folder if (folder / f"{HANDLER_MODULE}.py").is_file() else None


def manifest_files(workflows: Mapping[str, WorkflowStateMachine] | Mapping[str, Any]) -> dict[str, bytes]:
    """The generated files of the asset, by path relative to its root.

    ``manifests/<workflow>.json`` for each workflow and ``manifests/index.json``
    (state machine name -> workflow name). A workflow is anything with ``state_machine_name``
    and ``compiled`` (the construct, or a ``NamedWorkflow`` before the state machines exist).
    """
    files: dict[str, bytes] = {}
    index: dict[str, str] = {}
    for name in sorted(workflows):
        workflow = workflows[name]
        index[workflow.state_machine_name] = name
        files[f"{MANIFESTS_DIR}/{name}.json"] = _json(workflow.compiled.manifest())
    files[f"{MANIFESTS_DIR}/index.json"] = _json(index)
    return files


@dataclass(frozen=True)
class NamedWorkflow:
    """A compiled workflow and its state machine's name, before the state machine exists."""

    state_machine_name: str
    compiled: CompiledWorkflow


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _source_files(code_dir: Path) -> list[Path]:
    """The recorder's own files, relative to its folder (no bytecode, no stale manifests)."""
    return sorted(
        p.relative_to(code_dir) for p in code_dir.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
        and p.relative_to(code_dir).parts[0] != MANIFESTS_DIR
    )


@jsii.implements(ILocalBundling)
class RecorderBundler:
    """Writes the recorder's files and the generated manifests into CDK's asset folder."""

    def __init__(self, code_dir: Path, generated: Mapping[str, bytes]) -> None:
        self.code_dir = code_dir
        self.generated = dict(generated)

    @property
    def content_hash(self) -> str:
        sha = hashlib.sha256(_BUNDLE_FORMAT.encode())
        entries = [(rel.as_posix(), (self.code_dir / rel).read_bytes())
                   for rel in _source_files(self.code_dir)]
        entries += sorted(self.generated.items())
        for path, data in entries:
            for part in (path.encode(), data):
                sha.update(len(part).to_bytes(8, "big"))
                sha.update(part)
        return sha.hexdigest()

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        out = Path(output_dir)
        for rel in _source_files(self.code_dir):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.code_dir / rel, out / rel)
        for rel_path, data in self.generated.items():
            target = out / rel_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return True


class Recorder(Construct):
    """The recorder function, its triggers, grants and dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: Path,
        layer: lambda_.ILayerVersion,
        table: dynamodb.ITable,
        workflows: Mapping[str, WorkflowStateMachine],
        record_retention_days: int,
        log_retention: logs.RetentionDays,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workflows = dict(workflows)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        bundler = RecorderBundler(code_dir, manifest_files(workflows))
        self.function = python_function(
            self,
            RECORDER_FOLDER,
            description="Stepweave recorder: writes workflow executions to the records table",
            code=locally_bundled_code(code_dir, bundler, bundler.content_hash),
            layer=layer,
            settings=RECORDER_SETTINGS,
            log_retention=log_retention,
            log_level=log_level,
            environment={
                "STEPWEAVE_TABLE": table.table_name,
                "STEPWEAVE_RETENTION_DAYS": str(record_retention_days),
                "STEPWEAVE_MANIFESTS_DIR": MANIFESTS_DIR,
            },
            # Lambda's own retries of an accepted asynchronous event, then the queue.
            retry_attempts=2,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        role = self.function.role
        assert role is not None
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(TABLE_ACTIONS), resources=[table.table_arn]))

        standard = {n: w for n, w in self.workflows.items()
                    if w.compiled.workflow_type == "STANDARD"}
        express = {n: w for n, w in self.workflows.items()
                   if w.compiled.workflow_type == "EXPRESS"}

        self.rule: events.Rule | None = None
        if standard:
            stack = Stack.of(self)
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=list(EXECUTION_HISTORY_ACTIONS),
                resources=[execution_arn_pattern(stack, w.state_machine_name)
                           for w in standard.values()],
            ))
            self._grant_stretch_logs(role, standard)
            grant_map_runs(role, standard)
            self.rule = events.Rule(
                self,
                "StatusChanges",
                description="Status changes of Stepweave's Standard workflow executions",
                event_pattern=events.EventPattern(
                    source=["aws.states"],
                    detail_type=["Step Functions Execution Status Change"],
                    detail={"stateMachineArn": [w.state_machine.state_machine_arn
                                                for w in standard.values()]},
                ),
                targets=[targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=_TARGET_RETRY_ATTEMPTS,
                    max_event_age=_TARGET_MAX_EVENT_AGE,
                )],
            )

        self.subscriptions: dict[str, logs.SubscriptionFilter] = {}
        for name, workflow in express.items():
            self.subscriptions[name] = logs.SubscriptionFilter(
                self,
                f"ExpressLog-{name}",
                log_group=workflow.log_group,
                destination=log_destinations.LambdaDestination(self.function),
                filter_pattern=logs.FilterPattern.any(*(
                    logs.FilterPattern.string_value("$.type", "=", event_type)
                    for event_type in EXPRESS_LOG_EVENTS)),
                filter_name=f"stepweave-recorder-{name}",
            )


    @staticmethod
    def _grant_stretch_logs(role: iam.IRole, standard: Mapping[str, WorkflowStateMachine]) -> None:
        """A split workflow's Express stretches have no history: the recorder reads their
        events from their log groups (``STRETCH_LOG_ACTIONS``), after naming each stretch's
        group with ``states:DescribeStateMachine`` on that stretch."""
        machines = [machine for w in standard.values() for _, machine, _ in w.stretches.values()]
        groups = [group for w in standard.values() for group in w.stretch_log_groups.values()]
        if not machines:
            return
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:DescribeStateMachine"],
            resources=[m.state_machine_arn for m in machines]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(STRETCH_LOG_ACTIONS),
            resources=[g.log_group_arn for g in groups]))


def grant_map_runs(role: iam.IRole, standard: Mapping[str, WorkflowStateMachine]) -> None:
    """``role`` may read the child executions of ``standard``'s distributed Maps
    (``stepweave.runtime.map_runs``; the recorder, and the approval notifier for its pause
    snapshot): list each Map's Map Runs' children, read its Standard children's histories, and its
    Express children's events in the parent's log group (after naming the group with
    ``states:DescribeStateMachine`` on the parent). Each Map's Map Runs and children are
    named by its ``Label`` (``<machine>/<label>:<id>``): nothing of another Map."""
    runs: list[str] = []
    children: list[str] = []
    logged: list[WorkflowStateMachine] = []
    for workflow in standard.values():
        stack = Stack.of(workflow)
        maps = distributed_maps(workflow.compiled.definition)
        for label, execution_type in maps:
            name = f"{workflow.state_machine_name}/{label}:*"
            runs.append(stack.format_arn(service="states", resource="mapRun", resource_name=name,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME))
            if execution_type == "STANDARD":
                children.append(stack.format_arn(service="states", resource="execution",
                                                 resource_name=name,
                                                 arn_format=ArnFormat.COLON_RESOURCE_NAME))
        if any(kind == "EXPRESS" for _, kind in maps):
            logged.append(workflow)
    if runs:
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(MAP_RUN_ACTIONS), resources=sorted(set(runs))))
    if children:
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(MAP_CHILD_ACTIONS), resources=sorted(set(children))))
    if logged:
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["states:DescribeStateMachine"],
            resources=[w.state_machine.state_machine_arn for w in logged]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(STRETCH_LOG_ACTIONS),
            resources=[w.log_group.log_group_arn for w in logged]))


def execution_arn_pattern(stack: Stack, state_machine_name: str) -> str:
    """``arn:<partition>:states:<region>:<account>:execution:<name>:*``: every execution of
    one Standard state machine, no other."""
    return stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
