"""One Lambda function per block handler in ``functions/``.

Each ``functions/<name>/handler.py`` becomes a function whose code asset is that
folder only; the ``stepweave`` package and the third-party dependencies come from
the shared layer (``layer.py``). The runtime and architecture are defined here,
once, and the layer is built for them. Memory sizes are ``infra.memory``'s; a block given
a size of its own runs on a copy of its handler's function at that size (``variant``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from stepweave.runtime.settings import DEFAULT_INLINE_BUDGET_BYTES

from infra.memory import HANDLER_MEMORY_MB

__all__ = [
    "ARCHITECTURE",
    "HANDLER_ACTIONS",
    "HANDLER_SETTINGS",
    "HANDLER_TABLE_ACTIONS",
    "METRICS_NAMESPACE",
    "NOT_BLOCK_HANDLERS",
    "PAYLOAD_ACTIONS",
    "PYTHON_RUNTIME",
    "SECRETS_ACTIONS",
    "BlockHandlers",
    "HandlerSettings",
    "discover_handlers",
    "handler_statements",
    "python_function",
    "secrets_environment",
    "secrets_prefix",
    "secrets_read_statement",
    "variant_name",
]

#: The one Python runtime of every Stepweave function and of the layer.
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_12
#: Graviton: cheaper per GB-second; the layer's wheels are built for it.
ARCHITECTURE = lambda_.Architecture.ARM_64
#: CloudWatch namespace of the Powertools metrics of every handler.
METRICS_NAMESPACE = "Stepweave"
#: ``functions/<name>/<HANDLER_MODULE>.py`` defines ``lambda_handler``.
HANDLER_MODULE = "handler"
#: Folders of ``functions/`` that are not block handlers (their own constructs deploy them).
#: ``approval``, ``decision`` and ``sweeper``: ``infra.constructs.approvals``; ``ingest``:
#: ``infra.constructs.triggers``; ``runapi``: ``infra.constructs.api``.
NOT_BLOCK_HANDLERS = frozenset({"recorder", "approval", "decision", "sweeper", "ingest", "runapi",
                                "poller"})
#: What a function may do with the named secrets of its stage (SSM parameters under a path).
SECRETS_ACTIONS = ("ssm:GetParameter",)
#: What a block handler may do in the payload bucket: read and write objects, nothing else.
PAYLOAD_ACTIONS = ("s3:GetObject", "s3:PutObject")


@dataclass(frozen=True)
class HandlerSettings:
    memory_mb: int
    timeout_seconds: int


#: Timeout per handler, and its default memory (``infra.memory.HANDLER_MEMORY_MB``: from
#: measured peaks; the context may change it). A handler folder without an entry here
#: stops the synth.
_TIMEOUTS: Mapping[str, int] = {
    # A script's own limit (timeoutMs, at most 14 minutes) stops it first; the state
    # machine's task timeout (the script's plus 30 s) comes next.
    "function": 900,
    # requests and their retries share Lambda's 15 minutes
    "api": 900,
    # AI blocks wait on model providers; an agent's tool loop makes several calls
    "agent": 900,
    "router": 300,
    "evaluator": 300,
    # one tool call (Slack, SES, an HTTP request with its retries), like api
    "tool": 900,
    # a distributed container's results: read from and written to the payload bucket
    "collect": 300,
}
HANDLER_SETTINGS: Mapping[str, HandlerSettings] = {
    name: HandlerSettings(memory_mb=HANDLER_MEMORY_MB[name], timeout_seconds=seconds)
    for name, seconds in _TIMEOUTS.items()}

#: Extra IAM actions per handler: the AI blocks may call Bedrock (Converse is
#: bedrock:InvokeModel) on foundation models and inference profiles; the email tool (of an
#: agent or of a tool block) sends through SES.
HANDLER_ACTIONS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "agent": (("bedrock:InvokeModel", "ses:SendEmail"),
              ("bedrock:foundation-model", "bedrock:inference-profile", "ses:identity")),
    "router": (("bedrock:InvokeModel",), ("bedrock:foundation-model", "bedrock:inference-profile")),
    "evaluator": (("bedrock:InvokeModel",),
                  ("bedrock:foundation-model", "bedrock:inference-profile")),
    # the tool block: what its tools need (stepweave.tools.tool_permissions): the email
    # tool sends through SES
    "tool": (("ses:SendEmail",), ("ses:identity",)),
}


#: Handlers that keep items of their own in the records table (the agent's conversation
#: memory, ``CONV#<id>`` items): the item actions they need, on the table only (no index).
HANDLER_TABLE_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "agent": ("dynamodb:Query", "dynamodb:PutItem"),
}


def handler_statements(scope: Construct, name: str) -> list[iam.PolicyStatement]:
    """The ``HANDLER_ACTIONS`` of handler ``name`` as policy statements (one per service)."""
    actions, kinds = HANDLER_ACTIONS.get(name, ((), ()))
    stack = Stack.of(scope)
    arns = {
        "bedrock:foundation-model": f"arn:{stack.partition}:bedrock:*::foundation-model/*",
        "bedrock:inference-profile": stack.format_arn(service="bedrock",
                                                      resource="inference-profile",
                                                      resource_name="*"),
        "ses:identity": stack.format_arn(service="ses", resource="identity", resource_name="*"),
    }
    statements = []
    for service in sorted({a.split(":", 1)[0] for a in actions}):
        statements.append(iam.PolicyStatement(
            actions=[a for a in actions if a.startswith(service + ":")],
            resources=[arns[k] for k in kinds if k.startswith(service + ":")]))
    return statements


def secrets_prefix(stage: str) -> str:
    """Where a stage's named secrets live: SSM parameters ``/stepweave/<stage>/<NAME>``."""
    return f"/stepweave/{stage}/"


