"""Lambda entry point of the poller: one poll of one ``poll`` trigger, started by its
EventBridge Scheduler schedule with ``{"workflow": ..., "trigger": ...}``.

The work is ``stepweave.triggers.poll.poll`` (``stepweave serve`` runs it too). The
workflows that poll are read from ``polls.json`` beside this file (generated at synth;
``STEPWEAVE_POLL_TARGETS`` names another); their state machines are in this function's
account and region. A provider that cannot be read fails the invocation (the Errors metric
and its alarm show it; the next scheduled poll tries again, nothing is lost or doubled).
Logs carry the workflow, the trigger and counts, never an item, a token or a secret.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import httpx
from aws_lambda_powertools.logging import Logger
from stepweave.runtime.recorder import Clients
from stepweave.runtime.secrets import Secrets
from stepweave.runtime.settings import Settings
from stepweave.triggers.poll import POLLS_FILE, PollTarget, load_poll_targets, poll
from stepweave.triggers.targets import state_machine_arn_prefix

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stepweave"))

TARGETS_PATH = Path(__file__).resolve().parent / POLLS_FILE


class UnknownPoll(ValueError):
    """The schedule names a workflow or trigger this deployment does not poll."""


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
def http() -> httpx.Client:
    return httpx.Client(headers={"User-Agent": "stepweave-poller"})


@functools.cache
def targets(path: Path, function_arn: str) -> dict[tuple[str, str], PollTarget]:
    return load_poll_targets(path, state_machine_arn_prefix(function_arn))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One poll -> its summary (items, started, seen, duplicates, busy, deferred)."""
    logger.clear_state()
    workflow, trigger = str(event.get("workflow") or ""), str(event.get("trigger") or "")
    logger.append_keys(workflow=workflow, trigger=trigger)
    path = Path(os.environ.get("STEPWEAVE_POLL_TARGETS") or TARGETS_PATH)
    target = targets(path, str(context.invoked_function_arn)).get((workflow, trigger))
    if target is None:
        raise UnknownPoll(f"no poll trigger {trigger!r} of workflow {workflow!r} here")
    result = poll(target, clients=clients(), settings=settings(), secrets=secrets(), http=http(),
                  now=time.time())
    return result.summary()
