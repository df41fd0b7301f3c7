"""cdk-nag: the AwsSolutions rules on the whole app, and every acknowledgement we make.

This is the only place where findings are acknowledged. Each acknowledgement is as
narrow as cdk-nag allows (one finding id, on the construct that causes it) and says
why the finding does not apply. An unacknowledged error finding fails the synth.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.constructs.handlers import PYTHON_RUNTIME, BlockHandlers
from infra.constructs.workflow import WorkflowStateMachine

__all__ = ["apply_checks"]

_RULES = "AwsSolutions::"


def apply_checks(app: cdk.App) -> None:
    """Run AwsSolutionsChecks on ``app`` at synth; acknowledge the justified findings."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    for construct in app.node.find_all():
        if isinstance(construct, BlockHandlers):
            _acknowledge_handlers(construct)
        elif isinstance(construct, WorkflowStateMachine):
            _acknowledge_workflow(construct)


def _acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=_RULES + finding, reason=reason))


def _acknowledge_handlers(handlers: BlockHandlers) -> None:
    for fn in handlers.functions.values():
        _acknowledge(
            fn,
            "AwsSolutions-L1",
            f"{PYTHON_RUNTIME.name} is a supported Lambda runtime, chosen on purpose: the layer's "
            "native wheels (pydantic-core, mini-racer) are built for it. It is one constant "
            "(PYTHON_RUNTIME) that moves together with the layer, never implicitly.",
        )
        _acknowledge(
            fn.role or fn,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
            "support resource-level permissions, so CDK grants them on '*'. Nothing else in "
            "the function's policy uses a wildcard.",
        )


def _acknowledge_workflow(workflow: WorkflowStateMachine) -> None:
    machine = workflow.state_machine
    _acknowledge(
        machine,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions logging and X-Ray tracing: the CloudWatch Logs log-delivery actions "
        "(logs:CreateLogDelivery, logs:PutResourcePolicy, ...) and the X-Ray actions do not "
        "support resource-level permissions, so CDK grants them on '*'.",
    )
    stack = cdk.Stack.of(workflow)
    for handler, fn in workflow.functions.items():
        resource = fn.node.default_child
        if not isinstance(resource, cdk.CfnElement):
            continue  # an imported function: no resource, no finding in this stack
        logical_id = stack.resolve(stack.get_logical_id(resource))
        _acknowledge(
            machine,
            f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
            f"grant_invoke adds '<{handler} function ARN>:*' next to the function ARN: it "
            "matches versions and aliases of that one function, nothing else.",
        )
