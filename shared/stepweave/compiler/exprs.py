"""JSONata snippets shared by the lowering (one place for each idiom)."""

from __future__ import annotations

import json

from stepweave.compiler.resolve import ERR_CLOSE, ERR_OPEN

__all__ = ["truthy_error", "entries", "error_message", "or_null", "jstr"]


def jstr(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def or_null(expr: str) -> str:
    return f"($__v := {expr}; $exists($__v) ? $__v : null)"


def truthy_error(bvar: str) -> str:
    """Truthiness of ``<block>.error`` (Sim routes on it). JSONata's boolean cast agrees
    with JavaScript's except for empty arrays and objects, which no error message is."""
    return f"$boolean(${bvar}.error) = true"


def entries(items: list[tuple[str, str]]) -> str:
    """Outputs of the blocks that ran, in completion order -> ``$e`` (may be undefined)."""
    rows = ", ".join(f'{{"o": ${b}, "t": ${t}, "k": {k}}}' for k, (b, t) in enumerate(items))
    return (f"$sort([{rows}][t != null], function($a, $b){{ $a.t > $b.t or "
            f"($a.t = $b.t and $a.k > $b.k) }})")


def error_message() -> str:
    """The user-facing message of ``$states.errorOutput`` (Lambda, JSONata or States.*)."""
    return (
        "($c := $states.errorOutput.Cause; $n := $states.errorOutput.Error; "
        f"$m := $type($c) = \"string\" and $contains($c, {jstr(ERR_OPEN)}) ? "
        f"$substringBefore($split($c, {jstr(ERR_OPEN)})[-1], {jstr(ERR_CLOSE)}) : "
        "($type($c) = \"string\" and $substring($c, 0, 1) = \"{\" ? $parse($c).errorMessage : $c); "
        "$type($m) = \"string\" and $m != \"\" ? $m : $n)"
    )
