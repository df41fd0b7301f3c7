"""cdk-nag: the AwsSolutions rules on the whole app, and every acknowledgement we make.

This is the only place where findings are acknowledged. Each acknowledgement is as
narrow as cdk-nag allows (one finding id, on the construct that causes it) and says
why the finding does not apply. An unacknowledged error finding fails the synth.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct
from stepweave.compiler.distributed import distributed_maps
from stepweave.runtime.stretches import checkpoint_folder

from infra.constructs.api import RunApiFunction, StepweaveApi
from infra.constructs.approvals import Approvals
from infra.constructs.handlers import HANDLER_ACTIONS, PYTHON_RUNTIME, BlockHandlers
from infra.constructs.recorder import Recorder
from infra.constructs.triggers import Triggers
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
        elif isinstance(construct, Approvals):
            _acknowledge_approvals(construct)
        elif isinstance(construct, StepweaveApi):
            _acknowledge_api(construct)
        elif isinstance(construct, RunApiFunction):
            _acknowledge_run_api(construct)
        elif isinstance(construct, Triggers):
            _acknowledge_triggers(construct)


def _acknowledge_triggers(triggers: Triggers) -> None:
    if triggers.ingest_function is not None:
        _acknowledge_function(triggers.ingest_function)
    if triggers.pollers is not None:
        _acknowledge_function(triggers.pollers.function)
    if triggers.dead_letter_queue is not None:
        _acknowledge(
            triggers.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the schedules' and event rules' targets: "
            "starts that failed after their retries. cdk-nag only recognises queues named in "
            "another queue's redrive policy as dead-letter queues.",
        )


def _acknowledge_api(api: StepweaveApi) -> None:
    for method in api.api.methods:
        for finding, reason in (
            ("AwsSolutions-APIG4",
             "Authentication is done by the functions behind each route, per route kind: run-API "
             "keys (SHA-256 looked up in the records table; 401/403) for /v1, provider signatures "
             "(HMAC) for /webhooks, single-use decision ids with CSRF tokens for /approvals; "
             "/health is public and reveals a version and dependency status only."),
            ("AwsSolutions-COG4",
             "Callers are machines holding run-API keys and webhook providers signing their "
             "deliveries, not users of a Cognito user pool (see APIG4)."),
        ):
            _acknowledge(method, finding, reason)
    _acknowledge(
        api.api.deployment_stage,
        "AwsSolutions-APIG3",
        "A WAF web ACL is an account-level choice with its own cost; the stage throttles "
        "(rate and burst, lower for synchronous runs) and every route authenticates. Attach "
        "an ACL to the stage where the account's policy requires one.",
    )
    _acknowledge(
        api.api,
        "AwsSolutions-APIG2",
        "Path parameters are validated by API Gateway (request validator); bodies are "
        "validated by the functions (pydantic models of the run API, signatures and "
        "per-trigger limits of webhooks), which answer 400 with the field at fault.",
    )
    role = api.api.node.try_find_child("CloudWatchRole")
    if role is not None:
        _acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway needs to write execution logs (APIG6); AWS "
            "maintains this managed policy for exactly that purpose.",
        )


def _acknowledge_run_api(run_api: RunApiFunction) -> None:
    fn = run_api.function
    _acknowledge_function(fn)
    if run_api.payload_bucket is not None:
        _acknowledge(
            fn.role or fn,
            f"AwsSolutions-IAM5[Resource::{_bucket_objects(run_api.payload_bucket, run_api)}]",
            "/run answers with a run's whole output: parts a handler stored in the payload "
            "bucket (keys chosen at run time, <state machine>/<execution>/...) are read back, "
            "so s3:GetObject names the bucket's objects with '/*'; only that action, on that "
            "one bucket; the handler reads only under the run's own execution prefix.")
    for workflow in run_api.workflows.values():
        if workflow.compiled.workflow_type != "STANDARD":
            continue
        _acknowledge(
            fn.role or fn,
            _executions_finding(workflow.state_machine_name),
            "Executions are named when started (<tenant>.<name>), so the run API's "
            "states:DescribeExecution and states:StopExecution name the executions of "
            f"'{workflow.state_machine_name}' with a trailing '*': that one state machine only.",
        )


def _acknowledge_approvals(approvals: Approvals) -> None:
    for fn in approvals.functions.values():
        _acknowledge_function(fn)
    notifier = approvals.notifier
    _acknowledge(
        notifier.role or notifier,
        f"AwsSolutions-IAM5[Resource::{_bucket_objects(approvals.payload_bucket, approvals)}]",
        "An approval's display data may quote an earlier block's output that was stored in the "
        "payload bucket under a key chosen at run time; the notifier may only s3:GetObject the "
        "bucket's objects: no writes, no listing.",
    )
    for name in approvals.state_machine_names:
        _acknowledge(
            notifier.role or notifier,
            _executions_finding(name),
            "At a pause the notifier writes the block logs of the run so far from its history: "
            f"states:GetExecutionHistory on the executions of '{name}' (named at start, hence "
            "the trailing '*'), nothing else.",
        )
        _acknowledge(
            approvals.sweeper.role or approvals.sweeper,
            _executions_finding(name),
            "The sweeper asks whether the run of an overdue approval still waits: "
            f"states:DescribeExecution on the executions of '{name}' (their names are chosen "
            "at start, hence the trailing '*'), nothing else.",
        )
        if "email" in approvals.notify_tools:
            _acknowledge_ses_identities(notifier, "an approval block's notify tool")
    for name in approvals.lead_in_workflows:
        _acknowledge(
            notifier.role or notifier,
            f"AwsSolutions-IAM5[Resource::{_bucket_objects(approvals.payload_bucket, approvals).removesuffix('/*')}"
            f"/{checkpoint_folder(name)}/*]",
            "An approval that runs the stretch before it keeps what that stretch did when the "
            "request then fails, one object per run (named by the execution, hence the '*'), "
            f"for a redrive to take instead of running its blocks again: PutObject and "
            f"DeleteObject on workflow '{name}''s checkpoint folder only.",
        )
    for workflow in approvals.map_run_workflows.values():
        _acknowledge_recorder_map_runs(notifier.role or notifier, workflow,
                                       "to snapshot the blocks inside it when the run pauses")
    _acknowledge(
        approvals.csrf_secret,
        "AwsSolutions-SMG4",
        "The CSRF key only signs the hidden field of open decision forms; rotating it "
        "invalidates every form already on screen (the approver reopens the link). It is "
        "generated by CloudFormation, read by the decision function alone, and replaced by "
        "redeploying with a new secret when needed.",
    )


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


def _executions_finding(state_machine_name: str) -> str:
    """The IAM5 finding of a grant on ``arn:...:execution:<state machine name>:*``, as cdk-nag
    renders it."""
    return ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:execution:{state_machine_name}:*]")


def _acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=_RULES + finding, reason=reason))


def _acknowledge_handlers(handlers: BlockHandlers) -> None:
    objects = _payload_objects(handlers)
    for variant in handlers.variants.values():  # its role is its handler's (below)
        _acknowledge_function(variant)
    for name, fn in handlers.functions.items():
        _acknowledge_function(fn)
        _acknowledge_model_access(name, fn)
        _acknowledge(
            fn.role or fn,
            f"AwsSolutions-IAM5[Resource::{objects}]",
            "Block handlers store outputs over the inline budget in the payload bucket under "
            "keys chosen at run time (<state machine>/<execution>/<block>/<uuid>.json) and read "
            "them back, so s3:GetObject and s3:PutObject name the bucket's objects with '/*'. "
            "Only those two actions, on that one bucket's objects; no listing, no deletes.",
        )


def _acknowledge_model_access(name: str, fn: lambda_.IFunction) -> None:
    """The AI handlers' Bedrock and SES grants (``HANDLER_ACTIONS``)."""
    actions = HANDLER_ACTIONS.get(name, ((), ()))[0]
    if "bedrock:InvokeModel" in actions:
        for resource in ("arn:<AWS::Partition>:bedrock:*::foundation-model/*",
                         "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:"
                         "inference-profile/*"):
            _acknowledge(
                fn.role or fn, f"AwsSolutions-IAM5[Resource::{resource}]",
                "The model is the workflow author's choice, made per block (an agent's, "
                "router's or evaluator's 'model'), so bedrock:InvokeModel names every "
                "foundation model and this account's inference profiles; only that action.")
    if "ses:SendEmail" in actions:
        _acknowledge_ses_identities(fn, "an agent's, or a tool block's")


