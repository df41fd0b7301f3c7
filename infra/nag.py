"""cdk-nag: the AwsSolutions rules on the whole app, and every acknowledgement we make.

This is the only place where findings are acknowledged. Each acknowledgement is as
narrow as cdk-nag allows (one finding id, on the construct that causes it) and says
why the finding does not apply. An unacknowledged error finding fails the synth.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.constructs.handlers import PYTHON_RUNTIME, BlockHandlers
from infra.constructs.recorder import Recorder
from infra.constructs.workflow import WorkflowStateMachine
from infra.stacks.data import DataStack

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
        elif isinstance(construct, Recorder):
            _acknowledge_recorder(construct)
        elif isinstance(construct, DataStack):
            _acknowledge_data(construct)


def _acknowledge_data(data: DataStack) -> None:
    _acknowledge(
        data.payload_bucket,
        "AwsSolutions-S1",
        "The payload bucket holds transient block outputs that expire with the records; "
        "only this app's function roles read and write it, over TLS, with public access "
        "blocked. Server access logs would need a second bucket (itself unlogged, the same "
        "finding) and storage for a log line per request. Object-level auditing, when "
        "required, is CloudTrail S3 data events, enabled per account.",
    )


def _acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=_RULES + finding, reason=reason))


def _acknowledge_handlers(handlers: BlockHandlers) -> None:
    objects = _payload_objects(handlers)
    for fn in handlers.functions.values():
        _acknowledge_function(fn)
        _acknowledge(
            fn.role or fn,
            f"AwsSolutions-IAM5[Resource::{objects}]",
            "Block handlers store outputs over the inline budget in the payload bucket under "
            "keys chosen at run time (<state machine>/<execution>/<block>/<uuid>.json) and read "
            "them back, so s3:GetObject and s3:PutObject name the bucket's objects with '/*'. "
            "Only those two actions, on that one bucket's objects; no listing, no deletes.",
        )
        acknowledge_secrets(fn, handlers.secrets_prefix)


def acknowledge_secrets(fn: lambda_.IFunction, prefix: str) -> None:
    """The ``ssm:GetParameter`` grant on the stage's secrets path (``secrets_read_statement``)."""
    _acknowledge(
        fn.role or fn,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:"
        f"parameter/{prefix.strip('/')}/*]",
        "Functions read the named secrets a workflow references ({{NAME}}, API keys, signing "
        "secrets) by name at run time; the names are the workflow author's, so the grant is "
        "ssm:GetParameter on the stage's path (/stepweave/<stage>/*) only: no other path, no "
        "listing, no writes.",
    )


def _payload_objects(handlers: BlockHandlers) -> str:
    """The payload bucket's objects (``<bucket arn>/*``) as cdk-nag renders them in a finding."""
    bucket = handlers.payload_bucket
    producer = cdk.Stack.of(bucket)
    if producer is cdk.Stack.of(handlers):
        resource = bucket.node.default_child
        assert isinstance(resource, cdk.CfnElement)
        return f"<{producer.resolve(resource.logical_id)}.Arn>/*"
    # another stack's bucket: the same export the cross-stack reference creates (idempotent)
    imported = producer.resolve(producer.export_value(bucket.bucket_arn))
    return f"{imported['Fn::ImportValue']}/*"


def _acknowledge_function(fn: lambda_.Function) -> None:
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
        "support resource-level permissions, so CDK grants them on '*'. No other statement "
        "of the function's policy has a '*' resource.",
    )


def _acknowledge_recorder(recorder: Recorder) -> None:
    fn = recorder.function
    _acknowledge_function(fn)
    for workflow in recorder.workflows.values():
        if workflow.compiled.workflow_type != "STANDARD":
            continue
        _acknowledge(
            fn.role or fn,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:execution:{workflow.state_machine_name}:*]",
            "Execution names are chosen by whoever starts an execution, so the recorder's "
            "states:DescribeExecution and states:GetExecutionHistory name the executions of "
            f"state machine '{workflow.state_machine_name}' with a trailing '*'. It matches "
            "executions of that one state machine only (the name is followed by ':').",
        )
    _acknowledge(
        recorder.dead_letter_queue,
        "AwsSolutions-SQS3",
        "This queue is the dead-letter queue: of the EventBridge target and of the "
        "recorder's asynchronous invocations (on-failure destination). cdk-nag only "
        "recognises queues named in another queue's redrive policy as dead-letter queues.",
    )


def _acknowledge_workflow(workflow: WorkflowStateMachine) -> None:
    machine = workflow.state_machine
    if workflow.compiled.workflow_type == "STANDARD":
        _acknowledge(
            machine,
            "AwsSolutions-SF1",
            "Standard workflows log ERROR only, on purpose: Step Functions keeps the full "
            "event history of every Standard execution (GetExecutionHistory, 90 days), which "
            "the recorder reads. Logging ALL would pay CloudWatch Logs ingestion for a second "
            "copy of every event. Express workflows, which have no history, log ALL.",
        )
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
