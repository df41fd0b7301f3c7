"""Named secrets from the environment, SSM and Secrets Manager (moto), and the api block
reading ``{{NAME}}`` through them.

A warm process keeps one SSM client and each value for ``CACHE_SECONDS``: the SSM calls are
counted in moto's request log and the clients created with a botocore event hook, so the
counts cover every client, whoever made it."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.handlers
import pytest
from moto import mock_aws
from moto.moto_api import recorder
from stepweave.runtime.secrets import SecretNotFound, Secrets
from stepweave.runtime.settings import Settings

from functions.api.handler import lambda_handler as api_handler
from tests.authored import authored_event
from tests.loopback import loopback

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {"ssm": boto3.client("ssm", region_name=REGION),
               "secretsmanager": boto3.client("secretsmanager", region_name=REGION)}


def test_env_backend_reads_the_environment_and_names_what_is_missing() -> None:
    secrets = Secrets(Settings(), env={"TOKEN": "s3cr3t", "EMPTY": ""})
    assert secrets.require("TOKEN") == "s3cr3t"
    assert secrets.get("TOKEN") == "s3cr3t" and "TOKEN" in secrets
    assert secrets.lookup("EMPTY") is None and secrets.get("MISSING") is None
    assert secrets.get_or("MISSING", "fallback") == "fallback"
    with pytest.raises(SecretNotFound, match="secret 'MISSING' is not set \\(environment variable MISSING\\)"):
        secrets.require("MISSING")
    with pytest.raises(KeyError):
        secrets["MISSING"]


def test_invalid_names_are_never_looked_up() -> None:
    secrets = Secrets(Settings(), env={"A": "1", "../etc": "x"})
    assert secrets.lookup("../etc") is None and secrets.lookup("a b") is None


def test_ssm_backend_reads_decrypted_parameters_under_the_prefix(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/stepweave/prod/OPENAI_API_KEY", Value="sk-live",
                             Type="SecureString")
    aws["ssm"].put_parameter(Name="/stepweave/dev/OPENAI_API_KEY", Value="sk-dev",
                             Type="SecureString")
    settings = Settings(secrets_backend="ssm", secrets_prefix="/stepweave/prod/")
    secrets = Secrets(settings, ssm=aws["ssm"])
    assert secrets.require("OPENAI_API_KEY") == "sk-live"
    assert secrets.lookup("NOT_THERE") is None
    assert list(secrets) == [] and len(secrets) == 0  # a remote backend cannot list names
    with pytest.raises(SecretNotFound, match="SSM parameter /stepweave/prod/NOT_THERE"):
        secrets.require("NOT_THERE")


def test_ssm_values_are_cached_per_process(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/sw/KEY", Value="v1", Type="SecureString")
    secrets = Secrets(Settings(secrets_backend="ssm", secrets_prefix="/sw/"), ssm=aws["ssm"])
    assert secrets.require("KEY") == "v1"
    aws["ssm"].put_parameter(Name="/sw/KEY", Value="v2", Type="SecureString", Overwrite=True)
    assert secrets.require("KEY") == "v1"  # within CACHE_SECONDS


def test_secretsmanager_backend(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name="/stepweave/prod/SLACK_TOKEN", SecretString="xoxb-1")
    secrets = Secrets(Settings(secrets_backend="secretsmanager", secrets_prefix="/stepweave/prod/"),
                      secretsmanager=aws["secretsmanager"])
    assert secrets.require("SLACK_TOKEN") == "xoxb-1"
    assert secrets.lookup("OTHER") is None


def test_settings_reject_an_unknown_backend() -> None:
    from stepweave.runtime.settings import SettingsError

    with pytest.raises(SettingsError, match="STEPWEAVE_SECRETS_BACKEND"):
        Settings.from_env({"STEPWEAVE_SECRETS_BACKEND": "vault"})


def test_filling_templates_leaves_the_given_params_as_they_were() -> None:
    """Only the templates' containers are copied; the event's params are not changed."""
    from stepweave.runtime.secrets import DeclaredSecrets, fill_secrets

    params = {"headers": {"Authorization": ["Bearer ", "TOKEN", ""], "X": "{{TOKEN}}"},
              "body": {"big": ["x"] * 3}}
    filled = fill_secrets(params, [["headers", "Authorization"]],
                          DeclaredSecrets({"TOKEN": "tok-123"}, ["TOKEN"]))
    assert filled["headers"] == {"Authorization": "Bearer tok-123", "X": "{{TOKEN}}"}
    assert params["headers"]["Authorization"] == ["Bearer ", "TOKEN", ""]
    assert filled["body"] is params["body"]  # untouched parts are shared, not copied


# -- a warm process: one client, each value read once per CACHE_SECONDS -------------------

class SsmLog:
    """What reached SSM (moto's request log) and how many SSM clients were created (a
    botocore hook every new session gets), from the fixture's start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clients_created = 0
        self.ssm: Any = None  # the test's own client (made before the count starts)

    def client_created(self, **_kwargs: Any) -> None:
        self.clients_created += 1

    def get_parameter_names(self) -> list[str]:
        names = []
        for line in recorder.download_recording().splitlines():
            entry = json.loads(line)
            if entry["headers"].get("X-Amz-Target") != "AmazonSSM.GetParameter":
                continue
            body = base64.b64decode(entry["body"]) if entry["body_encoded"] else entry["body"]
            names.append(json.loads(body)["Name"])
        return names