def discover_handlers(functions_dir: Path) -> list[str]:
    """The block handler names: every ``functions/<name>/`` holding a ``handler.py``,
    except the service functions in ``NOT_BLOCK_HANDLERS``."""
    return sorted(p.parent.name for p in functions_dir.glob(f"*/{HANDLER_MODULE}.py")
                  if p.parent.name not in NOT_BLOCK_HANDLERS)


def python_function(
    scope: Construct,
    name: str,
    *,
    description: str,
    code: lambda_.Code,
    layer: lambda_.ILayerVersion,
    settings: HandlerSettings,
    log_retention: logs.RetentionDays,
    log_level: str,
    environment: Mapping[str, str] | None = None,
    shared: tuple[logs.ILogGroup, iam.IRole] | None = None,
    **kwargs: Any,
) -> lambda_.Function:
    """A Stepweave function: ``PYTHON_RUNTIME`` on ``ARCHITECTURE``, the shared layer, active
    tracing, Powertools settings, its own log group and a role that can write only to it.

    Constructs ``<name>-logs``, ``<name>-role`` and ``<name>`` in ``scope``; with
    ``shared`` (another function's log group and role), only ``<name>``, which uses them.
    """
    if shared is not None:
        log_group, role = shared
    else:
        log_group = logs.LogGroup(scope, f"{name}-logs", retention=log_retention)
        # Our own role instead of AWSLambdaBasicExecutionRole: the function writes to
        # its own log group only (the managed policy allows every log group).
        role = iam.Role(scope, f"{name}-role",
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=description)
        log_group.grant_write(role)
    return lambda_.Function(
        scope,
        name,
        description=description,
        runtime=PYTHON_RUNTIME,
        architecture=ARCHITECTURE,
        handler=f"{HANDLER_MODULE}.lambda_handler",
        code=code,
        layers=[layer],
        memory_size=settings.memory_mb,
        timeout=Duration.seconds(settings.timeout_seconds),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        role=role,
        environment={
            "POWERTOOLS_SERVICE_NAME": f"stepweave-{name}",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": log_level,
            **(environment or {}),
        },
        **kwargs,
    )


def variant_name(handler: str, memory_mb: int) -> str:
    """The name of ``handler``'s copy at ``memory_mb`` (for blocks given that size)."""
    return f"{handler}-{memory_mb}mb"


