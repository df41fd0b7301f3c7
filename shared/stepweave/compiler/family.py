"""Finding a workflow's sub-workflows: the workflow files of its folder.

A ``workflow`` block names its child by workflow name, or (an imported Sim export) by the
Sim workflow id of another export in the folder (``{"workflow": {"id": ...}}``). Each
child is compiled too (its own children in turn), so a missing child, a child that does not
compile, and a cycle (``a -> b -> a``, or a workflow calling itself) are problems of the
parent, reported before anything runs or deploys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepweave.errors import Problem, WorkflowError

if TYPE_CHECKING:
    from stepweave.compiler.compiled import CompiledWorkflow
    from stepweave.workflow.model import Workflow

__all__ = ["compile_children", "workflow_index"]

Compile = Callable[["Workflow", str, Path, tuple[str, ...]], "CompiledWorkflow"]


def _sim_id(path: Path) -> str | None:
    if path.suffix.lower() != ".json":
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    meta = data.get("workflow") if isinstance(data, dict) else None
    return str(meta["id"]) if isinstance(meta, dict) and meta.get("id") else None


def workflow_index(folder: Path) -> dict[str, tuple[Path, Workflow]]:
    """Workflow name (and Sim workflow id) -> (file, workflow) for the folder's files that load."""
    from stepweave.workflow.loader import load_workflow, workflow_files

    index: dict[str, tuple[Path, Workflow]] = {}
    for path in workflow_files(folder):
        try:
            workflow = load_workflow(path)
        except WorkflowError:
            continue  # reported when that file itself is validated
        index.setdefault(workflow.name, (path, workflow))
        sim_id = _sim_id(path)
        if sim_id:
            index.setdefault(sim_id, (path, workflow))
    return index


def compile_children(parent: str, refs: list[str], nodes: dict[str, str], file: str,
                     folder: Path | None, stack: tuple[str, ...],
                     compile_one: Compile) -> tuple[dict[str, CompiledWorkflow], list[Problem]]:
    """Compile each referenced child; ``nodes`` maps a reference to the block naming it."""
    problems: list[Problem] = []
    children: dict[str, CompiledWorkflow] = {}
    if folder is None:
        return children, [Problem(file, f"workflow '{ref}' cannot be found: sub-workflows are "
                                        "looked up beside the workflow file", nodes[ref],
                                  "params.workflow") for ref in refs]
    index = workflow_index(folder)
    for ref in refs:
        found = index.get(ref)
        if found is None:
            known = ", ".join(sorted(n for n, (p, w) in index.items() if w.name == n)) or "none"
            problems.append(Problem(file, f"no workflow named '{ref}' in {folder} (workflows: "
                                          f"{known})", nodes[ref], "params.workflow"))
            continue
        path, workflow = found
        chain = (*stack, parent)
        if workflow.name in chain:
            cycle = " -> ".join([*chain[chain.index(workflow.name):], workflow.name])
            problems.append(Problem(file, f"sub-workflows form a cycle: {cycle}", nodes[ref],
                                    "params.workflow"))
            continue
        try:
            children[ref] = compile_one(workflow, str(path), folder, chain)
        except WorkflowError as exc:
            problems += exc.problems
    return children, problems
