"""Reading a block's secrets on a warm handler: a reader per invocation vs the process's cache.

A block that names two secrets (``{{API_TOKEN}}``, ``{{API_PATH}}``) is invoked ``--calls``
times with the deployed settings (SSM backend; moto's SSM in this process). Each invocation
does what the handler entry does, ``DeclaredSecrets(Secrets.from_settings(...), names)``,
and reads both names:

- **per call** (the behaviour before the process cache): each invocation builds its own
  reader, ``Secrets(settings, cache=SecretCache())``, so it creates an SSM client and
  calls GetParameter for both names, every time;
- **process cache**: ``Secrets.from_settings(settings)`` reads through ``SECRET_CACHE``: one
  client for the process, each value read once per ``CACHE_SECONDS``.

Both run in the same process, alternating in rounds; the figure is the median per-call time
over the rounds, wall and CPU, and the ratio. GetParameter calls and clients created are
counted with botocore hooks.

    python bench/secret_cache.py [--calls 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
import botocore.handlers  # noqa: E402
from moto import mock_aws  # noqa: E402
from stepweave.runtime.secrets import (  # noqa: E402
    SECRET_CACHE,
    DeclaredSecrets,
    SecretCache,
    Secrets,
)
from stepweave.runtime.settings import Settings  # noqa: E402

PREFIX = "/stepweave/bench/"
NAMES = ("API_TOKEN", "API_PATH")
SETTINGS = Settings(secrets_backend="ssm", secrets_prefix=PREFIX)


class Counts:
    def __init__(self) -> None:
        self.clients = 0
        self.get_parameter = 0

    def client_created(self, **_kwargs: Any) -> None:
        self.clients += 1

    def called(self, **_kwargs: Any) -> None:
        self.get_parameter += 1


def per_call() -> tuple[str, ...]:
    """An invocation as before: a reader of its own (a new client, nothing cached)."""
    secrets = DeclaredSecrets(Secrets(SETTINGS, cache=SecretCache()), NAMES)
    return tuple(secrets.require(name) for name in NAMES)


def process_cache() -> tuple[str, ...]:
    """An invocation now: the handler entry's reader, through the process's cache."""
    secrets = DeclaredSecrets(Secrets.from_settings(SETTINGS), NAMES)
    return tuple(secrets.require(name) for name in NAMES)


def timed(invoke: Callable[[], tuple[str, ...]], calls: int) -> tuple[float, float]:
    """Milliseconds per call, wall and CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        assert invoke() == ("tok-1234", "items")
    return ((time.perf_counter() - wall) * 1000 / calls,
            (time.process_time() - cpu) * 1000 / calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with mock_aws():
        ssm = boto3.session.Session().client("ssm")
        ssm.put_parameter(Name=PREFIX + "API_TOKEN", Value="tok-1234", Type="SecureString")
        ssm.put_parameter(Name=PREFIX + "API_PATH", Value="items", Type="SecureString")
        counts = {"per call": Counts(), "process cache": Counts()}
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in counts}
        SECRET_CACHE.clear()
        for invoke in (per_call, process_cache):  # warm up imports and moto
            timed(invoke, 5)
        SECRET_CACHE.clear()  # the first invocation of the process-cache path is counted too
        for _ in range(args.rounds):
            for name, invoke in (("per call", per_call), ("process cache", process_cache)):
                hooks = [("creating-client-class.ssm", counts[name].client_created),
                         ("before-call.ssm.GetParameter", counts[name].called)]
                botocore.handlers.BUILTIN_HANDLERS.extend(hooks)
                try:
                    runs[name].append(timed(invoke, args.calls))
                finally:
                    for hook in hooks:
                        botocore.handlers.BUILTIN_HANDLERS.remove(hook)

    total = args.calls * args.rounds
    print(f"{len(NAMES)} secrets read per call, {args.calls} calls x {args.rounds} rounds "
          f"(moto SSM, in process); per call: median of the rounds, and the mean of all calls")
    means = {}
    for name, results in runs.items():
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        means[name] = statistics.fmean(r[0] for r in results)
        print(f"  {name:<14} {wall * 1000:10.1f} us wall {cpu * 1000:10.1f} us CPU "
              f"(mean {means[name] * 1000:8.1f} us)  {counts[name].get_parameter:5d} GetParameter"
              f"  {counts[name].clients:4d} clients in {total} calls")
    old, new = (statistics.median(r[0] for r in runs[name]) for name in ("per call", "process cache"))
    print(f"  per call / process cache: {old / new:,.0f}x (median), "
          f"{means['per call'] / means['process cache']:,.0f}x (mean, with the first read)")

if __name__ == "__main__":
    main()
