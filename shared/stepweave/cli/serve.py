"""``stepweave serve``: the run API, ``/health``, webhooks and the approval decision pages on
one local port, as the deployed API Gateway serves them, and the run viewer (``/runs``).

Locally the embedded engine runs every workflow of a folder (default ``workflows/``) and the
run API accepts the key in ``STEPWEAVE_API_KEY`` (tenant ``local``) or a new one it prints.
``--aws`` serves the same routes against the deployed table and state machines with your
credentials (``--stage`` names them ``<stage>-<workflow>``; keys from ``stepweave keys create --aws``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepweave.compiler import CompiledWorkflow
    from stepweave.runtime.settings import Settings

__all__ = ["add_parser", "cmd_serve", "load_folder"]


def load_folder(folder: Path) -> dict[str, CompiledWorkflow]:
    """Every workflow file of ``folder``, compiled; one ``WorkflowError`` for all problems."""
    from stepweave.compiler import compile_workflow
    from stepweave.errors import Problem, WorkflowError
    from stepweave.workflow.loader import load_workflow, workflow_files

    compiled: dict[str, CompiledWorkflow] = {}
    problems: list[Problem] = []
    for path in workflow_files(folder):
        try:
            workflow = compile_workflow(load_workflow(path), str(path))
        except WorkflowError as exc:
            problems += exc.problems
            continue
        if workflow.name in compiled:
            problems.append(Problem(str(path), f"workflow name '{workflow.name}' is used twice", None, "name"))
            continue
        compiled[workflow.name] = workflow
    if problems:
        raise WorkflowError(problems)
    return compiled


def _usage(message: str) -> Exception:
    from stepweave.cli.errors import UsageError

    return UsageError(message)


def _serve(routes: list[Any], args: argparse.Namespace, lines: list[str],
           announce_in: Path | None = None, key: str | None = None) -> int:
    """Serve ``routes`` (and the API's description) until Ctrl-C; with ``announce_in`` (the
    local state folder), written down there for ``stepweave approvals`` meanwhile."""
    from contextlib import ExitStack

    from stepweave.local.decision_server import announce
    from stepweave.local.gateway import Gateway
    from stepweave.local.stopping import Terminated, terminate_as_interrupt

    try:
        gateway = Gateway([*routes, *docs_routes()], args.host, args.port, log=sys.stderr)
    except OSError as exc:
        raise _usage(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pass --port") from None
    print(f"serving on {gateway.url} (Ctrl-C to stop)", file=sys.stderr)
    for line in [*lines, "the API described: /docs, /openapi.json"]:
        print(f"  {line}", file=sys.stderr)
    sys.stderr.flush()
    with ExitStack() as stack:
        stack.enter_context(terminate_as_interrupt())  # SIGTERM cleans up as Ctrl-C does
        if announce_in is not None:
            stack.enter_context(announce(announce_in, gateway.url, "serve", key))
        try:
            gateway.serve_forever()
        except Terminated:
            return 128 + 15
        finally:
            gateway.stop()
    return 0


def docs_routes() -> list[Any]:
    """``GET /openapi.json`` and ``GET /docs`` (a page listing the routes)."""
    from stepweave.api.openapi import docs_page, openapi_document
    from stepweave.local.gateway import Route

    document = openapi_document()
    page = docs_page(document)

    def answer(body: str, content_type: str) -> dict[str, Any]:
        from stepweave.api.decision_pages import SECURITY_HEADERS

        return {"statusCode": 200, "body": body, "isBase64Encoded": False,
                "headers": {**SECURITY_HEADERS, "Content-Type": content_type, "Cache-Control": "no-cache"}}

    return [Route("GET", "/openapi.json", lambda _event: answer(document, "application/json")),
            Route("GET", "/docs", lambda _event: answer(page, "text/html; charset=utf-8"))]


def _local(args: argparse.Namespace, settings: Settings, workflows: dict[str, CompiledWorkflow]) -> int:
    from stepweave.cli.viewer import viewer_routes, with_run_links
    from stepweave.local.api import LOCAL_TENANT, LocalApi
    from stepweave.local.engine import LocalEngine
    from stepweave.local.records import records_path
    from stepweave.local.schedules import LocalScheduler, local_poller

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with LocalEngine(records_file=records_path(settings), settings=settings) as engine, \
            LocalApi(engine, workflows) as api, \
            LocalScheduler(api.executions, workflows, log=sys.stderr,
                           poller=local_poller(api)) as scheduler:
        given = settings.api_key.get_secret_value() if settings.api_key else None
        key = api.api_key(given)
        upcoming = scheduler.upcoming()
        lines = [f"workflows: {', '.join(sorted(workflows)) or '(none)'}",
                 *([f"schedules: {len(upcoming)} fire here (next: {upcoming[0][1]} of {upcoming[0][0]} "
                    f"at {upcoming[0][2].strftime('%Y-%m-%d %H:%M UTC')}; all: stepweave schedules)"]
                   if upcoming else []),
                 *(["polls: " + ", ".join(f"{t.label} of {w} ({t.provider}, every {t.rate})"
                                          for w, t in scheduler.polls)] if scheduler.polls else []),
                 f"API key of tenant '{LOCAL_TENANT}': " + ("$STEPWEAVE_API_KEY" if given else key),
                 "run API: /v1/workflows/<workflow>/executions, /v1/workflows/<workflow>/run, "
                 "/v1/executions[/<id>[/cancel]]; /health",
                 "Sim's SDK: this address as base_url (/api/v2/workflows/<workflow>/execute, "
                 ".../runs/<run>, /api/jobs/<run>)",
                 "approval pages: /approvals/<id>" + ("; webhooks: /webhooks/<workflow>"
                                                      if api.webhooks_enabled else ""),
                 "run viewer: /runs (sign in with the API key)"]
        runs = viewer_routes(Path(args.workflows), workflows, ddb=api.clients.ddb, settings=api.settings,
                             sfn=engine.sfn, manifests=lambda arn: _machine_manifest(engine, arn))
        return _serve(with_run_links(api.routes) + runs, args, lines, announce_in=settings.local_dir,
                      key=None if given else key)


def _machine_manifest(engine: Any, execution_arn: str) -> dict[str, Any] | None:
    """The manifest of the embedded engine's state machine that ran ``execution_arn``."""
    from stepweave.runtime.arns import state_machine_arn

    compiled = engine.machines.get(state_machine_arn(execution_arn))
    return None if compiled is None else dict(compiled.manifest())


