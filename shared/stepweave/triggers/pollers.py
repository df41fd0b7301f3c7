"""What each ``poll`` trigger's provider has now: its items, each with an id and the run
input Sim's trigger outputs for it (httpx; the trigger's schema is ``declare.PollTrigger``).

| provider | request | item id | run input (Sim's outputs) |
|---|---|---|---|
| ``rss`` | ``GET feedUrl`` (RSS or Atom: ``stepweave.triggers.feeds``) | guid, else link | ``item``, ``feed``, ``timestamp`` |
| ``gmail`` | ``GET users/me/messages?q=...`` then each new message (``format=full``) | message id | ``email`` (id, threadId, subject, from, to, cc, date, bodyText, bodyHtml, labels, hasAttachments, attachments), ``timestamp`` |
| ``google_sheets`` | ``GET spreadsheets/{id}/values/{sheet}`` | row number | ``row`` (by header), ``rawRow``, ``headers``, ``rowNumber``, ``spreadsheetId``, ``sheetName``, ``timestamp`` |
| ``outlook`` | ``GET me/mailFolders/{folder}/messages`` (Microsoft Graph) | message id | ``email`` (id, conversationId, subject, from, to, cc, date, bodyText, bodyHtml, hasAttachments, attachments, isRead, folderId, messageId, threadId), ``timestamp`` |
| ``imap`` | ``SELECT`` each mailbox, ``UID SEARCH`` (stdlib ``imaplib``, TLS) | mailbox, UIDVALIDITY, UID | ``email`` (messageId, subject, from, to, cc, date, bodyText, bodyHtml, mailbox, hasAttachments, attachments), ``timestamp`` |

OAuth providers read the trigger's ``credential`` secret: an access token, or a JSON refresh
grant ``{"refresh_token", "client_id", "client_secret"[, "token_uri"]}`` exchanged at the
token endpoint (Google's by default) for an access token kept until a minute before it
expires (per process; never logged or recorded). Without ``credential``, Gmail and Google
Sheets read the Google integration's secrets (``GOOGLE_SECRETS``: ``GOOGLE_ACCESS_TOKEN``,
else a refresh grant from ``GOOGLE_REFRESH_TOKEN``, ``GOOGLE_CLIENT_ID``,
``GOOGLE_CLIENT_SECRET``), so a workflow's Gmail trigger and Gmail blocks share them;
``secret_names`` lists what a trigger reads (the deployed poller may read exactly those). Answers are bounded (``MAX_RESPONSE_BYTES``);
failures raise ``PollError`` with a message naming the provider and the HTTP status, never
a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from stepweave.errors import StepweaveError
from stepweave.triggers.declare import PollTrigger
from stepweave.triggers.feeds import MAX_FEED_BYTES, FeedError, parse_feed

__all__ = ["Endpoints", "GOOGLE_SECRETS", "MAX_RESPONSE_BYTES", "PollError", "PolledItem",
           "SEEDED_PROVIDERS", "SecretSource", "close_sessions", "fetch_items", "secret_names"]

MAX_RESPONSE_BYTES = MAX_FEED_BYTES
#: Providers whose first poll only remembers what is there (Sim: a sheet's existing rows
#: are not new rows); the others start a run for each item found (up to ``maxItems``).
SEEDED_PROVIDERS = frozenset({"google_sheets"})
#: The Google integration's secrets (``stepweave.integrations``): an access token, else a
#: refresh token with its OAuth client.
GOOGLE_SECRETS = ("GOOGLE_ACCESS_TOKEN", "GOOGLE_REFRESH_TOKEN", "GOOGLE_CLIENT_ID",
                  "GOOGLE_CLIENT_SECRET")


def secret_names(trigger: PollTrigger) -> list[str]:
    """The secrets a poll trigger reads."""
    if trigger.credential:
        return [trigger.credential]
    return list(GOOGLE_SECRETS) if trigger.provider in ("gmail", "google_sheets") else []
_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class PollError(StepweaveError):
    """The provider could not be read (unreachable, refused, not what it should be)."""


class SecretSource(Protocol):
    def lookup(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class Endpoints:
    """Where the providers' APIs are (tests and fake servers point them elsewhere)."""

    gmail: str = "https://gmail.googleapis.com/gmail/v1"
    sheets: str = "https://sheets.googleapis.com/v4"
    graph: str = "https://graph.microsoft.com/v1.0"
    google_token: str = "https://oauth2.googleapis.com/token"
    microsoft_token: str = "https://login.microsoftonline.com/common/oauth2/v2.0/token"


