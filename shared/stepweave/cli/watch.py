"""``stepweave watch <execution>``: a run's live progress."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "cmd_watch"]


def cmd_watch(args: argparse.Namespace) -> int:
    raise NotImplementedError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="follow a run's progress until it ends")
    p.add_argument("execution")
    p.set_defaults(func=cmd_watch)
