"""``validate`` lists the secrets (``{{NAME}}``) a workflow may read and says which this
environment lacks (a note: the exit code does not change); ``run`` says so before it
starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main

ROOT = Path(__file__).resolve().parents[2]
TIMELINE = ROOT / "workflows" / "support-timeline.yaml"


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "token.yaml"
    path.write_text("""
version: 1
name: token
blocks:
  - {id: start, type: start}
  - {id: f, type: function, params: {code: "return {{STEPWEAVE_TEST_TOKEN}}.length"}}
  - {id: g, type: api, params: {url: "{{STEPWEAVE_TEST_URL}}/ping"}}
edges: [start -> f, f -> g]
""")
    return path


def test_validate_lists_the_secrets_and_those_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STEPWEAVE_TEST_TOKEN", raising=False)
    monkeypatch.setenv("STEPWEAVE_TEST_URL", "http://127.0.0.1:9")
    path = _secret_file(tmp_path)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: ok (3 blocks, express workflow); secrets: STEPWEAVE_TEST_TOKEN, "
        "STEPWEAVE_TEST_URL; not set: STEPWEAVE_TEST_TOKEN (pass --env STEPWEAVE_TEST_TOKEN=... "
        "or export it)\n")


def test_the_example_names_its_internal_api(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("INTERNAL_API_URL", raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.com/x")
    assert main(["validate", str(TIMELINE)]) == 0
    out = capsys.readouterr().out
    # the Slack tool's default webhook is listed, not required (the tool has a fallback)
    assert ("; secrets: INTERNAL_API_URL, SLACK_WEBHOOK_URL (a tool's or provider's default); "
            "not set: INTERNAL_API_URL (pass --env INTERNAL_API_URL=... or export it)") in out
    monkeypatch.setenv("INTERNAL_API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    assert main(["validate", str(TIMELINE)]) == 0
    assert capsys.readouterr().out.endswith(
        "; secrets: INTERNAL_API_URL, SLACK_WEBHOOK_URL (a tool's or provider's default)\n")


def test_run_says_which_secrets_are_not_set_before_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # empty is unset; set through monkeypatch so that what --env sets is undone afterwards
    monkeypatch.setenv("STEPWEAVE_TEST_TOKEN", "")
    monkeypatch.setenv("STEPWEAVE_TEST_URL", "")
    path = _secret_file(tmp_path)
    main(["run", str(path), "-q", "--env", "STEPWEAVE_TEST_URL=http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: secrets: STEPWEAVE_TEST_TOKEN, STEPWEAVE_TEST_URL; "
                          "not set: STEPWEAVE_TEST_TOKEN (pass --env STEPWEAVE_TEST_TOKEN=... "
                          "or export it)\n"), err
