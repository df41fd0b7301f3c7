"""A poll trigger's mistakes are reported with the file and the field, as every other
mistake of a workflow file (``stepweave validate``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepweave.cli import main

BASE = "version: 1\nname: news\nblocks:\n  - {id: start, type: start}\ntriggers:\n  - "


@pytest.mark.parametrize(("trigger", "message"), [
    ("{type: poll, provider: rss}", "provider 'rss' needs 'feedUrl'"),
    ("{type: poll, provider: rss, feedUrl: 'ftp://x.example/feed'}", "String should match pattern"),
    ("{type: poll, provider: rss, feedUrl: 'https://x.example/f', credential: TOKEN}",
     "an 'rss' poll takes no 'credential'"),
    ("{type: poll, provider: rss, feedUrl: 'https://x.example/f', rate: '30 seconds'}",
     "'30 seconds' is not a rate like '1 minute'"),
    ("{type: poll, provider: outlook}", "provider 'outlook' needs 'credential'"),
    ("{type: poll, provider: gmail, credential: 'not a name'}", "String should match pattern"),
    ("{type: poll, provider: imap, credential: PW}", "provider 'imap' needs 'host' and 'username'"),
    ("{type: poll, provider: imap, host: h.example, username: me, credential: PW, mailboxes: ['a\"b']}",
     "is not a mailbox name"),
    ("{type: poll, provider: dropbox, credential: X}", "triggers.0.poll.provider"),
    ("{type: poll, provider: rss, feedUrl: 'https://x.example/f', maxItems: 500}",
     "less than or equal to 100"),
])
def test_a_bad_poll_is_named_with_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            trigger: str, message: str) -> None:
    path = tmp_path / "news.yaml"
    path.write_text(BASE + trigger + "\n")
    assert main(["validate", str(path)]) != 0
    report = capsys.readouterr().err
    assert str(path) in report and "triggers.0" in report and message in report, report
    assert "Traceback" not in report
