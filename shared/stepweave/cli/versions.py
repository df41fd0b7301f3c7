"""``stepweave versions <workflow> --aws`` and ``stepweave rollback <workflow> --aws``: the
versions a stage's deploys published of a workflow, and moving its ``live`` alias.

Each deploy publishes a version of every workflow whose definition changed and points the
``live`` alias at it (``docs/deploying.md``). ``versions`` lists them, newest first, with
when each was published (its creation date: the deploy), the SHA-256 of the workflow
file and of the definition it was published from (its description,
``stepweave.runtime.versions``) and the share of starts ``live`` sends to it.
``rollback`` points ``live`` at one version, all starts (default: the version before the
newest one ``live`` points at; ``--to N``: version N). Executions already running finish on
the version they started on; only new starts move.

The state machine is ``<stage>-<workflow>`` (``--stage``, default ``dev``), found by name in
the account and region of your AWS configuration (``--region``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepweave.cli.aws import aws_client
from stepweave.cli.errors import EXIT_OK, UsageError

__all__ = ["Deployed", "Version", "add_parser", "cmd_rollback", "cmd_versions", "deployed",
           "live_version"]

DEFAULT_STAGE = "dev"


@dataclass(frozen=True)
class Version:
    number: int
    arn: str
    created: datetime | None
    description: str
    #: the share (percent) of starts ``live`` sends to it
    weight: int = 0

    def fields(self) -> dict[str, str]:
        from stepweave.runtime.versions import description_fields

        return description_fields(self.description)


@dataclass(frozen=True)
class Deployed:
    """A workflow's state machine on a stage, its versions (newest first) and its alias."""

    workflow: str
    stage: str
    machine_arn: str
    versions: list[Version]
    #: version ARN -> weight of ``live`` (empty: no alias)
    routing: dict[str, int]

    @property
    def alias_arn(self) -> str:
        from stepweave.runtime.arns import alias_arn

        return alias_arn(self.machine_arn)


def add_parser(sub: Any) -> None:
    for name, func, text in (
            ("versions", cmd_versions, "the versions a stage's deploys published of a workflow, "
                                       "and which one 'live' points at"),
            ("rollback", cmd_rollback, "point a workflow's 'live' alias back at an earlier version")):
        p = sub.add_parser(name, help=text)
        p.add_argument("workflow", help="the workflow's name")
        p.add_argument("--aws", action="store_true", help="the deployed stage (required: versions "
                                                          "exist on AWS only)")
        p.add_argument("--stage", default=DEFAULT_STAGE,
                       help=f"the stage (default: {DEFAULT_STAGE}); its state machine is <stage>-<workflow>")
        p.add_argument("--region", help="the stage's region (default: your AWS configuration)")
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if name == "versions":
            p.add_argument("--limit", type=int, default=20, help="the newest N versions (default 20)")
        else:
            p.add_argument("--to", type=int, metavar="N",
                           help="the version to point 'live' at (default: the one before it)")
        p.set_defaults(func=func)


def _require_aws(args: argparse.Namespace) -> None:
    if not args.aws:
        raise UsageError(f"{args.command}: versions exist on the deployed stage only: add --aws "
                         "(and --stage, --region)")


def _aws_call(what: str, call: Any, **kwargs: Any) -> Any:
    """A Step Functions call; botocore's errors (credentials, access, region) as a
    ``UsageError`` saying what was being done."""
    try:
        return call(**kwargs)
    except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base worth naming
        from stepweave.errors import aws_error_code

        code = aws_error_code(exc)
        raise UsageError(f"{what}: {code or type(exc).__name__}: {exc}") from None


def _machine_arn(sfn: Any, stage: str, workflow: str) -> str:
    name = f"{stage}-{workflow}"
    token: str | None = None
    while True:
        page = _aws_call("cannot list the state machines", sfn.list_state_machines,
                         **({"nextToken": token} if token else {}))
        for machine in page.get("stateMachines", []):
            if machine.get("name") == name:
                return str(machine["stateMachineArn"])
        token = page.get("nextToken")
        if not token:
            raise UsageError(f"no state machine '{name}' in this account and region: is workflow "
                             f"'{workflow}' deployed to stage '{stage}'? (--stage, --region)")


def _routing(sfn: Any, alias: str) -> dict[str, int]:
    try:
        described = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    except Exception as exc:  # noqa: BLE001
        from stepweave.errors import aws_error_code

        if aws_error_code(exc) in ("ResourceNotFound", "StateMachineDoesNotExist"):
            return {}
        raise UsageError(f"cannot describe alias {alias}: {aws_error_code(exc) or type(exc).__name__}: "
                         f"{exc}") from None
    return {str(r["stateMachineVersionArn"]): int(r["weight"])
            for r in described.get("routingConfiguration", [])}


def _version_arns(sfn: Any, machine: str, limit: int | None) -> list[str]:
    arns: list[str] = []
    token: str | None = None
    while limit is None or len(arns) < limit:
        page = _aws_call(f"cannot list the versions of {machine}", sfn.list_state_machine_versions,
                         stateMachineArn=machine, **({"nextToken": token} if token else {}))
        arns += [str(v["stateMachineVersionArn"]) for v in page.get("stateMachineVersions", [])]
        token = page.get("nextToken")
        if not token:
            break
    return arns if limit is None else arns[:limit]


def describe_version(sfn: Any, arn: str, weight: int = 0) -> tuple[Version, dict[str, Any]]:
    """A version and its ``DescribeStateMachine`` answer (its definition)."""
    described = _aws_call(f"cannot describe version {arn}", sfn.describe_state_machine, stateMachineArn=arn)
    created = described.get("creationDate")
    return Version(int(arn.rsplit(":", 1)[1]), arn, created if isinstance(created, datetime) else None,
                   str(described.get("description") or ""), weight), described


