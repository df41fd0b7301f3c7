"""The run viewer: the executions list and one page per run, served by ``stepweave serve``.

Routes (``ROUTES``; API Gateway proxy events in, proxy responses out, as every handler of
the API):

- ``GET /runs``: this tenant's executions, newest first, with the run API's filters
  (``workflow``, ``status``, ``since``, ``until``, ``limit``, ``cursor``);
- ``GET /runs/{id}``: one run (its ARN, URL-encoded): figures, approvals it waits for,
  graph, timeline, input, output and each block's runs (``stepweave.api.run_view``);
- ``GET /runs/{id}/payload``: one offloaded part of a block output, read on demand;
- ``GET|POST /runs/login``: the key form; ``POST /runs/logout`` forgets the key;
- ``GET /runs/viewer.js``: the page's one script.

Authentication is the run API's (``stepweave.api.auth``): ``Authorization: Bearer <key>``
or ``x-api-key`` for scripts, or, for a browser, the ``stepweave_key`` cookie the key form
sets (``HttpOnly; SameSite=Strict; Path=/runs``: page scripts cannot read it and other sites'
pages do not send it). The form's POST is refused from another origin. A tenant sees the
runs it started; the operator tenant (``STEPWEAVE_OPERATOR_TENANT``; ``local`` under
``stepweave serve``) also sees runs that have no tenant (webhooks, schedules, ``stepweave
run``). Another tenant's run is "not found". Pages carry a strict Content-Security-Policy
(no inline script, scripts and forms of this origin only, no framing).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from http.cookies import CookieError, SimpleCookie
from typing import Any, get_args
from urllib.parse import parse_qs, quote, urlsplit

from stepweave.api.auth import presented_key
from stepweave.api.keys import lookup_key
from stepweave.api.run_view import Graph, Priced, read_run, stubs_in
from stepweave.api.viewer_html import (
    VIEWER_JS,
    list_page,
    login_page,
    message_page,
    page,
    run_href,
    run_page,
    value_html,
)
from stepweave.runtime.payloads import PayloadStore, default_store, execution_prefix, resolve
from stepweave.runtime.query import CursorError, filter_time, get_execution, list_executions
from stepweave.runtime.records import ExecutionRecord, Status
from stepweave.runtime.settings import Settings

__all__ = ["ROUTES", "COOKIE", "VIEWER_HEADERS", "RunViewer", "WorkflowSource"]

logger = logging.getLogger(__name__)

#: (method, API Gateway resource) of every viewer route.
ROUTES = (("GET", "/runs"), ("GET", "/runs/login"), ("POST", "/runs/login"), ("POST", "/runs/logout"),
          ("GET", "/runs/viewer.js"), ("GET", "/runs/{id}"), ("GET", "/runs/{id}/payload"))
COOKIE = "stepweave_key"
STATUSES: tuple[str, ...] = get_args(Status)
VIEWER_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; "
                                "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_MAX_KEY = 256
#: Keys the cookie carries as they are (``stepweave keys`` makes URL-safe base64 keys).
_COOKIE_SAFE = re.compile(r"[A-Za-z0-9._~+/=-]+")
_NEXT = re.compile(r"^/runs(/[A-Za-z0-9%._~:-]*)?$")


@dataclass(frozen=True)
class WorkflowSource:
    """What the viewer knows of a workflow: its graph and its manifest
    (``CompiledWorkflow.manifest()``: the block behind each state, for reading a history)."""

    graph: Graph | None
    manifest: Mapping[str, Any]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _html(status: int, body: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "isBase64Encoded": False, "body": body,
            "headers": {"Content-Type": "text/html; charset=utf-8", **VIEWER_HEADERS, **(extra or {})}}


def _redirect(location: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": 303, "isBase64Encoded": False, "body": "",
            "headers": {**VIEWER_HEADERS, "Location": location, **(extra or {})}}


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}


def _cookie_key(headers: Mapping[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _query(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None}


class RunViewer:
    """``RunViewer(ddb, settings, workflows=..., sfn=...).handle(event)`` answers every route of
    ``ROUTES``. ``sfn`` reads the histories of runs still going; ``price`` gives what Step
    Functions bills (``stepweave.local.progress.workflow_cost``); ``store`` reads offloaded
    outputs (default: the process's payload store)."""

    def __init__(self, ddb: Any, settings: Settings, *, workflows: Mapping[str, WorkflowSource],
                 sfn: Any = None, manifests: Callable[[str], Mapping[str, Any] | None] | None = None,
                 price: Priced | None = None, store: PayloadStore | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.ddb, self.settings, self.sfn = ddb, settings, sfn
        self.workflows = dict(workflows)
        self.manifests = manifests
        self.price, self.store = price, store
        self.now = now or (lambda: datetime.now(UTC))

    # -- entry --------------------------------------------------------------------------------

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._handle(event)
        except _Refused as exc:
            return _html(exc.status, message_page("Not available", str(exc)))
        except Exception:
            logger.exception("run viewer failure")
            return _html(500, message_page("Something went wrong", "The page could not be made; "
                                           "the server's log says why."))

    def _handle(self, event: dict[str, Any]) -> dict[str, Any]:
        resource = str(event.get("resource") or "")
        method = str(event.get("httpMethod") or "GET").upper()
        if resource == "/runs/viewer.js":
            return {"statusCode": 200, "isBase64Encoded": False, "body": VIEWER_JS,
                    "headers": {**VIEWER_HEADERS, "Content-Type": "text/javascript; charset=utf-8",
                                "Cache-Control": "no-cache"}}
        if resource == "/runs/login":
            return self._login(event) if method == "POST" else _html(
                200, login_page(next_path=self._next(_query(event).get("next"))))
        if resource == "/runs/logout":
            self._same_origin(event)
            return _redirect("/runs/login", {"Set-Cookie": self._cookie(event, "", clear=True)})
        tenant = self._tenant(event)
        if tenant is None:
            path = str(event.get("path") or "/runs")
            return _html(401, login_page(next_path=self._next(path),
                                         error=None if self._presented(event) is None
                                         else "This API key is not valid here (unknown or disabled)."))
        if resource == "/runs":
            return self._list(event, tenant)
        execution = str((event.get("pathParameters") or {}).get("id") or "")
        if resource == "/runs/{id}":
            return self._run(event, tenant, execution)
        if resource == "/runs/{id}/payload":
            return self._payload(event, tenant, execution)
        return _html(404, message_page("Not found", "There is no page here."))

    # -- auth ---------------------------------------------------------------------------------

    @staticmethod
    def _next(path: str | None) -> str:
        """Where to go after the key form: a viewer path, never another site."""
        if path and _NEXT.match(quote(path, safe="/%:")):
            return quote(path, safe="/%:")
        return "/runs"

    @staticmethod
    def _presented(event: Mapping[str, Any]) -> str | None:
        headers = _headers(event)
        return presented_key(headers) or _cookie_key(headers)

    def _tenant(self, event: Mapping[str, Any]) -> str | None:
        key = self._presented(event)
        if key is None or len(key) > _MAX_KEY:
            return None
        found = lookup_key(self.ddb, self.settings, key)
        return None if found is None or found.disabled else found.tenant

    def _visible(self, record: ExecutionRecord, tenant: str) -> bool:
        return record.tenant == tenant or (record.tenant is None and tenant == self.settings.operator_tenant)

    @staticmethod
    def _same_origin(event: Mapping[str, Any]) -> None:
        """A form post from a viewer page, not another site: browsers say where it came from
        (``Sec-Fetch-Site``, ``Origin``); a script sending neither is not a browser's form."""
        headers = _headers(event)
        site, origin = headers.get("sec-fetch-site"), headers.get("origin")
        foreign = site is not None and site not in ("same-origin", "none")
        if origin is not None and site is None:
            foreign = origin == "null" or urlsplit(origin).netloc != headers.get("host", "")
        if foreign:
            raise _Refused(403, "This form was sent from another site; nothing was changed.")

    @staticmethod
    def _cookie(event: Mapping[str, Any], key: str, *, clear: bool = False) -> str:
        secure = "; Secure" if _headers(event).get("x-forwarded-proto") == "https" else ""
        expiry = "; Max-Age=0" if clear else ""
        return f"{COOKIE}={key}; Path=/runs; HttpOnly; SameSite=Strict{secure}{expiry}"

    def _login(self, event: dict[str, Any]) -> dict[str, Any]:
        self._same_origin(event)
        raw = event.get("body") or ""
        try:
            text = base64.b64decode(raw).decode("utf-8") if event.get("isBase64Encoded") else str(raw)
            form = {k: v[-1] for k, v in parse_qs(text, max_num_fields=10).items()}
        except (ValueError, UnicodeDecodeError):
            form = {}
        key, next_path = form.get("key", "").strip(), self._next(form.get("next"))
        if key and not _COOKIE_SAFE.fullmatch(key):
            return _html(400, login_page(next_path=next_path, error="This key has characters a cookie "
                                         "cannot carry: send it in the Authorization header instead."))
        found = lookup_key(self.ddb, self.settings, key) if key and len(key) <= _MAX_KEY else None
        if found is None or found.disabled:
            return _html(401, login_page(next_path=next_path,
                                         error="This API key is not valid here (unknown or disabled)."))
        return _redirect(next_path, {"Set-Cookie": self._cookie(event, key)})

    # -- pages --------------------------------------------------------------------------------

    def _list(self, event: Mapping[str, Any], tenant: str) -> dict[str, Any]:
        query = _query(event)
        filters = {k: query[k].strip() for k in ("workflow", "status", "since", "until", "limit")
                   if query.get(k, "").strip()}
        try:
            limit = int(filters.get("limit", "20"))
            if not 1 <= limit <= 100:
                raise ValueError
        except ValueError:
            return self._bad(event, "limit: a whole number from 1 to 100")
        status = filters.get("status")
        if status is not None and status not in STATUSES:
            return self._bad(event, f"status: one of {', '.join(STATUSES)}")
        try:
            since, until = filter_time(filters.get("since"), "since"), filter_time(filters.get("until"), "until")
        except ValueError as exc:
            return self._bad(event, str(exc))
        operator = tenant == self.settings.operator_tenant
        try:
            page = list_executions(self.ddb, self.settings, tenant=None if operator else tenant,
                                   workflow=filters.get("workflow"), status=status, since=since, until=until,
                                   limit=limit, cursor=query.get("cursor") or None)
        except CursorError as exc:
            return self._bad(event, f"cursor: {exc}")
        records = [r for r in page.items if self._visible(r, tenant)]
        return _html(200, list_page(records, filters=filters, statuses=STATUSES,
                                    workflows=sorted(self.workflows), next_cursor=page.cursor))

    def _bad(self, event: Mapping[str, Any], message: str) -> dict[str, Any]:
        return _html(400, message_page("Invalid filter", message))

    def _owned(self, tenant: str, execution: str) -> ExecutionRecord:
        detail = get_execution(self.ddb, self.settings, execution) if execution.startswith("arn:") else None
        if detail is None or not self._visible(detail.record, tenant):
            raise _Refused(404, "No such run (or not one of this key's tenant).")
        return detail.record

    def _source(self, workflow: str, execution: str) -> tuple[Graph | None, Mapping[str, Any] | None]:
        known = self.workflows.get(workflow)
        if known is not None:
            return known.graph, known.manifest
        manifest = None
        if self.manifests is not None:
            try:
                manifest = self.manifests(execution)
            except Exception:  # an unreadable manifest: the records alone still show the run
                logger.info("no manifest", extra={"execution": execution})
        return None, manifest

    def _run(self, event: Mapping[str, Any], tenant: str, execution: str) -> dict[str, Any]:
        record = self._owned(tenant, execution)
        graph, manifest = self._source(record.workflow, execution)
        view = read_run(self.ddb, self.settings, execution, sfn=self.sfn, manifest=manifest, graph=graph,
                        price=self.price)
        if view is None:
            raise _Refused(404, "No such run (or not one of this key's tenant).")
        return _html(200, run_page(view, now=self.now()))

    def _payload(self, event: Mapping[str, Any], tenant: str, execution: str) -> dict[str, Any]:
        """One offloaded part, only if this run's recorded values reference it."""
        record = self._owned(tenant, execution)
        query = _query(event)
        wanted = (query.get("bucket"), query.get("key"), query.get("path"), query.get("from"))
        graph, manifest = self._source(record.workflow, execution)
        view = read_run(self.ddb, self.settings, execution, sfn=self.sfn, manifest=manifest, graph=graph)
        if view is None:
            raise _Refused(404, "No such run (or not one of this key's tenant).")
        values: list[Any] = [run.output for run in view.runs]
        values += [_loads(v) for v in (view.record.input, view.record.output) if v is not None]
        refs = [ref for value in values for ref in stubs_in(value)
                if (ref["bucket"], ref["key"], ref["path"],
                    None if ref.get("from") is None else str(ref["from"])) == wanted]
        if not refs or not refs[0]["key"].startswith(execution_prefix(execution)):
            raise _Refused(404, "This run references no such stored value.")
        try:
            value = resolve({"$ref": refs[0]}, self.store or default_store(), bucket=refs[0]["bucket"],
                            prefix=execution_prefix(execution))
        except Exception as exc:  # expired, deleted, unreadable
            raise _Refused(404, f"The stored value could not be read ({exc}).") from None
        title = f"{view.record.name}: {refs[0]['path']}"
        body = (f"<p><a href=\"{escape(run_href('', execution))}\">Back to the run</a></p>"
                f"<section class=\"card\">{value_html(value)}</section>")
        return _html(200, page(title, body))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


