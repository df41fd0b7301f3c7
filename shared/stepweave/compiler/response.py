"""The Response block's output ``{data, status, headers}`` as one JSONata expression."""

from __future__ import annotations

import json
import re
from typing import Any

from stepweave.compiler.exprs import jstr
from stepweave.compiler.resolve import Resolver, Site
from stepweave.refs import Ref, find_refs

__all__ = ["response_expr"]

_TOKEN = "@@swref{}@@"
_TOKEN_RE = re.compile(r"@@swref(\d+)@@")
_NUMBER = r"/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/"


def _in_json_string(text: str, pos: int) -> bool:
    inside, i = False, 0
    while i < pos:
        if text[i] == "\\" and inside:
            i += 2
            continue
        if text[i] == '"':
            inside = not inside
        i += 1
    return inside


def _json_template(text: str, resolver: Resolver, site: Site) -> str | None:
    """JSON text with references -> a JSONata constructor, or None if not JSON."""
    refs = find_refs(text)
    pieces: list[str] = []
    exprs: list[Ref] = []
    last = 0
    for ref in refs:
        pieces.append(text[last:ref.start])
        token = _TOKEN.format(len(exprs))
        exprs.append(ref)
        pieces.append(token if _in_json_string(text, ref.start) else f'"{token}"')
        last = ref.end
    pieces.append(text[last:])
    try:
        parsed = json.loads("".join(pieces))
    except ValueError:
        return None

    def build(value: Any) -> str:
        if isinstance(value, str):
            match = _TOKEN_RE.fullmatch(value)
            if match:
                return resolver.value_expr(f"<{exprs[int(match.group(1))].inner}>", site)
            if _TOKEN_RE.search(value):
                restored = _TOKEN_RE.sub(lambda m: f"<{exprs[int(m.group(1))].inner}>", value)
                return resolver.value_expr(restored, site)
            return jstr(value)
        if isinstance(value, list):
            return "[" + ", ".join(build(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{jstr(k)}: {build(v)}" for k, v in value.items()) + "}"
        return jstr(value)

    return build(parsed)


def _deep_parse() -> str:
    return (f'$__dp := function($v){{ $type($v) = "string" ? ($contains($v, {_NUMBER}) ? $number($trim($v)) : '
            '$v = "true" ? true : $v = "false" ? false : $v = "null" ? null : $v) : '
            '$type($v) = "array" ? $map($v, $__dp)[] : $type($v) = "object" ? '
            '$merge([{}, $each($v, function($x, $k){ {$k: $__dp($x)} })]) : $v };')


def _structured(rows: list[dict[str, Any]], resolver: Resolver, site: Site) -> str:
    parts = []
    for row in rows:
        expr = resolver.value_expr(row.get("value", ""), site)
        rtype = row.get("type", "string")
        if rtype == "number":
            expr = f'($__x := {expr}; $type($__x) = "string" and $contains($__x, {_NUMBER}) ? $number($trim($__x)) : $__x)'
        elif rtype == "boolean":
            expr = f'($__x := {expr}; $type($__x) = "string" ? $__x = "true" : $__x)'
        elif rtype in ("object", "array", "json"):
            expr = (f'($__x := {expr}; $type($__x) = "string" and $substring($trim($__x), 0, 1) in ["{{", "["]'
                    f" ? $parse($__x) : $__x)")
        parts.append(f"{jstr(row['name'])}: {expr}")
    return f"({_deep_parse()} $__dp({{{', '.join(parts)}}}))"


def _status(value: Any) -> int:
    try:
        status = int(str(value).strip())
    except (TypeError, ValueError):
        return 200
    return status if 100 <= status <= 599 else 200


def _headers(value: Any) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if isinstance(value, dict):
        headers.update({str(k): str(v) for k, v in value.items() if k and v is not None})
    elif isinstance(value, list):
        for row in value:
            cells = (row or {}).get("cells") or row or {}
            if cells.get("Key") and cells.get("Value") is not None:
                headers[str(cells["Key"])] = str(cells["Value"])
    return headers


def response_expr(params: dict[str, Any], resolver: Resolver, site: Site) -> str:
    mode = params.get("dataMode", "json")
    data = params.get("data")
    if mode == "structured":
        data_expr = _structured(params.get("builderData") or [], resolver, site)
    elif isinstance(data, str):
        data_expr = _json_template(data, resolver, site) or resolver.value_expr(data, site)
    elif data is None:
        data_expr = "{}"
    else:
        data_expr = resolver.value_expr(data, site)
    return (f'{{"data": {data_expr}, "status": {_status(params.get("status"))}, '
            f'"headers": {jstr(_headers(params.get("headers")))}}}')
