"""The CDK app: compiles ``workflows/`` and builds the engine stack.

``cdk synth`` / ``cdk deploy`` run it (``cdk.json``: ``python3 -m infra.app``, so run
the CDK CLI with the project's virtualenv active). ``python -m infra.app`` alone
synthesizes to ``cdk.out`` without the CLI.

This module is the only place that reads CDK context. Keys (defaults in ``cdk.json``,
override with ``cdk synth -c key=value``):

* ``stage`` -- deployment stage, part of the stack name (``stepweave-<stage>-engine``);
* ``logRetentionDays`` -- retention of every log group (a CloudWatch Logs value: 1, 3, 5,
  7, 14, 30, 60, 90, ...);
* ``logLevel`` -- ``LOG_LEVEL`` of the handlers (DEBUG, INFO, WARNING, ERROR, CRITICAL);
* ``workflowsDir`` -- folder of the workflow files, relative to the repository root.

An invalid workflow stops the synth with the compiler's report (exit status 2).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from stepweave.compiler.compile import CompiledWorkflow, compile_workflow
from stepweave.errors import Problem, WorkflowError
from stepweave.workflow.loader import load_workflow

from infra import ROOT, nag
from infra.stacks.engine import EngineSettings, EngineStack

__all__ = ["AppConfig", "ContextError", "build_app", "compile_workflows", "main", "read_config"]

EXIT_INVALID = 2
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_R = logs.RetentionDays
#: CloudWatch Logs retention values (days) -> CDK enum.
RETENTION_DAYS: Mapping[int, logs.RetentionDays] = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH, 60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS, 365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS, 1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS,
    2192: _R.SIX_YEARS, 2557: _R.SEVEN_YEARS, 2922: _R.EIGHT_YEARS, 3288: _R.NINE_YEARS,
    3653: _R.TEN_YEARS,
}


class ContextError(ValueError):
    """A CDK context value is missing or invalid."""


@dataclass(frozen=True)
class AppConfig:
    stage: str
    log_retention_days: int
    log_level: str
    workflows_dir: Path

    @property
    def stack_name(self) -> str:
        return f"stepweave-{self.stage}-engine"


def _require(app: cdk.App, key: str) -> Any:
    value = app.node.try_get_context(key)
    if value is None or value == "":
        raise ContextError(f"context value '{key}' is not set (cdk.json or -c {key}=...)")
    return value


def read_config(app: cdk.App) -> AppConfig:
    """Read and validate the app's context (values from ``-c`` arrive as strings)."""
    stage = str(_require(app, "stage"))
    if not _STAGE.match(stage):
        raise ContextError(f"context value 'stage' must be lowercase letters, digits and "
                           f"hyphens, starting with a letter (at most 24); got {stage!r}")

    raw_days = _require(app, "logRetentionDays")
    days = _retention_days(raw_days)
    if days is None:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise ContextError(f"context value 'logRetentionDays' must be one of {allowed}; "
                           f"got {raw_days!r}")

    log_level = str(_require(app, "logLevel")).upper()
    if log_level not in LOG_LEVELS:
        raise ContextError(f"context value 'logLevel' must be one of {', '.join(LOG_LEVELS)}; "
                           f"got {app.node.try_get_context('logLevel')!r}")

    workflows_dir = ROOT / str(_require(app, "workflowsDir"))  # absolute paths stay absolute
    if not workflows_dir.is_dir():
        raise ContextError(f"context value 'workflowsDir': {workflows_dir} is not a directory")
    return AppConfig(stage, days, log_level, workflows_dir)


def _retention_days(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in RETENTION_DAYS:
        return value
    return None


def compile_workflows(directory: Path) -> list[CompiledWorkflow]:
    """Compile every workflow file in ``directory``; raise one ``WorkflowError`` for all."""
    compiled: list[CompiledWorkflow] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.suffix.lower() in WORKFLOW_SUFFIXES)
    for path in files:
        file = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        try:
            workflow = compile_workflow(load_workflow(path), file)
        except WorkflowError as exc:
            problems += exc.problems
            continue
        if workflow.name in seen:
            problems.append(Problem(file, f"workflow name '{workflow.name}' is already used by "
                                          f"{seen[workflow.name]}", None, "name"))
            continue
        seen[workflow.name] = file
        compiled.append(workflow)
    if problems:
        raise WorkflowError(problems)
    return compiled


def _cdk_json_context() -> dict[str, Any]:
    """``cdk.json``'s context: the defaults when the app runs without the CDK CLI."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return context


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> cdk.App:
    """The app with its stacks, checks included; ``context`` overrides every other source.

    Raises ``WorkflowError`` (a workflow does not compile) or ``ContextError``.
    """
    app = cdk.App(
        context=_cdk_json_context(),  # lowest precedence: the CLI's context replaces it
        post_cli_context=dict(context or {}),
        outdir=outdir,
    )
    config = read_config(app)
    workflows = compile_workflows(config.workflows_dir)
    EngineStack(
        app,
        config.stack_name,
        settings=EngineSettings(
            stage=config.stage,
            log_retention=RETENTION_DAYS[config.log_retention_days],
            log_level=config.log_level,
        ),
        workflows=workflows,
    )
    cdk.Tags.of(app).add("project", "stepweave")
    cdk.Tags.of(app).add("stage", config.stage)
    nag.apply_checks(app)
    return app


def main() -> int:
    # Under the CLI, CDK_OUTDIR names the output folder; alone, write ./cdk.out like it would.
    outdir = None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out")
    try:
        app = build_app(outdir=outdir)
    except WorkflowError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_INVALID
    except ContextError as exc:
        print(f"infra.app: {exc}", file=sys.stderr)
        return EXIT_INVALID
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
