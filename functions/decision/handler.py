"""Lambda entry point of the approval decisions, behind API Gateway.

- ``GET|POST /approvals/{id}``: the decision page (``stepweave.api.decision_pages``);
- ``GET /v1/approvals``, ``POST /v1/approvals/{id}/decision``: the same decisions for
  programs, with a run-API key (``stepweave.api.decisions``).

The only function allowed to answer task tokens (``states:SendTaskSuccess``). The CSRF key
of the form pages is read from Secrets Manager (``STEPWEAVE_CSRF_SECRET_ARN``) on first use
and kept while warm, so every instance signs and checks forms with the same key. Logs the
route and status only: never approval ids (they are capabilities), form values or keys.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.logging import Logger
from stepweave.api.decisions import handle_decision, is_api_request
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))


@functools.cache
def clients() -> Clients:
    import boto3

    return Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"))


@functools.cache
def settings() -> Settings:
    loaded = Settings.from_env()
    if loaded.csrf_secret is None and loaded.csrf_secret_arn:
        from aws_lambda_powertools.utilities.parameters import get_secret

        key = get_secret(loaded.csrf_secret_arn, max_age=3600)
        loaded = loaded.model_copy(update={"csrf_secret": Settings.model_validate(
            {"csrf_secret": key}).csrf_secret})
    return loaded


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = "api" if is_api_request(event) else "page"
    response = handle_decision(event, clients=clients(), settings=settings())
    logger.info("decision request", extra={"route": route, "method": event.get("httpMethod"),
                                           "status": response.get("statusCode")})
    return response
