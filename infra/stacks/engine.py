"""The engine stack: block handlers, their layer and one state machine per workflow.

Stateless: everything here can be replaced by a redeploy (log groups aside, which
CloudFormation retains). Stateful resources belong in their own stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct
from stepweave.compiler.compile import CompiledWorkflow

from infra import ROOT
from infra.constructs.handlers import BlockHandlers
from infra.constructs.layer import StepweaveLayer
from infra.constructs.workflow import WorkflowStateMachine

__all__ = ["EngineSettings", "EngineStack"]


@dataclass(frozen=True)
class EngineSettings:
    stage: str
    log_retention: logs.RetentionDays
    log_level: str
    functions_dir: Path = ROOT / "functions"
    package_dir: Path = ROOT / "shared" / "stepweave"


class EngineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EngineSettings,
        workflows: Sequence[CompiledWorkflow],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", f"Stepweave engine ({settings.stage}): block handlers "
                                         "and workflow state machines")
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.layer = StepweaveLayer(self, "Runtime", package_dir=settings.package_dir).layer
        self.handlers = BlockHandlers(
            self,
            "Handlers",
            functions_dir=settings.functions_dir,
            layer=self.layer,
            log_retention=settings.log_retention,
            log_level=settings.log_level,
        )
        self.workflows: dict[str, WorkflowStateMachine] = {}
        for compiled in workflows:
            workflow = WorkflowStateMachine(
                self,
                f"Workflow-{compiled.name}",
                compiled=compiled,
                handlers=self.handlers.functions,
                log_retention=settings.log_retention,
            )
            self.workflows[compiled.name] = workflow
            CfnOutput(
                workflow,
                "Arn",
                description=f"State machine of workflow '{compiled.name}'",
                value=workflow.state_machine.state_machine_arn,
            )
