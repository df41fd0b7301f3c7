"""The run viewer's routes for ``stepweave serve`` (``stepweave.api.viewer``), locally and
with ``--aws``: the graphs of the folder's workflows, their manifests (and their
sub-workflows'), Step Functions' prices, and the decision pages linking to their run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepweave.api.viewer import WorkflowSource
    from stepweave.compiler import CompiledWorkflow
    from stepweave.local.gateway import Handler, Route
    from stepweave.runtime.payloads import PayloadStore
    from stepweave.runtime.settings import Settings

__all__ = ["viewer_routes", "viewer_sources", "with_run_links"]


def viewer_sources(folder: Path, workflows: Mapping[str, CompiledWorkflow]) -> dict[str, WorkflowSource]:
    """Each workflow of ``folder`` (compiled in ``workflows``) and its sub-workflows: graph and manifest."""
    from stepweave.api.run_view import graph_of
    from stepweave.api.viewer import WorkflowSource
    from stepweave.errors import WorkflowError
    from stepweave.workflow.loader import load_workflow, workflow_files

    graphs = {}
    for path in workflow_files(folder):
        try:
            workflow = load_workflow(path)
        except WorkflowError:  # load_folder has reported it already
            continue
        graphs[workflow.name] = graph_of(workflow)
    sources: dict[str, WorkflowSource] = {}

    def add(compiled: CompiledWorkflow) -> None:
        if compiled.name not in sources:
            sources[compiled.name] = WorkflowSource(graphs.get(compiled.name), compiled.manifest())
        for child in compiled.children.values():
            add(child)

    for compiled in workflows.values():
        add(compiled)
    return sources


def viewer_routes(folder: Path, workflows: Mapping[str, CompiledWorkflow], *, ddb: Any, settings: Settings,
                  sfn: Any, store: PayloadStore | None = None,
                  manifests: Callable[[str], Mapping[str, Any] | None] | None = None) -> list[Route]:
    """``/runs...``: the run viewer over the records table ``ddb`` and the executions of ``sfn``."""
    from stepweave.api.viewer import ROUTES, RunViewer
    from stepweave.local.gateway import Route
    from stepweave.local.progress import workflow_cost

    viewer = RunViewer(ddb, settings, workflows=viewer_sources(folder, workflows), sfn=sfn,
                       manifests=manifests, price=workflow_cost, store=store)
    return [Route(method, resource, viewer.handle) for method, resource in ROUTES]


def with_run_links(routes: list[Route]) -> list[Route]:
    """``routes`` with the decision pages linking to the viewer's page of their run (the
    ``runViewer`` stage variable, which a deployment without the viewer does not set)."""
    from stepweave.local.gateway import Route

    def linked(handler: Handler) -> Handler:
        def handle(event: dict[str, Any]) -> dict[str, Any]:
            return handler({**event, "stageVariables": {**(event.get("stageVariables") or {}),
                                                        "runViewer": "/runs"}})
        return handle

    return [Route(r.method, r.resource, linked(r.handler)) if r.resource.startswith("/approvals/") else r
            for r in routes]
