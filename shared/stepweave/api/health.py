"""``GET /health``: the deployment's version and whether the table and the state machines answer."""

from __future__ import annotations

from typing import Any

from stepweave.api.executions import Executions
from stepweave.api.models import Dependency, Health
from stepweave.errors import aws_error_code
from stepweave.runtime.settings import Settings

__all__ = ["check_health"]


def _problem(exc: Exception) -> str:
    return aws_error_code(exc) or type(exc).__name__  # a code, never a message that could carry data


def check_health(ddb: Any, settings: Settings, executions: Executions, version: str) -> Health:
    deps: list[Dependency] = []
    try:
        ddb.get_item(TableName=settings.require_table(), Key={"pk": {"S": "HEALTH"}, "sk": {"S": "HEALTH"}})
        deps.append(Dependency(name="table", ok=True))
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        deps.append(Dependency(name="table", ok=False, detail=_problem(exc)))
    for workflow, problem in sorted(executions.ping().items()):
        deps.append(Dependency(name=f"workflow:{workflow}", ok=problem is None, detail=problem))
    return Health(status="ok" if all(d.ok for d in deps) else "degraded", version=version, dependencies=deps)
