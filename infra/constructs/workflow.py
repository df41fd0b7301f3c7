"""A compiled Stepweave workflow as a Step Functions state machine."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from stepweave.compiler.compile import CompiledWorkflow

__all__ = ["WorkflowStateMachine", "handler_placeholder_key"]

_TYPES = {"STANDARD": sfn.StateMachineType.STANDARD, "EXPRESS": sfn.StateMachineType.EXPRESS}
#: Express executions have no history: their log is the only trace, so it keeps every
#: event. Standard executions keep their history in Step Functions; errors suffice.
_LOG_LEVELS = {"STANDARD": sfn.LogLevel.ERROR, "EXPRESS": sfn.LogLevel.ALL}


def handler_placeholder_key(handler: str) -> str:
    """The ``DefinitionSubstitutions`` key of the compiler's ``${Handler_<name>}`` placeholder."""
    return f"Handler_{handler}"


class WorkflowStateMachine(Construct):
    """The state machine of one compiled workflow.

    ``handlers`` maps handler names to functions; only those the workflow uses are
    substituted into the definition and granted to the state machine's role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        compiled: CompiledWorkflow,
        handlers: Mapping[str, lambda_.IFunction],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = [h for h in compiled.handlers if h not in handlers]
        if missing:
            raise ValueError(f"workflow '{compiled.name}' uses handler(s) {', '.join(missing)} "
                             f"that have no function (functions/<handler>/handler.py)")
        used = {h: handlers[h] for h in compiled.handlers}
        self.compiled = compiled
        self.functions: dict[str, lambda_.IFunction] = used
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=_TYPES[compiled.workflow_type],
            definition_body=sfn.DefinitionBody.from_string(
                compiled.definition_string()
            ),
            definition_substitutions={
                handler_placeholder_key(h): fn.function_arn for h, fn in used.items()
            },
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=_LOG_LEVELS[compiled.workflow_type],
                include_execution_data=False,
            ),
            tracing_enabled=True,
        )
        for fn in used.values():
            fn.grant_invoke(self.state_machine)
