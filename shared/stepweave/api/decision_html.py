"""The HTML of the decision pages: plain, server-rendered, inline CSS only, readable on a phone.

Every value from the approval (display data, field names, defaults, messages) is escaped.
A form whose boolean field is named ``approved`` gets Approve / Reject buttons for it (with a
disabled first submit button, so pressing Enter in a text field submits nothing); other
boolean fields are checkboxes, strings text inputs, numbers number inputs, objects and arrays
JSON text areas.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Any

from stepweave.runtime.approvals import Approval

__all__ = ["page", "form_page", "run_link", "DECIDED_BY", "CSRF_FIELD", "BUTTON_FIELD"]

#: The hidden field carrying the CSRF token, and the optional "who decides" field.
CSRF_FIELD = "csrfToken"
DECIDED_BY = "decidedBy"
#: A boolean field with this name is answered with Approve / Reject buttons.
BUTTON_FIELD = "approved"

_CSS = """
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f5f4;color:#1c1917}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.5rem 0 1rem}
.card{background:#fff;border:1px solid #e7e5e4;border-radius:.5rem;padding:1rem;margin-bottom:1rem}
dl{margin:0}dt{font-weight:600;margin-top:.5rem}dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin-top:.75rem}
input[type=text],input[type=number],input[type=email],textarea{width:100%;box-sizing:border-box;font:inherit;
padding:.5rem;border:1px solid #a8a29e;border-radius:.375rem}
input[type=checkbox]{width:1.25rem;height:1.25rem;vertical-align:middle;margin-right:.5rem}
.buttons{display:flex;gap:.75rem;margin-top:1.25rem}
button{flex:1;font:inherit;font-weight:600;padding:.75rem;border:0;border-radius:.375rem;color:#fff;background:#2563eb}
button.approve{background:#15803d}button.reject{background:#b91c1c}
.error{background:#fef2f2;border-color:#fecaca;color:#991b1b}
.ok{background:#f0fdf4;border-color:#bbf7d0}
small{color:#57534e}
""".strip()


def page(title: str, body: str) -> str:
    """A whole page around ``body`` (already HTML)."""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex, nofollow\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
            f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def _display(approval: Approval) -> str:
    parts = []
    if approval.message:
        parts.append(f"<p>{escape(approval.message)}</p>")
    if approval.display:
        rows = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(_text(v))}</dd>"
                       for k, v in approval.display.items())
        parts.append(f"<dl>{rows}</dl>")
    return f"<section class=\"card\">{''.join(parts)}</section>" if parts else ""


def _field(spec: dict[str, Any], values: dict[str, str]) -> str:
    name = str(spec["name"])
    kind = str(spec.get("type") or "string")
    ident = escape(f"f-{name}")
    required = " required" if spec.get("required") and kind != "boolean" else ""
    default = spec.get("value")
    current = values.get(name, "" if default is None else _text(default))
    label = escape(str(spec.get("label") or spec.get("description") or name))
    attrs = f"id=\"{ident}\" name=\"{escape(name)}\"{required}"
    if kind == "boolean":
        checked = " checked" if (values.get(name, str(default).lower()) in ("true", "on")) else ""
        return (f"<label for=\"{ident}\"><input type=\"checkbox\" {attrs} value=\"true\"{checked}>"
                f"{label}</label>")
    if kind == "number":
        return (f"<label for=\"{ident}\">{label}</label>"
                f"<input type=\"number\" step=\"any\" {attrs} value=\"{escape(current)}\">")
    if kind in ("object", "array", "json"):
        return (f"<label for=\"{ident}\">{label} <small>(JSON)</small></label>"
                f"<textarea rows=\"4\" {attrs}>{escape(current)}</textarea>")
    return (f"<label for=\"{ident}\">{label}</label>"
            f"<input type=\"text\" {attrs} value=\"{escape(current)}\">")


def _buttons(form: list[dict[str, Any]]) -> bool:
    return any(f.get("name") == BUTTON_FIELD and f.get("type") == "boolean" for f in form)


def run_link(href: str | None) -> str:
    """A line linking to the run viewer's page of the approval's run (nothing without ``href``)."""
    if not href:
        return ""
    return f"<p><small><a class=\"run-link\" href=\"{escape(href)}\">See the run this approval belongs to</a></small></p>"


def form_page(approval: Approval, token: str, action: str, *, error: str | None = None,
              values: dict[str, str] | None = None, run_href: str | None = None) -> str:
    """The approval's context and its form (again with ``error`` and the submitted ``values``);
    ``run_href``: the run viewer's page of its run."""
    values = values or {}
    buttons = _buttons(approval.form)
    fields = [f for f in approval.form if f.get("name") and not (buttons and f["name"] == BUTTON_FIELD)]
    inputs = "".join(_field(f, values) for f in fields)
    if not any(f.get("name") == DECIDED_BY for f in approval.form):
        who = escape(values.get(DECIDED_BY, ""))
        inputs += (f"<label for=\"f-who\">Your name or email <small>(optional, recorded with the "
                   f"decision)</small></label><input type=\"text\" id=\"f-who\" name=\"{DECIDED_BY}\" "
                   f"value=\"{who}\" autocomplete=\"email\" maxlength=\"200\">")
    if buttons:
        submit = ("<button type=\"submit\" disabled hidden aria-hidden=\"true\"></button>"
                  f"<button type=\"submit\" class=\"approve\" name=\"{BUTTON_FIELD}\" value=\"true\">Approve</button>"
                  f"<button type=\"submit\" class=\"reject\" name=\"{BUTTON_FIELD}\" value=\"false\">Reject</button>")
    else:
        submit = "<button type=\"submit\">Submit</button>"
    notice = f"<section class=\"card error\" role=\"alert\">{escape(error)}</section>" if error else ""
    expiry = ""
    if approval.deadline:
        when = datetime.fromtimestamp(approval.deadline, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        expiry = f"<p><small>Answer before {escape(when)}.</small></p>"
    target = f" action=\"{escape(action)}\"" if action else ""
    body = (f"{notice}{_display(approval)}<section class=\"card\">"
            f"<form method=\"post\"{target}>"
            f"<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{escape(token)}\">"
            f"{inputs}<div class=\"buttons\">{submit}</div></form>{expiry}</section>{run_link(run_href)}")
    return page(approval.subject or f"Approval needed: {approval.block_name}", body)
