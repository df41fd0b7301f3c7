"""The engine stack: block handlers, their layer, one state machine per workflow, the
recorder and the monitoring.

Stateless: everything here can be replaced by a redeploy (log groups aside, which
CloudFormation retains). The stateful resources (records table, payload bucket) live in
the data stack and arrive here as props.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from stepweave import __version__
from stepweave.compiler.compile import CompiledWorkflow
from stepweave.runtime.stretches import lead_ins

from infra import ROOT
from infra.constructs.api import RUN_API_FOLDER, RunApiFunction, StepweaveApi
from infra.constructs.approvals import Approvals
from infra.constructs.handlers import (
    METRICS_NAMESPACE,
    BlockHandlers,
    secrets_prefix,
    variant_name,
)
from infra.constructs.layer import StepweaveLayer
from infra.constructs.monitoring import Monitoring
from infra.constructs.recorder import (
    RECORDER_FOLDER,
    NamedWorkflow,
    Recorder,
    manifest_files,
    recorder_code_dir,
)
from infra.constructs.triggers import INGEST_FOLDER, Triggers
from infra.constructs.workflow import WorkflowStateMachine
from infra.memory import MemoryPlan
from infra.versions import Canary, DeploySource

__all__ = ["STATE_MACHINE_NAME_MAX", "EngineSettings", "EngineStack", "state_machine_name"]

#: The handler name of the ``approval`` block (deployed by ``Approvals``, not ``BlockHandlers``).
APPROVAL_HANDLER = "approval"
#: Step Functions' limit on state machine names.
STATE_MACHINE_NAME_MAX = 80


def state_machine_name(stage: str, workflow: str) -> str:
    """``<stage>-<workflow>``: known at synth, unique per stage in an account and region."""
    return f"{stage}-{workflow}"


@dataclass(frozen=True)
class EngineSettings:
    stage: str
    log_retention: logs.RetentionDays
    log_level: str
    #: Records written by the recorder expire after this many days.
    record_retention_days: int = 30
    #: Subscribed to the alarm topic when set.
    alarm_email: str | None = None
    #: The SES sender address of approval emails (none: approvals are not emailed).
    approval_sender: str | None = None
    functions_dir: Path = ROOT / "functions"
    package_dir: Path = ROOT / "shared" / "stepweave"
    #: the handlers' memory and the blocks with a size of their own (none: the defaults)
    memory: MemoryPlan | None = None
    #: workflow -> its file and block summary (the version's description, ``stepweave diff``)
    sources: Mapping[str, DeploySource] = field(default_factory=dict)
    #: workflow -> its gradual deployment (``-c canary=...``; none: all at once)
    canaries: Mapping[str, Canary] = field(default_factory=dict)
    #: Sim workflow id -> workflow, for Sim's routes (``-c simWorkflowIds=...``)
    sim_workflow_ids: Mapping[str, str] = field(default_factory=dict)
    #: requests each API key may make a minute on Sim's routes (none: the run API's default)
    rate_limit_per_minute: int | None = None


class EngineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EngineSettings,
        workflows: Sequence[CompiledWorkflow],
        table: dynamodb.ITable,
        payload_bucket: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", f"Stepweave engine ({settings.stage}): block handlers, "
                                         "workflow state machines, recorder and monitoring")
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.table = table
        #: Where the block handlers store outputs over the inline budget.
        self.payload_bucket = payload_bucket
        self.layer = StepweaveLayer(self, "Runtime", package_dir=settings.package_dir).layer
        self.handlers = BlockHandlers(
            self,
            "Handlers",
            functions_dir=settings.functions_dir,
            layer=self.layer,
            log_retention=settings.log_retention,
            log_level=settings.log_level,
            payload_bucket=payload_bucket,
            secrets_prefix=secrets_prefix(settings.stage),
            table=table,
            secret_names=_secrets_by_handler(workflows),
            memory=settings.memory.handlers if settings.memory else None,
            variants=settings.memory.variants() if settings.memory else (),
        )
        # Human approval: deployed only when a workflow uses it.
        self.approvals = Approvals(
            self, "Approvals", table=table, payload_bucket=payload_bucket, layer=self.layer,
            log_retention=settings.log_retention, log_level=settings.log_level,
            record_retention_days=settings.record_retention_days,
            sender=settings.approval_sender, metrics_namespace=METRICS_NAMESPACE,
            manifests=manifest_files({c.name: NamedWorkflow(state_machine_name(settings.stage, c.name), c)
                                      for c in workflows}),
            functions_dir=str(settings.functions_dir),
            notify_tools={t for c in workflows for t in c.notify_tools},
            secrets_prefix=secrets_prefix(settings.stage),
            secret_names=_secrets_by_handler(workflows).get(APPROVAL_HANDLER, set()),
            notifier_memory_mb=(settings.memory.handlers.get(APPROVAL_HANDLER)
                                if settings.memory else None),
            lead_ins=any(lead_ins(c.split_states) for c in workflows),
        ) if any(APPROVAL_HANDLER in c.handlers for c in workflows) else None
        handlers: dict[str, lambda_.IFunction] = dict(self.handlers.functions)
        if self.approvals is not None:
            handlers[APPROVAL_HANDLER] = self.approvals.notifier
        self.workflows: dict[str, WorkflowStateMachine] = {}
        sized_blocks = settings.memory.blocks if settings.memory else {}
        for compiled in workflows:
            workflow = WorkflowStateMachine(
                self,
                f"Workflow-{compiled.name}",
                compiled=compiled,
                state_machine_name=state_machine_name(settings.stage, compiled.name),
                handlers=handlers,
                log_retention=settings.log_retention,
                block_functions={
                    block: (variant_name(handler, mb), self.handlers.variants[(handler, mb)])
                    for block, (handler, mb) in sized_blocks.get(compiled.name, {}).items()},
                source=settings.sources.get(compiled.name),
                canary=settings.canaries.get(compiled.name),
                payload_bucket=payload_bucket,
            )
            self.workflows[compiled.name] = workflow
            CfnOutput(
                workflow,
                "Arn",
                description=f"State machine of workflow '{compiled.name}'",
                value=workflow.state_machine.state_machine_arn,
            )
            CfnOutput(
                workflow,
                "LiveArn",
                description=f"The 'live' alias of workflow '{compiled.name}' (what starts it)",
                value=workflow.alias.attr_arn,
            )

        if self.approvals is not None:
            self.approvals.allow_decisions({
                w.state_machine_name: w.state_machine for w in self.workflows.values()
                if APPROVAL_HANDLER in w.compiled.handlers})
            split = [w for w in self.workflows.values() if APPROVAL_HANDLER in w.compiled.handlers]
            self.approvals.allow_stretch_logs(
                [m for w in split for _, m, _ in w.stretches.values()],
                [g for w in split for g in w.stretch_log_groups.values()])
            self.approvals.allow_map_runs({w.state_machine_name: w for w in split})
            self.approvals.allow_lead_ins({w.state_machine_name: w for w in split})

        # The recorder ships only once functions/recorder/handler.py exists.
        code_dir = recorder_code_dir(settings.functions_dir)
        self.recorder = None if code_dir is None else Recorder(
            self,
            "Recorder",
            code_dir=code_dir,
            layer=self.layer,
            table=table,
            workflows=self.workflows,
            record_retention_days=settings.record_retention_days,
            log_retention=settings.log_retention,
            log_level=settings.log_level,
        )

        # Webhooks (the ingest function, for the API's POST /webhooks/{workflow}), schedules
        # and event rules of the workflows' triggers.
        self.triggers = Triggers(
            self, "Triggers", stage=settings.stage, workflows=self.workflows, table=table,
            layer=self.layer, functions_dir=settings.functions_dir,
            secrets_prefix=secrets_prefix(settings.stage),
            record_retention_days=settings.record_retention_days,
            log_retention=settings.log_retention, log_level=settings.log_level)

        # The HTTP API: the run API (functions/runapi), webhooks and approval decisions
        # when they are deployed.
        self.run_api = RunApiFunction(
            self, "RunApi", code_dir=settings.functions_dir / RUN_API_FOLDER, layer=self.layer,
            table=table, workflows=self.workflows, stage=settings.stage, version=__version__,
            record_retention_days=settings.record_retention_days,
            log_retention=settings.log_retention, log_level=settings.log_level,
            payload_bucket=payload_bucket, sim_workflow_ids=settings.sim_workflow_ids,
            rate_limit_per_minute=settings.rate_limit_per_minute,
        ) if (settings.functions_dir / RUN_API_FOLDER / "handler.py").is_file() else None
        self.api = None if self.run_api is None else StepweaveApi(
            self, "Api", stage=settings.stage, run_api_function=self.run_api.function,
            log_retention=settings.log_retention,
            ingest_function=self.triggers.ingest_function,
            decision_function=self.approvals.decision if self.approvals is not None else None,
        )
        if self.api is not None:
            CfnOutput(self, "ApiUrl", value=self.api.url,
                      description="Base URL of the run API, webhooks and approval pages")
            if self.approvals is not None:  # decision links in approval emails
                self.approvals.set_public_url(self.api.url_without_stage_dependency())

        queues = {}
        if self.triggers.dead_letter_queue is not None:
            queues["Triggers"] = self.triggers.dead_letter_queue
        if self.recorder is not None:
            queues["Recorder"] = self.recorder.dead_letter_queue
        functions = self.service_functions()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=settings.stage,
            workflows={n: w.state_machine for n, w in self.workflows.items()},
            functions=functions,
            queues=queues,
            alarm_email=settings.alarm_email,
            metric_alarms={} if self.approvals is None else {"approvals-stuck": (
                "Approvals still waiting past their deadline (their runs did not time out): see "
                "the sweeper's logs and `stepweave approvals --aws`.", self.approvals.stuck_metric)},
        )
        # a canary's alias moves back to the previous version when its workflow's alarms fire
        for name, workflow in self.workflows.items():
            workflow.use_alarms([alarm.alarm_name for alarm in self.monitoring.alarms
                                 if alarm.node.id in (f"Alarm-{name}-failed", f"Alarm-{name}-timed-out")])
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name,
                  description="CloudWatch dashboard of this deployment")
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn,
                  description="SNS topic of every alarm")

    def service_functions(self) -> dict[str, lambda_.IFunction]:
        """Every function of the stack by name: block handlers (and their copies at other
        sizes, ``<handler>-<MB>mb``), approvals, ingest, recorder, run API (each alarmed and on
        the dashboard)."""
        functions: dict[str, lambda_.IFunction] = dict(self.handlers.functions)
        functions.update({variant_name(handler, mb): fn
                          for (handler, mb), fn in self.handlers.variants.items()})
        if self.approvals is not None:
            functions.update(self.approvals.functions)
        if self.triggers.ingest_function is not None:
            functions[INGEST_FOLDER] = self.triggers.ingest_function
        if self.recorder is not None:
            functions[RECORDER_FOLDER] = self.recorder.function
        if self.run_api is not None:
            functions[RUN_API_FOLDER] = self.run_api.function
        return functions


def _secrets_by_handler(workflows: Sequence[CompiledWorkflow]) -> dict[str, set[str]]:
    """handler -> every secret its blocks name, over all workflows and their sub-workflows."""
    out: dict[str, set[str]] = {}
    for compiled in workflows:
        for handler, names in compiled.secrets_by_handler().items():
            out.setdefault(handler, set()).update(names)
    return out
