"""The run viewer (``stepweave.api.viewer``) over real boto3 clients against moto: the records
table, Step Functions (a running run's history) and S3 (an offloaded output), as
``stepweave serve --aws`` reads a deployment. Requests are API Gateway proxy events, as the
local gateway makes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from moto import mock_aws
from stepweave.api.decision_pages import handle
from stepweave.api.keys import create_key, disable_key
from stepweave.api.viewer import ROUTES, RunViewer
from stepweave.cli import main
from stepweave.cli.serve import load_folder
from stepweave.cli.viewer import viewer_routes, viewer_sources
from stepweave.local.gateway import Route, match, to_event
from stepweave.local.records import create_table
from stepweave.runtime.approvals import Approval, approval_items
from stepweave.runtime.payloads import S3Store
from stepweave.runtime.recorder import Clients
from stepweave.runtime.records import BlockLog, ExecutionRecord, put_block_logs, put_final, put_started
from stepweave.runtime.settings import Settings

TABLE = "viewer-records"
REGION = "eu-west-1"
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:dev-shipping"
HOSTILE = '</script><img src=x onerror="alert(1)"><script>alert(2)</script>'
FLOW = """
name: shipping
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: pack, name: "Pack <b>it</b>", type: function, params: {code: "return {n: <start.n>};"}}
  - {id: review, name: Review, type: approval,
     params: {subject: "Ship it?", approvers: [lead@example.com], form: [{name: approved, type: boolean}]}}
  - {id: ship, name: Ship, type: function, params: {code: "return {shipped: true};"}}