@pytest.fixture
def ssm_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SsmLog]:
    log = SsmLog(tmp_path / "moto-requests.jsonl")
    monkeypatch.setattr(recorder, "_location", str(log.path))  # moto's MOTO_RECORDER_FILEPATH
    hook = ("creating-client-class.ssm", log.client_created)
    with mock_aws():
        log.ssm = boto3.session.Session().client("ssm", region_name=REGION)
        botocore.handlers.BUILTIN_HANDLERS.append(hook)
        recorder.reset_recording()
        recorder.start_recording()
        try:
            yield log
        finally:
            recorder.stop_recording()
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)


def _deployed(prefix: str) -> dict[str, str]:
    """A deployed handler's environment (secrets from SSM under ``prefix``)."""
    return {"STEPWEAVE_SECRETS_BACKEND": "ssm", "STEPWEAVE_SECRETS_PREFIX": prefix,
            "AWS_DEFAULT_REGION": REGION}


def _prefix() -> str:
    """A prefix of its own: the process's cache is keyed by full name, so no other test's
    values can answer for this one's."""
    return f"/sw-{uuid.uuid4().hex[:12]}/"


def _put(log: SsmLog, prefix: str, name: str, value: str) -> None:
    log.ssm.put_parameter(Name=f"{prefix}{name}", Value=value, Type="SecureString",
                          Overwrite=True)


def _api_event(base: str) -> dict[str, Any]:
    """An api block as its author wrote it, reading two secrets."""
    return authored_event({"id": "enrich", "name": "Enrich", "type": "api"}, {
        "url": base + "/{{API_PATH}}", "headers": {"Authorization": "Bearer {{API_TOKEN}}"}})


def test_warm_handler_calls_read_each_secret_once_with_one_client(ssm_log: SsmLog) -> None:
    prefix = _prefix()
    _put(ssm_log, prefix, "API_PATH", "items")
    _put(ssm_log, prefix, "API_TOKEN", "tok-1234")
    with loopback(lambda _r: (200, b'{"ok": true}', 0.0)) as server, \
            mock.patch.dict(os.environ, _deployed(prefix)):
        for _ in range(3):
            assert api_handler(_api_event(server.url), None)["data"] == {"ok": True}
    assert [r.path for r in server.requests] == ["/items"] * 3
    assert {dict(r.headers)["Authorization"] for r in server.requests} == {"Bearer tok-1234"}
    # three invocations, two secrets: one GetParameter each, through at most one new client
    assert sorted(ssm_log.get_parameter_names()) == [f"{prefix}API_PATH", f"{prefix}API_TOKEN"]
    assert ssm_log.clients_created <= 1


