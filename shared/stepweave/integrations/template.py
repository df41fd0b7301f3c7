"""Request templates filled from params, and output mappings read from answers (the syntax
is ``stepweave.integrations.spec``'s). Filters and helpers are the format's whole vocabulary:
an operation that needs another one adds it here, once, for every provider."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MISSING", "render", "render_text", "extract", "FILTERS", "HELPERS", "TemplateError"]


class TemplateError(ValueError):
    """A value a template cannot use (e.g. text that should be JSON)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_FILTER = r"(?:\|[a-z0-9_]+(?::[A-Za-z0-9_-]+)?)*"
_WHOLE = re.compile(r"^\{([A-Za-z][A-Za-z0-9_.]*)(" + _FILTER + r")\}$")
_PART = re.compile(r"\{([A-Za-z][A-Za-z0-9_.]*)(" + _FILTER + r")\}")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return MISSING
        try:
            return json.loads(text)
        except ValueError:
            raise TemplateError(f"is not valid JSON: {text[:60]!r}") from None
    return value


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _rows(value: Any) -> Any:
    """A table for a spreadsheet: a 2-D list as it is; a list of objects as a header row and
    one row per object; one row (a list of scalars) as a 1-row table; JSON text parsed."""
    value = _json(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        header = list(dict.fromkeys(k for row in value for k in row))
        return [header, *([row.get(k, "") for k in header] for row in value)]
    if isinstance(value, list) and value and not any(isinstance(v, list) for v in value):
        return [value]
    if isinstance(value, dict):
        return [list(value), list(value.values())]
    return value


def _join(value: Any) -> Any:
    if isinstance(value, list):
        return "".join("" if v is None else str(v) for v in value)
    return value


def _text(value: Any) -> Any:
    if value is MISSING or value is None:
        return value
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _b64url_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode("utf-8", "replace")


def _gmail_body(payload: Any) -> Any:
    """The text of a Gmail message payload: its first text/plain part (else text/html)."""
    if not isinstance(payload, dict):
        return None
    found: dict[str, str] = {}
    stack = [payload]
    while stack:
        part = stack.pop()
        mime, data = str(part.get("mimeType") or ""), (part.get("body") or {}).get("data")
        if data and mime in ("text/plain", "text/html") and mime not in found:
            found[mime] = _b64url_text(data)
        stack.extend(reversed([p for p in part.get("parts") or [] if isinstance(p, dict)]))
    return found.get("text/plain", found.get("text/html", ""))


def _headers_map(value: Any) -> Any:
    """``[{name, value}]`` (Gmail's headers) -> ``{name: value}``."""
    if isinstance(value, list):
        return {str(h.get("name")): h.get("value") for h in value if isinstance(h, dict)}
    return value


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.strip():
        try:
            return int(float(value))
        except ValueError:
            raise TemplateError(f"is not a number: {value[:40]!r}") from None
    return value


def _nonempty(value: Any) -> Any:
    return MISSING if value in ("", [], {}) else value


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, (list, dict)) else 0


def _a1_cells(value: Any) -> Any:
    """A cell range after a sheet name: ``A1:B2`` -> ``!A1:B2`` (empty: the whole sheet)."""
    if isinstance(value, str) and value.strip():
        return "!" + value.strip().lstrip("!")
    return MISSING


def _email_objects(value: Any) -> Any:
    """Addresses as ``[{"email": ...}]`` (Google Calendar's attendees)."""
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {"email": str(v)} for v in value if v]
    return value


