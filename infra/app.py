"""The CDK app: compiles ``workflows/`` and builds the data and engine stacks.

``cdk synth`` / ``cdk deploy`` run it (``cdk.json``: ``python3 -m infra.app``, so run
the CDK CLI with the project's virtualenv active). ``python -m infra.app`` alone
synthesizes to ``cdk.out`` without the CLI.

This module is the only place that reads CDK context. Keys (defaults in ``cdk.json``,
override with ``cdk synth -c key=value``):

* ``stage`` -- deployment stage, part of the stack names (``stepweave-<stage>-data``,
  ``stepweave-<stage>-engine``) and of every state machine name (``<stage>-<workflow>``);
* ``logRetentionDays`` -- retention of every log group (a CloudWatch Logs value: 1, 3, 5,
  7, 14, 30, 60, 90, ...);
* ``recordRetentionDays`` -- days execution records and payload objects are kept (1..3650);
* ``alarmEmail`` -- optional; an address subscribed to the alarm topic;
* ``approverEmailSender`` -- optional; the sender address of approval emails (an SES email
  identity is created for it; without it approvals are not emailed);
* ``logLevel`` -- ``LOG_LEVEL`` of the functions (DEBUG, INFO, WARNING, ERROR, CRITICAL);
* ``workflowsDir`` -- folder of the workflow files, relative to the repository root;
* ``lambdaMemoryMb:<handler>`` and ``lambdaMemoryMb:<workflow>/<block id>`` -- optional;
  the memory (MB, 128..10240) of a handler's function, or of one block's
  (``infra.memory``; the names are checked once the workflows are compiled);
* ``canary`` -- optional; ``<workflow>:<percent>[:<minutes>]`` (comma-separated for
  several): that workflow's ``live`` alias sends ``percent`` of the starts to the version
  this deploy publishes for ``minutes`` (default 10), then all (``infra.versions``).

Every value is checked before anything is built (``validate_context``). Invalid values
(all of them, in one report) or workflows stop the synth (exit status 2).
"""

from __future__ import annotations

import dataclasses
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
from stepweave.runtime.settings import SettingsError, sim_workflow_ids
from stepweave.workflow.loader import load_workflow, workflow_files
from stepweave.workflow.summary import summarize

from infra import ROOT, nag
from infra.constructs.handlers import discover_handlers
from infra.memory import (
    CONTEXT_PREFIX,
    MemoryOverrides,
    MemoryPlan,
    plan_memory,
    read_memory_context,
)
from infra.stacks.data import DataSettings, DataStack
from infra.versions import CANARY_CONTEXT, DeploySource, canaries_for
from infra.stacks.engine import (
    APPROVAL_HANDLER,
    STATE_MACHINE_NAME_MAX,
    EngineSettings,
    EngineStack,
    state_machine_name,
)

__all__ = [
    "CONTEXT_KEYS",
    "AppConfig",
    "ContextError",
    "build_app",
    "check_memory",
    "check_state_machine_names",
    "compile_workflows",
    "main",
    "read_config",
    "validate_context",
]

EXIT_INVALID = 2
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
#: A plain address (local@domain.tld); SNS and SES do the real checking.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
                    r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
RECORD_RETENTION_RANGE = (1, 3650)
#: Sim workflow ids -> workflows, for Sim's routes (``read_sim_workflow_ids``).
SIM_IDS_CONTEXT = "simWorkflowIds"
#: Requests each API key may make a minute on Sim's routes (``read_rate_limit``).
RATE_LIMIT_CONTEXT = "apiRateLimitPerMinute"
#: Every context key the app reads.
CONTEXT_KEYS = ("stage", "logRetentionDays", "recordRetentionDays", "alarmEmail",
                "approverEmailSender", "logLevel", "workflowsDir")
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
    record_retention_days: int = 30
    alarm_email: str | None = None
    #: The SES sender of approval emails (none: approvals are answered through the API).
    approver_email_sender: str | None = None
    #: ``lambdaMemoryMb:...`` values: handler and block memory sizes
    memory: MemoryOverrides = dataclasses.field(default_factory=MemoryOverrides)

    @property
    def data_stack_name(self) -> str:
        return f"stepweave-{self.stage}-data"

    @property
    def engine_stack_name(self) -> str:
        return f"stepweave-{self.stage}-engine"


def read_config(app: cdk.App) -> AppConfig:
    """The app's context, validated (values from ``-c`` arrive as strings)."""
    values = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    # the memory keys name handlers and blocks, so they are found by their prefix
    values.update({key: value for key, value in app.node.get_all_context().items()
                   if key.lower().startswith(CONTEXT_PREFIX.lower().rstrip(":"))})
    return validate_context(values)


