"""The run API, webhooks and decision pages of the embedded engine, as gateway routes.

``LocalApi(engine, workflows)`` creates the workflows' state machines in the engine, starts
the watcher that records their executions (``stepweave.local.executions``) and builds the
handlers the deployed API runs: the run API (``stepweave.api.app``), the webhook ingest
(``stepweave.triggers.webhook``) and the decision pages (``stepweave.api.decision_pages``).
A Powertools resolver holds the current request, so concurrent requests each borrow one
from a pool.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepweave import __version__
from stepweave.api.app import SYNC_TIMEOUT_S, ApiContext, build_resolver, resolve
from stepweave.api.keys import create_key, lookup_key, store_key
from stepweave.local.executions import LocalExecutions
from stepweave.local.gateway import Route, stepweave_routes
from stepweave.runtime.recorder import Clients

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from stepweave.compiler import CompiledWorkflow
    from stepweave.local.engine import LocalEngine

__all__ = ["LOCAL_TENANT", "LocalApi"]

#: The tenant of the key ``stepweave serve`` prints.
LOCAL_TENANT = "local"


class _LambdaContext:
    function_name = "stepweave-runapi"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stepweave-runapi"
    aws_request_id = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


class LocalApi:
    def __init__(self, engine: LocalEngine, workflows: Mapping[str, CompiledWorkflow], *,
                 sync_timeout_s: float = SYNC_TIMEOUT_S, poll_s: float = 0.05) -> None:
        self.engine = engine
        self.executions = LocalExecutions(engine, workflows, poll_s=poll_s)
        # runs without a tenant (webhooks, schedules) have their approvals answered by the
        # operator tenant: locally the tenant of the printed key, unless one is configured
        settings = engine.records.settings
        self.settings = settings if settings.operator_tenant else settings.model_copy(
            update={"operator_tenant": LOCAL_TENANT})
        self.clients = Clients(sfn=engine.sfn, ddb=engine.records.ddb)
        self.context = ApiContext(ddb=self.clients.ddb, settings=self.settings, executions=self.executions,
                                  version=self.settings.version or __version__, sync_timeout_s=sync_timeout_s)
        self._pool: queue.SimpleQueue[APIGatewayRestResolver] = queue.SimpleQueue()
        self.webhooks_enabled = False
        self.routes: list[Route] = stepweave_routes(self.run_api, ingest=self._ingest(workflows),
                                                    decision=self.decision)

    def run_api(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            resolver = self._pool.get_nowait()
        except queue.Empty:
            resolver = build_resolver(lambda: self.context)
        try:
            return resolve(resolver, event, _LambdaContext())
        finally:
            self._pool.put(resolver)

    def decision(self, event: dict[str, Any]) -> dict[str, Any]:
        from stepweave.local.decision_server import held_here

        return held_here(self.clients, self.settings)(event)

    def _ingest(self, workflows: Mapping[str, CompiledWorkflow]) -> Any:
        try:
            from stepweave.runtime.secrets import Secrets
            from stepweave.triggers.targets import webhook_targets
            from stepweave.triggers.webhook import handle_webhook
        except ImportError:  # a checkout without webhook triggers
            return None
        targets = webhook_targets(workflows.values(), lambda name: self.executions.targets()[name].arn)
        secrets = Secrets.from_settings(self.settings)
        self.webhooks_enabled = True

        def ingest(event: dict[str, Any]) -> dict[str, Any]:
            return handle_webhook(event, clients=self.clients, settings=self.settings, workflows=targets,
                                  secrets=secrets)

        return ingest

    def api_key(self, key: str | None = None, tenant: str = LOCAL_TENANT) -> str:
        """``key`` stored for ``tenant`` (a new one when None); returns the key."""
        if key is None:
            key, _ = create_key(self.clients.ddb, self.settings, tenant=tenant, name="serve")
        elif lookup_key(self.clients.ddb, self.settings, key) is None:
            store_key(self.clients.ddb, self.settings, key, tenant=tenant, name="serve")
        return key

    def close(self) -> None:
        self.executions.close()

    def __enter__(self) -> LocalApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
