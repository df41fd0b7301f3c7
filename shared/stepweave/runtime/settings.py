"""The one place environment variables are read: ``Settings.from_env``.

| variable | default | |
|---|---|---|
| ``STEPWEAVE_TABLE`` | none | the records table (required on AWS) |
| ``STEPWEAVE_RETENTION_DAYS`` | 30 | records expire this long after the run (DynamoDB TTL) |
| ``STEPWEAVE_MANIFESTS_DIR`` | the caller's default | where the recorder reads manifests |
| ``STEPWEAVE_LOCAL_DIR`` | ``.stepweave`` in the working directory | local records |
| ``STEPWEAVE_PAYLOAD_BUCKET`` | none | where block outputs over the inline budget are stored |
| ``STEPWEAVE_INLINE_BUDGET_BYTES`` | 32768 | a block output larger than this (as JSON) is stored in the payload bucket (1024..262144) |
| ``STEPWEAVE_APPROVAL_SENDER`` | none | approval emails go through SES from this address; unset: ``.eml`` files in the outbox |
| ``STEPWEAVE_APPROVAL_DELIVERY`` | ``auto`` | ``auto``: SES with a sender, else the outbox; ``none``: no email (approvers answer through the API) |
| ``STEPWEAVE_OUTBOX_DIR`` | ``<local dir>/outbox`` | where approval emails are written when there is no sender |
| ``STEPWEAVE_PUBLIC_URL`` | ``http://127.0.0.1:8787`` | the base of the decision links in approval emails |
| ``STEPWEAVE_CSRF_SECRET`` | random per process | the key of the decision pages' CSRF tokens (HMAC), at least 16 characters |
| ``STEPWEAVE_CSRF_SECRET_ARN`` | none | deployed: the Secrets Manager secret holding the CSRF key (read by the decision function) |
| ``STEPWEAVE_OPERATOR_TENANT`` | none | the run-API tenant whose keys may answer approvals of runs that have no tenant (webhooks, schedules) |
| ``STEPWEAVE_WEBHOOK_DEDUP_DAYS`` | 8 | webhook deliveries are remembered this long, so provider retries start no second execution (8..365) |
| ``STEPWEAVE_WEBHOOK_TARGETS`` | ``webhooks.json`` beside the ingest handler | the workflows that take webhooks (``stepweave.triggers.targets``) |
| ``STEPWEAVE_SECRETS_BACKEND`` | ``env`` | where named secrets are read: ``env``, ``ssm`` or ``secretsmanager`` (``stepweave.runtime.secrets``) |
| ``STEPWEAVE_SECRETS_PREFIX`` | ``/stepweave/`` | the SSM parameter path / secret name prefix of named secrets |
| ``STEPWEAVE_WORKFLOWS`` | none | the run API's workflows: JSON ``{"<workflow>": "STANDARD" or "EXPRESS"}`` |
| ``STEPWEAVE_STATE_MACHINE_PREFIX`` | none | the ARN of a workflow's state machine is this prefix + the workflow name |
| ``STEPWEAVE_STATE_MACHINE_ALIAS`` | none | deployed: the alias (``live``) the run API starts, ``<prefix><workflow>:<alias>`` |
| ``STEPWEAVE_VERSION`` | the package's version | the deployment's version, reported by ``GET /health`` |
| ``STEPWEAVE_API_KEY`` | none | ``stepweave serve``: the run-API key of tenant ``local`` (else a new one is printed) |
| ``STEPWEAVE_RATE_LIMIT_PER_MINUTE`` | 600 | requests each API key may make a minute on Sim's routes (``/api/...``, ``stepweave.api.ratelimit``) |
| ``STEPWEAVE_SIM_WORKFLOW_IDS`` | none | Sim's routes: JSON ``{"<Sim workflow id>": "<workflow>"}``, the ids a Sim application calls (else a workflow's id is its name) |
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from stepweave.errors import StepweaveError

__all__ = ["Settings", "SettingsError", "sim_workflow_ids", "DEFAULT_RETENTION_DAYS", "DEFAULT_INLINE_BUDGET_BYTES",
           "MAX_INLINE_BUDGET_BYTES", "LOCAL_TABLE", "LOCAL_PAYLOAD_BUCKET", "DEFAULT_PUBLIC_URL"]

DEFAULT_RETENTION_DAYS = 30
#: Block outputs up to this size (compact JSON, UTF-8) stay in the state machine's variables.
DEFAULT_INLINE_BUDGET_BYTES = 32_768
#: Step Functions' limit on one variable (and on a state's input or output): 256 KiB.
MAX_INLINE_BUDGET_BYTES = 262_144
#: The table name the embedded engine uses inside its in-memory DynamoDB.
LOCAL_TABLE = "stepweave-local"
#: The payload bucket the embedded engine creates in its in-memory S3.
LOCAL_PAYLOAD_BUCKET = "stepweave-local-payloads"
#: Where decision links point when ``STEPWEAVE_PUBLIC_URL`` is not set.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8787"


_SIM_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_WORKFLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")


class SettingsError(StepweaveError):
    """A setting is missing or invalid."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table: str | None = Field(default=None, min_length=3, max_length=255)
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=36500)
    manifests_dir: Path | None = None
    local_dir: Path = Path(".stepweave")
    payload_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    inline_budget_bytes: int = Field(default=DEFAULT_INLINE_BUDGET_BYTES, ge=1024,
                                     le=MAX_INLINE_BUDGET_BYTES)
    approval_sender: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    outbox_dir: Path | None = None
    approval_delivery: Literal["auto", "none"] = "auto"
    public_url: str = Field(default=DEFAULT_PUBLIC_URL, pattern=r"^https?://\S+$")
    csrf_secret: SecretStr | None = Field(default=None, min_length=16)
    csrf_secret_arn: str | None = Field(default=None, pattern=r"^arn:\S+$")
    operator_tenant: str | None = Field(default=None, min_length=1, max_length=64)
    webhook_dedup_days: int = Field(default=8, ge=8, le=365)
    webhook_targets: Path | None = None
    secrets_backend: Literal["env", "ssm", "secretsmanager"] = "env"
    secrets_prefix: str = Field(default="/stepweave/", pattern=r"^[A-Za-z0-9_./-]*$", max_length=512)
    workflows: dict[str, Literal["STANDARD", "EXPRESS"]] | None = None
    state_machine_prefix: str | None = Field(default=None, pattern=r"^arn:[\w-]+:states:[\w-]+:\d+:stateMachine:")
    state_machine_alias: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,79}$")
    version: str | None = Field(default=None, max_length=128)
    api_key: SecretStr | None = Field(default=None, min_length=16, max_length=256)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    sim_workflow_ids: dict[str, str] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 default_manifests_dir: Path | None = None) -> Settings:
        """Read the ``STEPWEAVE_*`` variables (from ``os.environ`` unless ``env`` is given)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("STEPWEAVE_TABLE"):
            values["table"] = env["STEPWEAVE_TABLE"]
        if env.get("STEPWEAVE_RETENTION_DAYS"):
            values["retention_days"] = env["STEPWEAVE_RETENTION_DAYS"]
        manifests = env.get("STEPWEAVE_MANIFESTS_DIR")
        if manifests or default_manifests_dir is not None:
            values["manifests_dir"] = Path(manifests) if manifests else default_manifests_dir
        if env.get("STEPWEAVE_LOCAL_DIR"):
            values["local_dir"] = Path(env["STEPWEAVE_LOCAL_DIR"])
        for name in ("payload_bucket", "inline_budget_bytes", "approval_sender",
                     "approval_delivery", "outbox_dir",
                     "public_url", "csrf_secret", "csrf_secret_arn", "operator_tenant",
                     "webhook_dedup_days", "webhook_targets",
                     "secrets_backend", "secrets_prefix",
                     "state_machine_prefix", "state_machine_alias", "version", "api_key",
                     "rate_limit_per_minute"):
            if env.get(_env_name(name)):
                values[name] = env[_env_name(name)]
        if env.get("STEPWEAVE_SIM_WORKFLOW_IDS"):
            try:
                values["sim_workflow_ids"] = sim_workflow_ids(env["STEPWEAVE_SIM_WORKFLOW_IDS"])
            except SettingsError as exc:
                raise SettingsError(f"invalid settings: STEPWEAVE_SIM_WORKFLOW_IDS: {exc}") from None
        if env.get("STEPWEAVE_WORKFLOWS"):
            try:
                values["workflows"] = json.loads(env["STEPWEAVE_WORKFLOWS"])
            except ValueError:
                raise SettingsError("invalid settings: STEPWEAVE_WORKFLOWS: not JSON") from None
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{_env_name(str(e['loc'][0]))}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise SettingsError(f"invalid settings: {problems}") from None

    def require_table(self) -> str:
        if not self.table:
            raise SettingsError("no records table: set STEPWEAVE_TABLE")
        return self.table

    @property
    def outbox(self) -> Path:
        """Where approval emails are written when there is no SES sender."""
        return self.outbox_dir or self.local_dir / "outbox"

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86_400


def sim_workflow_ids(value: object) -> dict[str, str]:
    """``{"<Sim workflow id>": "<workflow name>"}`` (JSON text or a mapping), checked:
    ``SettingsError`` naming what is wrong."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SettingsError("not JSON") from None
    if not isinstance(value, Mapping):
        raise SettingsError('not a JSON object {"<Sim workflow id>": "<workflow>"}')
    for key, name in value.items():
        if not isinstance(key, str) or not _SIM_ID.fullmatch(key):
            raise SettingsError(f"{key!r} is not a Sim workflow id "
                                "(1 to 128 letters, digits, '-', '_', '.' or ':')")
        if not isinstance(name, str) or not _WORKFLOW_NAME.fullmatch(name):
            raise SettingsError(f"{key!r} -> {name!r}: not a workflow name")
    return dict(value)


def _env_name(field: str) -> str:
    return "STEPWEAVE_" + field.upper()
