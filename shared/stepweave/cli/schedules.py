"""``stepweave schedules``: the next start times of every schedule trigger of the workflows
(``stepweave.triggers.next_runs``), in each schedule's time zone and in UTC, and how often
each poll trigger polls."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stepweave.cli.errors import EXIT_OK

__all__ = ["add_parser", "cmd_schedules"]


def cmd_schedules(args: argparse.Namespace) -> int:
    from stepweave.triggers.declare import PollTrigger, ScheduleTrigger
    from stepweave.triggers.next_runs import next_runs
    from stepweave.workflow.loader import load_workflow, named_files, workflow_files

    if not 1 <= args.count <= 1000:
        from stepweave.cli.errors import UsageError

        raise UsageError("--count takes 1 to 1000 start times")
    now = datetime.now(UTC)
    paths = args.paths or (["workflows"] if Path("workflows").is_dir() else ["."])
    schedules: list[dict[str, Any]] = []
    polls: list[dict[str, Any]] = []
    for path in named_files(paths, workflow_files):
        workflow = load_workflow(path)
        for trigger in workflow.triggers:
            if isinstance(trigger, PollTrigger):
                polls.append({"file": str(path), "workflow": workflow.name, "trigger": trigger.label,
                              "provider": trigger.provider, "expression": f"rate({trigger.rate})",
                              "enabled": trigger.enabled})
            if not isinstance(trigger, ScheduleTrigger):
                continue
            runs = next_runs(trigger, now, args.count)
            schedules.append({
                "file": str(path), "workflow": workflow.name, "trigger": trigger.label,
                "expression": f"cron({trigger.cron})" if trigger.cron else f"rate({trigger.rate})",
                "timezone": trigger.timezone, "enabled": trigger.enabled,
                "next": [r.strftime("%Y-%m-%dT%H:%M:%SZ") for r in runs],
                "local": [r.astimezone(ZoneInfo(trigger.timezone)).isoformat() for r in runs]})
    if args.json:
        print(json.dumps({"now": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "schedules": schedules,
                          "polls": polls}, indent=2))
        return EXIT_OK
    if not schedules and not polls:
        print(f"no schedule triggers in {', '.join(paths)}")
    for item in polls:
        state = "" if item["enabled"] else " (disabled: it never polls)"
        print(f"{item['workflow']}: {item['trigger']}, polls {item['provider']} every "
              f"{item['expression'][5:-1]}{state} (one run per new item)")
    for item in schedules:
        state = "" if item["enabled"] else " (disabled: it never fires)"
        print(f"{item['workflow']}: {item['trigger']}, {item['expression']} in {item['timezone']}{state}")
        zone = ZoneInfo(item["timezone"])
        for utc in item["next"]:
            moment = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            print(f"  {moment.astimezone(zone).strftime('%a %Y-%m-%d %H:%M %Z')}"
                  f"  ({moment.strftime('%Y-%m-%d %H:%M')} UTC)")
        if item["enabled"] and not item["next"]:
            print("  (no start time in the next five years)")
        if item["enabled"] and item["expression"].startswith("rate("):
            print("  (a rate counts from when the schedule is deployed; these count from now)")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    p = sub.add_parser("schedules", help="the next start times of every schedule trigger",
                       description="The next start times of every schedule trigger of the "
                                   "workflows, in the schedule's time zone and in UTC.")
    p.add_argument("paths", nargs="*", help="workflow files or folders (default: workflows/, else .)")
    p.add_argument("-n", "--count", type=int, default=5, help="how many start times (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_schedules)