class BlockHandlers(Construct):
    """The block handler functions, keyed by handler name (``"api"``, ``"function"``...),
    and their copies at other sizes for single blocks (``variants``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions_dir: Path,
        layer: lambda_.ILayerVersion,
        log_retention: logs.RetentionDays,
        log_level: str,
        payload_bucket: s3.IBucket,
        secrets_prefix: str,
        table: dynamodb.ITable | None = None,
        inline_budget_bytes: int = DEFAULT_INLINE_BUDGET_BYTES,
        secret_names: Mapping[str, Collection[str]] | None = None,
        memory: Mapping[str, int] | None = None,
        variants: Collection[tuple[str, int]] = (),
    ) -> None:
        """``secret_names``: handler -> the secrets its workflows' blocks name
        (``CompiledWorkflow.secrets_by_handler``); each function may read exactly those.
        ``memory``: handler -> MB, where it differs from ``HANDLER_SETTINGS``; ``variants``:
        (handler, MB) copies to build (same code, environment, role and log group)."""
        super().__init__(scope, construct_id)
        names = discover_handlers(functions_dir)
        unsized = [n for n in names if n not in HANDLER_SETTINGS]
        if unsized:
            raise ValueError(
                f"no memory/timeout settings for handler(s) {', '.join(unsized)}: "
                f"add them to HANDLER_SETTINGS in {__name__}"
            )
        self.payload_bucket = payload_bucket
        self.secrets_prefix = secrets_prefix
        environment = {"STEPWEAVE_PAYLOAD_BUCKET": payload_bucket.bucket_name,
                       "STEPWEAVE_INLINE_BUDGET_BYTES": str(inline_budget_bytes),
                       **secrets_environment(secrets_prefix)}
        self.functions: dict[str, lambda_.Function] = {}
        #: (handler, MB) -> the copy of the handler's function that some blocks run on
        self.variants: dict[tuple[str, int], lambda_.Function] = {}
        memory = memory or {}
        unknown = sorted({h for h, _ in variants} - set(names))
        if unknown:
            raise ValueError(f"no handler {', '.join(unknown)} to copy at another size")
        for name in names:
            settings = HANDLER_SETTINGS[name]
            if name in memory:
                settings = HandlerSettings(memory[name], settings.timeout_seconds)
            code = lambda_.Code.from_asset(str(functions_dir / name),
                                           exclude=["__pycache__", "*.pyc"])
            fn_environment = dict(environment)
            if table is not None and name in HANDLER_TABLE_ACTIONS:
                fn_environment["STEPWEAVE_TABLE"] = table.table_name
            fn = python_function(
                self,
                name,
                description=f"Stepweave '{name}' block handler",
                code=code,
                layer=layer,
                settings=settings,
                log_retention=log_retention,
                log_level=log_level,
                environment=fn_environment,
            )
            fn.add_to_role_policy(iam.PolicyStatement(
                actions=list(PAYLOAD_ACTIONS), resources=[payload_bucket.arn_for_objects("*")]))
            if table is not None and name in HANDLER_TABLE_ACTIONS:
                fn.add_to_role_policy(iam.PolicyStatement(actions=list(HANDLER_TABLE_ACTIONS[name]),
                                                          resources=[table.table_arn]))
            secrets_grant = secrets_read_statement(self, secrets_prefix,
                                                   (secret_names or {}).get(name, ()))
            if secrets_grant is not None:
                fn.add_to_role_policy(secrets_grant)
            for statement in handler_statements(self, name):
                fn.add_to_role_policy(statement)
            self.functions[name] = fn
            log_group = self.node.find_child(f"{name}-logs")
            assert isinstance(log_group, logs.LogGroup) and fn.role is not None
            for handler, mb in sorted(v for v in variants if v[0] == name):
                self.variants[(handler, mb)] = python_function(
                    self, variant_name(handler, mb),
                    description=f"Stepweave '{name}' block handler at {mb} MB, for the blocks "
                                "given that size",
                    code=code, layer=layer,
                    settings=HandlerSettings(mb, settings.timeout_seconds),
                    log_retention=log_retention, log_level=log_level,
                    # one service: its logs and metrics are the handler's
                    environment={**fn_environment, "POWERTOOLS_SERVICE_NAME": f"stepweave-{name}"},
                    shared=(log_group, fn.role))


def secrets_environment(prefix: str) -> dict[str, str]:
    """Deployed functions read named secrets (``{{NAME}}``) from SSM under ``prefix``."""
    return {"STEPWEAVE_SECRETS_BACKEND": "ssm", "STEPWEAVE_SECRETS_PREFIX": prefix}


def secrets_read_statement(scope: Construct, prefix: str,
                           names: Collection[str]) -> iam.PolicyStatement | None:
    """Read (and decrypt, through SSM) exactly the parameters ``<prefix><NAME>`` of the
    secrets ``names`` (what the workflows name, as the compiler found it); None when there
    are none. SecureStrings under the AWS-managed ``aws/ssm`` key need no KMS grant."""
    if not names:
        return None
    path = prefix.strip("/")
    stack = Stack.of(scope)
    return iam.PolicyStatement(
        actions=list(SECRETS_ACTIONS),
        resources=[stack.format_arn(service="ssm", resource="parameter",
                                    resource_name=f"{path}/{name}") for name in sorted(set(names))])
