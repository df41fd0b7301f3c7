"""``stepweave webhook``: a signed delivery over real HTTP to the local gateway's webhook route.

The gateway (``stepweave.local.gateway``) serves ``POST /webhooks/{workflow}`` with
``handle_webhook`` on moto; the CLI reads the workflow file, signs with the secret from the
environment and sends it. The same delivery id twice is one execution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stepweave.cli import main
from stepweave.local.gateway import Gateway, Route
from stepweave.triggers.targets import WebhookTarget
from stepweave.triggers.webhook import handle_webhook

from tests.functional.webhook_world import ENV, World, make_world

REPO = """\
version: 1
name: repo
blocks:
  - {id: start, type: start}
  - {id: step, type: function, name: Step, params: {code: "return 1;"}}
edges: [start -> step]
triggers:
  - {type: webhook, signature: {scheme: github, secret: GITHUB_SECRET}}
"""


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[World, str, Path]]:
    with make_world() as world:
        def ingest(event: dict[str, Any]) -> dict[str, Any]:
            return handle_webhook(event, clients=world.clients, settings=world.settings,
                                  workflows=world.targets, secrets=world.secrets)

        gateway = Gateway([Route("POST", "/webhooks/{workflow}", ingest)], port=0).start()
        (tmp_path / "repo.yaml").write_text(REPO)
        try:
            yield world, gateway.url, tmp_path
        finally:
            gateway.stop()


def test_a_signed_delivery_starts_one_execution_and_a_resend_is_the_same(
        served: tuple[World, str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    world, url, folder = served
    monkeypatch.setenv("GITHUB_SECRET", ENV["GITHUB_SECRET"])
    payload = folder / "push.json"
    payload.write_text(json.dumps({"ref": "refs/heads/main"}))
    args = ["webhook", "repo", "--workflows", str(folder), "--payload", str(payload), "--sign",
            "--url", url, "--delivery", "d-42"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert first["executionId"] == again["executionId"] and again["duplicate"] is True
    (execution,) = world.executions("repo")
    assert json.loads(world.clients.sfn.describe_execution(
        executionArn=execution["executionArn"])["input"])["ref"] == "refs/heads/main"


def test_unsigned_is_refused_and_a_missing_secret_is_a_usage_error(
        served: tuple[World, str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    world, url, folder = served
    assert main(["webhook", str(folder / "repo.yaml"), "--url", url]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unauthorized"
    monkeypatch.delenv("GITHUB_SECRET", raising=False)
    assert main(["webhook", str(folder / "repo.yaml"), "--url", url, "--sign"]) == 2
    assert "GITHUB_SECRET" in capsys.readouterr().err
    assert world.executions("repo") == []
    assert isinstance(world.targets["repo"], WebhookTarget)
