"""``stepweave keys create --tenant T``: a new run-API key, printed once (only its SHA-256 is
stored). Local by default (the records ``stepweave serve`` reads, ``.stepweave/records.db``: a
running ``serve`` sees a new or disabled key at its next request);
``--aws`` writes it to the deployed table with your credentials. ``stepweave keys disable``
turns a key off (requests with it get 403)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stepweave.cli.aws import records_table

__all__ = ["add_parser", "cmd_keys_create", "cmd_keys_disable"]


def cmd_keys_create(args: argparse.Namespace) -> int:
    from stepweave.api.keys import create_key

    with records_table(args) as (ddb, settings):
        key, record = create_key(ddb, settings, tenant=args.tenant, name=args.name)
    print(key)
    print(f"key '{record.name}' of tenant '{record.tenant}' created: shown once, store it now "
          "(send it as 'Authorization: Bearer <key>')", file=sys.stderr)
    return 0


def cmd_keys_disable(args: argparse.Namespace) -> int:
    from stepweave.api.keys import disable_key, lookup_key

    with records_table(args) as (ddb, settings):
        if lookup_key(ddb, settings, args.key) is None:
            from stepweave.cli.errors import UsageError

            raise UsageError("no such key")
        disable_key(ddb, settings, args.key)
    print("key disabled", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="run-API keys (per tenant)")
    actions = keys.add_subparsers(dest="action", required=True)
    for name, func, text in (("create", cmd_keys_create, "create a key and print it once"),
                             ("disable", cmd_keys_disable, "disable a key")):
        p = actions.add_parser(name, help=text)
        if name == "create":
            p.add_argument("--tenant", required=True, help="1-32 letters, digits, '_' or '-'")
            p.add_argument("--name", default="default", help="a label for the key (default 'default')")
        else:
            p.add_argument("key")
        p.add_argument("--aws", action="store_true", help="the deployed table (your AWS credentials)")
        p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")
        p.set_defaults(func=func)
