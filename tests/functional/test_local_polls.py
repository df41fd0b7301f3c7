"""Sim's RSS trigger end to end under ``stepweave serve``'s scheduler: a Sim export whose
``rss`` block is in trigger mode imports as a poll trigger; the local scheduler polls a real
feed server as the deployed poller does; each new item runs the workflow once, and
``<rss.item.title>``-style references resolve to the item as they do in Sim.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stepweave.compiler import compile_workflow
from stepweave.local.api import LocalApi
from stepweave.local.engine import LocalEngine
from stepweave.local.schedules import LocalScheduler, local_poller
from stepweave.triggers.declare import PollTrigger
from stepweave.workflow.loader import load_workflow

from tests.engine import sim_export as sim
from tests.loopback import Request, loopback

FEED = {"items": [("n-1", "Hello")]}


def _atom(_: Request) -> tuple[int, bytes, float]:
    entries = "".join(f"<entry><id>urn:{guid}</id><title>{title}</title>"
                      f'<link href="https://blog.example/{guid}"/><updated>2026-12-0{i + 1}T08:00:00Z</updated>'
                      f"<author><name>Ann</name></author></entry>" for i, (guid, title) in enumerate(FEED["items"]))
    return 200, (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>'
                 f'<link href="https://blog.example"/>{entries}</feed>').encode(), 0


def _wait(api: LocalApi, arn: str) -> Any:
    deadline = time.monotonic() + 30
    while api.executions.describe(arn).status == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return api.executions.describe(arn)


def test_a_sim_rss_trigger_polls_under_serve_and_runs_once_per_item(tmp_path: Path) -> None:
    with loopback(_atom) as server:
        rss = sim.block("rss-1", "rss", "rss", feedUrl=f"{server.url}/feed.atom")
        rss["triggerMode"] = True
        code = 'return `${<rss.item.title>} by ${<rss.item.author>} (${<rss.feed.title>})`'
        export = sim.export([rss, sim.function("f", code, "Headline")], [sim.edge("rss-1", "f")],
                            name="blog-watch")
        path = tmp_path / "blog-watch.json"
        path.write_text(json.dumps(export))
        workflow = load_workflow(path)
        (trigger,) = workflow.triggers
        assert isinstance(trigger, PollTrigger)
        assert (trigger.provider, trigger.feedUrl, trigger.rate) == ("rss", f"{server.url}/feed.atom", "1 minute")
        compiled = compile_workflow(workflow, str(path))
        start = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
        log = io.StringIO()
        with LocalEngine(records_file=tmp_path / "records.db") as engine, \
                LocalApi(engine, {"blog-watch": compiled}) as api:
            scheduler = LocalScheduler(api.executions, {"blog-watch": compiled}, log=log,
                                       clock=lambda: start, poller=local_poller(api))
            (first,) = scheduler.tick(start)  # the first poll, as serving starts
            outcome = _wait(api, str(first.execution_arn))
            assert outcome.status == "SUCCEEDED", outcome
            assert json.loads(outcome.output or "null")["result"] == "Hello by Ann (Blog)"
            assert scheduler.tick(start + timedelta(seconds=30)) == []  # not due yet
            assert scheduler.tick(start + timedelta(minutes=1)) == []  # due; nothing new
            FEED["items"].append(("n-2", "World"))
            (second,) = scheduler.tick(start + timedelta(minutes=2))
            assert json.loads(_wait(api, str(second.execution_arn)).output or "null")["result"] == \
                "World by Ann (Blog)"
    assert "poll 'poll-1' of blog-watch (2026-12-07 08:00 UTC): started " in log.getvalue()


def test_stepweave_schedules_lists_the_polls(tmp_path: Path, capsys: Any) -> None:
    from stepweave.cli import main

    (tmp_path / "news.yaml").write_text(
        "version: 1\nname: news\nblocks:\n  - {id: start, type: start}\n"
        "triggers:\n  - {type: poll, name: feed, provider: rss, feedUrl: 'https://blog.example/feed.xml',"
        " rate: 2 minutes}\n  - {type: poll, name: off, provider: rss, feedUrl: 'https://b.example/x',"
        " enabled: false}\n")
    assert main(["schedules", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "news: feed, polls rss every 2 minutes (one run per new item)" in out
    assert "news: off, polls rss every 5 minutes (disabled: it never polls)" in out
    assert main(["schedules", str(tmp_path), "--json"]) == 0
    polls = json.loads(capsys.readouterr().out)["polls"]
    assert [(p["trigger"], p["expression"], p["enabled"]) for p in polls] == [
        ("feed", "rate(2 minutes)", True), ("off", "rate(5 minutes)", False)]