def _acknowledge_ses_identities(fn: lambda_.IFunction, whose: str) -> None:
    """``ses:SendEmail`` on this account's identities, for the email tool (``whose``)."""
    _acknowledge(
        fn.role or fn,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:"
        "<AWS::AccountId>:identity/*]",
        f"The email tool ({whose}) sends from the sender its workflow names (an SES identity "
        "verified in this account), so ses:SendEmail names this account's identities; "
        "SES itself refuses unverified senders.")


def _payload_objects(handlers: BlockHandlers) -> str:
    """The payload bucket's objects (``<bucket arn>/*``) as cdk-nag renders them in a finding."""
    return _bucket_objects(handlers.payload_bucket, handlers)


def _bucket_objects(bucket: s3.IBucket, consumer: IConstruct) -> str:
    producer = cdk.Stack.of(bucket)
    if producer is cdk.Stack.of(consumer):
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
            _executions_finding(workflow.state_machine_name),
            "Execution names are chosen by whoever starts an execution, so the recorder's "
            "states:DescribeExecution and states:GetExecutionHistory name the executions of "
            f"state machine '{workflow.state_machine_name}' with a trailing '*'. It matches "
            "executions of that one state machine only (the name is followed by ':').",
        )
        _acknowledge_recorder_map_runs(fn.role or fn, workflow)
    _acknowledge(
        recorder.dead_letter_queue,
        "AwsSolutions-SQS3",
        "This queue is the dead-letter queue: of the EventBridge target and of the "
        "recorder's asynchronous invocations (on-failure destination). cdk-nag only "
        "recognises queues named in another queue's redrive policy as dead-letter queues.",
    )


