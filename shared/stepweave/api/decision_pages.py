"""The decision pages: ``GET /approvals/{id}`` shows the approval's context and its form,
``POST /approvals/{id}`` (form-encoded) decides it.

``handle`` takes an API Gateway (REST, proxy integration) event and returns a proxy response,
so the same code serves the local gateway (``stepweave.local.gateway``) and a Lambda
behind API Gateway. GET never decides (mail scanners prefetch links). POST checks the CSRF
token (an HMAC-SHA256 of the approval id keyed by ``STEPWEAVE_CSRF_SECRET``, or by a random
per-process key when unset; compared in constant time), converts the fields by the form's
types and calls ``decide``. Every failure answers with a page and changes nothing: unknown id
404, bad or missing token 403, already decided or run no longer waiting 409, expired 410,
invalid input 400 (the form again, with the message).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

from stepweave.api.decision_html import BUTTON_FIELD, CSRF_FIELD, DECIDED_BY, form_page, page, run_link
from stepweave.api.events import BadBody, request_body
from stepweave.api.strict_json import BadJson
from stepweave.api.strict_json import loads as strict_loads
from stepweave.runtime.approvals import (
    Approval,
    ApprovalDecided,
    ApprovalError,
    ApprovalExpired,
    ApprovalInvalid,
    ApprovalNotFound,
    ApprovalRunGone,
    decide,
    get_approval,
)
from stepweave.runtime.recorder import Clients
from stepweave.runtime.settings import Settings

__all__ = ["handle", "csrf_token", "SECURITY_HEADERS", "MAX_BODY_BYTES"]

logger = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
MAX_BODY_BYTES = 64 * 1024
_PATH = re.compile(r"^/approvals/([A-Za-z0-9_-]{1,128})/?$")
_PROCESS_SECRET = secrets.token_bytes(32)


def _secret(settings: Settings) -> bytes:
    if settings.csrf_secret is not None:
        return settings.csrf_secret.get_secret_value().encode()
    return _PROCESS_SECRET


def csrf_token(settings: Settings, approval_id: str) -> str:
    """The token the form of ``approval_id`` carries."""
    digest = hmac.new(_secret(settings), f"approval:{approval_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _response(status: int, html: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(extra or {})}
    return {"statusCode": status, "headers": headers, "body": html, "isBase64Encoded": False}


def _message(status: int, title: str, text: str, css: str = "error", run_href: str | None = None) -> dict[str, Any]:
    return _response(status, page(title, f"<section class=\"card {css}\"><p>{escape(text)}</p></section>"
                                         + run_link(run_href)))


def _run_href(event: dict[str, Any], approval: Approval) -> str | None:
    """The run viewer's page of the approval's run, where one is served: the ``runViewer``
    stage variable is its path (``stepweave serve`` sets ``/runs``)."""
    viewer = str((event.get("stageVariables") or {}).get("runViewer") or "")
    if not viewer.startswith("/"):
        return None
    return f"{viewer.rstrip('/')}/{quote(approval.execution_arn, safe='')}"


def _not_found() -> dict[str, Any]:
    return _message(404, "Approval not found",
                    "This link is wrong or expired long ago. Nothing was changed.")


def _closed(approval: Approval, now: float) -> dict[str, Any] | None:
    """The page for an approval that cannot be answered any more, else None."""
    if approval.status == "lapsed":
        return _message(409, "No longer waiting", "The run no longer waits for this approval "
                        "(it timed out, stopped or finished). Nothing was changed.")
    if approval.status != "pending":
        by = f" by {approval.decided_by}" if approval.decided_by else ""
        return _message(409, "Already decided", f"This approval was already decided{by}. "
                        "Nothing was changed.")
    if approval.deadline is not None and now >= approval.deadline:
        return _message(410, "Link expired", "The time to answer this approval has passed. "
                        "Nothing was changed.")
    return None


def _form_values(event: dict[str, Any]) -> dict[str, str]:
    try:
        data = request_body(event)
    except BadBody as exc:
        raise ApprovalInvalid(str(exc)) from None
    if len(data) > MAX_BODY_BYTES:
        raise ApprovalInvalid("the submission is too large")
    try:
        parsed = parse_qs(data.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise ApprovalInvalid("the submission is not a form") from None
    return {name: items[-1] for name, items in parsed.items()}


def _convert(form: list[dict[str, Any]], values: dict[str, str]) -> dict[str, Any]:
    """The form's fields from the posted text, by type; an empty field counts as missing
    (an empty optional string stays ``""``). Raises ``ApprovalInvalid``."""
    out: dict[str, Any] = {}
    problems = []
    for spec in form:
        name = str(spec.get("name") or "")
        kind = str(spec.get("type") or "string")
        if not name:
            continue
        if kind == "boolean":  # an unchecked box is not posted: false; no button pressed: missing
            if name in values or not (_has_default(spec) or name == BUTTON_FIELD):
                out[name] = values.get(name, "").lower() in ("true", "on", "1", "yes")
            continue
        text = values.get(name, "")
        if not text.strip():
            if kind == "string" and name in values and not spec.get("required"):
                out[name] = text
            continue
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                problems.append(f"'{name}' must be a number")
                continue
            if not math.isfinite(number):
                problems.append(f"'{name}' must be a finite number")
                continue
            out[name] = int(number) if number.is_integer() and abs(number) < 2**53 else number
        elif kind in ("object", "array", "json"):
            try:
                out[name] = strict_loads(text, what=f"'{name}'")
            except BadJson as exc:
                problems.append(f"'{name}' must be JSON" if " is not " in str(exc) else str(exc))
        else:
            out[name] = text
    if problems:
        raise ApprovalInvalid("invalid submission: " + "; ".join(problems))
    return out


def _has_default(spec: dict[str, Any]) -> bool:
    return spec.get("value") is not None and not spec.get("required")


def _route(event: dict[str, Any]) -> str | None:
    params = event.get("pathParameters") or {}
    if params.get("id"):
        found = _PATH.match(f"/approvals/{params['id']}")
    else:
        found = _PATH.match(str(event.get("path") or ""))
    return found.group(1) if found else None


def handle(event: dict[str, Any], *, clients: Clients, settings: Settings,
           now: float | None = None) -> dict[str, Any]:
    """One request (API Gateway proxy event) -> the proxy response."""
    try:
        return _handle(event, clients, settings, time.time() if now is None else now)
    except Exception:
        logger.exception("decision page failed")
        return _message(500, "Something went wrong", "The decision could not be processed. "
                        "Nothing is known to have changed; try again later.")


def _handle(event: dict[str, Any], clients: Clients, settings: Settings, now: float) -> dict[str, Any]:
    method = str(event.get("httpMethod") or "GET").upper()
    approval_id = _route(event)
    if approval_id is None:
        return _message(404, "Not found", "There is no page here.")
    if method not in ("GET", "POST"):
        return _response(405, page("Method not allowed", ""), {"Allow": "GET, POST"})
    approval = get_approval(clients.ddb, settings, approval_id)
    if approval is None:
        return _not_found()
    token = csrf_token(settings, approval_id)
    run_href = _run_href(event, approval)
    # no action: the form posts back to the URL it came from, whatever prefix (an API
    # Gateway stage, a custom domain's base path) is in front of /approvals/{id}
    action = ""
    if method == "GET":
        closed = _closed(approval, now)
        return closed or _response(200, form_page(approval, token, action, run_href=run_href))
    try:
        values = _form_values(event)
    except ApprovalInvalid as exc:
        return _message(400, "Invalid submission", str(exc))
    if not hmac.compare_digest(values.get(CSRF_FIELD, "").encode(), token.encode()):
        return _message(403, "Invalid form", "This form is not valid for this approval (it was "
                        "changed, or came from another site). Open the link again. Nothing was changed.")
    closed = _closed(approval, now)
    if closed is not None:
        return closed
    decided_by = values.get(DECIDED_BY, "").strip()[:200] or "web"
    try:
        submission = _convert(approval.form, values)
        output = decide(approval_id, submission, decided_by=decided_by, clients=clients,
                        settings=settings, now=now)
    except ApprovalInvalid as exc:
        return _response(400, form_page(approval, token, action, error=str(exc), values=values,
                                        run_href=run_href))
    except ApprovalNotFound:
        return _not_found()
    except ApprovalExpired as exc:
        return _message(410, "Link expired", f"{exc}. Nothing was changed.")
    except ApprovalRunGone as exc:
        return _message(409, "No longer waiting", f"{exc}. Nothing was changed.")
    except (ApprovalDecided, ApprovalError) as exc:
        return _message(409, "Already decided", f"{exc}. Nothing was changed.")
    answer = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in submission.items())
    return _message(200, "Thank you: decision recorded",
                    f"Your answer to '{approval.block_name}' was recorded ({answer or 'no fields'}) "
                    f"as {output['decidedBy']} at {output['submittedAt']}; the run continues.", "ok",
                    run_href)
