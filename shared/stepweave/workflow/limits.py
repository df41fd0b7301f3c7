"""Limits on what a workflow file may hold.

Workflow files are untrusted input (a Sim export someone sent, a file posted to the run
API): reading one must end in a workflow or a report, in bounded time and memory. So a
file is at most ``MAX_FILE_BYTES``; its mappings and lists nest at most
``MAX_FILE_DEPTH`` levels, and a block's params at most ``MAX_PARAMS_DEPTH`` (every walk
over a value, here and in the compiler, then stays far from Python's recursion limit); a
workflow has at most ``MAX_BLOCKS`` blocks and ``MAX_EDGES`` edges, and its containers
nest at most ``MAX_CONTAINER_DEPTH`` deep (the compiler's work grows faster than linearly
with both).
What YAML aliases repeat is at most ``MAX_ALIAS_VALUES`` values (an alias bomb expands a
kilobyte into gigabytes).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_FILE_BYTES", "MAX_FILE_DEPTH", "MAX_PARAMS_DEPTH", "MAX_NUMBER_DIGITS",
           "MAX_BLOCKS", "MAX_EDGES", "MAX_CONTAINER_DEPTH", "MAX_ALIAS_VALUES", "TooDeep", "nesting_exceeds", "json_too_deep", "loads_json"]

MAX_FILE_BYTES = 4 * 1024 * 1024
#: levels of mappings and lists in a block's params (the params mapping is the first)
MAX_PARAMS_DEPTH = 64
#: levels in a whole file: params' own plus the file's structure around them
MAX_FILE_DEPTH = MAX_PARAMS_DEPTH + 16
#: digits of an integer literal (Python refuses to convert past 4,300)
MAX_NUMBER_DIGITS = 400
#: blocks and edges of a workflow: Step Functions' 1 MB definition limit is reached long
#: before (a block compiles to 140 bytes at the very least), and compiling stays ~1 s
MAX_BLOCKS = 2_000
MAX_EDGES = 10_000
#: loops and parallels inside one another
MAX_CONTAINER_DEPTH = 32
#: values that YAML aliases repeat, in all (``<<: *shared`` params...)
MAX_ALIAS_VALUES = 10_000

# JSON strings (an unterminated one runs to the end) and brackets, in one linear scan
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


class TooDeep(json.JSONDecodeError):
    """JSON text nested past the limit (with the line and column where it does)."""


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` has more than ``limit`` levels of dicts and lists (iteratively:
    ``value`` may be arbitrarily deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def json_too_deep(text: str, limit: int) -> int | None:
    """The offset in JSON ``text`` where nesting passes ``limit`` levels, or None."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char in "]}":
            depth -= 1
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number longer than {MAX_NUMBER_DIGITS} digits")
    return int(digits)


def loads_json(text: str, limit: int = MAX_FILE_DEPTH) -> Any:
    """``json.loads`` for untrusted text: at most ``limit`` levels of nesting, no
    NaN/Infinity, no number past ``MAX_NUMBER_DIGITS`` digits. Raises ``ValueError``
    (``json.JSONDecodeError`` with the line and column for malformed or too deep text)."""
    offset = json_too_deep(text, limit)
    if offset is not None:
        raise TooDeep(f"nested more than {limit} levels deep", text, offset)
    return json.loads(text, parse_constant=_no_constant, parse_int=_int)
