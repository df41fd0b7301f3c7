"""Lambda entry point of the webhook ingest: ``POST /webhooks/{workflow}`` behind API Gateway.

The work is ``stepweave.triggers.webhook.handle_webhook`` (the local gateway runs it too).
The workflows that take webhooks are read from ``webhooks.json`` beside this file
(generated at synth; ``STEPWEAVE_WEBHOOK_TARGETS`` names another); their state machines are in this function's account and region.
Clients and the secrets reader (SSM, cached) are created on first use and reused while
warm. Logs carry the workflow and the delivery id, never a body, a header or a secret.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.runtime.recorder import Clients
from stepweave.runtime.secrets import Secrets
from stepweave.runtime.settings import Settings
from stepweave.triggers.targets import (
    TARGETS_FILE,
    WebhookTarget,
    load_targets,
    state_machine_arn_prefix,
)
from stepweave.triggers.webhook import handle_webhook

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))

TARGETS_PATH = Path(__file__).resolve().parent / TARGETS_FILE


@functools.cache
def clients() -> Clients:
    """boto3 clients, created on first use (not at import) and reused while warm."""
    import boto3

    return Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"))


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def secrets() -> Secrets:
    return Secrets.from_settings(settings())


@functools.cache
def targets(path: Path, function_arn: str) -> dict[str, WebhookTarget]:
    return load_targets(path, state_machine_arn_prefix(function_arn))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One webhook request -> an API Gateway proxy response."""
    logger.clear_state()
    logger.append_keys(workflow=(event.get("pathParameters") or {}).get("workflow"))
    config = settings()
    workflows = targets(config.webhook_targets or TARGETS_PATH, str(context.invoked_function_arn))
    return handle_webhook(event, clients=clients(), settings=config, workflows=workflows,
                          secrets=secrets())