def _acknowledge_recorder_map_runs(role: IConstruct, workflow: WorkflowStateMachine,
                                   why: str = "to log the blocks inside it") -> None:
    """The recorder (and the approval notifier, for its pause snapshot) reads the child
    executions of a workflow's distributed Maps (``infra.constructs.recorder.grant_map_runs``),
    whose ids Step Functions generates."""
    states = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
    name = workflow.state_machine_name
    for label, execution_type in distributed_maps(workflow.compiled.definition):
        _acknowledge(
            role, f"AwsSolutions-IAM5[Resource::{states}:mapRun:{name}/{label}:*]",
            f"states:ListExecutions and states:DescribeMapRun list and count the child executions "
            f"of the Map Runs of the distributed "
            f"Map labelled '{label}' of '{name}', {why}; Step Functions "
            "generates each Map Run's id, so the grant names that one Map's Map Runs with a "
            "trailing '*' (<state machine>/<label>:<id>), nothing else.")
        if execution_type == "STANDARD":
            _acknowledge(
                role, f"AwsSolutions-IAM5[Resource::{states}:execution:{name}/{label}:*]",
                f"states:GetExecutionHistory reads the Standard child executions of the "
                f"distributed Map labelled '{label}' of '{name}' (a bounded number per run), "
                f"{why}; Step Functions names each child with a generated id, "
                "so the grant names that one Map's children with a trailing '*', nothing else.")


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
    for handler, fn in [*workflow.functions.items(), *workflow.block_functions.items()]:
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
    _acknowledge_stretches(workflow)
    _acknowledge_distributed(workflow)
    for child in sorted(set(workflow.child_machines.values())):
        _acknowledge(
            machine,
            _executions_finding(child),
            f"A sub-workflow block starts executions of '{child}' under generated names, so "
            "states:DescribeExecution and states:StopExecution (which .sync needs) name that "
            "one state machine's executions with a trailing '*'.",
        )