edges: [start -> pack, pack -> review, review -> ship]
"""


@dataclass
class World:
    ddb: Any
    sfn: Any
    s3: Any
    settings: Settings
    routes: list[Route]
    key: str
    other_key: str
    done: str
    running: str
    foreign: str

    def get(self, target: str, headers: dict[str, str] | None = None, *, key: str | None = None,
            method: str = "GET", body: bytes = b"") -> dict[str, Any]:
        sent = {"Host": "127.0.0.1:8787", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        found = match(self.routes, method, target.split("?")[0])
        assert not isinstance(found, str), found
        route, params = found
        return route.handler(to_event(method, target, sent, body, resource=route.resource,
                                      path_parameters=params))


def _record(name: str, tenant: str | None, status: str = "succeeded", **extra: Any) -> ExecutionRecord:
    arn = f"arn:aws:states:{REGION}:123456789012:execution:dev-shipping:{name}"
    final = status != "running"
    return ExecutionRecord(
        workflow="shipping", execution_arn=arn, name=name, status=status,  # type: ignore[arg-type]
        trigger={"type": "api"}, input='{"n": 2}', started_at="2026-01-05T10:00:00.000Z",
        stopped_at="2026-01-05T10:00:01.000Z" if final else None, duration_ms=1000 if final else None,
        transitions=7 if final else None, lambda_invocations=2 if final else None,
        expires_at=1_900_000_000, tenant=tenant, **extra)


def _log(arn: str, seq: int, block: str, name: str, output: Any, *, ok: bool = True) -> BlockLog:
    return BlockLog(execution_arn=arn, seq=seq, block_id=block, name=name, type="function", success=ok,
                    output=json.dumps(output) if ok else None, error=None if ok else "boom <b>",
                    started_at=f"2026-01-05T10:00:00.{seq}00Z", ended_at=f"2026-01-05T10:00:00.{seq}50Z",
                    expires_at=1_900_000_000)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("workflows")
    (folder / "shipping.yaml").write_text(FLOW, encoding="utf-8")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        create_table(ddb, TABLE)
        settings = Settings(table=TABLE, retention_days=7)
        key, _ = create_key(ddb, settings, tenant="acme")
        other_key, _ = create_key(ddb, settings, tenant="globex")
        workflows = load_folder(Path(folder))
        # a finished run (block logs) with a hostile output and an offloaded part
        done = _record("acme.done", "acme")
        stored_key = "dev-shipping/acme.done/pack/0001.json"
        s3.create_bucket(Bucket="payloads", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="payloads", Key=stored_key, Body=json.dumps({"rows": ["stored-row-1"]}).encode())
        stub = {"$ref": {"bucket": "payloads", "key": stored_key, "path": "rows", "bytes": 40}}
        put_final(ddb, settings, done)
        put_block_logs(ddb, settings, [
            _log(done.execution_arn, 1, "start", "start", {"n": 2}),
            _log(done.execution_arn, 2, "pack", "Pack <b>it</b>", {"html": HOSTILE, "rows": stub})])
        # a running run: its block runs come from Step Functions' history
        role = "arn:aws:iam::123456789012:role/sfn"
        machine = sfn.create_state_machine(name="dev-shipping", roleArn=role,
                                           definition=json.dumps(workflows["shipping"].definition))
        started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="acme.live")
        running = _record("acme.live", "acme", "running").model_copy(
            update={"execution_arn": started["executionArn"]})
        put_started(ddb, settings, running)
        waiting = Approval(id="apr_review1", execution_arn=running.execution_arn, workflow="shipping",
                           block_id="review", block_name="Review", status="pending",
                           created_at="2026-01-05T10:00:00.500Z", expires_at=1_900_000_000,
                           subject="Ship <b>order</b>?", approvers=["lead@example.com"],
                           form=[{"name": "approved", "type": "boolean"}])
        for item in approval_items(waiting, task_token="token-1"):
            ddb.put_item(TableName=TABLE, Item=item)
        foreign = _record("globex.theirs", "globex")
        put_final(ddb, settings, foreign)
        routes = viewer_routes(Path(folder), workflows, ddb=ddb, settings=settings, sfn=sfn, store=S3Store(s3))
        yield World(ddb, sfn, s3, settings, routes, key, other_key, done.execution_arn,
                    running.execution_arn, foreign.execution_arn)


def _run(arn: str) -> str:
    return "/runs/" + quote(arn, safe="")


def test_every_route_is_mounted_and_pages_carry_a_strict_csp(world: World) -> None:
    assert {(r.method, r.resource) for r in world.routes} == set(ROUTES)
    page = world.get("/runs", key=world.key)
    csp = page["headers"]["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_without_a_key_the_pages_answer_401_with_the_key_form(world: World) -> None:
    for target in ("/runs", _run(world.done)):
        page = world.get(target)
        assert page["statusCode"] == 401
        assert 'name="key"' in page["body"] and "data-run" not in page["body"] and "data-block" not in page["body"]
    wrong = world.get("/runs", key="swk_not-a-key")
    assert wrong["statusCode"] == 401 and "not valid" in wrong["body"]


def test_the_list_shows_the_tenants_runs_and_filters_them(world: World) -> None:
    page = world.get("/runs", key=world.key)
    assert page["statusCode"] == 200
    assert world.done in page["body"] and world.running in page["body"] and world.foreign not in page["body"]
    running_only = world.get("/runs?" + urlencode({"status": "running"}), key=world.key)
    assert world.running in running_only["body"] and world.done not in running_only["body"]
    bad = world.get("/runs?status=exploded", key=world.key)
    assert bad["statusCode"] == 400 and "status: one of" in bad["body"]
    bad = world.get("/runs?" + urlencode({"since": "last tuesday"}), key=world.key)
    assert bad["statusCode"] == 400 and "since: not an ISO-8601 date or time" in bad["body"]
    # a time without a zone is UTC: a day after every run lists none of them
    later = world.get("/runs?" + urlencode({"since": "2999-01-01T00:00:00"}), key=world.key)
    assert later["statusCode"] == 200 and world.done not in later["body"] and world.running not in later["body"]


def test_a_finished_run_shows_its_blocks_escaped(world: World) -> None:
    page = world.get(_run(world.done), key=world.key)
    body = page["body"]
    assert page["statusCode"] == 200
    # every block of the graph with its outcome: the run ended without "Review" and "Ship"
    assert 'data-block="pack" data-state="ran"' in body and 'data-block="ship" data-state="skipped"' in body
    assert "7 state transitions ($0.1750 per 1,000 runs on Standard)" in body
    # user data is text, never markup
    assert body.count("<script") == 1 and "<img" not in body and "<b>it" not in body
    assert "&lt;/script&gt;&lt;img src=x onerror=" in body and "Pack &lt;b&gt;it&lt;/b&gt;" in body


def test_an_offloaded_output_is_read_when_opened_and_only_if_the_run_references_it(world: World) -> None:
    stored = "dev-shipping/acme.done/pack/0001.json"
    query = urlencode({"bucket": "payloads", "key": stored, "path": "rows"})
    page = world.get(_run(world.done) + "/payload?" + query, key=world.key)
    assert page["statusCode"] == 200 and "stored-row-1" in page["body"]
    assert _run(world.done).replace("/runs/", "") + "/payload?" in world.get(_run(world.done), key=world.key)["body"] \
        .replace("&amp;", "&")
    other = urlencode({"bucket": "payloads", "key": "dev-shipping/globex.theirs/x.json", "path": "rows"})
    refused = world.get(_run(world.done) + "/payload?" + other, key=world.key)
    assert refused["statusCode"] == 404 and "stored-row-1" not in refused["body"]


def test_a_running_run_is_read_from_its_execution_history_with_its_approval(world: World) -> None:
    page = world.get(_run(world.running), key=world.key)
    body = page["body"]
    assert page["statusCode"] == 200
    assert "read from the execution history" in body
    assert 'data-block="review" data-state="waiting"' in body and 'data-block="ship" data-state="pending"' in body
    assert '<a class="approval" href="/approvals/apr_review1">Ship &lt;b&gt;order&lt;/b&gt;?</a>' in body
    assert "lead@example.com" in body
    # a run still going reloads itself, now and then while it waits on an approval (a finished
    # one does not: see below)
    assert '<meta http-equiv="refresh" content="30">' in body and 'id="refreshing"' in body
    finished = world.get(_run(world.done), key=world.key)["body"]
    assert 'http-equiv="refresh"' not in finished and 'id="refreshing"' not in finished


def test_the_decision_page_links_to_its_run_where_the_viewer_is_served(world: World) -> None:
    clients = Clients(sfn=world.sfn, ddb=world.ddb)
    event = {"httpMethod": "GET", "path": "/approvals/apr_review1", "pathParameters": {"id": "apr_review1"},
             "headers": {}, "body": None, "isBase64Encoded": False}
    deployed = handle(event, clients=clients, settings=world.settings)
    assert deployed["statusCode"] == 200 and "run-link" not in deployed["body"]
    viewer = handle({**event, "stageVariables": {"runViewer": "/runs"}}, clients=clients, settings=world.settings)
    assert f'<a class="run-link" href="{_run(world.running)}">' in viewer["body"]


def test_a_long_loop_shows_its_first_runs(world: World) -> None:
    big = _record("acme.big", "acme")
    put_final(world.ddb, world.settings, big)
    put_block_logs(world.ddb, world.settings, [
        _log(big.execution_arn, seq, "pack", "Pack <b>it</b>", {"seq": seq}).model_copy(
            update={"where": {"loop": seq - 1}, "started_at": f"2026-01-05T10:00:00.{seq:03d}Z",
                    "ended_at": f"2026-01-05T10:00:00.{seq:03d}Z"})
        for seq in range(1, 321)])
    body = world.get(_run(big.execution_arn), key=world.key)["body"]
    assert body.count('class="row" data-block="pack"') == 300 and "The first 300 of 320 block runs" in body
    assert "The first 20 of 320 runs of this block" in body


def test_another_tenants_run_and_a_disabled_key_see_nothing(world: World) -> None:
    assert world.get(_run(world.foreign), key=world.key)["statusCode"] == 404
    assert world.get(_run(world.done), key=world.other_key)["statusCode"] == 404
    disabled, _ = create_key(world.ddb, world.settings, tenant="acme", name="old")
    disable_key(world.ddb, world.settings, disabled)
    assert world.get("/runs", key=disabled)["statusCode"] == 401


def test_the_key_form_sets_an_httponly_strict_cookie_and_refuses_other_sites(world: World) -> None:
    form = urlencode({"key": world.key, "next": "//evil.example/runs"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:8787",
               "Sec-Fetch-Site": "same-origin"}
    signed = world.get("/runs/login", headers, method="POST", body=form)
    assert signed["statusCode"] == 303 and signed["headers"]["Location"] == "/runs"
    cookie = signed["headers"]["Set-Cookie"]
    assert cookie.startswith(f"stepweave_key={world.key};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/runs" in cookie
    listed = world.get("/runs", {"Cookie": f"stepweave_key={world.key}"})
    assert listed["statusCode"] == 200 and world.done in listed["body"]
    cross = world.get("/runs/login", {**headers, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                      method="POST", body=form)
    assert cross["statusCode"] == 403 and "Set-Cookie" not in cross["headers"]
    wrong = world.get("/runs/login", headers, method="POST", body=urlencode({"key": "swk_nope"}).encode())
    assert wrong["statusCode"] == 401 and "Set-Cookie" not in wrong["headers"]


def test_the_sources_cover_the_folders_workflows(world: World, tmp_path: Path) -> None:
    (tmp_path / "shipping.yaml").write_text(FLOW, encoding="utf-8")
    sources = viewer_sources(tmp_path, load_folder(tmp_path))
    graph = sources["shipping"].graph
    assert graph is not None and [n.id for n in graph.nodes] == ["start", "pack", "review", "ship"]
    assert sources["shipping"].manifest["workflow"] == "shipping"
    viewer = RunViewer(world.ddb, world.settings, workflows=sources)
    assert viewer.handle(to_event("GET", "/runs/viewer.js", {}, b"", resource="/runs/viewer.js",
                                  path_parameters=None))["statusCode"] == 200


def test_serve_aws_mounts_the_viewer_over_the_deployment(world: World, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``stepweave serve --aws``: the viewer's routes beside the API's, over the same clients
    (the server itself is not started: its routes are taken as it would serve them)."""
    import stepweave.cli.serve as serve

    served: list[Route] = []

    def keep(routes: list[Route], *_args: Any, **_kw: Any) -> int:
        served.extend(routes)
        return 0

    monkeypatch.setattr(serve, "_serve", keep)
    (tmp_path / "shipping.yaml").write_text(FLOW, encoding="utf-8")
    assert main(["serve", "--aws", "--table", TABLE, "--region", REGION, "--workflows", str(tmp_path)]) == 0
    mounted = World(**{**world.__dict__, "routes": served})
    page = mounted.get(_run(world.done), key=world.key)
    assert page["statusCode"] == 200 and 'data-block="ship" data-state="skipped"' in page["body"]
    approval = mounted.get("/approvals/apr_review1")
    assert approval["statusCode"] == 200 and f'href="{_run(world.running)}"' in approval["body"]



def test_a_recorded_run_shows_its_whole_bill_in_the_words_of_stepweave_run(world: World) -> None:
    # a split run's two Express stretches and its distributed parallel's three Express children
    billed = _record("acme.billed", "acme", workflow_type="STANDARD", stretch_executions=2,
                     stretch_billed_seconds=0.3, child_express_executions=3,
                     child_express_billed_seconds=0.3, child_standard_executions=0,
                     child_standard_transitions=0)
    put_final(world.ddb, world.settings, billed)
    body = world.get(_run(billed.execution_arn), key=world.key)["body"]
    assert ('<span id="billed">7 state transitions ($0.1750 per 1,000 runs on Standard) + 2 Express '
            "stretch executions ($0.0023 per 1,000 runs) + 3 Express child executions (0.3 s at 64 MB) "
            "and their 3 starts as state transitions ($0.0783 per 1,000 runs), $0.2556 per 1,000 runs "
            "in all, 2 Lambda invocations</span>") in body
