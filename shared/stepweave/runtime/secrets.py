"""Secrets by name: API keys, webhook signing secrets, ``{{NAME}}`` placeholders.

A workflow or trigger names a secret (``{{OPENAI_API_KEY}}``, ``secret: SHOPIFY_SECRET``);
its value never enters a state machine definition, a template, a log or a record. Where
the value comes from is the deployment's choice (``Settings.secrets_backend``):

| backend | where ``NAME`` is read | used |
|---|---|---|
| ``env`` | the environment variable ``NAME`` | locally and in tests (the default) |
| ``ssm`` | the SSM parameter ``<secrets_prefix>NAME`` (SecureString, decrypted) | deployed (the CDK app's default) |
| ``secretsmanager`` | the secret ``<secrets_prefix>NAME`` (its string value) | deployed, when chosen |

Remote values are read through one ``SecretCache`` per process (``SECRET_CACHE``): one
client per backend, created on first use and kept while the process lives, and each value
kept for ``CACHE_SECONDS`` by its full name (prefix included). A warm Lambda therefore reads
a secret from SSM once per five minutes, not on every invocation, and a rotated secret is
picked up within five minutes. A name that is not set (or an error) is not cached: the next
read asks again, so a parameter created after a failed run is seen at once. The cache is
safe to share between threads (the embedded engine calls handlers from several).

``Secrets`` is a read-only mapping, so code written against ``Mapping[str, str]`` (the
environment) takes it unchanged; a remote backend cannot list its names, so iterating it
yields nothing.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from stepweave.errors import BlockInputError, StepweaveError
from stepweave.runtime.settings import Settings

__all__ = ["Secrets", "SecretNotFound", "SECRET_NAME", "CACHE_SECONDS", "SecretCache",
           "SECRET_CACHE", "DeclaredSecrets",
           "SecretNotDeclared", "PLACEHOLDER", "placeholder_name", "fill_secrets", "mask_secrets",
           "secret_encodings", "as_text"]

#: What a secret name may be: an environment-variable-like identifier.
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: How long a warm process reuses a value read from SSM / Secrets Manager.
CACHE_SECONDS = 300


class SecretNotFound(StepweaveError):
    """A named secret has no value (the message names it, never a value)."""


class _Lookup(Mapping[str, str]):
    """``require`` and ``[name]`` in terms of ``lookup`` and ``where``."""

    def lookup(self, name: str) -> str | None:
        raise NotImplementedError

    def where(self, name: str) -> str:
        raise NotImplementedError

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


class SecretCache:
    """Remote secret values of one process: one boto3 client per backend (``ssm``,
    ``secretsmanager``), created on first use and then reused, and each value read through
    it kept for ``max_age`` seconds, by backend and full name (``<prefix><NAME>``).

    Only values are cached; a name that is not set and a failed read are asked again on the
    next call. ``clock`` (seconds, monotonic) says when a value is too old. A lock guards
    the clients and the values; the read itself runs outside it, so threads reading
    different names do not wait for each other (two threads missing the same name at the
    same moment may both read it once).
    """

    def __init__(self, *, max_age: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 clients: Mapping[str, Any] | None = None) -> None:
        self.max_age = max_age
        self.clock = clock
        self._clients: dict[str, Any] = {name: client for name, client in (clients or {}).items()
                                         if client is not None}
        self._values: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def client(self, backend: str) -> Any:
        """The backend's client (created on first use, then the same object)."""
        with self._lock:
            client = self._clients.get(backend)
            if client is None:
                import boto3  # lazily: importing a handler must stay light

                client = self._clients[backend] = boto3.session.Session().client(backend)
            return client

    def read(self, backend: str, full_name: str) -> str | None:
        """The value of ``full_name`` (None when it is not set): from the cache while it is
        younger than ``max_age``, else from the backend. Errors other than "not found"
        are raised as the client raised them."""
        key = (backend, full_name)
        asked_at = self.clock()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and asked_at - hit[0] < self.max_age:
            return hit[1]
        value = _fetch(self.client(backend), backend, full_name)
        with self._lock:
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = (asked_at, value)
        return value

    def clear(self) -> None:
        """Forget every value and client (the next read creates a client and asks again)."""
        with self._lock:
            self._values.clear()
            self._clients.clear()


#: The process's cache: every ``Secrets`` not given its own clients reads through it, so a
#: warm Lambda keeps its client and values from one invocation to the next.
SECRET_CACHE = SecretCache()


def _fetch(client: Any, backend: str, full_name: str) -> str | None:
    try:
        if backend == "ssm":
            value: Any = client.get_parameter(Name=full_name, WithDecryption=True)["Parameter"]["Value"]
        else:
            answer = client.get_secret_value(SecretId=full_name)
            value = answer["SecretString"] if "SecretString" in answer else answer.get("SecretBinary")
    except Exception as exc:
        if _not_found(exc):
            return None
        raise
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return str(value) if value else None


