"""The declaration format of an integration: what a provider's ``__init__.py`` (``PROVIDER``)
and each operation's module (``OPERATION``) hold, checked with pydantic when first loaded.

Both are plain data (dicts, lists, strings): no code runs to build a request. Templates:

* ``"{name}"`` (the whole string) is the param's value, its type kept; ``"a {name} b"`` puts
  it into text (in a URL path, percent-encoded). ``"{name|json}"`` passes it through filters
  (``stepweave.integrations.template.FILTERS``). A param that is not set (``None``) drops the
  key (or list item) holding it, so optional params simply disappear from the request.
* ``{"$if": "name", "$then": ..., "$else": ...}``: one template or the other (``$else`` absent:
  the key is dropped); ``{"$call": "helper", "args": {...}}``: a named helper
  (``template.HELPERS``) builds a value (a MIME message, Notion paragraphs...).

Output mappings: a string is a path into the answer (``"results"``, ``"meta.next_token"``,
``"items.*.name"`` maps over a list, ``"$"`` is the whole answer, ``"$headers.etag"`` a
header), optionally followed by filters (``"title.*.plain_text|join"``); ``{"$each": path,
"$fields": {...}}`` maps each item of a list; ``{"$value": x}`` is a literal; a dict is a
nested mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ParamSpec", "AuthSpec", "RequestSpec", "PaginationSpec", "ExpandSpec", "SimSpec",
           "OperationSpec", "ProviderSpec", "PARAM_NAME", "Operation", "credential_params"]

PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
ParamType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpec(_Spec):
    type: ParamType = "string"
    description: str = ""
    required: bool = False
    default: Any = None
    enum: list[Any] | None = None
    #: the type of an array's items
    items: ParamType | None = None
    #: a credential: it defaults to ``{{secret}}``, a model never supplies it, and its value
    #: is masked wherever it could show
    secret: str | None = None
    #: whether an agent's model may supply it (URLs, IDs an author fixes may say False)
    model: bool = True
    #: Sim's sub-block ids / tool param names that carry it (the importer reads them in order)
    sim: list[str] = Field(default_factory=list)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_NAME.match(value):
            raise ValueError("a secret name is upper-case letters, digits and '_'")
        return value


class AuthSpec(_Spec):
    """How a request is authenticated; the credentials are params with secret defaults.

    ``bearer``: ``Authorization: Bearer <token>``; ``header``: ``<name>: <format>``;
    ``query``: ``?<name>=<token>``; ``basic``: ``Authorization: Basic`` of two params;
    ``oauth2``: an access token (``accessToken``, when set) or one obtained at ``token_url``
    from a refresh token (``refreshToken``, ``clientId``, ``clientSecret``), or, when
    ``client_credentials`` is true and no refresh token is set, from the client's own
    credentials; tokens are cached per process until shortly before they expire."""

    type: Literal["none", "bearer", "header", "query", "basic", "oauth2"]
    #: header or query parameter name (``header`` / ``query``)
    name: str = "Authorization"
    #: the header value, ``{token}`` standing for the credential
    format: str = "{token}"
    #: the credential param (``bearer`` / ``header`` / ``query``), and its default secret
    param: str = "apiKey"
    secret: str | None = None
    #: ``basic``: the second param (the first is ``param``) and its default secret
    password_param: str = "password"
    password_secret: str | None = None
    # oauth2
    token_url: str | None = None
    access_secret: str | None = None
    refresh_secret: str | None = None
    client_id_secret: str | None = None
    client_secret_secret: str | None = None
    #: how the client authenticates at the token endpoint
    client_auth: Literal["body", "basic"] = "body"
    client_credentials: bool = False
    scope: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthSpec:
        if self.type == "oauth2" and not (self.token_url and self.refresh_secret
                                          and self.client_id_secret):
            raise ValueError("oauth2 needs token_url, refresh_secret and client_id_secret")
        if self.type in ("bearer", "header", "query", "basic") and not self.secret:
            raise ValueError(f"{self.type} auth needs the default 'secret' name")
        return self


class RequestSpec(_Spec):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    #: appended to the provider's base URL (or absolute)
    path: str
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    body_type: Literal["json", "form"] = "json"


class PaginationSpec(_Spec):
    """Pages are fetched while the answer names a next page, up to ``max_pages`` (or the
    ``max_pages_param``'s value); their ``items`` lists are joined into the first answer."""

    items: str
    #: the next page's cursor in the answer, or ``$link`` (the Link header's ``rel="next"``)
    next: str
    #: where the cursor goes: ``query.<name>`` or ``body.<name>`` (unused for ``$link``)
    send: str = ""
    #: an answer's "more pages" flag (e.g. Notion's ``has_more``); absent: the cursor decides
    more: str | None = None
    max_pages: int = Field(default=5, ge=1, le=100)
    max_pages_param: str | None = None

    @field_validator("send")
    @classmethod
    def _send(cls, value: str) -> str:
        if value and not re.match(r"^(query|body)\.[A-Za-z0-9_.\[\]-]+$", value):
            raise ValueError("send is 'query.<name>' or 'body.<name>'")
        return value


class ExpandSpec(_Spec):
    """One more request per item of a list in the answer (e.g. Gmail's message ids -> the
    messages); ``{item.<field>}`` in the request is the item's field. The answers replace the
    items."""

    items: str
    request: RequestSpec
    max_items: int = Field(default=25, ge=1, le=100)


class SimSpec(_Spec):
    """What this operation stands for in Sim: its block types (``notion``, ``notion_v2``)
    and ``operation`` values (none: the block has no operation dropdown and is this
    operation), and its tool ids (an agent's tool entries carry ``toolId``)."""

    blocks: list[str] = Field(default_factory=list)
    operations: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)