def _aws(args: argparse.Namespace, settings: Settings, workflows: dict[str, CompiledWorkflow]) -> int:
    from stepweave import __version__
    from stepweave.api.app import ApiContext, build_resolver, resolve
    from stepweave.api.decisions import handle_decision
    from stepweave.api.executions import AwsExecutions, Target, targets_from_settings
    from stepweave.cli.aws import aws_client
    from stepweave.cli.viewer import viewer_routes, with_run_links
    from stepweave.local.gateway import stepweave_routes
    from stepweave.runtime.payloads import S3Store
    from stepweave.runtime.recorder import Clients

    table = args.table or settings.table
    if not table:
        raise _usage("--aws needs the records table: pass --table NAME or set STEPWEAVE_TABLE")
    settings = settings.model_copy(update={"table": table})
    clients = Clients(sfn=aws_client("stepfunctions", args.region), ddb=aws_client("dynamodb", args.region))
    if args.stage:
        identity = aws_client("sts", args.region).get_caller_identity()
        region = clients.sfn.meta.region_name
        prefix = f"arn:aws:states:{region}:{identity['Account']}:stateMachine:{args.stage}-"
        targets = {n: Target(n, prefix + n, "EXPRESS" if w.workflow_type == "EXPRESS" else "STANDARD")
                   for n, w in workflows.items()}
    else:
        targets = targets_from_settings(settings)
    context = ApiContext(ddb=clients.ddb, settings=settings, version=settings.version or __version__,
                         executions=AwsExecutions(clients.sfn, targets))
    resolver = build_resolver(lambda: context)
    routes = stepweave_routes(lambda event: resolve(resolver, event, None),
                              decision=lambda event: handle_decision(event, clients=clients,
                                                                     settings=settings))
    lines = [f"table {table}; workflows: {', '.join(sorted(targets)) or '(none: pass --stage)'}",
             "API keys: stepweave keys create --aws --tenant <tenant>",
             "run viewer: /runs (sign in with an API key)"]
    runs = viewer_routes(Path(args.workflows), workflows, ddb=clients.ddb, settings=settings, sfn=clients.sfn,
                         store=S3Store(aws_client("s3", args.region)))
    return _serve(with_run_links(routes) + runs, args, lines)


def cmd_serve(args: argparse.Namespace) -> int:
    from stepweave.runtime.settings import Settings

    folder = Path(args.workflows)
    if not folder.is_dir():
        raise _usage(f"{folder} is not a folder of workflow files (pass --workflows DIR)")
    settings = Settings.from_env()
    workflows = load_folder(folder)
    return _aws(args, settings, workflows) if args.aws else _local(args, settings, workflows)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the run API, webhooks and approval pages on this machine")
    p.add_argument("--workflows", default="workflows", help="folder of workflow files (default workflows/)")
    p.add_argument("--port", type=int, default=8787, help="default 8787")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--aws", action="store_true",
                   help="against the deployed table and state machines (your AWS credentials)")
    p.add_argument("--table", help="the records table for --aws (default: $STEPWEAVE_TABLE)")
    p.add_argument("--stage", help="for --aws: the deployment stage (state machines <stage>-<workflow>)")
    p.add_argument("--region", help="the AWS region for --aws (default $AWS_REGION or your profile's)")
    p.set_defaults(func=cmd_serve)
