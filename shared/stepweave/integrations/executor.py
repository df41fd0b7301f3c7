"""The one executor of every integration operation: the declared request, sent with httpx
through the tools' retrying transport (``stepweave.tools.transport``: 429 and 5xx retried
with jittered backoff, ``Retry-After`` honoured), authenticated, paginated, expanded and
mapped to the tool's output.

Failures are ``ToolError`` messages the tool block turns into the error classes a state
machine matches (``stepweave.blocks.tool_block``): ``<tool> tool: GET /path answered 404:
<the provider's message>`` (``HttpStatusError``), ``no answer from <host>``
(``HttpTransportError``), ``the <provider> credentials are not set`` (``BlockInputError``).
Credentials and access tokens never appear in them nor in the output (masked).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from stepweave.integrations import oauth
from stepweave.integrations.template import (MISSING, TemplateError, extract, render,
                                             render_text)
from stepweave.refs import SECRET_PLACEHOLDER
from stepweave.tools.base import ToolContext, ToolError, ToolParams, mask, unresolved
from stepweave.tools.transport import RetryPolicy, Unreachable, send

if TYPE_CHECKING:
    import httpx

    from stepweave.integrations.spec import Operation, RequestSpec

__all__ = ["run_operation", "POLICY"]

#: Integrations' retries: three more tries on 429 / 5xx / no answer, 30 s per try.
POLICY = RetryPolicy(retries=3, base_delay_s=0.5, max_delay_s=20.0, timeout_s=30.0)
_MAX_MESSAGE = 300
_MAX_REDIRECTS = 3


class _Call:
    """One run of an operation: its values, credentials and client."""

    def __init__(self, operation: Operation, params: ToolParams, ctx: ToolContext) -> None:
        self.op = operation
        self.ctx = ctx
        self.values: dict[str, Any] = params.model_dump()
        self.secret_values: set[str] = set()
        self.token_request: oauth.TokenRequest | None = None
        self.auth_headers: dict[str, str] = {}
        self.auth_query: dict[str, str] = {}

    @property
    def label(self) -> str:
        return f"{self.op.name} tool"

    def fail(self, message: str) -> ToolError:
        return ToolError(mask(f"{self.label}: {message}", self.secret_values))

    # -- credentials ------------------------------------------------------------------------

    def credential(self, param: str) -> str | None:
        value = self.values.get(param)
        if isinstance(value, str) and not unresolved(value):
            self.secret_values.add(value)
            return value
        return None

    def not_set(self, *params: str) -> ToolError:
        secrets = [str(self.op.params()[p].secret) for p in params if self.op.params()[p].secret]
        return self.fail(f"the {self.op.provider_id} credentials are not set "
                         f"({' / '.join(secrets) or ', '.join(params)})")

    def authenticate(self, *, renew: bool = False) -> None:
        auth = self.op.provider.auth
        if auth.type == "none":
            return
        if auth.type == "oauth2":
            self.auth_headers = {"Authorization": f"Bearer {self.oauth_token(renew)}"}
            return
        token = self.credential(auth.param)
        if token is None:
            raise self.not_set(auth.param)
        if auth.type == "basic":
            import base64

            password = self.credential(auth.password_param)
            if password is None:
                raise self.not_set(auth.password_param)
            pair = base64.b64encode(f"{token}:{password}".encode()).decode()
            self.auth_headers = {"Authorization": f"Basic {pair}"}
        elif auth.type == "query":
            self.auth_query = {auth.name: token}
        elif auth.type == "bearer":
            self.auth_headers = {"Authorization": f"Bearer {token}"}
        else:
            self.auth_headers = {auth.name: auth.format.replace("{token}", token)}

    def oauth_token(self, renew: bool) -> str:
        auth = self.op.provider.auth
        static = self.credential("accessToken")
        if static is not None:
            return static
        refresh = self.credential("refreshToken")
        client_id = self.credential("clientId")
        client_secret = self.credential("clientSecret") if "clientSecret" in self.values else None
        token_url = str(self.values.get("tokenUrl") or auth.token_url)
        grant = _json_grant(refresh)
        if grant is not None:  # one secret holding the whole grant (as poll triggers take it)
            refresh, client_id = grant["refresh_token"], grant["client_id"]
            client_secret = grant.get("client_secret") or client_secret
            self.secret_values.update(v for v in (refresh, client_secret) if v)
        if client_id is None or (refresh is None and not (auth.client_credentials
                                                          and client_secret)):
            raise self.not_set("accessToken", "refreshToken", "clientId")
        self.token_request = oauth.TokenRequest(
            self.label.removesuffix(" tool"), token_url, client_id, client_secret, refresh,
            auth.client_auth, auth.scope)
        if renew:
            oauth.forget(self.token_request)
        token = oauth.access_token(self.token_request, transport=self.ctx.transport,
                                   sleep=self.ctx.sleep)
        self.secret_values.add(token)
        return token

    # -- requests ---------------------------------------------------------------------------

    def url(self, path: str, values: dict[str, Any]) -> str:
        rendered = render_text(path, values, encode=True)
        if rendered.startswith(("http://", "https://")):
            return rendered
        base = render_text(str(self.values.get("baseUrl") or self.op.provider.base_url),
                           values, encode=False)
        return base.rstrip("/") + "/" + rendered.lstrip("/")

    def request(self, spec: RequestSpec, values: dict[str, Any],
                cursor: tuple[str, Any] | None = None) -> httpx.Response:
        try:
            query = _query(render(spec.query, values))
            body = render(spec.body, values) if spec.body is not None else MISSING
            headers = {k: render_text(v, values) for k, v in
                       {**self.op.provider.headers, **spec.headers}.items()}
            url = self.url(spec.path, values)
        except TemplateError as exc:
            raise self.fail(f"invalid arguments: {exc}") from None
        if cursor is not None:
            where, _, name = cursor[0].partition(".")
            if where == "query":
                query[name] = str(cursor[1])
            else:
                body = {**(body if isinstance(body, dict) else {}), name: cursor[1]}
        return self.send(spec.method, url, query, headers, body, spec.body_type)

    def send(self, method: str, url: str, query: dict[str, Any], headers: dict[str, str],
             body: Any, body_type: str, *, retried: bool = False) -> httpx.Response:
        import httpx

        self.authenticate(renew=retried)
        all_headers = {"Accept": "application/json", **headers, **self.auth_headers}
        kwargs: dict[str, Any] = {}
        if body is not MISSING and body_type == "form":
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            kwargs["content"] = urlencode(_query(body)).encode()
        elif body is not MISSING:
            kwargs["json"] = body
        # a query in the URL itself (PostgREST filters, a next-page link) is kept, repeats too
        parts = urlsplit(url)
        pairs = [*parse_qsl(parts.query, keep_blank_values=True),
                 *((k, v) for k, value in {**query, **self.auth_query}.items()
                   for v in (value if isinstance(value, list) else [value]))]
        target = urlunsplit(parts._replace(query=""))
        try:
            with httpx.Client(transport=self.ctx.transport) as client:
                for _ in range(_MAX_REDIRECTS + 1):
                    response = send(client, method, target, policy=POLICY, headers=all_headers,
                                    params=pairs or None, sleep=self.ctx.sleep, **kwargs)
                    moved = _same_origin_redirect(response, target)
                    if moved is None:
                        break
                    # a moved resource of the same host (GitHub's renamed repositories):
                    # the credentials never follow a redirect to another origin
                    moved_parts = urlsplit(moved)
                    target = urlunsplit(moved_parts._replace(query=""))
                    pairs = [*parse_qsl(moved_parts.query, keep_blank_values=True),
                             *self.auth_query.items()]
        except Unreachable as exc:
            raise self.fail(f"no answer from {urlsplit(url).netloc} ({exc.kind})") from None
        if response.status_code == 401 and self.token_request is not None and not retried:
            # a cached access token the provider no longer takes: renew it once
            return self.send(method, url, query, headers, body, body_type, retried=True)
        if not 200 <= response.status_code < 300:
            raise self.fail(f"{method} {urlsplit(url).path or '/'} answered "
                            f"{response.status_code}: {self.message(response)}")
        return response

    def message(self, response: httpx.Response) -> str:
        data = _json(response)
        for path in self.op.provider.error_message:
            found = extract(path, data)
            if isinstance(found, (dict, list)):
                found = json.dumps(found)
            if found not in (None, ""):
                return str(found)[:_MAX_MESSAGE]
        if response.status_code == 429:
            hint = response.headers.get("retry-after")
            return "rate limited" + (f" (retry after {hint})" if hint else "")
        return (response.text.strip() or response.reason_phrase)[:_MAX_MESSAGE]

    # -- the whole operation ----------------------------------------------------------------

    def unfilled(self) -> None:
        """A param that is still a ``{{NAME}}`` setting nobody set (an imported template's
        "fill in before running"): fail naming it rather than send the placeholder."""
        for name, param in self.op.params().items():
            value = self.values.get(name)
            if param.secret or not isinstance(value, str):
                continue
            match = SECRET_PLACEHOLDER.fullmatch(value.strip())
            if match is not None:
                raise self.fail(f"'{name}' is required: fill in the secret {match.group(1)} "
                                f"(it is not set) or give '{name}' a value")

    def run(self) -> dict[str, Any]:
        spec = self.op.spec
        self.unfilled()
        response = self.request(spec.request, self.values)
        data = _json(response)
        if spec.ok is not None and not extract(spec.ok, data):
            raise self.fail(f"{spec.request.method} {urlsplit(str(response.url)).path} answered "
                            f"{response.status_code}: {self.message(response)}")
        if spec.pagination is not None:
            data = self.paginate(data, response)
        if spec.expand is not None:
            data = self.expand(data)
        output = extract(spec.output, data, response.headers)
        masked: dict[str, Any] = json.loads(mask(json.dumps(output, default=str),
                                                 self.secret_values))
        return masked

    def paginate(self, data: Any, response: httpx.Response) -> Any:
        page = self.op.spec.pagination
        assert page is not None
        limit = page.max_pages
        if page.max_pages_param and isinstance(self.values.get(page.max_pages_param), int):
            limit = max(1, min(100, int(self.values[page.max_pages_param])))
        first = data
        items = list(extract(page.items, data) or [])
        pages = 1
        while pages < limit:
            if page.more is not None and not extract(page.more, data):
                break
            if page.next == "$link":
                cursor = response.links.get("next", {}).get("url")
                if not cursor:
                    break
                response = self.send(self.op.spec.request.method, str(cursor), {},
                                     dict(self.op.provider.headers), MISSING, "json")
            else:
                cursor = extract(page.next, data)
                if cursor in (None, ""):
                    break
                response = self.request(self.op.spec.request, self.values,
                                        (page.send, cursor))
            data = _json(response)
            items += list(extract(page.items, data) or [])
            pages += 1
        return _put(first, page.items, items)

    def expand(self, data: Any) -> Any:
        spec = self.op.spec.expand
        assert spec is not None
        items = extract(spec.items, data)
        if not isinstance(items, list):
            return data
        full = [_json(self.request(spec.request, {**self.values, "item": item}))
                for item in items[:spec.max_items]]
        return _put(data, spec.items, full)


def _put(data: Any, path: str, value: Any) -> Any:
    if path == "$":
        return value
    out = dict(data) if isinstance(data, dict) else {}
    keys = path.split(".")
    node = out
    for key in keys[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]
    node[keys[-1]] = value
    return out


def _json_grant(value: str | None) -> dict[str, str] | None:
    """``{"refresh_token", "client_id"[, "client_secret"]}`` held in one secret, or None."""
    if not value or not value.lstrip().startswith("{"):
        return None
    try:
        grant = json.loads(value)
    except ValueError:
        return None
    if not isinstance(grant, dict) or not all(isinstance(grant.get(k), str) and grant[k]
                                              for k in ("refresh_token", "client_id")):
        return None
    return {k: str(v) for k, v in grant.items() if isinstance(v, str)}


def _same_origin_redirect(response: httpx.Response, url: str) -> str | None:
    """The redirect's target when it stays on the same scheme, host and port, else None."""
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 307, 308) or not location:
        return None
    target = str(response.url.join(location))
    here, there = urlsplit(url), urlsplit(target)
    return target if (here.scheme, here.netloc) == (there.scheme, there.netloc) else None


def _query(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is MISSING or value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)) and not (
                isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            out[key] = json.dumps(value)
        else:
            out[key] = value
    return out


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {"text": response.text}


def run_operation(operation: Operation, params: ToolParams, ctx: ToolContext) -> dict[str, Any]:
    """Run one declared operation with its validated params."""
    return _Call(operation, params, ctx).run()
