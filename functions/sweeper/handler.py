"""Lambda entry point of the scheduled sweep of overdue approvals
(``stepweave.runtime.approval_sweep``): lapses approvals whose runs stopped waiting and
publishes ``ApprovalsOverdue``, ``ApprovalsLapsed`` and ``ApprovalsStuck`` (embedded metric
format), the last of which the deployment alarms on."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from stepweave.runtime.approval_sweep import sweep
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stepweave"))


@functools.cache
def clients() -> Clients:
    import boto3

    return Clients(sfn=boto3.client("stepfunctions"), ddb=boto3.client("dynamodb"))


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    result = sweep(clients(), Settings.from_env(), time.time())
    metrics.add_metric(name="ApprovalsOverdue", unit=MetricUnit.Count, value=result.overdue)
    metrics.add_metric(name="ApprovalsLapsed", unit=MetricUnit.Count, value=result.lapsed)
    metrics.add_metric(name="ApprovalsStuck", unit=MetricUnit.Count, value=len(result.stuck))
    logger.info("approvals swept", extra={"overdue": result.overdue, "lapsed": result.lapsed,
                                          "stuck": len(result.stuck)})
    return {"overdue": result.overdue, "lapsed": result.lapsed, "stuck": len(result.stuck)}
