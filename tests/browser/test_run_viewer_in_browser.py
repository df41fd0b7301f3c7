"""The run viewer in a real browser: ``stepweave serve`` runs one workflow three ways (it
finishes, it fails, it pauses at an approval); headless Chromium signs in with the API key
and reads each run's page: which blocks ran, failed, were skipped or wait, the loop's
iterations on the timeline, a hostile block output shown as text. A screenshot of each page
is kept in ``tests/browser/artifacts/`` (``STEPWEAVE_UPDATE_SCREENSHOTS=1`` also writes the
ones the docs show, ``docs/img/run-viewer-*.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.browser.cdp import Browser, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian package `chromium`)"),
              pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
KEY = "swk_viewer-in-browser-0123456789"
#: a function's output that would run script if it were markup
HOSTILE = '</script><img src=x onerror="document.title=1"><script>document.title=2</script>'
FLOW = """
name: order-review
blocks:
  - id: start
    type: start
    name: Start
    params:
      inputFormat: [{name: mode, type: string}, {name: days, type: array, value: [1, 3]}]
  - {id: follow_ups, type: loop, name: Follow-ups, params: {loopType: forEach, collection: "<start.days>"}}
  - {id: schedule, type: function, name: Schedule, parent: follow_ups,
     params: {code: "return {day: <loop.currentItem>};"}}
  - id: render
    type: function
    name: Render note
    params:
      code: >-
        const lt = String.fromCharCode(60);
        return {html: lt + '/script>' + lt + 'img src=x onerror="document.title=1">' + lt +
        'script>document.title=2' + lt + '/script>'};
  - id: route
    type: condition
    name: Route
    params:
      conditions:
        - {id: fail, title: if, value: "<start.mode> === 'fail'"}
        - {id: ask, title: else if, value: "<start.mode> === 'ask'"}
        - {id: auto, title: else}
  - {id: charge, type: function, name: Charge card,
     params: {code: "throw new Error('card declined ' + String.fromCharCode(60) + 'b>twice');"}}
  - id: approve
    type: approval
    name: Approve order
    params:
      subject: Approve this order?
      approvers: [lead@example.com]
      form: [{name: approved, type: boolean, required: true}]
  - {id: ship, type: function, name: Ship, params: {code: "return {shipped: true};"}}
edges:
  - start -> follow_ups
  - follow_ups -[loop-start-source]-> schedule
  - follow_ups -[loop-end-source]-> render
  - render -> route
  - route -[condition-fail]-> charge
  - route -[condition-ask]-> approve
  - route -[condition-auto]-> ship
"""
RAN_ALWAYS = {"start": "ran", "follow_ups": "ran", "schedule": "ran", "render": "ran", "route": "ran"}


@dataclass
class Server:
    url: str
    runs: dict[str, str]  # finished / failed / paused -> execution ARN

    def page_of(self, which: str) -> str:
        return f"{self.url}/runs/{quote(self.runs[which], safe='')}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``stepweave serve`` with the three runs made once: finished, failed, paused."""
    home = tmp_path_factory.mktemp("viewer")
    (home / "workflows").mkdir()
    (home / "workflows" / "order-review.yaml").write_text(FLOW, encoding="utf-8")
    url = f"http://127.0.0.1:{_free_port()}"
    env = {**os.environ, "STEPWEAVE_API_KEY": KEY, "STEPWEAVE_LOCAL_DIR": str(home / ".stepweave"),
           "STEPWEAVE_OUTBOX_DIR": str(home / "outbox"), "STEPWEAVE_PUBLIC_URL": url}
    for name in ("STEPWEAVE_APPROVAL_SENDER", "STEPWEAVE_APPROVAL_DELIVERY", "STEPWEAVE_OPERATOR_TENANT"):
        env.pop(name, None)
    stderr = home / "serve.err"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("stepweave")), "serve", "--port", url.rsplit(":", 1)[1]],
            cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None and time.monotonic() < deadline, _log(stderr)
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            runs = {}
            for which, mode in (("finished", "auto"), ("failed", "fail"), ("paused", "ask")):
                answer = client.post("/v1/workflows/order-review/executions", json={"input": {"mode": mode}})
                assert answer.status_code == 202, answer.text
                runs[which] = answer.json()["executionId"]
            for which, status in (("finished", "succeeded"), ("failed", "failed"), ("paused", "paused")):
                while client.get(f"/v1/executions/{quote(runs[which], safe='')}").json()["status"] != status:
                    assert process.poll() is None and time.monotonic() < deadline, _log(stderr)
                    time.sleep(0.05)
        yield Server(url, runs)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Iterator[Page]:
    """One tab for the module's tests (the key's cookie is kept between them)."""
    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile")) as browser:
        yield browser.new_page()


