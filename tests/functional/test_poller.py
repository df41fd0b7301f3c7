"""Poll triggers: the poller Lambda (and ``poll``, which ``stepweave serve`` runs) against
real HTTP servers on 127.0.0.1 speaking RSS/Atom, Gmail's, Google Sheets' and Microsoft
Graph's wire formats, with moto's Step Functions and DynamoDB.

GIVEN a workflow with a ``poll`` trigger
WHEN the poller runs on its schedule
THEN the first poll starts one execution per item (Sheets: remembers the rows already
there), a second poll starts none, a new item starts one, a poll overlapping another starts
none for the items the other started; each run's input has the fields Sim's trigger outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from moto import mock_aws
from stepweave.local.records import create_table, local_client
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import from_dynamo
from stepweave.runtime.secrets import Secrets
from stepweave.runtime.settings import Settings
from stepweave.triggers.declare import PollTrigger
from stepweave.triggers.poll import POLLS_FILE, PollTarget, poll, snapshot_key
from stepweave.triggers import pollers
from stepweave.triggers.pollers import Endpoints, PollError

from tests.functional.webhook_world import PASS, ROLE, TABLE
from tests.loopback import Request, loopback

NOW = 1_765_000_000.0


def _rss(items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed of ``(guid, title)`` items, listed newest first as feeds do."""
    entries = [f"<item><title>{title}</title><link>https://news.example/{guid}</link><guid>{guid}</guid>"
               f"<pubDate>Sun, {index + 1:02d} Nov 2026 09:00:00 GMT</pubDate>"
               f"<description>&lt;p&gt;About {title}&lt;/p&gt;</description></item>"
               for index, (guid, title) in enumerate(items)]
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>Example News</title>'
            "<link>https://news.example</link><description>All the news</description>"
            + "".join(reversed(entries)) + "</channel></rss>").encode()


@dataclass
class Provider:
    """What the fake servers serve; ``during`` runs (once) while a feed request is answered."""

    feed: list[tuple[str, str]] = field(default_factory=list)
    feed_status: int = 200
    raw_feed: bytes | None = None
    mails: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    outlook: list[dict[str, Any]] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)
    during: Any = None

    def respond(self, request: Request) -> tuple[int, bytes, float]:
        url = urlsplit(request.path)
        if url.path == "/feed.xml":
            during, self.during = self.during, None
            if during is not None:
                during()
            return self.feed_status, self.raw_feed or _rss(self.feed), 0
        if url.path == "/token":
            form = parse_qs(request.body.decode())
            ok = form.get("refresh_token") == ["refresh-1"] and form.get("client_secret") == ["cs"]
            return (200, json.dumps({"access_token": "ya29.fresh", "expires_in": 3599}).encode(), 0) \
                if ok else (400, b'{"error": "invalid_grant"}', 0)
        auth = dict((k.lower(), v) for k, v in request.headers).get("authorization")
        if auth != "Bearer ya29.fresh":
            return 401, b'{"error": {"code": 401}}', 0
        if url.path == "/gmail/users/me/messages":
            return 200, json.dumps({"messages": [{"id": m["id"], "threadId": m["threadId"]}
                                                 for m in reversed(self.mails)]}).encode(), 0
        if url.path.startswith("/gmail/users/me/messages/"):
            message_id = url.path.split("/")[5]
            if url.path.endswith("/modify"):
                return 200, b"{}", 0
            return 200, json.dumps(next(m for m in self.mails if m["id"] == message_id)).encode(), 0
        if url.path == "/graph/me/mailFolders/inbox/messages":
            return 200, json.dumps({"value": list(reversed(self.outlook))}).encode(), 0
        if url.path.startswith("/graph/me/messages/"):
            self.patched.append(url.path.rsplit("/", 1)[-1])
            return 200, b"{}", 0
        if url.path == "/sheets/spreadsheets/sheet-1/values/Leads":
            return 200, json.dumps({"range": "Leads!A1:Z9", "values": self.rows}).encode(), 0
        return 404, b"{}", 0


