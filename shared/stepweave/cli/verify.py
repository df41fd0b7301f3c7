"""``stepweave verify``: does a run give the same result locally and once deployed?

Without ``--aws`` every conformance case runs on the embedded engine and is compared with
its expected result (what Sim's own engine produced, for the Sim scenarios). With ``--aws
--stage S`` each case also runs on the stage's deployed state machine of the same file and
is compared with the local run; nothing is deployed or changed. Exit 0 when every case
matches, 1 when one differs, 2 on bad usage or when a case's workflow is not deployed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stepweave.cli.aws import aws_client

__all__ = ["add_parser", "cmd_verify"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="run the conformance set locally (and on a deployed stage "
                                      "with --aws) and compare the results")
    p.add_argument("--aws", action="store_true",
                   help="also run every case on the deployed stage (your AWS credentials)")
    p.add_argument("--stage", default="conformance",
                   help="the stage the conformance set is deployed as (default: conformance)")
    p.add_argument("--region", help="the stage's region (default: your AWS configuration)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace, sfn: Any = None) -> int:
    """``sfn``: a Step Functions client for ``--aws`` (tests); else one is made."""
    from stepweave.conformance import compare, load_cases, run_local
    from stepweave.local.engine import LocalEngine

    import os

    # handler logs and metrics are for CloudWatch; here stdout is the report
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    cases = load_cases()
    deployed: dict[str, tuple[str, str]] = {}
    if args.aws:
        sfn = sfn or aws_client("stepfunctions", args.region)
        deployed = _deployed(sfn, args.stage)
    report: list[dict[str, Any]] = []
    with LocalEngine() as engine:
        for case in cases:
            local = run_local(engine, case)
            entry: dict[str, Any] = {"case": case.name, "local": local.summary(),
                                     "problems": [f"local: {p}" for p in compare(case, local)]}
            if args.aws:
                entry.update(_remote(sfn, deployed, case, local, args.stage))
            report.append(entry)
    missing = [e for e in report if e.get("aws") == "not deployed"]
    failed = [e for e in report if e["problems"]]
    if args.json:
        json.dump({"cases": report, "failed": len(failed), "notDeployed": len(missing)},
                  sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print(report, args)
    if missing:
        return 2
    return 1 if failed else 0


def _remote(sfn: Any, deployed: dict[str, tuple[str, str]], case: Any, local: Any,
            stage: str) -> dict[str, Any]:
    from stepweave.compiler import compile_workflow
    from stepweave.conformance import compare, run_aws
    from stepweave.workflow.loader import load_workflow

    name = compile_workflow(load_workflow(case.file), str(case.file)).name
    machine = deployed.get(name)
    if machine is None:
        return {"aws": "not deployed", "problems": [f"aws: no state machine '{stage}-{name}'"]}
    remote = run_aws(sfn, machine[0], machine[1], case)
    return {"aws": remote.summary(),
            "problems": [f"aws vs local: {p}" for p in compare(local, remote)]}


def _deployed(sfn: Any, stage: str) -> dict[str, tuple[str, str]]:
    from stepweave.cli.errors import UsageError
    from stepweave.conformance.runner import state_machine_arns

    try:
        return state_machine_arns(sfn, stage)
    except Exception as exc:  # noqa: BLE001 - botocore's errors: credentials, region, access
        raise UsageError(f"--aws: cannot list the state machines of stage '{stage}': "
                         f"{type(exc).__name__}: {exc}") from None


def _print(report: list[dict[str, Any]], args: argparse.Namespace) -> None:
    out = sys.stdout
    for entry in report:
        mark = "✔" if not entry["problems"] else "✖"
        where = "local and AWS" if args.aws else "local"
        out.write(f"{mark} {entry['case']} ({where})\n")
        for problem in entry["problems"]:
            out.write(f"    {problem}\n")
    failed = sum(1 for e in report if e["problems"])
    out.write(f"{len(report) - failed} of {len(report)} cases match"
              + (f" on stage '{args.stage}'" if args.aws else "") + "\n")
    if any(e.get("aws") == "not deployed" for e in report):
        out.write(f"deploy the set first: cdk deploy --all -c stage={args.stage} "
                  "-c workflowsDir=shared/stepweave/conformance/workflows\n")
