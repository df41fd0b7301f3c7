"""Approval ids: opaque, distinct, safe in a URL path and on a command line."""

from __future__ import annotations

import argparse
import re

from stepweave.blocks.approval_block import new_approval_id


def test_ids_are_distinct_and_never_read_as_an_option() -> None:
    ids = [new_approval_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    # one raw url-safe token in 64 starts with "-" (about 31 of 2,000); none of ours may
    assert not [i for i in ids if i.startswith("-")]
    parser = argparse.ArgumentParser()
    parser.add_argument("id", nargs="?")
    assert all(parser.parse_args([i]).id == i for i in ids[:200])


def test_ids_are_url_safe_and_carry_256_random_bits() -> None:
    for approval_id in (new_approval_id() for _ in range(200)):
        prefix, _, token = approval_id.partition("_")
        assert prefix == "apr" and re.fullmatch(r"[A-Za-z0-9_-]{43}", token), approval_id
