"""Paths inside a JSON value, as text: ``result.items[0].id``.

The same notation names the fields a compiled workflow keeps inline (``keep`` in the
``BlockEvent``) and the part of a stored output a payload reference points at
(``path`` in a ``$ref`` stub). A segment is a name (``.name``; the first one without the
dot) or an array index (``[0]``); a name that is empty, all digits or contains ``.``,
``[``, ``]``, ``"`` or whitespace is written as a JSON string in brackets
(``["content type"]``). The empty path is the whole value.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MISSING", "PathError", "Segment", "format_path", "lookup", "parse_path"]

Segment = str | int

_PLAIN = re.compile(r'^[^.\[\]"\s]+$')
_TOKEN = re.compile(r'\.?([^.\[\]"\s]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


class PathError(ValueError):
    """A path that is not in the notation above."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What ``lookup`` returns for a path the value does not have.
MISSING: Any = _Missing()


def format_path(segments: list[Segment] | tuple[Segment, ...]) -> str:
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _PLAIN.match(segment) and not segment.isdigit():
            out.append(f".{segment}" if out else segment)
        else:
            out.append(f"[{json.dumps(segment, ensure_ascii=False)}]")
    return "".join(out)


def parse_path(text: str) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        name, index, quoted = match.groups() if match else (None, None, None)
        # a name has a dot before it, except the first segment's
        if match is None or (name is not None and match.group(0).startswith(".") == (not segments)):
            raise PathError(f"not a path: {text!r} (at character {position})")
        if name is not None:
            segments.append(name)
        elif index is not None:
            segments.append(int(index))
        else:
            segments.append(str(json.loads(str(quoted))))
        position = match.end()
    return tuple(segments)


def lookup(value: Any, segments: tuple[Segment, ...] | list[Segment]) -> Any:
    """The part of ``value`` at ``segments``, or ``MISSING``. Indexes apply to arrays and
    names to objects only."""
    for segment in segments:
        index = isinstance(segment, int) and isinstance(value, list) and 0 <= segment < len(value)
        name = isinstance(segment, str) and isinstance(value, dict) and segment in value
        if not (index or name):
            return MISSING
        value = value[segment]
    return value