def validate_context(values: Mapping[str, Any]) -> AppConfig:
    """Check every context value; raise one ``ContextError`` naming every bad one.

    ``values`` maps context keys to values as CDK returns them: ``None`` when unset,
    strings when given with ``-c``, JSON values from ``cdk.json``.
    """
    problems: list[str] = []

    def check(key: str, read: Any) -> Any:
        """``read(value)`` of a set value; a problem (and None) when unset or refused."""
        value = values.get(key)
        if value is None or value == "":
            problems.append(f"context value '{key}' is not set (cdk.json or -c {key}=...)")
            return None
        try:
            return read(value)
        except ContextError as exc:
            problems.append(str(exc))
            return None

    stage = check("stage", _stage)
    days = check("logRetentionDays", _log_retention)
    record_days = check("recordRetentionDays", _record_retention)
    emails = {}
    for key in ("alarmEmail", "approverEmailSender"):
        try:
            emails[key] = _optional_email(values, key)
        except ContextError as exc:
            problems.append(str(exc))
    log_level = check("logLevel", _log_level)
    workflows_dir = check("workflowsDir", _workflows_dir)
    memory, memory_problems = read_memory_context(values)
    problems += memory_problems
    if problems:
        raise ContextError("\n".join(problems) if len(problems) == 1 else
                           f"{len(problems)} context values are invalid:\n" + "\n".join(
                               f"  {problem}" for problem in problems))
    return AppConfig(stage, days, log_level, workflows_dir, record_days, emails["alarmEmail"],
                     emails["approverEmailSender"], memory)


def _stage(value: Any) -> str:
    stage = str(value)
    if not _STAGE.match(stage):
        raise ContextError(f"context value 'stage' must be lowercase letters, digits and "
                           f"hyphens, starting with a letter (at most 24); got {stage!r}")
    return stage


def _log_retention(value: Any) -> int:
    days = _integer(value)
    if days is None or days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise ContextError(f"context value 'logRetentionDays' must be one of {allowed}; got {value!r}")
    return days


def _record_retention(value: Any) -> int:
    days = _integer(value)
    low, high = RECORD_RETENTION_RANGE
    if days is None or not low <= days <= high:
        raise ContextError(f"context value 'recordRetentionDays' must be a whole number of days "
                           f"from {low} to {high}; got {value!r}")
    return days


def _log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in LOG_LEVELS:
        raise ContextError(f"context value 'logLevel' must be one of {', '.join(LOG_LEVELS)}; "
                           f"got {value!r}")
    return level


def _workflows_dir(value: Any) -> Path:
    folder = ROOT / str(value)  # absolute paths stay absolute
    if not folder.is_dir():
        raise ContextError(f"context value 'workflowsDir': {folder} is not a directory")
    return folder


