"""Named secrets from the environment, SSM and Secrets Manager (moto), and the api block
reading ``{{NAME}}`` through them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stepweave.runtime.secrets import SecretNotFound, Secrets
from stepweave.runtime.settings import Settings

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
