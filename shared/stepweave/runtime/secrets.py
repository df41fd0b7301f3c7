"""Secrets by name: API keys, webhook signing secrets, ``{{NAME}}`` placeholders.

A workflow or trigger names a secret (``{{OPENAI_API_KEY}}``, ``secret: SHOPIFY_SECRET``);
its value never enters a state machine definition, a template, a log or a record. Where
the value comes from is the deployment's choice (``Settings.secrets_backend``):

| backend | where ``NAME`` is read | used |
|---|---|---|
| ``env`` | the environment variable ``NAME`` | locally and in tests (the default) |
| ``ssm`` | the SSM parameter ``<secrets_prefix>NAME`` (SecureString, decrypted) | deployed (the CDK app's default) |
| ``secretsmanager`` | the secret ``<secrets_prefix>NAME`` (its string value) | deployed, when chosen |

Remote values are cached for ``CACHE_SECONDS`` per process (Powertools' parameters
utility), so a warm Lambda does not call SSM on every invocation and a rotated secret is
picked up within minutes. ``Secrets`` is a read-only mapping, so code written against
``Mapping[str, str]`` (the environment) takes it unchanged; a remote backend cannot list
its names, so iterating it yields nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from stepweave.errors import StepweaveError
from stepweave.runtime.settings import Settings

__all__ = ["Secrets", "SecretNotFound", "SECRET_NAME", "CACHE_SECONDS"]

#: What a secret name may be: an environment-variable-like identifier.
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: How long a warm process reuses a value read from SSM / Secrets Manager.
CACHE_SECONDS = 300


class SecretNotFound(StepweaveError):
    """A named secret has no value (the message names it, never a value)."""


class Secrets(Mapping[str, str]):
    """``secrets.get("NAME")`` / ``secrets["NAME"]`` / ``secrets.lookup("NAME")``."""

    def __init__(self, settings: Settings, *, env: Mapping[str, str] | None = None,
                 ssm: Any = None, secretsmanager: Any = None) -> None:
        self.backend = settings.secrets_backend
        self.prefix = settings.secrets_prefix
        self._env = os.environ if env is None else env
        self._clients = {"ssm": ssm, "secretsmanager": secretsmanager}
        self._provider: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Secrets:
        return cls(settings)

    def where(self, name: str) -> str:
        """Where ``name`` is read from, for error messages (no value)."""
        if self.backend == "env":
            return f"environment variable {name}"
        kind = "SSM parameter" if self.backend == "ssm" else "secret"
        return f"{kind} {self.prefix}{name}"

    def lookup(self, name: str) -> str | None:
        """The value of ``name``, or None when it is not set (or not a valid name)."""
        if not SECRET_NAME.match(name):
            return None
        if self.backend == "env":
            return self._env.get(name) or None
        return self._remote(name)

    def get_or(self, name: str, default: str) -> str:
        value = self.lookup(name)
        return default if value is None else value

    def require(self, name: str) -> str:
        """The value of ``name``; raises ``SecretNotFound`` saying where it was looked for."""
        value = self.lookup(name)
        if value is None:
            raise SecretNotFound(f"secret '{name}' is not set ({self.where(name)})")
        return value

    # Mapping: ``get(name)`` returns None when unset, like the environment.
    def __getitem__(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._env)) if self.backend == "env" else iter(())

    def __len__(self) -> int:
        return len(self._env) if self.backend == "env" else 0

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def _remote(self, name: str) -> str | None:
        provider = self._get_provider()
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = provider.get(f"{self.prefix}{name}", max_age=CACHE_SECONDS,
                                 **({"decrypt": True} if self.backend == "ssm" else {}))
        except GetParameterError as exc:
            if _not_found(exc):
                return None
            raise SecretNotFound(f"secret '{name}' could not be read ({self.where(name)}): "
                                 f"{_code(exc) or type(exc).__name__}") from None
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return str(value) if value else None

    def _get_provider(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities import parameters

            client = self._clients[self.backend]
            if self.backend == "ssm":
                self._provider = parameters.SSMProvider(boto3_client=client)
            else:
                self._provider = parameters.SecretsProvider(boto3_client=client)
        return self._provider


def _code(exc: Exception) -> str:
    """The AWS error code behind a Powertools ``GetParameterError`` (it wraps the ClientError)."""
    cause = exc.__cause__ or exc.__context__
    return str(getattr(cause, "response", {}).get("Error", {}).get("Code", ""))


def _not_found(exc: Exception) -> bool:
    return _code(exc) in ("ParameterNotFound", "ResourceNotFoundException")
