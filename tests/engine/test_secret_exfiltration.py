"""Run input, webhook bodies and earlier outputs are data: they can never name a secret.

GIVEN a workflow whose api block the author wrote with ``{{API_URL}}`` and ``{{TOKEN}}``,
and other secrets in the environment WHEN a run's input (what a run API caller or a webhook
sends) carries ``{{OTHER_SECRET}}`` placeholders into the URL, a header and the body THEN
they are sent as written, and no secret value appears in the outbound request, the run's
output, its records or its error; the author's own secrets are put in where they wrote them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import run_text
from tests.loopback import Loopback, loopback


SECRETS = {"API_TOKEN_X": "tok-8d1c77aa", "OTHER_SECRET": "other-5f3e9b21",
           "DB_PASSWORD": "pw-0c4a61d2"}

ECHO = """
name: echo-api
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: id, type: string}, {name: note, type: string}]}}
  - id: call
    name: Call
    type: api
    params:
      url: "{{API_URL}}/customers/<start.id>?q=<start.note>"
      method: POST
      headers: {Authorization: "Bearer {{API_TOKEN_X}}", X-Note: "<start.note>"}
      body: {customer: "<start.id>", everything: "<start>"}
  - {id: done, type: response, params: {data: {echo: "<call.data>", input: "<start>"}}}
edges: [start -> call, call -> done]
"""

ATTACK = {"id": "{{OTHER_SECRET}}", "note": "{{DB_PASSWORD}} {{ API_TOKEN_X }}",
          "extra": {"deep": ["{{OTHER_SECRET}}"]}}


@pytest.fixture()
def echo_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    def respond(request: Any) -> tuple[int, bytes, float]:
        return 200, json.dumps({"path": request.path, "body": request.body.decode()}).encode(), 0.0

    with loopback(respond) as server:
        monkeypatch.setenv("API_URL", server.url)
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        yield server


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.mark.usefixtures("engine")
def test_placeholders_in_run_input_are_sent_as_written(engine: Any, echo_server: Loopback) -> None:
    result, ran = run_text(engine, ECHO, ATTACK)
    assert result.status == "SUCCEEDED", result.error
    [request] = echo_server.requests
    headers = dict(request.headers)
    # the author's secret, where the author wrote it
    assert headers["Authorization"] == "Bearer tok-8d1c77aa"
    # the caller's placeholders: data, sent as written
    assert request.path.startswith("/customers/%7B%7BOTHER_SECRET%7D%7D?q=")
    assert headers["X-Note"] == "{{DB_PASSWORD}} {{ API_TOKEN_X }}"
    body = json.loads(request.body)
    assert body["customer"] == "{{OTHER_SECRET}}" and body["everything"] == ATTACK
    # nothing anywhere: request, output, records
    assert _leaks(request.path + request.body.decode() + headers["X-Note"]) == []
    assert _leaks(json.dumps(result.output)) == []
    assert result.output["data"]["input"] == ATTACK


def test_nothing_reaches_the_records_or_the_cli_output(echo_server: Loopback,
                                                      tmp_path: Path) -> None:
    workflow = tmp_path / "echo.yaml"
    workflow.write_text(ECHO)
    env = {**os.environ, "STEPWEAVE_LOCAL_DIR": str(tmp_path / "local")}
    run = subprocess.run([sys.executable, "-m", "stepweave.cli", "run", str(workflow),
                          "--input", json.dumps(ATTACK), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    name = json.loads(run.stdout)["execution"].rsplit(":", 1)[-1]
    shown = subprocess.run([sys.executable, "-m", "stepweave.cli", "execution", name, "--json"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "{{OTHER_SECRET}}" in shown.stdout  # the input, recorded as sent
    assert _leaks(run.stdout + run.stderr + shown.stdout + shown.stderr) == []
    stored = "".join(p.read_text(errors="replace") for p in (tmp_path / "local").rglob("*")
                     if p.is_file())
    assert _leaks(stored) == []


def test_the_compiled_definition_names_secrets_never_values(echo_server: Loopback) -> None:
    from tests.engine.helpers import compile_text

    compiled = compile_text(ECHO)
    text = compiled.definition_json()
    assert _leaks(text) == []
    [task] = [s for s in compiled.definition["States"].values() if s["Type"] == "Task"]
    assert task["Arguments"]["secrets"]["names"] == ["API_TOKEN_X", "API_URL"]
    assert compiled.secrets == {"api": ("API_TOKEN_X", "API_URL")}
