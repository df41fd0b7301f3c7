"""Helpers over JSON-like values (dicts, lists, strings, numbers...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["map_strings"]


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string in it (dict keys kept as they are)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    return value
