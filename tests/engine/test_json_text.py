"""Sizes and digests of JSON text, written incrementally for growing arrays.

GIVEN arrays that extend one another (as a loop's results do, one entry per iteration),
short arrays, non-ASCII text and values that are not JSON WHEN ``json_text.size_and_digest``
measures them THEN the size and digest are those of the whole text written out at once,
whatever was measured before.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from stepweave.local import json_text


def _whole(value: Any) -> tuple[int, bytes]:
    written = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return len(written), hashlib.blake2b(written, digest_size=16).digest()


def test_growing_arrays_measure_as_written_out_whole() -> None:
    results: list[Any] = []
    for i in range(120):
        results = results + [[{"v": str(i), "é": i / 3}]]
        assert json_text.size_and_digest(results) == _whole(results)
    # a different array sharing the first elements, and one shorter than a known one
    fork = results[:70] + [["other"]]
    assert json_text.size_and_digest(fork) == _whole(fork)
    assert json_text.size_and_digest(results[:50]) == _whole(results[:50])


def test_short_arrays_and_other_values() -> None:
    for value in ([1, 2], {"a": [1] * 40}, "ü", None, list(range(40)),
                  [datetime.datetime(2024, 1, 1)] * 33):
        assert json_text.size_and_digest(value) == _whole(value)
