"""``stepweave diff [workflow ...]``: what a deploy would change, per workflow, in blocks.

Each workflow file of the working tree (files or folders; default ``workflows/``) is
compared, as a block summary (``stepweave.workflow.summary``), with

* locally, the same file at a git revision (``--against REV``, default ``HEAD``); a
  workflow file of a named folder that the revision has and the working tree has not is
  reported as removed;
* with ``--aws``, the version the stage's ``live`` alias points at: the deployed
  definition carries the summary of the file it was published from (its ``Comment``); a
  workflow the stage has (per its ``live`` version's description) and a named folder has
  not is reported as removed.

Changes: blocks and edges added or removed; blocks whose type, name, params (by name) or
settings (enabled, retry, parent, timeout) changed; triggers and variables added, removed
or changed; the workflow's Step Functions type. Exit 0 when nothing would change, 1 when
something would, 2 on bad usage, an invalid workflow or a deployment that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepweave.cli.errors import EXIT_FAILED, EXIT_OK, UsageError

__all__ = ["add_parser", "cmd_diff"]


@dataclass
class Entry:
    """One workflow's result: ``status`` is ``unchanged``, ``changed``, ``new`` or ``removed``."""

    workflow: str
    file: str
    status: str
    changes: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "file": self.file, "status": self.status,
                "changes": [c.as_dict() for c in self.changes]}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("diff", help="what a deploy would change, per workflow, in blocks "
                                    "(exit 1 when something would)")
    p.add_argument("paths", nargs="*", metavar="workflow",
                   help="workflow files or folders (default: workflows/)")
    p.add_argument("--against", metavar="REV",
                   help="the git revision to compare with (default: HEAD)")
    p.add_argument("--aws", action="store_true",
                   help="compare with the version the stage's 'live' alias points at instead")
    p.add_argument("--stage", default="dev", help="with --aws: the stage (default: dev)")
    p.add_argument("--region", help="with --aws: the stage's region (default: your AWS configuration)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=cmd_diff)


def _summary(path: Path, text: str | None = None, label: str | None = None) -> dict[str, Any]:
    """The file's block summary (``text``: its content at a revision), with its compiled
    type when it compiles, else its declared one."""
    from stepweave.compiler.compile import compile_workflow
    from stepweave.errors import WorkflowError
    from stepweave.workflow.loader import load_workflow, parse_text, parse_workflow
    from stepweave.workflow.summary import summarize

    file = label or str(path)
    workflow = load_workflow(path) if text is None else parse_workflow(parse_text(text, file), file)
    try:
        compiled_type: str | None = compile_workflow(workflow, str(path), folder=path.parent).workflow_type
    except WorkflowError:
        if text is None:
            raise  # the working tree's workflow must be valid to be deployed
        compiled_type = None
    return summarize(workflow, compiled_type)


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=60)
    except FileNotFoundError:
        raise UsageError("diff: git is not installed (or use --aws)") from None


def _at_revision(path: Path, rev: str) -> str | None:
    """The file's content at ``rev``, or None when the revision has no such file."""
    folder = path.resolve().parent
    check = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], folder)
    if check.returncode != 0:
        inside = _git(["rev-parse", "--is-inside-work-tree"], folder)
        if inside.returncode != 0:
            raise UsageError(f"diff: {path} is not in a git repository: a local diff compares "
                             "with a git revision of the file (or use --aws)")
        raise UsageError(f"diff: unknown git revision {rev!r}")
    shown = _git(["show", f"{rev}:./{path.name}"], folder)
    return shown.stdout if shown.returncode == 0 else None


def _removed_at_revision(folder: Path, rev: str, present: set[str]) -> list[tuple[str, str]]:
    """(file, text) of the workflow files ``rev`` has in ``folder`` that the working tree has not."""
    from stepweave.workflow.loader import TEST_SUFFIXES, WORKFLOW_SUFFIXES

    listed = _git(["ls-tree", "--name-only", rev, "./"], folder.resolve())
    out: list[tuple[str, str]] = []
    for name in listed.stdout.splitlines():
        name = Path(name).name
        lower = name.lower()
        if not lower.endswith(WORKFLOW_SUFFIXES) or lower.endswith(TEST_SUFFIXES) or name in present:
            continue
        shown = _git(["show", f"{rev}:./{name}"], folder.resolve())
        if shown.returncode == 0:
            out.append((str(folder / name), shown.stdout))
    return out


def _workflow_name(text: str, file: str) -> str:
    from stepweave.workflow.loader import parse_text, parse_workflow

    try:
        return parse_workflow(parse_text(text, file), file).name
    except Exception:  # noqa: BLE001 - a file the revision had that no longer parses: its name
        return Path(file).stem


def _local(paths: list[str], rev: str) -> list[Entry]:
    from stepweave.workflow.loader import named_files, workflow_files
    from stepweave.workflow.summary import compare

    entries: list[Entry] = []
    for path in named_files(paths, workflow_files):
        new = _summary(path)
        text = _at_revision(path, rev)
        if text is None:
            entries.append(Entry(str(new["workflow"]), str(path), "new"))
            continue
        old = _summary(path, text, f"{path} at {rev}")
        changes = compare(old, new).changes
        entries.append(Entry(str(new["workflow"]), str(path), "changed" if changes else "unchanged", changes))
    for raw in paths:
        folder = Path(raw)
        if folder.is_dir():
            present = {p.name for p in workflow_files(folder)}
            for file, text in _removed_at_revision(folder, rev, present):
                entries.append(Entry(_workflow_name(text, file), file, "removed"))
    return entries