class OperationSpec(_Spec):
    description: str = Field(min_length=1)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    request: RequestSpec
    pagination: PaginationSpec | None = None
    expand: ExpandSpec | None = None
    #: the tool's output: a mapping of the (joined) answer
    output: dict[str, Any] = Field(default_factory=lambda: {"data": "$"})
    #: the answer is a failure when this path is false (APIs that answer 200 with ``ok: false``)
    ok: str | None = None
    sim: SimSpec = Field(default_factory=SimSpec)

    @field_validator("params")
    @classmethod
    def _names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        bad = [n for n in value if not PARAM_NAME.match(n)]
        if bad:
            raise ValueError(f"param names must be identifiers: {', '.join(bad)}")
        return value


class ProviderSpec(_Spec):
    title: str = Field(min_length=1)
    #: may hold ``{param}`` templates (Supabase's project URL)
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthSpec
    #: paths of an error answer's message, tried in order
    error_message: list[str] = Field(default_factory=lambda: ["message", "error.message", "error"])
    docs: str = ""
    #: params every operation of the provider takes (e.g. Supabase's ``projectId``)
    params: dict[str, ParamSpec] = Field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    name: str
    provider_id: str
    operation_id: str
    provider: ProviderSpec
    spec: OperationSpec

    def params(self) -> dict[str, ParamSpec]:
        """Every param of the tool: the provider's, the operation's, credentials, URLs."""
        out = {**self.provider.params, **self.spec.params,
               **credential_params(self.provider.auth)}
        out["baseUrl"] = ParamSpec(default=self.provider.base_url, model=False,
                                   description=f"{self.provider.title} API base URL")
        if self.provider.auth.type == "oauth2":
            out["tokenUrl"] = ParamSpec(default=self.provider.auth.token_url, model=False,
                                        description="the OAuth2 token endpoint")
        return out

    def secrets(self) -> list[str]:
        return sorted({p.secret for p in self.params().values() if p.secret})


def credential_params(auth: AuthSpec) -> dict[str, ParamSpec]:
    """The params an auth scheme reads, each defaulting to its secret."""
    if auth.type in ("bearer", "header", "query"):
        return {auth.param: ParamSpec(secret=auth.secret, description="the API key or token")}
    if auth.type == "basic":
        return {auth.param: ParamSpec(secret=auth.secret, description="the user name"),
                auth.password_param: ParamSpec(secret=auth.password_secret,
                                               description="the password")}
    if auth.type == "oauth2":
        out = {"accessToken": ParamSpec(secret=auth.access_secret,
                                        description="an access token (else one is obtained "
                                                    "with the refresh token)"),
               "refreshToken": ParamSpec(secret=auth.refresh_secret,
                                         description="an OAuth2 refresh token"),
               "clientId": ParamSpec(secret=auth.client_id_secret,
                                     description="the OAuth2 client id")}
        if auth.client_secret_secret:
            out["clientSecret"] = ParamSpec(secret=auth.client_secret_secret,
                                            description="the OAuth2 client secret")
        return out
    return {}