def _integer(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _optional_email(values: Mapping[str, Any], key: str) -> str | None:
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ContextError(f"context value '{key}' must be an email address "
                           f"(or unset); got {value!r}")
    return value.strip()


def read_sim_workflow_ids(value: Any, workflows: list[CompiledWorkflow]) -> dict[str, str]:
    """The ``simWorkflowIds`` context: ``{"<Sim workflow id>": "<workflow>"}`` (JSON text with
    ``-c``), the ids Sim's routes take for this deployment's workflows."""
    if value is None or value == "":
        return {}
    try:
        ids = sim_workflow_ids(value)
    except SettingsError as exc:
        raise ContextError(f"context value '{SIM_IDS_CONTEXT}': {exc}") from None
    names = {w.name for w in workflows}
    unknown = sorted(f"{k!r} -> {v!r}" for k, v in ids.items() if v not in names)
    if unknown:
        raise ContextError(f"context value '{SIM_IDS_CONTEXT}': no workflow of that name: "
                           + ", ".join(unknown))
    return ids


def read_rate_limit(value: Any) -> int | None:
    """The ``apiRateLimitPerMinute`` context (none: the run API's default, 600)."""
    if value is None or value == "":
        return None
    limit = _integer(value)
    if limit is None or not 1 <= limit <= 1_000_000:
        raise ContextError(f"context value '{RATE_LIMIT_CONTEXT}' must be a whole number of requests "
                           f"from 1 to 1000000; got {value!r}")
    return limit


def check_state_machine_names(stage: str, workflows: list[CompiledWorkflow]) -> None:
    """Every ``<stage>-<workflow>`` name must fit Step Functions' limit."""
    for workflow in workflows:
        name = state_machine_name(stage, workflow.name)
        if len(name) > STATE_MACHINE_NAME_MAX:
            raise ContextError(
                f"state machine name '{name}' (stage '{stage}' + workflow '{workflow.name}') "
                f"is {len(name)} characters; Step Functions allows {STATE_MACHINE_NAME_MAX}: "
                "use a shorter stage or workflow name")


def check_memory(config: AppConfig, workflows: list[CompiledWorkflow],
                 functions_dir: Path) -> MemoryPlan:
    """The memory of every handler function and of the blocks given their own, from the
    ``lambdaMemoryMb:...`` context checked against the handlers and the workflows."""
    block_handlers = set(discover_handlers(functions_dir))
    handler_types = block_handlers | ({APPROVAL_HANDLER}
                                      if (functions_dir / APPROVAL_HANDLER / "handler.py").is_file()
                                      else set())
    try:
        return plan_memory(config.memory, {w.name: w for w in workflows},
                           handler_types, block_handlers=block_handlers)
    except ValueError as exc:
        problems = str(exc).splitlines()
        raise ContextError(problems[0] if len(problems) == 1 else
                           f"{len(problems)} context values are invalid:\n" + "\n".join(
                               f"  {problem}" for problem in problems)) from None


def compile_workflows(directory: Path,
                      sources: dict[str, DeploySource] | None = None) -> list[CompiledWorkflow]:
    """Compile every workflow file in ``directory``; raise one ``WorkflowError`` for all.
    ``sources`` receives each workflow's file, its hash and its block summary."""
    compiled: list[CompiledWorkflow] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    files = workflow_files(directory)  # a workflow's tests (*.test.yaml) are not deployed
    for path in files:
        file = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        try:
            loaded = load_workflow(path)
            workflow = compile_workflow(loaded, file, folder=directory)
        except WorkflowError as exc:
            problems += exc.problems
            continue
        if workflow.name in seen:
            problems.append(Problem(file, f"workflow name '{workflow.name}' is already used by "
                                          f"{seen[workflow.name]}", None, "name"))
            continue
        seen[workflow.name] = file
        compiled.append(workflow)
        if sources is not None:
            sources[workflow.name] = DeploySource.of(path, file, summarize(loaded, workflow.workflow_type))
    if problems:
        raise WorkflowError(problems)
    return compiled


def _cdk_json_context() -> dict[str, Any]:
    """``cdk.json``'s context: the defaults when the app runs without the CDK CLI."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return context


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    functions_dir: Path | None = None,
) -> cdk.App:
    """The app with its stacks, checks included; ``context`` overrides every other source.

    ``functions_dir`` (default ``functions/``) is where the Lambda entry points are read.
    Raises ``WorkflowError`` (a workflow does not compile) or ``ContextError``.
    """
    app = cdk.App(
        context=_cdk_json_context(),  # lowest precedence: the CLI's context replaces it
        post_cli_context=dict(context or {}),
        outdir=outdir,
    )
    config = read_config(app)
    sources: dict[str, DeploySource] = {}
    workflows = compile_workflows(config.workflows_dir, sources)
    check_state_machine_names(config.stage, workflows)
    try:
        canaries = canaries_for(app.node.try_get_context(CANARY_CONTEXT),
                                {w.name: w for w in workflows})
    except ValueError as exc:
        raise ContextError(str(exc)) from None
    sim_ids = read_sim_workflow_ids(app.node.try_get_context(SIM_IDS_CONTEXT), workflows)
    rate_limit = read_rate_limit(app.node.try_get_context(RATE_LIMIT_CONTEXT))
    memory = check_memory(config, workflows, functions_dir or EngineSettings.functions_dir)
    data = DataStack(
        app,
        config.data_stack_name,
        settings=DataSettings(stage=config.stage, retention_days=config.record_retention_days),
    )
    engine_settings = EngineSettings(
        stage=config.stage,
        log_retention=RETENTION_DAYS[config.log_retention_days],
        log_level=config.log_level,
        record_retention_days=config.record_retention_days,
        alarm_email=config.alarm_email,
        approval_sender=config.approver_email_sender,
        memory=memory,
        sources=sources,
        canaries=canaries,
        sim_workflow_ids=sim_ids,
        rate_limit_per_minute=rate_limit,
    )
    if functions_dir is not None:
        engine_settings = dataclasses.replace(engine_settings, functions_dir=functions_dir)
    EngineStack(
        app,
        config.engine_stack_name,
        settings=engine_settings,
        workflows=workflows,
        table=data.table,
        payload_bucket=data.payload_bucket,
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
