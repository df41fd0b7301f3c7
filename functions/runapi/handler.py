"""Lambda entry point of the run API: API Gateway (REST, proxy) events -> responses.

Thin: the routes are ``stepweave.api.app``; this file builds their context on the first
request (boto3 clients, settings, the deployment's workflows from ``STEPWEAVE_WORKFLOWS`` and
``STEPWEAVE_STATE_MACHINE_PREFIX``) and reuses it while warm. Logs carry the request id,
never keys, inputs or outputs.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.api.app import SYNC_TIMEOUT_S, ApiContext, build_resolver, resolve
from stepweave.runtime.settings import Settings

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave-runapi"))


@functools.cache
def context() -> ApiContext:
    import boto3
    from stepweave import __version__
    from stepweave.api.executions import AwsExecutions, sync_client, targets_from_settings

    settings = Settings.from_env()
    # StartSyncExecution blocks until the run ends: its client gives up before API Gateway does
    executions = AwsExecutions(boto3.client("stepfunctions"), targets_from_settings(settings),
                               sync_client=sync_client(SYNC_TIMEOUT_S))
    return ApiContext(ddb=boto3.client("dynamodb"), settings=settings, executions=executions,
                      version=settings.version or __version__)


resolver = build_resolver(context)


def lambda_handler(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    request = (event.get("requestContext") or {}) if isinstance(event, dict) else {}
    logger.append_keys(request_id=request.get("requestId"), route=event.get("resource"))
    try:
        return resolve(resolver, event, lambda_context)
    finally:
        logger.remove_keys(["request_id", "route"])