def test_a_changed_value_is_read_after_max_age(ssm_log: SsmLog,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from stepweave.runtime.secrets import CACHE_SECONDS, SECRET_CACHE

    now = [1000.0]
    monkeypatch.setattr(SECRET_CACHE, "clock", lambda: now[0])
    prefix = _prefix()
    _put(ssm_log, prefix, "API_PATH", "v1")
    _put(ssm_log, prefix, "API_TOKEN", "tok-1234")

    def invoke(server_url: str) -> None:
        assert api_handler(_api_event(server_url), None)["status"] == 200

    with loopback(lambda _r: (200, b"{}", 0.0)) as server, \
            mock.patch.dict(os.environ, _deployed(prefix)):
        invoke(server.url)
        _put(ssm_log, prefix, "API_PATH", "v2")  # rotated
        now[0] += CACHE_SECONDS - 1
        invoke(server.url)  # still the cached value
        now[0] += 1
        invoke(server.url)  # max_age reached: read again
        invoke(server.url)
    assert [r.path for r in server.requests] == ["/v1", "/v1", "/v2", "/v2"]
    assert ssm_log.get_parameter_names().count(f"{prefix}API_PATH") == 2
    assert ssm_log.clients_created <= 1


def test_the_process_keeps_one_client_per_backend() -> None:
    from stepweave.runtime.secrets import SECRET_CACHE, SecretCache

    settings = Settings(secrets_backend="ssm", secrets_prefix="/sw/")
    assert Secrets.from_settings(settings).cache is SECRET_CACHE
    assert Secrets(settings).cache is Secrets.from_settings(settings).cache
    with mock_aws():
        cache = SecretCache()
        assert cache.client("ssm") is cache.client("ssm")
        assert cache.client("ssm") is not cache.client("secretsmanager")


def test_a_missing_secret_is_asked_again_and_named_in_the_error(ssm_log: SsmLog) -> None:
    from stepweave.runtime.secrets import SecretCache

    settings = Settings(secrets_backend="ssm", secrets_prefix="/sw/")
    secrets = Secrets(settings, cache=SecretCache(clock=lambda: 0.0))
    for _ in range(2):
        with pytest.raises(SecretNotFound,
                           match=r"^secret 'LATER' is not set \(SSM parameter /sw/LATER\)$"):
            secrets.require("LATER")
    _put(ssm_log, "/sw/", "LATER", "now-set")  # created after a failed run: seen at once
    assert secrets.require("LATER") == "now-set"
    assert ssm_log.get_parameter_names() == ["/sw/LATER"] * 3


def test_undeclared_names_never_reach_ssm(ssm_log: SsmLog) -> None:
    from stepweave.runtime.secrets import DeclaredSecrets, SecretNotDeclared

    prefix = _prefix()
    _put(ssm_log, prefix, "OTHER", "not-for-this-block")
    scope = DeclaredSecrets(Secrets(Settings(secrets_backend="ssm", secrets_prefix=prefix)),
                            ["API_TOKEN"])
    with pytest.raises(SecretNotDeclared):
        scope.get("OTHER")
    assert ssm_log.get_parameter_names() == []


def test_a_read_error_names_the_code_never_a_value(ssm_log: SsmLog) -> None:
    from stepweave.runtime.secrets import SecretCache

    class Refusing:
        def get_parameter(self, **_kwargs: Any) -> Any:
            raise ssm_log.ssm.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")

    secrets = Secrets(Settings(secrets_backend="ssm", secrets_prefix="/sw/"),
                      cache=SecretCache(clients={"ssm": Refusing()}))
    with pytest.raises(SecretNotFound, match=r"^secret 'KEY' could not be read "
                                             r"\(SSM parameter /sw/KEY\): AccessDeniedException$"):
        secrets.require("KEY")


def test_threads_share_the_cache(ssm_log: SsmLog) -> None:
    from stepweave.runtime.secrets import SecretCache

    _put(ssm_log, "/sw/", "A", "value-a")
    _put(ssm_log, "/sw/", "B", "value-b")
    secrets = Secrets(Settings(secrets_backend="ssm", secrets_prefix="/sw/"), cache=SecretCache())
    seen: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def read() -> None:
        try:
            start.wait()
            for _ in range(50):
                seen.append((secrets.require("A"), secrets.require("B")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and set(seen) == {("value-a", "value-b")} and len(seen) == 400
    names = ssm_log.get_parameter_names()
    # at most one read per thread and name (those that missed together), then none
    assert 2 <= len(names) <= 16 and set(names) == {"/sw/A", "/sw/B"}
    assert ssm_log.clients_created == 1
