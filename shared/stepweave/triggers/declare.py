"""How a workflow file declares what starts it: ``triggers:`` (webhook, schedule, event).

Pure pydantic models, validated with the rest of the workflow file (so a mistake is
reported with the file and the field, e.g. ``triggers.0.signature.secret``)::

    triggers:
      - type: webhook
        signature: {scheme: stripe, secret: STRIPE_WEBHOOK_SECRET}
        inputMapping: {orderId: body.data.object.id}
      - type: schedule
        cron: "0 9 * * 1-5"
        timezone: Europe/Paris
        input: {report: daily}
      - type: event
        source: com.example.orders
        detailType: OrderPlaced
        detail: {amount: [{numeric: [">", 100]}]}
        inputMapping: {orderId: detail.id}
      - type: poll
        provider: rss
        feedUrl: https://example.com/feed.xml
        rate: 5 minutes

A webhook must state its signature; ``signature: none`` is the explicit opt-out.
Secrets are named, never written in the file (``stepweave.runtime.secrets``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE_SECONDS",
    "EVENT_FIELDS",
    "MAX_BODY_BYTES_LIMIT",
    "SCHEMES",
    "EventTrigger",
    "POLL_PROVIDERS",
    "PollTrigger",
    "ScheduleTrigger",
    "Signature",
    "Trigger",
    "WebhookTrigger",
]

SCHEMES = ("hmac", "shopify", "stripe", "github", "slack", "none")
#: A webhook body larger than this is refused (413) unless the trigger says otherwise.
DEFAULT_MAX_BODY_BYTES = 262_144
#: Lambda's synchronous request limit is 6 MB (API Gateway's own is 10 MB): stay under it.
MAX_BODY_BYTES_LIMIT = 5 * 1024 * 1024
#: Stripe's default: a signature timestamp older than this (seconds) is a replay.
DEFAULT_TOLERANCE_SECONDS = 300

_SECRET = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: ``body.items.0.id``, ``headers.X-Request-Id``, ``detail.order.id`` (optionally ``$.``-prefixed).
_PATH = re.compile(r"^(\$\.)?[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@:-]+)*$")
_RATE = re.compile(r"^\s*(\d{1,6})\s+(minute|minutes|hour|hours|day|days)\s*$")
_CRON_FIELD = re.compile(r"^[A-Za-z0-9*?/,#L-]+$")
#: Providers a ``poll`` trigger checks for new items (``stepweave.triggers.pollers``).
POLL_PROVIDERS = ("rss", "gmail", "google_sheets", "outlook", "imap")
#: Sim's IMAP search criteria (ImapFlow's JSON) -> IMAP SEARCH keys: flags, then text keys.
IMAP_FLAGS = {"seen": "SEEN", "unseen": "UNSEEN", "flagged": "FLAGGED", "unflagged": "UNFLAGGED",
              "answered": "ANSWERED", "unanswered": "UNANSWERED", "all": "ALL"}
IMAP_TEXT = {"from": "FROM", "to": "TO", "cc": "CC", "subject": "SUBJECT", "body": "BODY",
             "text": "TEXT", "since": "SINCE", "before": "BEFORE", "on": "ON"}
_IMAP_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HTTP_URL = r"^https?://[^\s/]+(/\S*)?$"
#: The top-level fields of an EventBridge event an event trigger's mapping may read.
EVENT_FIELDS = ("detail", "source", "detail-type", "id", "time", "region", "account", "resources")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_paths(mapping: dict[str, str] | None, roots: tuple[str, ...]) -> dict[str, str] | None:
    for field, path in (mapping or {}).items():
        if not field or field == "trigger":
            raise ValueError(f"inputMapping: {field!r} cannot be a field name (reserved)")
        root = path.removeprefix("$.").split(".", 1)[0]
        if not _PATH.match(path) or root not in roots:
            raise ValueError(f"inputMapping.{field}: {path!r} is not a path starting with "
                             f"{' or '.join(repr(r) for r in roots)} (e.g. '{roots[0]}.a.b')")
    return mapping


class Signature(_Strict):
    """How a webhook request proves where it comes from."""

    scheme: Literal["hmac", "shopify", "stripe", "github", "slack", "none"]
    secret: str | None = Field(default=None, pattern=_SECRET,
                               description="Name of the signing secret (never its value).")
    header: str | None = Field(default=None, pattern=_HEADER,
                               description="hmac: the header carrying the signature.")
    encoding: Literal["hex", "base64"] | None = Field(default=None, description="hmac only.")
    prefix: str | None = Field(default=None, max_length=32,
                               description="hmac: text before the digest, e.g. 'sha256='.")
    timestampHeader: str | None = Field(
        default=None, pattern=_HEADER,
        description="hmac: the header carrying the send time (unix seconds); the signed text "
                    "is then '<timestamp>.<body>' and the time must be within 'tolerance'.")
    tolerance: int | None = Field(default=None, ge=1, le=86_400,
                                  description="stripe, slack, hmac with timestampHeader: seconds "
                                              "a signature stays valid (default 300).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"scheme": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits_scheme(self) -> Signature:
        if self.scheme == "none":
            if self.secret or self.header or self.encoding or self.prefix or self.tolerance \
                    or self.timestampHeader:
                raise ValueError("signature 'none' takes no other field")
            return self
        if not self.secret:
            raise ValueError(f"signature '{self.scheme}' needs 'secret' (the name of a secret)")
        if self.scheme != "hmac" and (self.header or self.encoding or self.prefix is not None
                                      or self.timestampHeader):
            raise ValueError(f"'header', 'encoding', 'prefix' and 'timestampHeader' are for "
                             f"scheme 'hmac', not '{self.scheme}'")
        if self.tolerance is not None and not (self.scheme in ("stripe", "slack")
                                               or self.timestampHeader):
            raise ValueError("'tolerance' is for schemes 'stripe' and 'slack', or 'hmac' with "
                             "'timestampHeader'")
        if self.timestampHeader and self.header and self.timestampHeader.lower() == self.header.lower():
            raise ValueError("'timestampHeader' must differ from 'header'")
        return self


class WebhookTrigger(_Strict):
    """``POST /webhooks/<workflow>`` starts the workflow (one webhook per workflow)."""

    type: Literal["webhook"]
    name: str | None = Field(default=None, pattern=_NAME)
    signature: Signature
    dedupHeader: str | None = Field(default=None, pattern=_HEADER,
                                    description="hmac/none: header naming the delivery.")
    maxBodyBytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1, le=MAX_BODY_BYTES_LIMIT)
    body: Literal["json", "text"] = Field(
        default="json", description="'json': a body that is not JSON is refused (400).")
    inputMapping: dict[str, str] | None = Field(
        default=None, description="start field -> body.<path> | headers.<name> | query.<name>")
    when: dict[str, list[str | int | float | bool | None]] | None = Field(
        default=None, description="body.<path> | headers.<name> | query.<name> -> the values "
        "it may have (null: absent); a delivery that matches every entry starts a run, any "
        "other is acknowledged and ignored")

    @field_validator("inputMapping")
    @classmethod
    def _mapping(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_paths(value, ("body", "headers", "query"))

    @field_validator("when")
    @classmethod
    def _when(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if value is not None:
            if not value or len(value) > 20:
                raise ValueError("'when' takes 1 to 20 paths")
            for path, allowed in value.items():
                _check_paths({"when": path}, ("body", "headers", "query"))
                if not allowed or len(allowed) > 50:
                    raise ValueError(f"when.{path}: give 1 to 50 values")
        return value

    @property
    def label(self) -> str:
        return self.name or "webhook"


class ScheduleTrigger(_Strict):
    """An EventBridge Scheduler schedule starts the workflow with ``input``."""

    type: Literal["schedule"]
    name: str | None = Field(default=None, pattern=_NAME)
    cron: str | None = Field(default=None, description="5 fields (Unix) or 6 (EventBridge).")
    rate: str | None = Field(default=None, description="e.g. '5 minutes', '1 hour', '2 days'.")
    timezone: str = "UTC"
    input: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            fields = value.split()
            if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
                raise ValueError(f"{value!r} is not a cron expression (5 or 6 fields)")
            from stepweave.triggers.cron import CronError, eventbridge_cron

            try:
                eventbridge_cron(value)
            except CronError as exc:
                raise ValueError(f"{value!r}: {exc}") from None
        return value

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        match = _RATE.match(value) if value is not None else None
        if value is not None and (match is None or int(match[1]) < 1):
            raise ValueError(f"{value!r} is not a rate like '5 minutes', '1 hour' or '2 days'")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Paris')") from None
        return value

    @model_validator(mode="after")
    def _one_expression(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.rate is None):
            raise ValueError("a schedule takes exactly one of 'cron' and 'rate'")
        if "trigger" in self.input:
            raise ValueError("input: 'trigger' is reserved (it describes the schedule)")
        return self

    @property
    def label(self) -> str:
        return self.name or "schedule"


class EventTrigger(_Strict):
    """An EventBridge rule on the default bus starts the workflow for matching events."""

    type: Literal["event"]
    name: str | None = Field(default=None, pattern=_NAME)
    source: list[str] = Field(min_length=1)
    detailType: list[str] = Field(default_factory=list)
    detail: dict[str, Any] | None = Field(default=None, description="EventBridge pattern on 'detail'.")
    inputMapping: dict[str, str] | None = Field(
        default=None, description="start field -> detail.<path> | source | detail-type | id | time ...")

    @field_validator("source", "detailType", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("inputMapping")
    @classmethod
    def _mapping(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_paths(value, EVENT_FIELDS)

    @property
    def label(self) -> str:
        return self.name or "event"


class PollTrigger(_Strict):
    """A poller checks a feed or an API every ``rate`` and starts one run per new item."""

    type: Literal["poll"]
    name: str | None = Field(default=None, pattern=_NAME)
    provider: Literal["rss", "gmail", "google_sheets", "outlook", "imap"]
    rate: str = Field(default="5 minutes", description="how often to check, e.g. '1 minute'.")
    enabled: bool = True
    feedUrl: str | None = Field(default=None, pattern=_HTTP_URL, max_length=2048,
                                description="rss: the RSS or Atom feed's URL.")
    credential: str | None = Field(
        default=None, pattern=_SECRET,
        description="the name of the secret holding an OAuth access token or a JSON refresh "
                    "grant {refresh_token, client_id, client_secret[, token_uri]} (outlook; "
                    "gmail and google_sheets default to the Google integration's secrets "
                    "GOOGLE_ACCESS_TOKEN or GOOGLE_REFRESH_TOKEN, GOOGLE_CLIENT_ID, "
                    "GOOGLE_CLIENT_SECRET), or imap's password.")
    labelIds: list[str] = Field(default_factory=list, max_length=20,
                                description="gmail: the labels to take or leave (none: all mail).")
    labelFilterBehavior: Literal["INCLUDE", "EXCLUDE"] = "INCLUDE"
    searchQuery: str | None = Field(default=None, max_length=1000,
                                    description="gmail: a Gmail search query.")
    markAsRead: bool = Field(default=False, description="gmail, outlook: mark each started mail read.")
    spreadsheetId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,200}$")
    sheetName: str | None = Field(default=None, min_length=1, max_length=100)
    valueRenderOption: Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"] = "FORMATTED_VALUE"
    dateTimeRenderOption: Literal["SERIAL_NUMBER", "FORMATTED_STRING"] = "SERIAL_NUMBER"
    folder: str = Field(default="inbox", pattern=r"^[A-Za-z0-9_=+/-]{1,200}$",
                        description="outlook: the mail folder (a well-known name or an id).")
    host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,253}$",
                             description="imap: the server's host name.")
    port: int = Field(default=993, ge=1, le=65535, description="imap: 993 (TLS) by default.")
    secure: bool = Field(default=True, description="imap: TLS (false only on a trusted network).")
    username: str | None = Field(default=None, min_length=1, max_length=320,
                                 description="imap: the account (the password is 'credential').")
    mailboxes: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1, max_length=10,
                                 description="imap: the folders to watch.")
    searchCriteria: str = Field(
        default="UNSEEN", max_length=500,
        description="imap: an IMAP SEARCH (e.g. 'UNSEEN FROM \"billing@acme.test\"'), or Sim's "
                    "JSON criteria ({unseen: true, from: ...}).")
    maxItems: int = Field(default=25, ge=1, le=100,
                          description="at most this many runs started per poll (the rest wait "
                                      "for the next one).")

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        match = _RATE.match(value)
        if match is None or int(match[1]) < 1:
            raise ValueError(f"{value!r} is not a rate like '1 minute', '5 minutes' or '1 hour'")
        return value

    @field_validator("searchCriteria", mode="before")
    @classmethod
    def _search(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return imap_search(value)
        if isinstance(value, str) and (not value.strip() or not all(" " <= c <= "~" for c in value)):
            raise ValueError("an IMAP search is printable ASCII on one line (e.g. 'UNSEEN')")
        return value

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes(cls, value: list[str]) -> list[str]:
        for box in value:
            if not box or len(box) > 200 or not all(" " <= c <= "~" for c in box) or '"' in box:
                raise ValueError(f"{box!r} is not a mailbox name (printable ASCII, no quotes)")
        return value

    @model_validator(mode="after")
    def _fits_provider(self) -> PollTrigger:
        needs = {"rss": ("feedUrl",), "gmail": (), "outlook": ("credential",),
                 "google_sheets": ("spreadsheetId", "sheetName"),
                 "imap": ("host", "username", "credential")}[self.provider]
        missing = [field for field in needs if getattr(self, field) is None]
        if missing:
            raise ValueError(f"provider '{self.provider}' needs {' and '.join(repr(m) for m in missing)}")
        if self.provider == "rss" and self.credential:
            raise ValueError("an 'rss' poll takes no 'credential' (feeds are public)")
        return self

    @property
    def label(self) -> str:
        return self.name or "poll"


def imap_search(criteria: dict[str, Any]) -> str:
    """Sim's ImapFlow criteria (``{"unseen": true, "from": "a@b"}``) as an IMAP SEARCH."""
    keys: list[str] = []
    for key, value in criteria.items():
        if key in IMAP_FLAGS:
            flag = IMAP_FLAGS[key] if value is not False else {"seen": "UNSEEN", "unseen": "SEEN"}.get(key)
            if flag is None:
                raise ValueError(f"searchCriteria: {key!r} can only be true")
            keys.append(flag)
        elif key in IMAP_TEXT and isinstance(value, str) and value.strip():
            text = value.strip()
            if key in ("since", "before", "on"):
                match = _IMAP_DATE.match(text)
                if match is None:
                    raise ValueError(f"searchCriteria.{key}: {text!r} is not a date (YYYY-MM-DD)")
                text = f"{int(match[3])}-{_MONTHS[int(match[2]) - 1]}-{match[1]}"
                keys.append(f"{IMAP_TEXT[key]} {text}")
            else:
                keys.append(f'{IMAP_TEXT[key]} "{text.replace(chr(92), "").replace(chr(34), "")}"')
        else:
            raise ValueError(f"searchCriteria: {key!r} is not a criterion Stepweave reads "
                             f"({', '.join(sorted([*IMAP_FLAGS, *IMAP_TEXT]))})")
    return " ".join(keys) or "ALL"


Trigger = Annotated[WebhookTrigger | ScheduleTrigger | EventTrigger | PollTrigger,
                    Field(discriminator="type")]