def deployed(sfn: Any, stage: str, workflow: str, limit: int | None = None,
             describe: bool = True) -> Deployed:
    """The workflow's state machine on ``stage``, its newest ``limit`` versions (all when
    None; ``describe``: with their dates and descriptions, one call each) and where
    ``live`` points."""
    from stepweave.runtime.arns import alias_arn

    machine = _machine_arn(sfn, stage, workflow)
    routing = _routing(sfn, alias_arn(machine))
    arns = _version_arns(sfn, machine, limit)
    versions = ([describe_version(sfn, arn, routing.get(arn, 0))[0] for arn in arns] if describe
                else [Version(int(arn.rsplit(":", 1)[1]), arn, None, "", routing.get(arn, 0))
                      for arn in arns])
    return Deployed(workflow, stage, machine, versions, routing)


def live_version(routing: dict[str, int]) -> str | None:
    """The version ``live`` moved to last: the newest of those it routes to."""
    if not routing:
        return None
    return max(routing, key=lambda arn: int(arn.rsplit(":", 1)[1]))


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def cmd_versions(args: argparse.Namespace, sfn: Any = None) -> int:
    """``sfn``: a Step Functions client (tests); else one is made."""
    _require_aws(args)
    if args.limit < 1:
        raise UsageError("--limit takes 1 or more")
    sfn = sfn or aws_client("stepfunctions", args.region)
    found = deployed(sfn, args.stage, args.workflow, args.limit)
    if args.json:
        json.dump({"workflow": found.workflow, "stage": found.stage, "stateMachineArn": found.machine_arn,
                   "aliasArn": found.alias_arn if found.routing else None,
                   "live": [{"version": int(arn.rsplit(":", 1)[1]), "weight": weight}
                            for arn, weight in sorted(found.routing.items())],
                   "versions": [{"version": v.number, "arn": v.arn,
                                 "deployedAt": v.created.astimezone(UTC).isoformat() if v.created else None,
                                 "description": v.description, **v.fields(), "live": v.weight}
                                for v in found.versions]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    out = sys.stdout
    out.write(f"workflow {found.workflow} on stage {found.stage} ({found.machine_arn})\n")
    if not found.versions:
        out.write("  no versions published (deploy with the current CDK app to publish one)\n")
        return EXIT_OK
    out.write(f"  {'VERSION':>7}  {'DEPLOYED':<23}  {'FILE':<23}  {'DEFINITION':<23}  LIVE\n")
    for v in found.versions:
        fields = v.fields()
        live = f"<- live ({v.weight}%)" if v.weight else ""
        row = (f"  {v.number:>7}  {_when(v.created):<23}  {fields.get('file', '-'):<23}  "
               f"{fields.get('definition', '-'):<23}  {live}")
        out.write(row.rstrip() + "\n")
    if not found.routing:
        out.write("  'live' does not exist: nothing starts a version yet\n")
    shown = {v.arn for v in found.versions}
    for arn, weight in sorted(found.routing.items()):
        if arn not in shown:
            out.write(f"  'live' also sends {weight}% to version {arn.rsplit(':', 1)[1]}, older than "
                      f"the {len(found.versions)} shown (--limit)\n")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace, sfn: Any = None) -> int:
    """``sfn``: a Step Functions client (tests); else one is made."""
    _require_aws(args)
    sfn = sfn or aws_client("stepfunctions", args.region)
    found = deployed(sfn, args.stage, args.workflow, describe=False)
    if not found.routing:
        raise UsageError(f"workflow '{args.workflow}' on stage '{args.stage}' has no 'live' alias: "
                         "deploy it with the current CDK app first")
    numbers = sorted(v.number for v in found.versions)
    current = live_version(found.routing)
    assert current is not None
    now = int(current.rsplit(":", 1)[1])
    if args.to is not None:
        if args.to not in numbers:
            raise UsageError(f"workflow '{args.workflow}' on stage '{args.stage}' has no version "
                             f"{args.to} (versions: {', '.join(map(str, numbers)) or 'none'})")
        target = args.to
    else:
        earlier = [n for n in numbers if n < now]
        if not earlier:
            raise UsageError(f"workflow '{args.workflow}' on stage '{args.stage}': 'live' points at "
                             f"version {now}, and there is no earlier version to roll back to")
        target = earlier[-1]
    target_arn = next(v.arn for v in found.versions if v.number == target)
    before = dict(found.routing)
    if before == {target_arn: 100}:
        message = f"'live' already points at version {target}: nothing to do"
    else:
        _aws_call(f"cannot update alias {found.alias_arn}", sfn.update_state_machine_alias,
                  stateMachineAliasArn=found.alias_arn,
                  routingConfiguration=[{"stateMachineVersionArn": target_arn, "weight": 100}])
        shares = ", ".join(f"version {a.rsplit(':', 1)[1]} ({w}%)" for a, w in sorted(before.items()))
        message = (f"'live' of {found.workflow} on stage {found.stage}: {shares} -> version {target} "
                   "(100%); running executions finish on the version they started on")
    if args.json:
        json.dump({"workflow": found.workflow, "stage": found.stage, "aliasArn": found.alias_arn,
                   "from": [{"version": int(a.rsplit(":", 1)[1]), "weight": w} for a, w in sorted(before.items())],
                   "to": target, "changed": before != {target_arn: 100}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(message)
    return EXIT_OK