@dataclass
class World:
    clients: Clients
    settings: Settings
    provider: Provider
    url: str
    arn: str
    requests: list[Request]

    def executions(self) -> list[dict[str, Any]]:
        return self.clients.sfn.list_executions(stateMachineArn=self.arn)["executions"]

    def run_input(self, arn: str) -> dict[str, Any]:
        return json.loads(self.clients.sfn.describe_execution(executionArn=arn)["input"])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    provider = Provider()
    with mock_aws(), loopback(provider.respond) as server:
        sfn, ddb = local_client("stepfunctions"), local_client("dynamodb")
        create_table(ddb, TABLE)
        arn = sfn.create_state_machine(name="dev-news", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        yield World(Clients(sfn=sfn, ddb=ddb), Settings(table=TABLE), provider, server.url, arn,
                    server.requests)


class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stepweave-dev-poller"


@pytest.fixture
def lambda_poll(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The poller Lambda with a ``polls.json`` for workflow ``news``, trigger ``headlines``."""
    from functions.poller import handler

    targets = tmp_path / POLLS_FILE
    targets.write_text(json.dumps({"news": {"stateMachine": "dev-news", "type": "STANDARD", "triggers": {
        "headlines": {"type": "poll", "name": "headlines", "provider": "rss",
                      "feedUrl": f"{world.url}/feed.xml", "rate": "1 minute"}}}}))
    monkeypatch.setenv("STEPWEAVE_TABLE", TABLE)
    monkeypatch.setenv("STEPWEAVE_POLL_TARGETS", str(targets))
    caches = (handler.clients, handler.settings, handler.secrets, handler.targets, handler.http)
    for cached in caches:
        cached.cache_clear()
    yield lambda: handler.lambda_handler({"workflow": "news", "trigger": "headlines"}, _Context())
    for cached in caches:
        cached.cache_clear()


def test_the_poller_lambda_starts_one_run_per_new_rss_item(world: World, lambda_poll: Any) -> None:
    world.provider.feed = [("a-1", "First"), ("a-2", "Second")]
    before = len(world.executions())
    first = lambda_poll()
    assert (first["items"], first["started"]) == (2, 2), first
    runs = {world.run_input(arn)["item"]["title"]: world.run_input(arn) for arn in first["executions"]}
    assert set(runs) == {"First", "Second"}
    run = runs["First"]
    assert run["item"]["guid"] == "a-1" and run["item"]["link"] == "https://news.example/a-1"
    assert run["item"]["contentSnippet"] == "About First" and run["item"]["isoDate"] == "2026-11-01T09:00:00.000Z"
    assert run["feed"] == {"title": "Example News", "link": "https://news.example",
                           "feedDescription": "All the news", "description": "All the news"}
    assert run["trigger"] == {"type": "poll", "workflow": "news", "name": "headlines",
                              "provider": "rss", "itemId": "a-1"}
    assert run["timestamp"].endswith("Z")
    record = world.clients.ddb.get_item(TableName=TABLE, Key={
        "pk": {"S": f"EXEC#{first['executions'][0]}"}, "sk": {"S": "META"}})["Item"]
    assert from_dynamo(record["trigger"])["type"] == "poll"

    second = lambda_poll()
    assert (second["started"], second["seen"]) == (0, 2), second

    world.provider.feed = [("a-1", "First"), ("a-2", "Second"), ("a-3", "Third")]
    third = lambda_poll()
    assert third["started"] == 1 and world.run_input(third["executions"][0])["item"]["title"] == "Third"

    # a poll overlapping another: while this one's feed request is answered, a whole other
    # poll runs and starts the new item; this one then starts nothing
    world.provider.feed = [*world.provider.feed, ("a-4", "Fourth")]
    inner: list[dict[str, Any]] = []
    world.provider.during = lambda: inner.append(lambda_poll())
    outer = lambda_poll()
    assert inner[0]["started"] == 1, inner
    assert outer["started"] == 0 and outer["duplicates"] == 1, outer
    assert len(world.executions()) == before + 4

    # the snapshot is one bounded item of the records table, with a TTL
    snapshot = world.clients.ddb.get_item(TableName=TABLE, Key=snapshot_key("news", "headlines"))["Item"]
    assert len(snapshot["seen"]["L"]) == 4 and int(snapshot["expiresAt"]["N"]) > NOW


def test_an_unknown_poll_is_an_error(lambda_poll: Any) -> None:
    from functions.poller import handler

    with pytest.raises(handler.UnknownPoll, match="no poll trigger 'nope'"):
        handler.lambda_handler({"workflow": "news", "trigger": "nope"}, _Context())


def _target(world: World, **trigger: Any) -> PollTarget:
    return PollTarget("news", world.arn, "STANDARD", PollTrigger.model_validate({"type": "poll", **trigger}))


def _poll(world: World, target: PollTarget, env: dict[str, str] | None = None) -> Any:
    endpoints = Endpoints(gmail=f"{world.url}/gmail", sheets=f"{world.url}/sheets",
                          graph=f"{world.url}/graph", google_token=f"{world.url}/token",
                          microsoft_token=f"{world.url}/token")
    with httpx.Client() as http:
        return poll(target, clients=world.clients, settings=world.settings,
                    secrets=Secrets(world.settings, env=env or {}), http=http, now=NOW,
                    endpoints=endpoints)


def test_a_feed_that_fails_or_attacks_starts_nothing(world: World) -> None:
    target = _target(world, name="broken", provider="rss", feedUrl=f"{world.url}/feed.xml")
    before = len(world.executions())
    world.provider.feed_status = 503
    with pytest.raises(PollError, match="rss: HTTP 503"):
        _poll(world, target)
    world.provider.feed_status = 200
    world.provider.raw_feed = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                               b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><rss><channel><title>&b;</title>'
                               b"</channel></rss>")
    with pytest.raises(PollError, match="DTD or entities"):
        _poll(world, target)
    world.provider.raw_feed = b"<html><body>not a feed</body></html>"
    with pytest.raises(PollError, match="not an RSS or Atom feed"):
        _poll(world, target)
    world.provider.raw_feed = b"<rss><channel>" + b" " * 70_000 + b"</channel></rss>"
    with pytest.MonkeyPatch.context() as patch:  # the limit (5 MB), made small to keep this cheap
        patch.setattr(pollers, "MAX_RESPONSE_BYTES", 65_536)
        with pytest.raises(PollError, match="the answer is over 65536 bytes"):
            _poll(world, target)
    world.provider.raw_feed = None
    assert len(world.executions()) == before


def test_at_most_max_items_start_per_poll_and_the_rest_wait(world: World) -> None:
    world.provider.feed = [(f"c-{i}", f"Item {i}") for i in range(5)]
    target = _target(world, name="capped", provider="rss", feedUrl=f"{world.url}/feed.xml", maxItems=2)
    first = _poll(world, target)
    assert (len(first.started), first.deferred) == (2, 3)
    titles = [world.run_input(arn)["item"]["title"] for arn in first.started]
    assert titles == ["Item 0", "Item 1"]  # the oldest first
    assert (len(_poll(world, target).started), len(_poll(world, target).started)) == (2, 1)
    assert len(_poll(world, target).started) == 0


def _mail(index: int) -> dict[str, Any]:
    import base64

    text = base64.urlsafe_b64encode(f"Invoice {index} attached".encode()).decode().rstrip("=")
    return {"id": f"18c{index:04x}", "threadId": f"t{index}", "labelIds": ["INBOX", "UNREAD"],
            "internalDate": str(1764990000000 + index * 1000),
            "payload": {"mimeType": "multipart/mixed", "headers": [
                {"name": "Subject", "value": f"Invoice #{index}"}, {"name": "From", "value": "Acme <billing@acme.test>"},
                {"name": "To", "value": "me@example.com"}],
                "parts": [{"mimeType": "text/plain", "body": {"data": text}},
                          {"mimeType": "application/pdf", "filename": f"invoice-{index}.pdf",
                           "body": {"attachmentId": "att"}}]}}


def test_gmail_polls_with_a_refreshed_token_and_gives_sims_email_fields(world: World) -> None:
    world.provider.mails = [_mail(1), _mail(2)]
    target = _target(world, name="inbox", provider="gmail", credential="GMAIL_OAUTH",
                     labelIds=["INBOX"], searchQuery="has:attachment", markAsRead=True)
    env = {"GMAIL_OAUTH": json.dumps({"refresh_token": "refresh-1", "client_id": "ci", "client_secret": "cs",
                                      "token_uri": f"{world.url}/token"})}
    marked = len([r for r in world.requests if r.path.endswith("/modify")])
    first = _poll(world, target, env)
    assert len(first.started) == 2
    email = world.run_input(first.started[0])["email"]
    assert (email["id"], email["subject"], email["from"], email["bodyText"]) == \
        ("18c0001", "Invoice #1", "Acme <billing@acme.test>", "Invoice 1 attached")
    assert email["hasAttachments"] is True and email["labels"] == ["INBOX", "UNREAD"]
    assert email["date"] == "2025-12-06T03:00:01.000Z"
    query = next(r.path for r in world.requests if r.path.startswith("/gmail/users/me/messages?"))
    assert parse_qs(urlsplit(query).query)["q"] == ["label:INBOX has:attachment"]
    assert len([r for r in world.requests if r.path.endswith("/modify")]) == marked + 2
    world.provider.mails.append(_mail(3))
    second = _poll(world, target, env)
    assert len(second.started) == 1 and world.run_input(second.started[0])["email"]["subject"] == "Invoice #3"
    assert len([r for r in world.requests if r.path == "/token"]) == 1  # the access token is kept
    with pytest.raises(PollError, match="secret NOT_SET is not set"):
        _poll(world, _target(world, name="unset", provider="gmail", credential="NOT_SET"))


def test_google_sheets_remembers_the_rows_there_and_starts_one_run_per_new_row(world: World) -> None:
    world.provider.rows = [["Name", "Email"], ["Ada", "ada@example.com"]]
    target = _target(world, name="leads", provider="google_sheets", credential="SHEETS_TOKEN",
                     spreadsheetId="sheet-1", sheetName="Leads")
    env = {"SHEETS_TOKEN": "ya29.fresh"}
    first = _poll(world, target, env)
    assert first.seeded and not first.started
    world.provider.rows.append(["Grace", "grace@example.com"])
    second = _poll(world, target, env)
    (arn,) = second.started
    data = world.run_input(arn)
    assert data["row"] == {"Name": "Grace", "Email": "grace@example.com"}
    assert (data["rowNumber"], data["headers"], data["sheetName"]) == (3, ["Name", "Email"], "Leads")
    assert not _poll(world, target, env).started
    # without a credential: the Google integration's secrets (here an access token)
    world.provider.rows.append(["Linus", "linus@example.com"])
    default = _target(world, name="leads", provider="google_sheets", spreadsheetId="sheet-1", sheetName="Leads")
    (arn,) = _poll(world, default, {"GOOGLE_ACCESS_TOKEN": "ya29.fresh"}).started
    assert world.run_input(arn)["row"]["Name"] == "Linus"
    with pytest.raises(PollError, match="set 'credential', or the secrets GOOGLE_ACCESS_TOKEN"):
        _poll(world, default, {})


def test_outlook_polls_microsoft_graph_and_gives_sims_email_fields(world: World) -> None:
    def message(index: int) -> dict[str, Any]:
        return {"id": f"AAMk{index}", "conversationId": f"conv{index}", "subject": f"Order {index}",
                "from": {"emailAddress": {"name": "Shop", "address": "orders@shop.test"}},
                "toRecipients": [{"emailAddress": {"address": "me@example.com"}}], "ccRecipients": [],
                "receivedDateTime": f"2026-12-0{index}T10:00:00Z", "hasAttachments": False, "isRead": False,
                "bodyPreview": f"Order {index} shipped", "parentFolderId": "inbox-id",
                "internetMessageId": f"<{index}@shop.test>",
                "body": {"contentType": "html", "content": f"<p>Order {index} shipped</p>"}}

    world.provider.outlook = [message(1)]
    target = _target(world, name="orders", provider="outlook", credential="OUTLOOK_TOKEN", markAsRead=True)
    env = {"OUTLOOK_TOKEN": "ya29.fresh"}
    (arn,) = _poll(world, target, env).started
    email = world.run_input(arn)["email"]
    assert (email["subject"], email["from"], email["to"], email["bodyText"], email["bodyHtml"]) == \
        ("Order 1", "orders@shop.test", "me@example.com", "Order 1 shipped", "<p>Order 1 shipped</p>")
    assert (email["messageId"], email["threadId"], email["folderId"]) == ("<1@shop.test>", "conv1", "inbox-id")
    assert world.provider.patched == ["AAMk1"]  # marked read once its run started
    world.provider.outlook.append(message(2))
    (arn,) = _poll(world, target, env).started
    assert world.run_input(arn)["email"]["id"] == "AAMk2"
    assert not _poll(world, target, env).started
    with pytest.raises(PollError, match=r"outlook: HTTP 401"):
        _poll(world, target, {"OUTLOOK_TOKEN": "expired"})


# --- IMAP: a fake IMAP4rev1 server on 127.0.0.1 ----------------------------------------------------

class FakeImap:
    """Just enough IMAP4rev1 for imaplib: LOGIN, SELECT/EXAMINE, UID SEARCH, UID FETCH,
    UID STORE, LOGOUT. ``messages``: mailbox -> [(uid, raw, flags)]."""

    def __init__(self) -> None:
        import socketserver

        self.messages: dict[str, list[tuple[int, bytes, set[str]]]] = {"INBOX": []}
        self.commands: list[str] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"* OK fake IMAP ready\r\n")
                box = "INBOX"
                while line := self.rfile.readline():
                    tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
                    command, _, args = rest.partition(" ")
                    fake.commands.append(f"{command} {args}".strip())
                    upper = command.upper()
                    if upper == "CAPABILITY":
                        self.wfile.write(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
                    elif upper == "LOGIN":
                        ok = args.split(" ", 1) == ["me@example.com", '"app password"']
                        self.wfile.write(f"{tag} {'OK' if ok else 'NO'} login\r\n".encode())
                    elif upper in ("SELECT", "EXAMINE"):
                        box = args.strip('"')
                        self.wfile.write((f"* {len(fake.messages.get(box, []))} EXISTS\r\n"
                                          f"* OK [UIDVALIDITY 7] ok\r\n{tag} OK done\r\n").encode())
                    elif upper == "UID":
                        self._uid(tag, args, box)
                    elif upper == "LOGOUT":
                        self.wfile.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                        return
                    else:
                        self.wfile.write(f"{tag} BAD unknown\r\n".encode())

            def _uid(self, tag: str, args: str, box: str) -> None:
                verb, _, rest = args.partition(" ")
                messages = fake.messages.get(box, [])
                if verb.upper() == "SEARCH":
                    found = [str(u) for u, _, flags in messages
                             if rest != "UNSEEN" or "\\Seen" not in flags]
                    self.wfile.write(f"* SEARCH {' '.join(found)}\r\n{tag} OK done\r\n".encode())
                elif verb.upper() == "FETCH":
                    uid = int(rest.split(" ", 1)[0])
                    for index, (u, raw, _) in enumerate(messages, start=1):
                        if u == uid:
                            self.wfile.write(f"* {index} FETCH (UID {u} BODY[] {{{len(raw)}}}\r\n".encode()
                                             + raw + b")\r\n")
                    self.wfile.write(f"{tag} OK done\r\n".encode())
                elif verb.upper() == "STORE":
                    uid = int(rest.split(" ", 1)[0])
                    for u, _, flags in messages:
                        if u == uid:
                            flags.add("\\Seen")
                    self.wfile.write(f"{tag} OK done\r\n".encode())

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture(scope="module")
def imap() -> Iterator[FakeImap]:
    import threading

    fake = FakeImap()
    threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True).start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _rfc822(index: int) -> bytes:
    return (f"Message-ID: <m{index}@acme.test>\r\nFrom: Acme <billing@acme.test>\r\n"
            f"To: me@example.com\r\nSubject: Invoice {index}\r\n"
            f"Date: Sat, 05 Dec 2026 1{index}:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nInvoice {index} is due.\r\n").encode()


def test_imap_polls_unseen_mail_and_marks_it_read(world: World, imap: FakeImap) -> None:
    imap.messages["INBOX"] = [(41, _rfc822(1), set()), (42, _rfc822(2), {"\\Seen"})]
    target = _target(world, name="mailbox", provider="imap", host="127.0.0.1", port=imap.port,
                     secure=False, username="me@example.com", credential="IMAP_PASSWORD",
                     searchCriteria={"unseen": True}, markAsRead=True)
    env = {"IMAP_PASSWORD": "app password"}
    first = _poll(world, target, env)
    (arn,) = first.started
    email = world.run_input(arn)["email"]
    assert (email["messageId"], email["subject"], email["from"], email["mailbox"]) == \
        ("<m1@acme.test>", "Invoice 1", "Acme <billing@acme.test>", "INBOX")
    assert email["bodyText"].strip() == "Invoice 1 is due." and email["date"] == "2026-12-05T10:00:00.000Z"
    assert world.run_input(arn)["trigger"]["itemId"] == "INBOX:7:41"
    assert "\\Seen" in imap.messages["INBOX"][0][2]  # marked read once its run started
    imap.messages["INBOX"].append((43, _rfc822(3), set()))
    (arn,) = _poll(world, target, env).started
    assert world.run_input(arn)["email"]["subject"] == "Invoice 3"
    assert not _poll(world, target, env).started
    assert imap.commands.count("LOGOUT") == 3  # one connection per poll, closed
    with pytest.raises(PollError, match="login refused"):
        _poll(world, target, {"IMAP_PASSWORD": "wrong"})
