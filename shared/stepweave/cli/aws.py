"""What the commands with ``--aws`` share: clients with clear errors, the records table."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stepweave.cli.errors import UsageError
from stepweave.errors import StepweaveError

__all__ = ["RecordsUnavailable", "aws_client", "records_table"]


class RecordsUnavailable(StepweaveError):
    """The records table cannot be read (credentials, region, permissions, table)."""


def aws_client(service: str, region: str | None) -> Any:
    """A boto3 client, or a ``UsageError`` saying what is missing (a region, credentials)."""
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client(service, region_name=region or None)
    except NoRegionError:
        raise UsageError("--aws needs an AWS region: pass --region (e.g. --region eu-west-1), set "
                         "AWS_REGION, or configure one for your profile (aws configure)") from None


@contextmanager
def records_table(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """(DynamoDB client, settings) of the records: the deployed table with ``--aws``
    (``--table`` or ``STEPWEAVE_TABLE``; AWS's errors become ``RecordsUnavailable``), else
    the local records."""
    from stepweave.runtime.settings import Settings

    settings = Settings.from_env()
    if args.aws:
        table = args.table or settings.table
        if not table:
            raise UsageError("--aws needs the records table: pass --table NAME or set STEPWEAVE_TABLE")
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield boto3.client("dynamodb"), settings.model_copy(update={"table": table})
        except (BotoCoreError, ClientError) as exc:
            raise RecordsUnavailable(f"cannot read table {table}: {exc}") from None
        return
    from stepweave.local.records import local_records

    with local_records(settings) as store:
        yield store.ddb, store.settings