@dataclass(frozen=True)
class PolledItem:
    """One item the provider has: its id, and (``load``) its run input, read only when new;
    ``done`` runs after its run started (e.g. mark the mail read)."""

    id: str
    load: Callable[[], dict[str, Any]]
    done: Callable[[], None] | None = field(default=None)
    #: what the poll closes when it is over (an IMAP connection), if anything
    session: Any = field(default=None)


def _const(value: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: value


def _bind(action: Callable[[str], Any], argument: str) -> Callable[[], Any]:
    return lambda: action(argument)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _get(http: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        with http.stream("GET", url, timeout=_TIMEOUT, **kwargs) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise PollError(f"{provider}: the answer is over {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
    except httpx.HTTPError as exc:
        raise PollError(f"{provider}: no answer ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise PollError(f"{provider}: HTTP {response.status_code} from {url.split('?')[0]}")
    return httpx.Response(response.status_code, headers=response.headers, content=body)


def _json(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise PollError(f"{provider}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise PollError(f"{provider}: the answer is not a JSON object")
    return data


# -- OAuth ---------------------------------------------------------------------------------

def _google_default(trigger: PollTrigger, secrets: SecretSource) -> str:
    """The Google integration's secrets as a credential value (a token, or a grant)."""
    access = secrets.lookup("GOOGLE_ACCESS_TOKEN")
    if access:
        return access
    refresh, client, client_secret = (secrets.lookup(n) for n in GOOGLE_SECRETS[1:])
    if not (refresh and client and client_secret):
        raise PollError(f"{trigger.provider}: set 'credential', or the secrets GOOGLE_ACCESS_TOKEN "
                        "or GOOGLE_REFRESH_TOKEN, GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET")
    return json.dumps({"refresh_token": refresh, "client_id": client, "client_secret": client_secret})


def _access_token(trigger: PollTrigger, secrets: SecretSource,
                  token_uri: str) -> str:
    name = trigger.credential or ""
    if not name and trigger.provider in ("gmail", "google_sheets"):
        value: str | None = _google_default(trigger, secrets)
        name = "GOOGLE_REFRESH_TOKEN"
    else:
        value = secrets.lookup(name)
    if not value:
        raise PollError(f"{trigger.provider}: the secret {name} is not set")
    text = value.strip()
    if not text.startswith("{"):
        return text  # an access token
    try:
        grant = json.loads(text)
        refresh, client, client_secret = (str(grant["refresh_token"]), str(grant["client_id"]),
                                          str(grant["client_secret"]))
    except (ValueError, KeyError, TypeError):
        raise PollError(f"{trigger.provider}: the secret {name} is neither an access token nor "
                        "a JSON refresh grant {refresh_token, client_id, client_secret}") from None
    from stepweave.integrations.oauth import TokenRequest, access_token
    from stepweave.tools.base import ToolError

    # the integrations' token cache: one refresh per token lifetime, keyed by a digest
    request = TokenRequest(what=f"{trigger.provider} poll", token_url=str(grant.get("token_uri") or token_uri),
                           client_id=client, client_secret=client_secret, refresh_token=refresh)
    try:
        return access_token(request)
    except ToolError as exc:
        raise PollError(str(exc)) from None


# -- RSS -----------------------------------------------------------------------------------

def _rss(trigger: PollTrigger, http: httpx.Client) -> list[PolledItem]:
    assert trigger.feedUrl is not None
    response = _get(http, "rss", trigger.feedUrl, follow_redirects=True, headers={
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
        "User-Agent": "stepweave-poller"})
    try:
        items = parse_feed(response.content)
    except FeedError as exc:
        raise PollError(f"rss: {trigger.feedUrl}: {exc}") from None
    stamp = _now_iso()
    return [PolledItem(item.id, _const({**item.output, "timestamp": stamp})) for item in items]


# -- Gmail ---------------------------------------------------------------------------------

def _gmail_query(trigger: PollTrigger) -> str:
    labels = " OR ".join(f"label:{label}" for label in trigger.labelIds)
    if labels and len(trigger.labelIds) > 1:
        labels = f"({labels})"
    if labels and trigger.labelFilterBehavior == "EXCLUDE":
        labels = f"-{labels}"
    search = (trigger.searchQuery or "").strip()
    if " OR " in search or " AND " in search:
        search = f"({search})"
    return " ".join(part for part in (labels, search) if part) or "in:inbox"


def _b64url(data: Any) -> str:
    if not isinstance(data, str):
        return ""
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")
    except (ValueError, binascii.Error):
        return ""


def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], [payload]
    while stack:
        part = stack.pop()
        found.append(part)
        stack.extend(p for p in reversed(part.get("parts") or []) if isinstance(p, dict))
    return found


def _gmail_email(message: dict[str, Any]) -> dict[str, Any]:
    given = message.get("payload")
    payload: dict[str, Any] = given if isinstance(given, dict) else {}
    headers = {str(h.get("name", "")).lower(): str(h.get("value", ""))
               for h in payload.get("headers") or [] if isinstance(h, dict)}
    parts = _parts(payload)
    text = next((_b64url((p.get("body") or {}).get("data")) for p in parts
                 if p.get("mimeType") == "text/plain"), "")
    markup = next((_b64url((p.get("body") or {}).get("data")) for p in parts
                   if p.get("mimeType") == "text/html"), "")
    internal = str(message.get("internalDate") or "")
    date = datetime.fromtimestamp(int(internal) / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z") if internal.isdigit() else headers.get("date", "")
    return {"id": str(message.get("id", "")), "threadId": str(message.get("threadId", "")),
            "subject": headers.get("subject", ""), "from": headers.get("from", ""),
            "to": headers.get("to", ""), "cc": headers.get("cc", ""), "date": date,
            "bodyText": text, "bodyHtml": markup, "labels": list(message.get("labelIds") or []),
            "hasAttachments": any(p.get("filename") for p in parts), "attachments": []}


def _gmail(trigger: PollTrigger, http: httpx.Client, secrets: SecretSource,
           endpoints: Endpoints) -> list[PolledItem]:
    token = _access_token(trigger, secrets, endpoints.google_token)
    auth = {"Authorization": f"Bearer {token}"}
    base = endpoints.gmail.rstrip("/") + "/users/me/messages"
    listing = _json(_get(http, "gmail", base, headers=auth, params={
        "q": _gmail_query(trigger), "maxResults": str(trigger.maxItems)}), "gmail")
    ids = [str(m["id"]) for m in listing.get("messages") or [] if isinstance(m, dict) and m.get("id")]
    stamp = _now_iso()

    def load(message_id: str) -> dict[str, Any]:
        message = _json(_get(http, "gmail", f"{base}/{quote(message_id, safe='')}", headers=auth,
                             params={"format": "full"}), "gmail")
        return {"email": _gmail_email(message), "timestamp": stamp}

    def mark_read(message_id: str) -> None:
        try:
            http.post(f"{base}/{quote(message_id, safe='')}/modify", headers=auth,
                      json={"removeLabelIds": ["UNREAD"]}, timeout=_TIMEOUT)
        except httpx.HTTPError:
            pass  # best effort: the run has started; the mail stays unread

    # Gmail lists the newest first: start the oldest first
    return [PolledItem(i, _bind(load, i), _bind(mark_read, i) if trigger.markAsRead else None)
            for i in reversed(ids)]


# -- Google Sheets -------------------------------------------------------------------------

def _sheets(trigger: PollTrigger, http: httpx.Client, secrets: SecretSource,
            endpoints: Endpoints) -> list[PolledItem]:
    token = _access_token(trigger, secrets, endpoints.google_token)
    assert trigger.spreadsheetId is not None and trigger.sheetName is not None
    url = (f"{endpoints.sheets.rstrip('/')}/spreadsheets/{quote(trigger.spreadsheetId, safe='')}"
           f"/values/{quote(trigger.sheetName, safe='')}")
    data = _json(_get(http, "google_sheets", url, headers={"Authorization": f"Bearer {token}"},
                      params={"valueRenderOption": trigger.valueRenderOption,
                              "dateTimeRenderOption": trigger.dateTimeRenderOption,
                              "majorDimension": "ROWS"}), "google_sheets")
    rows = [r if isinstance(r, list) else [] for r in data.get("values") or []]
    first = next((i for i, r in enumerate(rows) if any(v not in ("", None) for v in r)), None)
    if first is None:
        return []
    headers = [str(v) for v in rows[first]]
    stamp = _now_iso()
    items = []
    for index in range(first + 1, len(rows)):
        raw = rows[index]
        if not any(v not in ("", None) for v in raw):
            continue
        number = index + 1
        row = {(headers[i] if i < len(headers) and headers[i] else f"column{i + 1}"): value
               for i, value in enumerate(raw)}
        output = {"row": row, "rawRow": raw, "headers": headers, "rowNumber": number,
                  "spreadsheetId": trigger.spreadsheetId, "sheetName": trigger.sheetName,
                  "timestamp": stamp}
        items.append(PolledItem(f"row:{number}", _const(output)))
    return items


# -- Outlook (Microsoft Graph) -------------------------------------------------------------

def _address(value: Any) -> str:
    address = value.get("emailAddress") if isinstance(value, dict) else None
    return str(address.get("address", "")) if isinstance(address, dict) else ""


def _outlook_email(message: dict[str, Any]) -> dict[str, Any]:
    given = message.get("body")
    body: dict[str, Any] = given if isinstance(given, dict) else {}
    content = str(body.get("content") or "")
    is_html = str(body.get("contentType", "")).lower() == "html"
    return {"id": str(message.get("id", "")),
            "conversationId": str(message.get("conversationId", "")),
            "subject": str(message.get("subject") or ""), "from": _address(message.get("from")),
            "to": ", ".join(_address(r) for r in message.get("toRecipients") or []),
            "cc": ", ".join(_address(r) for r in message.get("ccRecipients") or []),
            "date": str(message.get("receivedDateTime") or ""),
            "bodyText": str(message.get("bodyPreview") or "") if is_html else content,
            "bodyHtml": content if is_html else "",
            "hasAttachments": bool(message.get("hasAttachments")), "attachments": [],
            "isRead": bool(message.get("isRead")), "folderId": str(message.get("parentFolderId", "")),
            "messageId": str(message.get("internetMessageId", "")),
            "threadId": str(message.get("conversationId", ""))}


def _outlook(trigger: PollTrigger, http: httpx.Client, secrets: SecretSource,
             endpoints: Endpoints) -> list[PolledItem]:
    token = _access_token(trigger, secrets, endpoints.microsoft_token)
    auth = {"Authorization": f"Bearer {token}"}
    base = endpoints.graph.rstrip("/")
    data = _json(_get(http, "outlook", f"{base}/me/mailFolders/{quote(trigger.folder, safe='')}/messages",
                      headers=auth, params={"$top": str(trigger.maxItems),
                                            "$orderby": "receivedDateTime desc"}), "outlook")
    messages = [m for m in data.get("value") or [] if isinstance(m, dict) and m.get("id")]
    stamp = _now_iso()

    def mark_read(message_id: str) -> None:
        try:
            http.patch(f"{base}/me/messages/{quote(message_id, safe='')}", headers=auth,
                       json={"isRead": True}, timeout=_TIMEOUT)
        except httpx.HTTPError:
            pass

    return [PolledItem(str(m["id"]), _const({"email": _outlook_email(m), "timestamp": stamp}),
                       _bind(mark_read, str(m["id"])) if trigger.markAsRead else None)
            for m in reversed(messages)]


# -- IMAP ----------------------------------------------------------------------------------

class _Imap:
    """One IMAP connection for a poll, opened at once and closed by ``close``."""

    def __init__(self, trigger: PollTrigger, password: str) -> None:
        import imaplib
        import ssl

        assert trigger.host is not None and trigger.username is not None
        self.trigger = trigger
        where = f"imap: {trigger.host}:{trigger.port}"
        try:
            self.conn: Any = imaplib.IMAP4_SSL(trigger.host, trigger.port, timeout=20,
                                               ssl_context=ssl.create_default_context()) \
                if trigger.secure else imaplib.IMAP4(trigger.host, trigger.port, timeout=20)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise PollError(f"{where}: no connection ({type(exc).__name__})") from None
        try:
            self.conn.login(trigger.username, password)
        except (OSError, imaplib.IMAP4.error) as exc:
            self.conn.shutdown()
            raise PollError(f"{where}: login refused" if isinstance(exc, imaplib.IMAP4.error)
                            else f"{where}: {type(exc).__name__}") from None
        self.selected: str | None = None

    def _ok(self, answer: tuple[str, Any], what: str) -> Any:
        if answer[0] != "OK":
            raise PollError(f"imap: {what} refused")
        return answer[1]

    def select(self, mailbox: str) -> str:
        import imaplib

        try:
            self._ok(self.conn.select(f'"{mailbox}"', readonly=not self.trigger.markAsRead),
                     f"SELECT {mailbox}")
            validity = (self.conn.response("UIDVALIDITY")[1] or [b"0"])[0]
        except imaplib.IMAP4.error as exc:
            raise PollError(f"imap: SELECT {mailbox}: {exc}") from None
        self.selected = mailbox
        return validity.decode() if isinstance(validity, bytes) else str(validity)

    def search(self) -> list[str]:
        data = self._ok(self.conn.uid("SEARCH", None, self.trigger.searchCriteria), "SEARCH")
        return [u.decode() for u in (data[0] or b"").split()]

    def fetch(self, mailbox: str, uid: str) -> bytes:
        if self.selected != mailbox:
            self.select(mailbox)
        data = self._ok(self.conn.uid("FETCH", uid, "(BODY.PEEK[])"), f"FETCH {uid}")
        raw = next((part[1] for part in data if isinstance(part, tuple)), None)
        if not isinstance(raw, bytes):
            raise PollError(f"imap: message {uid} of {mailbox} has no body")
        if len(raw) > MAX_RESPONSE_BYTES:
            raise PollError(f"imap: message {uid} of {mailbox} is over {MAX_RESPONSE_BYTES} bytes")
        return raw

    def mark_read(self, mailbox: str, uid: str) -> None:
        try:
            if self.selected != mailbox:
                self.select(mailbox)
            self.conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        except Exception:  # noqa: BLE001 - best effort: the run has started; the mail stays unread
            pass

    def close(self) -> None:
        try:
            self.conn.logout()
        except Exception:  # noqa: BLE001 - the poll is over either way
            pass


def _imap_email(raw: bytes, mailbox: str) -> dict[str, Any]:
    from email import message_from_bytes, policy
    from email.message import EmailMessage
    from email.utils import parsedate_to_datetime

    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    def text(kind: str) -> str:
        part = message.get_body(preferencelist=(kind,))
        try:
            return str(part.get_content()) if part is not None else ""
        except (LookupError, ValueError):
            return ""

    try:
        date = parsedate_to_datetime(str(message["date"])).astimezone(UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z") if message["date"] else ""
    except (TypeError, ValueError):
        date = str(message["date"] or "")
    return {"messageId": str(message["message-id"] or ""), "subject": str(message["subject"] or ""),
            "from": str(message["from"] or ""), "to": str(message["to"] or ""),
            "cc": str(message["cc"] or ""), "date": date, "bodyText": text("plain"),
            "bodyHtml": text("html"), "mailbox": mailbox,
            "hasAttachments": any(True for _ in message.iter_attachments()), "attachments": []}


def _imap(trigger: PollTrigger, secrets: SecretSource) -> list[PolledItem]:
    password = secrets.lookup(trigger.credential or "")
    if not password:
        raise PollError(f"imap: the secret {trigger.credential} is not set")
    session = _Imap(trigger, password)
    items: list[PolledItem] = []
    stamp = _now_iso()
    try:
        for mailbox in trigger.mailboxes:
            validity = session.select(mailbox)
            for uid in sorted(session.search(), key=int)[-trigger.maxItems:]:
                def load(mailbox: str = mailbox, uid: str = uid) -> dict[str, Any]:
                    return {"email": _imap_email(session.fetch(mailbox, uid), mailbox), "timestamp": stamp}

                def done(mailbox: str = mailbox, uid: str = uid) -> None:
                    session.mark_read(mailbox, uid)

                items.append(PolledItem(f"{mailbox}:{validity}:{uid}", load,
                                        done if trigger.markAsRead else None, session))
    except BaseException:
        session.close()
        raise
    if not items:
        session.close()
    return items


def close_sessions(items: list[PolledItem]) -> None:
    """Close what the items' provider kept open for the poll (an IMAP connection)."""
    for session in {id(i.session): i.session for i in items if i.session is not None}.values():
        session.close()


def fetch_items(trigger: PollTrigger, http: httpx.Client, secrets: SecretSource,
                endpoints: Endpoints | None = None) -> list[PolledItem]:
    """The provider's current items, oldest first. Raises ``PollError``."""
    where = endpoints or Endpoints()
    if trigger.provider == "rss":
        return _rss(trigger, http)
    if trigger.provider == "imap":
        return _imap(trigger, secrets)
    fetchers: Mapping[str, Callable[[PollTrigger, httpx.Client, SecretSource, Endpoints],
                                    list[PolledItem]]] = {
        "gmail": _gmail, "google_sheets": _sheets, "outlook": _outlook}
    return fetchers[trigger.provider](trigger, http, secrets, where)
