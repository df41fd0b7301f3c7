"""A world for webhook tests: moto's Step Functions and DynamoDB, one state machine per
webhook trigger (a single Pass state; moto does not run it), the records table, secrets
from a dict. ``World.post`` sends a request shaped as API Gateway delivers it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto import mock_aws
from stepweave.local.records import create_table, local_client
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import from_dynamo
from stepweave.runtime.secrets import Secrets
from stepweave.runtime.settings import Settings
from stepweave.triggers.declare import WebhookTrigger
from stepweave.triggers.targets import WebhookTarget
from stepweave.triggers.webhook import handle_webhook

TABLE = "records"
NOW = 1_760_000_000.0
SECRET = "whsec_test_secret"
ROLE = "arn:aws:iam::123456789012:role/sfn"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
TRIGGERS = {
    "generic": {"type": "webhook", "signature": {"scheme": "hmac", "secret": "GENERIC_SECRET",
                                                 "header": "X-Sig", "prefix": "sha256="},
                "dedupHeader": "X-Delivery"},
    "b64": {"type": "webhook", "signature": {"scheme": "hmac", "secret": "GENERIC_SECRET",
                                             "encoding": "base64"}},
    "shop": {"type": "webhook", "signature": {"scheme": "shopify", "secret": "SHOP_SECRET"}},
    "pay": {"type": "webhook", "signature": {"scheme": "stripe", "secret": "STRIPE_SECRET"}},
    "repo": {"type": "webhook", "signature": {"scheme": "github", "secret": "GITHUB_SECRET"}},
    "open": {"type": "webhook", "signature": "none", "maxBodyBytes": 64},
    "mapped": {"type": "webhook", "signature": "none", "name": "orders",
               "inputMapping": {"orderId": "body.order.id", "first": "body.items.0.sku",
                                "topic": "headers.X-Topic", "missing": "body.nope"}},
    "unset": {"type": "webhook", "signature": {"scheme": "github", "secret": "NOT_SET_ANYWHERE"}},
    "express": {"type": "webhook", "signature": "none"},
    "prs": {"type": "webhook", "signature": {"scheme": "github", "secret": "GITHUB_SECRET"},
            "when": {"headers.X-GitHub-Event": ["pull_request"], "body.action": ["opened"],
                     "body.pull_request.draft": [False, None]}},
}
ENV = {"GENERIC_SECRET": SECRET, "SHOP_SECRET": SECRET, "STRIPE_SECRET": SECRET,
       "GITHUB_SECRET": SECRET}


@dataclass
class World:
    clients: Clients
    settings: Settings
    targets: dict[str, WebhookTarget]
    secrets: Secrets

    def post(self, workflow: str, body: bytes | str, headers: dict[str, str] | None = None,
             *, now: float = NOW, method: str = "POST", b64: bool = False) -> tuple[int, dict[str, Any]]:
        raw = body.encode() if isinstance(body, str) else body
        event = {"httpMethod": method, "resource": "/webhooks/{workflow}", "path": f"/webhooks/{workflow}",
                 "pathParameters": {"workflow": workflow}, "headers": headers or {},
                 "queryStringParameters": None,
                 "body": base64.b64encode(raw).decode() if b64 else raw.decode(), "isBase64Encoded": b64}
        response = handle_webhook(event, clients=self.clients, settings=self.settings,
                                  workflows=self.targets, secrets=self.secrets, clock=lambda: now)
        return response["statusCode"], json.loads(response["body"])

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        arn = self.targets[workflow].state_machine_arn
        return self.clients.sfn.list_executions(stateMachineArn=arn)["executions"]

    def run_input(self, execution_arn: str) -> dict[str, Any]:
        return json.loads(self.clients.sfn.describe_execution(executionArn=execution_arn)["input"])

    def record(self, execution_arn: str) -> dict[str, Any]:
        item = self.clients.ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"EXEC#{execution_arn}"},
                                                                "sk": {"S": "META"}}).get("Item")
        return {k: from_dynamo(v) for k, v in (item or {}).items()}


@contextmanager
def make_world() -> Iterator[World]:
    with mock_aws():
        sfn, ddb = local_client("stepfunctions"), local_client("dynamodb")
        create_table(ddb, TABLE)
        targets = {}
        for name, trigger in TRIGGERS.items():
            kind = "EXPRESS" if name == "express" else "STANDARD"
            arn = sfn.create_state_machine(name=f"dev-{name}", definition=PASS, roleArn=ROLE,
                                           type=kind)["stateMachineArn"]
            targets[name] = WebhookTarget(name, arn, kind, WebhookTrigger.model_validate(trigger))
        settings = Settings(table=TABLE)
        yield World(Clients(sfn=sfn, ddb=ddb), settings, targets, Secrets(settings, env=ENV))