def _deployed_summary(sfn: Any, stage: str, workflow: str) -> tuple[dict[str, Any] | None, str]:
    """(the summary of the version ``live`` points at, or None when not deployed; what it is)."""
    from stepweave.cli.versions import _machine_arn, _routing, describe_version, live_version
    from stepweave.runtime.arns import alias_arn
    from stepweave.workflow.summary import decode

    try:
        machine = _machine_arn(sfn, stage, workflow)
    except UsageError as exc:
        if "no state machine" in str(exc):
            return None, "not deployed"
        raise
    live = live_version(_routing(sfn, alias_arn(machine)))
    if live is None:
        raise UsageError(f"diff --aws: {stage}-{workflow} has no 'live' alias: it was deployed "
                         "before versions were published; deploy it once with the current CDK app")
    version, described = describe_version(sfn, live)
    try:
        comment = str(json.loads(described.get("definition") or "{}").get("Comment") or "")
    except ValueError:
        comment = ""
    summary = decode(comment)
    if summary is None:
        raise UsageError(f"diff --aws: version {version.number} of {stage}-{workflow} carries no "
                         "block summary (published before Stepweave recorded one): deploy once "
                         "with the current CDK app")
    return summary, f"version {version.number}"


def _aws(paths: list[str], args: argparse.Namespace) -> tuple[list[Entry], dict[str, str]]:
    from stepweave.cli.aws import aws_client
    from stepweave.workflow.loader import named_files, workflow_files
    from stepweave.workflow.summary import compare

    sfn = aws_client("stepfunctions", args.region)
    entries: list[Entry] = []
    against: dict[str, str] = {}
    for path in named_files(paths, workflow_files):
        new = _summary(path)
        name = str(new["workflow"])
        old, what = _deployed_summary(sfn, args.stage, name)
        against[name] = what
        if old is None:
            entries.append(Entry(name, str(path), "new"))
            continue
        changes = compare(old, new).changes
        entries.append(Entry(name, str(path), "changed" if changes else "unchanged", changes))
    if any(Path(raw).is_dir() for raw in paths):
        present = {e.workflow for e in entries}
        for name in _deployed_workflows(sfn, args.stage) - present:
            entries.append(Entry(name, f"{args.stage}-{name}", "removed"))
            against[name] = "deployed"
    return entries, against


def _deployed_workflows(sfn: Any, stage: str) -> set[str]:
    """The workflows deployed to ``stage``: state machines ``<stage>-<name>`` whose ``live``
    version says it was published from workflow ``<name>`` (another stage's state machines,
    ``<stage>-x-<name>``, say otherwise)."""
    from stepweave.cli.versions import _aws_call, _routing, describe_version, live_version
    from stepweave.runtime.arns import alias_arn

    found: set[str] = set()
    token: str | None = None
    while True:
        page = _aws_call("cannot list the state machines", sfn.list_state_machines,
                         **({"nextToken": token} if token else {}))
        for machine in page.get("stateMachines", []):
            name = str(machine.get("name", ""))
            if not name.startswith(f"{stage}-"):
                continue
            live = live_version(_routing(sfn, alias_arn(str(machine["stateMachineArn"]))))
            if live is None:
                continue
            workflow = describe_version(sfn, live)[0].fields().get("workflow")
            if workflow and name == f"{stage}-{workflow}":
                found.add(workflow)
        token = page.get("nextToken")
        if not token:
            return found


def cmd_diff(args: argparse.Namespace) -> int:
    if args.aws and args.against:
        raise UsageError("diff: --against compares with a git revision, --aws with the deployed "
                         "stage: give one")
    paths = args.paths or (["workflows"] if Path("workflows").is_dir() else ["."])
    against: dict[str, str] = {}
    if args.aws:
        entries, against = _aws(paths, args)
        base = f"stage {args.stage}, 'live'"
    else:
        args.against = args.against or "HEAD"
        entries = _local(paths, args.against)
        base = args.against
    differs = [e for e in entries if e.status != "unchanged"]
    if args.json:
        json.dump({"against": f"aws:{args.stage}:live" if args.aws else args.against,
                   "workflows": [{**e.as_dict(), **({"deployed": against[e.workflow]}
                                                    if e.workflow in against else {})}
                                 for e in entries],
                   "changed": len(differs)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(entries, base, against)
    return EXIT_FAILED if differs else EXIT_OK


def _print(entries: list[Entry], base: str, against: dict[str, str]) -> None:
    out = sys.stdout
    for entry in entries:
        where = against.get(entry.workflow)
        head = f"{entry.workflow} ({entry.file})"
        if entry.status == "new":
            out.write(f"{head}: new workflow (not in {base})\n")
        elif entry.status == "removed":
            out.write(f"{head}: removed (in {base}, not in the working tree"
                      + ("; a deploy from this folder deletes its state machine" if where == "deployed"
                         else "") + ")\n")
        elif entry.status == "unchanged":
            out.write(f"{head}: no changes against {base}" + (f" ({where})" if where else "") + "\n")
        else:
            count = len(entry.changes)
            out.write(f"{head}: {count} change{'s' if count != 1 else ''} against {base}"
                      + (f" ({where})" if where else "") + "\n")
            for change in entry.changes:
                out.write(f"  {change.line()}\n")
    differs = sum(1 for e in entries if e.status != "unchanged")
    out.write(f"{differs} of {len(entries)} workflow{'s' if len(entries) != 1 else ''} would change\n")
