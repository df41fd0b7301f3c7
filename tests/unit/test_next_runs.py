"""When schedules fire (``stepweave.triggers.next_runs``): EventBridge's cron forms, time
zones and clock changes, rates, and ``stepweave schedules``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stepweave.cli import main
from stepweave.triggers.declare import ScheduleTrigger
from stepweave.triggers.next_runs import next_runs


def _runs(after: str, n: int = 4, tz: str = "UTC", **spec: str) -> list[str]:
    trigger = ScheduleTrigger.model_validate({"type": "schedule", "timezone": tz, **spec})
    return [d.strftime("%Y-%m-%d %H:%M") for d in next_runs(trigger, datetime.fromisoformat(after), n)]


@pytest.mark.parametrize(("cron", "tz", "after", "expected"), [
    # Unix fields: Monday to Friday at 09:00 in Paris (CET, UTC+1), from a Saturday
    ("0 9 * * 1-5", "Europe/Paris", "2026-12-05T12:00:00+00:00",
     ["2026-12-07 08:00", "2026-12-08 08:00", "2026-12-09 08:00", "2026-12-10 08:00"]),
    # 02:30 does not exist in Paris on 2027-03-28 (clocks go forward): that day is skipped
    ("30 2 * * ? *", "Europe/Paris", "2027-03-26T00:00:00+00:00",
     ["2027-03-26 01:30", "2027-03-27 01:30", "2027-03-29 00:30", "2027-03-30 00:30"]),
    # 01:00 on 2026-10-25 is still summer time in Paris (clocks go back at 03:00)
    ("0 1 * * ? *", "Europe/Paris", "2026-10-24T00:00:00+00:00",
     ["2026-10-24 23:00", "2026-10-26 00:00", "2026-10-27 00:00", "2026-10-28 00:00"]),
    ("0 12 L * ? *", "UTC", "2026-12-05T00:00:00+00:00",
     ["2026-12-31 12:00", "2027-01-31 12:00", "2027-02-28 12:00", "2027-03-31 12:00"]),
    ("0 10 ? * 6#3 *", "UTC", "2026-12-05T00:00:00+00:00",  # third Friday (1 = Sunday)
     ["2026-12-18 10:00", "2027-01-15 10:00", "2027-02-19 10:00", "2027-03-19 10:00"]),
    ("0 10 ? * FRIL *", "UTC", "2026-12-05T00:00:00+00:00",  # last Friday
     ["2026-12-25 10:00", "2027-01-29 10:00", "2027-02-26 10:00", "2027-03-26 10:00"]),
    ("0 8 15W * ? *", "UTC", "2026-11-01T00:00:00+00:00",  # Sunday 15 November -> Monday 16
     ["2026-11-16 08:00", "2026-12-15 08:00", "2027-01-15 08:00", "2027-02-15 08:00"]),
    ("0 8 LW * ? *", "UTC", "2026-11-01T00:00:00+00:00",
     ["2026-11-30 08:00", "2026-12-31 08:00", "2027-01-29 08:00", "2027-02-26 08:00"]),
    ("0 0 1 1 ? 2028", "UTC", "2026-12-05T00:00:00+00:00", ["2028-01-01 00:00"]),
    ("*/20 9-10 * * ? *", "UTC", "2026-12-06T09:10:00+00:00",
     ["2026-12-06 09:20", "2026-12-06 09:40", "2026-12-06 10:00", "2026-12-06 10:20"]),
])
def test_cron_start_times(cron: str, tz: str, after: str, expected: list[str]) -> None:
    assert _runs(after, tz=tz, cron=cron) == expected


def test_a_rate_counts_from_the_moment_asked_and_a_disabled_schedule_never_fires() -> None:
    assert _runs("2026-12-05T12:00:00+00:00", 3, rate="90 minutes") == \
        ["2026-12-05 13:30", "2026-12-05 15:00", "2026-12-05 16:30"]
    assert _runs("2026-12-05T12:00:00+00:00", cron="0 9 * * *", enabled="false") == []


def test_stepweave_schedules_lists_each_schedules_next_times(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "digest.yaml").write_text("""
name: digest
triggers:
  - {type: schedule, name: weekday-morning, cron: "0 9 * * 1-5", timezone: Europe/Paris}
  - {type: schedule, name: off, cron: "0 0 1 * *", enabled: false}
blocks:
  - {id: start, type: start}
  - {id: f, type: function, params: {code: "return 1"}}
edges: [start -> f]
""")
    (tmp_path / "digest.test.yaml").write_text("tests: [{name: t}]\n")  # not a workflow
    assert main(["schedules", str(tmp_path), "-n", "6", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    now = datetime.strptime(document["now"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    morning, off = document["schedules"]
    assert (morning["trigger"], morning["expression"], morning["timezone"]) == \
        ("weekday-morning", "cron(0 9 * * 1-5)", "Europe/Paris")
    times = [datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for t in morning["next"]]
    assert len(times) == 6 and times == sorted(times) and times[0] > now
    paris = [t.astimezone(ZoneInfo("Europe/Paris")) for t in times]
    assert all(t.hour == 9 and t.minute == 0 and t.isoweekday() <= 5 for t in paris)
    assert off["enabled"] is False and off["next"] == []
    assert main(["schedules", str(tmp_path), "-n", "1"]) == 0
    text = capsys.readouterr().out
    assert "digest: weekday-morning, cron(0 9 * * 1-5) in Europe/Paris" in text
    assert " 09:00 CET" in text or " 09:00 CEST" in text
    assert "digest: off, cron(0 0 1 * *) in UTC (disabled: it never fires)" in text


def test_a_count_out_of_range_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedules", str(tmp_path), "-n", "0"]) == 2
    assert "--count takes 1 to 1000 start times" in capsys.readouterr().err


def test_a_schedule_that_never_fires_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "never.yaml").write_text(
        'name: never\ntriggers: [{type: schedule, cron: "0 0 31 2 ? *"}]\n'
        "blocks: [{id: start, type: start}]\nedges: []\n")
    assert main(["schedules", str(tmp_path / "never.yaml")]) == 0
    assert "  (no start time in the next five years)" in capsys.readouterr().out