def _acknowledge_distributed(workflow: WorkflowStateMachine) -> None:
    """A distributed Map starts child executions of its own state machine under generated
    names and writes its results under one prefix of the payload bucket."""
    if workflow.results_bucket is None:
        return
    name, machine = workflow.state_machine_name, workflow.state_machine
    states = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
    for resource, what in ((f"stateMachine:{name}:*", "its versions and aliases (the Map starts "
                            "its children on the version that runs)"),
                           (f"execution:{name}/*", "its Standard child executions"),
                           (f"express:{name}/*", "its Express child executions"),
                           (f"execution:{name}:*", "its executions, which ListMapRuns names"),
                           (f"mapRun:{name}/*", "its Map Runs")):
        _acknowledge(
            machine, f"AwsSolutions-IAM5[Resource::{states}:{resource}]",
            f"A distributed Map (docs/how-it-compiles.md) runs each item as a child execution "
            f"of '{name}' under a generated name: the grant names {what}, of that one state "
            "machine only.")
    objects = _bucket_objects(workflow.results_bucket, workflow).removesuffix("/*")
    _acknowledge(
        machine, f"AwsSolutions-IAM5[Resource::{objects}/stepweave-map-results/*]",
        "A distributed Map's ResultWriter writes a manifest and result files under keys Step "
        "Functions chooses (<prefix>/<map run id>/...), so the grant names the objects under "
        "the results prefix of the payload bucket only.")


def _acknowledge_stretches(workflow: WorkflowStateMachine) -> None:
    """A split workflow's Express stretches: logged ALL and traced as Express workflows are;
    the parent starts their versions and reads/stops their executions."""
    stack = cdk.Stack.of(workflow)
    for name, machine, _version in workflow.stretches.values():
        _acknowledge(
            machine,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions logging and X-Ray tracing: the CloudWatch Logs log-delivery actions "
            "and the X-Ray actions do not support resource-level permissions, so CDK grants "
            "them on '*'.",
        )
        for ref, functions in workflow.stretch_functions.items():
            if workflow.stretches[ref][1] is not machine:
                continue
            if ref in workflow.stretch_checkpoints and workflow.checkpoint_bucket is not None:
                objects = _bucket_objects(workflow.checkpoint_bucket, machine).removesuffix("/*")
                _acknowledge(
                    machine,
                    f"AwsSolutions-IAM5[Resource::{objects}/{workflow.stretch_checkpoints[ref]}/*]",
                    "A stretch that fails keeps a checkpoint for a redrive to resume at, one object "
                    "per run (<workflow>/<execution name>/<stretch>.json, the execution named at "
                    "start), which the redriven stretch reads and deletes: s3:PutObject, GetObject "
                    "and DeleteObject on its own workflow's checkpoint folder only.",
                )
            for handler, fn in functions:
                resource = fn.node.default_child
                if not isinstance(resource, cdk.CfnElement):
                    continue
                logical_id = stack.resolve(stack.get_logical_id(resource))
                _acknowledge(
                    machine,
                    f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                    f"grant_invoke adds '<{handler} function ARN>:*' next to the function ARN: it "
                    "matches versions and aliases of that one function, nothing else.",
                )
        _acknowledge(
            workflow.state_machine,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:stateMachine:{name}:*]",
            f"The parent runs the version of its Express stretch '{name}' deployed with it: "
            "states:StartExecution names that one state machine's versions with a trailing '*'.",
        )
        _acknowledge(
            workflow.state_machine,
            _executions_finding(name),
            f"The parent starts executions of its Express stretch '{name}' under generated "
            "names, so states:DescribeExecution and states:StopExecution (which .sync needs) "
            "name that one state machine's executions with a trailing '*'.",
        )
