"""``stepweave run`` against hostile input: ``--input`` out of bounds or of the wrong type, and
an approval subject carrying a line break.

GIVEN small workflows on disk, WHEN ``stepweave run`` (``stepweave.cli.main``) gets such an
input, THEN it exits 2 with a message naming ``--input`` (never ``internal error``), or the
run goes on with the email's subject on one line.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from stepweave.cli import main

FLOW = """
name: echo-cli
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: n, type: number}]}}
  - {id: r, name: Respond, type: response, params: {data: {n: "<start.n>"}, status: 200}}
edges: [start -> r]
"""
APPROVAL = """
name: subject-cli
blocks:
  - {id: start, type: start, params: {inputFormat: [{name: customer, type: string}]}}
  - {id: ask, name: Approval, type: approval,
     params: {approvers: [lead@example.com], subject: "Refund for <start.customer>",
              form: [{name: approved, type: boolean, required: true}]}}
  - {id: done, name: Done, type: function, params: {code: "return <approval.approved>"}}
edges: [start -> ask, ask -> done]
"""


@pytest.fixture()
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


@pytest.mark.parametrize(("given", "expected"), [
    ('{"n": ' + "9" * 5000 + "}", "--input: n: not a finite number"),
    ('{"n": 1e400}', "--input: n: not a finite number"),
    ('{"n": NaN}', "--input: n: not a finite number"),
    ('{"n": ' + "[" * 5000 + "]" * 5000 + "}", "--input: nested deeper than"),
    ('"a string"', "--input: the run input must be a JSON object"),
    ("[1, 2]", "--input: the run input must be a JSON object"),
    ("42", "--input: the run input must be a JSON object"),
    ("null", "--input: the run input must be a JSON object"),
])
def test_malformed_inputs_exit_2_naming_input(flow: Path, capsys: pytest.CaptureFixture[str],
                                              given: str, expected: str) -> None:
    assert main(["run", str(flow), "--input", given, "-q"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "internal error" not in err and "States." not in err


def test_an_input_over_256_kib_is_refused_with_the_reason(flow: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"n": 1, "blob": "x" * 300_000}), encoding="utf-8")
    for given in (str(big), "@" + str(big)):
        assert main(["run", str(flow), "--input", given, "-q"]) == 2
        err = capsys.readouterr().err
        assert "--input" in err and "262,144 bytes (256 KiB)" in err and "internal error" not in err


def test_an_input_just_under_the_limit_runs(flow: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fits = tmp_path / "fits.json"
    fits.write_text(json.dumps({"n": 3, "blob": "x" * 200_000}, indent=2), encoding="utf-8")
    assert main(["run", str(flow), "--input", str(fits), "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"]["data"] == {"n": 3}


def test_a_line_break_in_an_approval_subject_becomes_a_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "approval.yaml"
    path.write_text(APPROVAL, encoding="utf-8")
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("STEPWEAVE_OUTBOX_DIR", str(outbox))
    code = main(["run", str(path), "--input", json.dumps({"customer": "Ada\r\nBcc: all@example.com"}),
                 "--approve", 'Approval={"approved": true}', "-q", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["output"]["result"] is True
    (eml,) = outbox.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Refund for Ada Bcc: all@example.com"
    assert message["Bcc"] is None