class Secrets(_Lookup):
    """``secrets.get("NAME")`` / ``secrets["NAME"]`` / ``secrets.lookup("NAME")``.

    Remote values are read through ``cache`` (default: the process's ``SECRET_CACHE``);
    given its own ``ssm`` / ``secretsmanager`` client, an instance keeps a cache of its own.
    """

    def __init__(self, settings: Settings, *, env: Mapping[str, str] | None = None,
                 ssm: Any = None, secretsmanager: Any = None,
                 cache: SecretCache | None = None) -> None:
        self.backend = settings.secrets_backend
        self.prefix = settings.secrets_prefix
        self._env = os.environ if env is None else env
        if cache is None and (ssm is not None or secretsmanager is not None):
            cache = SecretCache(clients={"ssm": ssm, "secretsmanager": secretsmanager})
        self.cache = SECRET_CACHE if cache is None else cache

    @classmethod
    def from_settings(cls, settings: Settings) -> Secrets:
        """The deployment's secrets, read through the process's cache."""
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

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._env)) if self.backend == "env" else iter(())

    def __len__(self) -> int:
        return len(self._env) if self.backend == "env" else 0

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def _remote(self, name: str) -> str | None:
        try:
            return self.cache.read(self.backend, f"{self.prefix}{name}")
        except Exception as exc:  # the code or the kind of failure only, never its text
            raise SecretNotFound(f"secret '{name}' could not be read ({self.where(name)}): "
                                 f"{_code(exc) or type(exc).__name__}") from None


def _code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for other errors)."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code") or "") if isinstance(error, dict) else ""


def _not_found(exc: Exception) -> bool:
    return _code(exc) in ("ParameterNotFound", "ResourceNotFoundException")


# -- what one block may read: the names its workflow declared ------------------------------

class SecretNotDeclared(BlockInputError):
    """A block asked for a secret its workflow does not name for it (the name, no value)."""


class DeclaredSecrets(_Lookup):
    """The secrets one block may read: exactly the names the compiler found in what the
    workflow author wrote for it (``BlockEvent.secrets.names``), nothing else.

    Reading any other name raises ``SecretNotDeclared`` (also through ``get``): a name that
    arrives at run time (from run input, a webhook body, a model's answer) can never open
    a secret. Every value handed out is remembered in ``revealed`` so that errors can be
    masked (``mask_secrets``); names that were asked for but are not set are in ``unset``.
    """

    def __init__(self, source: Mapping[str, str], names: list[str] | tuple[str, ...]) -> None:
        self._source = source
        self.names = frozenset(names)
        self.revealed: set[str] = set()
        self.unset: set[str] = set()
        self._where = getattr(source, "where", None)

    def lookup(self, name: str) -> str | None:
        if name not in self.names:
            raise SecretNotDeclared(f"secret '{name}' is not named by this block in its workflow")
        value = self._source.get(name)
        if value:
            self.revealed.add(value)
            return value
        self.unset.add(name)
        return None

    def where(self, name: str) -> str:
        return str(self._where(name)) if callable(self._where) else f"environment variable {name}"

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.names))

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names and self.lookup(name) is not None


#: A ``{{NAME}}`` placeholder as the compiler finds it in what the author wrote.
PLACEHOLDER = re.compile(r"\{\{([^}]+)\}\}")


def placeholder_name(raw: str) -> str | None:
    """The secret a ``{{ raw }}`` names, or None when it cannot be a secret name."""
    name = raw.strip()
    return name if SECRET_NAME.match(name) else None


def as_text(value: Any) -> str:
    """A value spliced into text the way Sim formats it: strings raw, null empty, else JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fill_secrets(params: dict[str, Any], at: list[list[str | int]],
                 secrets: DeclaredSecrets) -> dict[str, Any]:
    """``params`` with every compiled secret template put together.

    The compiler turns a string the author wrote with ``{{NAME}}`` in it into a template
    ``[text, NAME, text, NAME, text]`` (texts at even positions, with the run's values of
    the references already in them; names at odd positions) and lists where each one is
    (``at``, paths into ``params``). Only those places are filled: nothing else in
    ``params`` (values that came from references, run input, earlier blocks) is ever
    scanned for placeholders. An unset secret stays ``{{NAME}}``, as in Sim.
    """
    out = dict(params)
    for path in at:
        if not path:
            continue
        # copy only the containers on the way to the template: params can be large, and
        # everything else is left as it came
        parent: Any = out
        for key in path[:-1]:
            child = _child(parent, key)
            if not isinstance(child, (dict, list)):
                parent = None
                break
            parent[key] = parent = type(child)(child)
        last = path[-1]
        template = _child(parent, last) if parent is not None else None
        if not isinstance(template, list):
            continue  # the place holds something else (a skipped optional param)
        parent[last] = _join(template, secrets)
    return out


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _join(template: list[Any], secrets: DeclaredSecrets) -> str:
    parts: list[str] = []
    for index, part in enumerate(template):
        if index % 2 == 0:
            parts.append(as_text(part))
            continue
        name = str(part)
        value = secrets.lookup(name)
        parts.append(value if value is not None else "{{" + name + "}}")
    return "".join(parts)


def secret_encodings(value: str) -> set[str]:
    """The forms a secret value takes in text that could reach an error message: raw,
    URL-encoded (path and form), base64 (standard and URL-safe, with and without
    padding) and JSON-escaped."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    return {form for form in forms if len(form) >= 4}


def mask_secrets(text: str, values: set[str] | frozenset[str]) -> str:
    """``text`` with every encoding of every value in ``values`` replaced by ``***``."""
    forms: set[str] = set()
    for value in values:
        if len(value) >= 4:
            forms |= secret_encodings(value)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