def _states(page: Page, selector: str) -> dict[str, str]:
    found = page.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})]"
                          ".map(e => [e.dataset.block, e.dataset.state])")
    return dict(found)


def _timeline(page: Page) -> list[list[str]]:
    return list(page.evaluate("[...document.querySelectorAll('.gantt .row')]"
                              ".map(r => [r.dataset.block, r.dataset.state, r.querySelector('.who').textContent])"))


def _open(page: Page, server: Server, which: str) -> None:
    """The run's page; signed in through the key form first when the tab has no key yet (the
    form then goes on to the page asked for)."""
    page.navigate(server.page_of(which))
    if page.status() == 401:
        page.fill("#key", KEY)
        page.click_and_wait_for_load("button[type=submit]")
    assert page.status() == 200 and page.url() == server.page_of(which)


def _keep(page: Page, name: str) -> None:
    shot = page.screenshot(ARTIFACTS / f"run-viewer-{name}.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("STEPWEAVE_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "img" / shot.name)


def _untouched(page: Page) -> None:
    """No record value became markup or ran: no image, one script (the viewer's own), title kept."""
    assert page.evaluate("document.querySelectorAll('main img, main script, main iframe').length") == 0
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.title").startswith("order-review: ")


def test_sign_in_with_the_key_and_list_the_runs(page: Page, server: Server) -> None:
    # GIVEN no key yet: the viewer asks for one
    page.navigate(f"{server.url}/runs")
    assert page.status() == 401 and page.evaluate("!!document.querySelector('input#key[type=password]')")

    # WHEN the key is typed into the form
    page.fill("#key", KEY)
    page.click_and_wait_for_load("button[type=submit]")

    # THEN the runs are listed, and the key is in a cookie no script of the page can read
    assert page.status() == 200 and page.url() == f"{server.url}/runs"
    listed = dict(page.evaluate("[...document.querySelectorAll('tr[data-run]')]"
                                ".map(r => [r.dataset.run, r.querySelector('[data-status]').dataset.status])"))
    assert listed == {server.runs["finished"]: "succeeded", server.runs["failed"]: "failed",
                      server.runs["paused"]: "paused"}
    assert page.evaluate("document.cookie") == ""
    _keep(page, "list")


def test_a_finished_run_shows_what_ran_and_a_hostile_output_as_text(page: Page, server: Server) -> None:
    _open(page, server, "finished")
    assert _states(page, "svg g.node") == {**RAN_ALWAYS, "charge": "skipped", "approve": "skipped", "ship": "ran"}
    rows = _timeline(page)
    assert [r[2] for r in rows if r[0] == "schedule"] == ["Schedule (Follow-ups #1)", "Schedule (Follow-ups #2)"]
    assert "state transitions" in page.evaluate("document.getElementById('billed').textContent")
    # each iteration's input, as the function's handler received it (the loop's item bound)
    schedule = page.evaluate("document.querySelector('details.block[data-block=schedule]').textContent")
    assert 0 <= schedule.index('"__ref_0": 1') < schedule.index('"__ref_0": 3')

    # WHEN the block is clicked in the graph, its details open and show the output as text
    page.click("svg g.node[data-block=render] a")
    assert page.evaluate("document.querySelector('details.block[data-block=render]').open") is True
    shown = page.evaluate("document.querySelector('details.block[data-block=render]').innerText")
    assert HOSTILE.replace('"', '\\"') in shown
    _untouched(page)
    _keep(page, "finished")


def test_a_failed_run_shows_the_failed_block_and_its_error(page: Page, server: Server) -> None:
    _open(page, server, "failed")
    assert _states(page, "svg g.node") == {**RAN_ALWAYS, "charge": "failed", "approve": "skipped", "ship": "skipped"}
    assert _states(page, "details.block")["charge"] == "failed"
    error = page.evaluate("document.querySelector('details.block[data-block=charge] pre.error-box').textContent")
    assert "card declined <b>twice" in error
    _untouched(page)
    _keep(page, "failed")


def test_a_paused_run_shows_the_waiting_approval_and_its_page_links_back(page: Page, server: Server) -> None:
    _open(page, server, "paused")
    assert _states(page, "svg g.node") == {**RAN_ALWAYS, "charge": "pending", "approve": "waiting",
                                           "ship": "pending"}
    assert ["approve", "waiting", "Approve order"] in _timeline(page)
    _untouched(page)
    _keep(page, "paused")

    # WHEN the pending approval's link is followed, its decision page links back to the run
    page.click_and_wait_for_load("a.approval")
    assert page.status() == 200 and page.evaluate("document.forms.length") == 1
    page.click_and_wait_for_load("a.run-link")
    assert page.url() == server.page_of("paused")
    assert _states(page, "svg g.node")["approve"] == "waiting"