def _file_url(value: Any) -> Any:
    """A file's URL: a URL as it is, or the ``url`` (else ``path``) of a file object."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        return value.get("url") or value.get("path") or MISSING
    return value


def _join_paragraphs(value: Any) -> Any:
    if isinstance(value, list):
        return "\n\n".join(str(v) for v in value if v not in (None, ""))
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


FILTERS: dict[str, Callable[[Any], Any]] = {
    "json": _json, "csv": _csv, "rows": _rows, "join": _join, "text": _text, "int": _int,
    "b64url_text": _b64url_text, "gmail_body": _gmail_body, "headers_map": _headers_map,
    "nonempty": _nonempty, "lower": _lower, "count": _count, "a1_cells": _a1_cells,
    "email_objects": _email_objects, "raw": lambda value: value, "file_url": _file_url,
    "join_paragraphs": _join_paragraphs,
}


def _mime_message(args: Mapping[str, Any]) -> str:
    """An RFC 5322 message, base64url-encoded (Gmail's ``raw``)."""
    from email.message import EmailMessage  # only operations that send mail need it
    from email.policy import SMTP

    message = EmailMessage()
    for header, key in (("To", "to"), ("Cc", "cc"), ("Bcc", "bcc"), ("Subject", "subject"),
                        ("In-Reply-To", "inReplyTo"), ("References", "inReplyTo")):
        value = args.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value not in (None, "", MISSING):
            message[header] = str(value)
    body = str(args.get("body") or "")
    if args.get("contentType") == "html":
        message.set_content(body, subtype="html")
    else:
        message.set_content(body)
    raw = message.as_bytes(policy=SMTP)  # CRLF line ends, as RFC 5322 has them
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: Notion's limit on one rich text item's content
NOTION_TEXT_LIMIT = 2000


def _notion_paragraphs(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Text as Notion paragraph blocks: one per paragraph (blank-line separated), each cut
    into rich-text items of at most 2000 characters (Notion refuses longer ones)."""
    text = _text(args.get("text"))
    if not isinstance(text, str) or not text.strip():
        return []
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        chunks = [paragraph[i:i + NOTION_TEXT_LIMIT]
                  for i in range(0, len(paragraph), NOTION_TEXT_LIMIT)]
        blocks.append({"object": "block", "type": "paragraph", "paragraph": {
            "rich_text": [{"type": "text", "text": {"content": c}} for c in chunks]}})
    return blocks


def _notion_title(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    text = str(args.get("text") or "")[:NOTION_TEXT_LIMIT]
    return [{"type": "text", "text": {"content": text}}]


def _airtable_records(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Records for Airtable: a list of ``{fields}`` (or of plain field objects), or one."""
    value = _json(args.get("records"))
    rows = value if isinstance(value, list) else [value]
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise TemplateError("records must be objects of fields")
        out.append(row if "fields" in row else {"fields": row})
    return out


HELPERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "mime_message": _mime_message, "notion_paragraphs": _notion_paragraphs,
    "notion_title": _notion_title, "airtable_records": _airtable_records,
}


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    head, _, rest = name.partition(".")
    value = values.get(head)
    for key in rest.split(".") if rest else ():
        value = value.get(key) if isinstance(value, dict) else None
    return MISSING if value is None else value


def _filtered(value: Any, filters: str) -> Any:
    for name in [f for f in filters.split("|") if f]:
        if value is MISSING or value is None:
            return value
        if name.startswith("get:"):  # a key of an object
            value = value.get(name[4:]) if isinstance(value, dict) else None
        else:
            value = FILTERS[name](value)
    return value


def render_text(text: str, values: Mapping[str, Any], *, encode: bool = False) -> str:
    """``{name}`` in text replaced by the values (unset: empty); percent-encoded for a path."""
    def put(match: re.Match[str]) -> str:
        value = _filtered(_lookup(values, match.group(1)), match.group(2))
        if value is MISSING:
            return ""
        out = value if isinstance(value, str) else json.dumps(value) if isinstance(
            value, (dict, list)) else str(value).lower() if isinstance(value, bool) else str(value)
        raw = "|raw" in match.group(2)  # already encoded (a query string, a filter)
        if encode and not raw and out in (".", ".."):  # a dot segment would climb the API's path
            raise TemplateError(f"{match.group(1)}: {out!r} is not a valid path segment")
        return quote(out, safe="") if encode and not raw else out

    return _PART.sub(put, text)


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """A template filled from ``values``; MISSING when it names an unset value."""
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return _filtered(_lookup(values, whole.group(1)), whole.group(2))
        return render_text(template, values)
    if isinstance(template, list):
        return [v for v in (render(t, values) for t in template) if v is not MISSING]
    if isinstance(template, dict):
        if "$if" in template:
            chosen = "$then" if _lookup(values, str(template["$if"])) not in (MISSING, "", [], {}) \
                else "$else"
            return render(template[chosen], values) if chosen in template else MISSING
        if "$call" in template:
            args = render(template.get("args") or {}, values)
            return HELPERS[str(template["$call"])](args if isinstance(args, dict) else {})
        if "$value" in template:
            return template["$value"]
        out = {}
        for key, sub in template.items():
            value = render(sub, values)
            if value is not MISSING:
                out[key] = value
        return out
    return template


def _walk(data: Any, keys: list[str]) -> Any:
    for index, key in enumerate(keys):
        if key == "*":
            if not isinstance(data, list):
                return None
            return [_walk(item, keys[index + 1:]) for item in data]
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.lstrip("-").isdigit() and -len(data) <= int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def extract(mapping: Any, data: Any, headers: Mapping[str, str] | None = None) -> Any:
    """An output mapping read from an answer (``data``: its JSON, ``headers`` its headers)."""
    if isinstance(mapping, str):
        path, _, filters = mapping.partition("|")
        if path == "$":
            value = data
        elif path.startswith("$headers."):
            value = (headers or {}).get(path.removeprefix("$headers.").lower())
        else:
            value = _walk(data, path.split("."))
        value = _filtered(value, filters) if value is not None else None
        return None if value is MISSING else value
    if isinstance(mapping, dict):
        if "$value" in mapping:
            return mapping["$value"]
        if "$each" in mapping:
            items = extract(str(mapping["$each"]), data, headers)
            if not isinstance(items, list):
                return []
            return [extract(mapping.get("$fields") or "$", item, headers) for item in items]
        return {key: extract(sub, data, headers) for key, sub in mapping.items()}
    return mapping


def template_names(template: Any) -> set[str]:
    """The value names a template reads (for checking a declaration)."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m.group(1).split(".")[0] for m in _PART.finditer(template))
    elif isinstance(template, list):
        for t in template:
            found |= template_names(t)
    elif isinstance(template, dict):
        if "$if" in template:
            found.add(str(template["$if"]).split(".")[0])
        for key, t in template.items():
            if key != "$value":
                found |= template_names(t)
    return found
